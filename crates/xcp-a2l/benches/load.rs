//! Load and index a generated 16 MB A2L (100 000 measurements, 50 000 characteristics),
//! beside `a2lfile` parsing the same text alone, in one run; then name lookups.
//!
//! `cargo bench -p xcp-a2l --bench load`. `XCP_BENCH_RUNS` sets the repetitions (default 5).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use xcp_a2l::synth::Spec;
use xcp_a2l::{A2l, LoadOptions};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let runs: usize = std::env::var("XCP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let text = Spec {
        measurements: 100_000,
        characteristics: 50_000,
        comment_len: 0,
        motorola: false,
        daq_events: false,
    }
    .generate();
    let mb = text.len() as f64 / 1e6;
    println!(
        "generated A2L: {mb:.1} MB, 100 000 measurements, 50 000 characteristics; {runs} alternating runs, medians"
    );
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let parsed =
            a2lfile::load_from_string(&text, Some(xcp_proto::a2ml::XCP_A2ML.to_owned()), false)
                .expect("a2lfile parses the generated file");
        base.push(t.elapsed());
        drop(black_box(parsed));
        let t = Instant::now();
        let (a2l, _) = A2l::from_text(&text, &LoadOptions::default()).expect("loads");
        ours.push(t.elapsed());
        last = Some(a2l);
    }
    let (b, o) = (median(base), median(ours));
    println!(
        "a2lfile parse alone {:6.0} ms ({:5.1} MB/s); xcp-a2l load + index {:6.0} ms ({:5.1} MB/s), {:4.2}× the parse",
        b.as_secs_f64() * 1e3,
        mb / b.as_secs_f64(),
        o.as_secs_f64() * 1e3,
        mb / o.as_secs_f64(),
        o.as_secs_f64() / b.as_secs_f64()
    );
    let a2l = last.expect("at least one run");
    let names: Vec<String> = (0..10_000)
        .map(|i| {
            if i % 3 == 0 {
                format!("cal_{}", (i * 7919) % 50_000)
            } else {
                format!("meas_{}", (i * 104_729) % 100_000)
            }
        })
        .collect();
    let mut per = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for n in &names {
            black_box(a2l.object(n).expect("resolves"));
        }
        per.push(t.elapsed() / u32::try_from(names.len()).unwrap_or(1));
    }
    let small = A2l::from_text(&Spec::default().generate(), &LoadOptions::default())
        .expect("loads")
        .0;
    let mut per_small = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for i in 0..10_000 {
            black_box(small.object(&format!("meas_{}", i % 10)).expect("resolves"));
        }
        per_small.push(t.elapsed() / 10_000);
    }
    println!(
        "object(name), hash lookup plus full resolution: {:?} per name in the 150 000-object file, {:?} in a 20-object file",
        median(per),
        median(per_small)
    );
}
