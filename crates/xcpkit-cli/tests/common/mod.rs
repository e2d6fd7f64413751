//! Shared by the bus tests (`can.rs`, `sxi.rs`): running `xcpkit`, and a recording of the
//! ECU's counters checked for gaps.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of these helpers"
)]

use std::path::Path;
use std::process::{Child, Command, Output};

/// A child process killed and reaped when dropped.
pub struct Killer(pub Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn xcpkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(args)
        .output()
        .expect("xcpkit runs")
}

/// Runs `xcpkit ARGS`, which must succeed; its stdout.
pub fn ok(args: &[&str]) -> String {
    let o = xcpkit(args);
    assert!(
        o.status.success(),
        "xcpkit {args:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `xcpkit record` of `counter_1ms`, `engine_speed` and `counter_10ms` from `url` for 2 s
/// into `dir`, converted to CSV: at least 1000 samples of `counter_1ms`, each one more than
/// the last.
pub fn record_counters(url: &str, a2l: &Path, dir: &Path) {
    let a2l_arg = a2l.to_str().expect("utf-8 path");
    let rec = dir.join("counters.xcprec");
    let rec_arg = rec.to_str().expect("utf-8 path");
    ok(&[
        "record",
        "-t",
        url,
        "--a2l",
        a2l_arg,
        "-s",
        "counter_1ms",
        "-s",
        "engine_speed",
        "-s",
        "counter_10ms",
        "--duration",
        "2",
        "-o",
        rec_arg,
    ]);
    let csv = dir.join("counters.csv");
    let csv_arg = csv.to_str().expect("utf-8 path");
    ok(&["convert", rec_arg, "-o", csv_arg]);
    let body = std::fs::read_to_string(&csv).expect("the CSV");
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let c1 = header
        .iter()
        .position(|h| h.starts_with("counter_1ms"))
        .unwrap_or_else(|| panic!("no column counter_1ms in {header:?}"));
    let mut counters: Vec<u64> = lines
        .filter_map(|l| l.split(',').nth(c1).and_then(|v| v.parse().ok()))
        .collect();
    counters.dedup();
    assert!(
        counters.len() >= 1000,
        "{} samples of counter_1ms in 2 s",
        counters.len()
    );
    let gaps = counters.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(
        gaps,
        0,
        "counter_1ms steps by exactly 1 over {} samples",
        counters.len()
    );
}
