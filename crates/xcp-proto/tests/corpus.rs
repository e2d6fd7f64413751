//! Replays the fuzz corpus (`fuzz/corpus/<target>/*`) through the fuzz-target bodies, so CI
//! covers every stored input on stable Rust.

use std::path::Path;

use xcp_proto::fuzzing::TARGETS;

#[test]
fn corpus_replays_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, check) in TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus folder {} is missing: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            check(&data);
            // Every prefix too: truncated packets must fail cleanly.
            for cut in 0..data.len() {
                check(&data[..cut]);
            }
            n += 1;
        }
        assert!(n > 0, "corpus folder {} is empty", dir.display());
        println!("{name}: {n} inputs replayed");
        total += n;
    }
    assert!(total >= 150, "only {total} corpus inputs");
}
