//! Replays the hand-written command → response sequences in `fixtures/sequences/slave/`
//! against the command processor of the fixture slave.

mod common;

use std::path::Path;
use std::time::Instant;

use common::fixture;
use xcp_slave::SlaveConfig;

fn hex(line: &str) -> Vec<u8> {
    line.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad hex byte {b:?}")))
        .collect()
}

fn replay(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let f = fixture(SlaveConfig::default());
    let mut core = f.slave.core();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut last_cmd = String::new();
    let mut commands = 0;
    let check = |cmd: &str, got: &[Vec<u8>], expected: &[Vec<u8>]| {
        assert_eq!(got, expected, "{}: after `> {cmd}`", path.display());
    };
    for line in text.lines().map(str::trim) {
        if let Some(cmd) = line.strip_prefix('>') {
            check(&last_cmd, &got, &expected);
            expected.clear();
            got = core
                .process(&hex(cmd), Instant::now())
                .packets()
                .map(<[u8]>::to_vec)
                .collect();
            last_cmd = cmd.trim().to_owned();
            commands += 1;
        } else if let Some(res) = line.strip_prefix('<') {
            expected.push(hex(res));
        }
    }
    check(&last_cmd, &got, &expected);
    commands
}

#[test]
fn golden_sequences_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sequences/slave");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/sequences/slave")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "session, memory and daq sequences");
    let total: usize = files.iter().map(|f| replay(f)).sum();
    assert!(total > 50, "{total} commands replayed");
}
