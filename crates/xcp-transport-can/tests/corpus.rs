//! Replays the fuzz corpus of this crate's decoders (`fuzz/corpus/{slcan,python_can}/*`)
//! through the fuzz-target bodies, every input and every prefix of it, on stable Rust.

use std::path::Path;

use xcp_transport_can::fuzzing::TARGETS;

#[test]
fn corpus_replays_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, check) in TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus folder {} is missing: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let data = std::fs::read(entry.expect("entry").path()).expect("readable");
            check(&data);
            for cut in 0..data.len() {
                check(&data[..cut]);
            }
            n += 1;
        }
        assert!(n >= 5, "corpus folder {} holds {n} inputs", dir.display());
    }
}
