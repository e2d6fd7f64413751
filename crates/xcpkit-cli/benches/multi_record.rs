//! Recording several slaves into one file against recording each alone, in one run.
//!
//! Two `xcpkit ecu --stress` processes over TCP (the small stress layout: `stress_counter`,
//! `stress_time`, `stress_values` in one timestamped ODT on the `stress` event, 40-byte DTOs;
//! the stress loop fires as fast as the link takes its DTOs). For each run: ECU A recorded
//! alone through `Session::record`, then B alone, then both into one file through
//! `RecordGroup` (one shared writer), each for the same window; the frames each recording
//! holds per second are counted by reading it back, and every slave's `stress_counter` is
//! checked for gaps (the stress loop loses nothing, so a gap is a frame the recording lost).
//! Both are also recorded at once each into a file of its own (two writers), which isolates
//! what sharing one writer costs from what sharing the machine's cores costs. Reported:
//! medians of each, the ratio of the aggregate rate of two slaves into one file to the rates of
//! each alone added up, and to two files at once (1.0: one writer for both costs nothing).
//!
//! `XCP_BENCH_RUNS` (default 3) and `XCP_BENCH_MS` (the window, default 2000).
//! `cargo bench -p xcpkit-cli --bench multi_record`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::cast_precision_loss, reason = "statistics")]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{Ecu, Gaps, env};
use xcp_recorder::multi::{SlaveView, Slaves};
use xcp_recorder::{Decoder, Reader, Source, WriterOptions};
use xcp_transport_eth::baseline::median;
use xcpkit::{MeasureOptions, Options, RecordGroup, Session};

const SIGNALS: [&str; 3] = ["stress_counter", "stress_time", "stress_values"];

fn options() -> MeasureOptions {
    MeasureOptions {
        event: Some(3),
        ..MeasureOptions::default()
    }
}

fn open(ecu: &Ecu, a2l: &Path) -> Result<Session> {
    let addr = ecu.tcp.context("the ECU's TCP address")?;
    Ok(Session::open(
        &format!("tcp://{addr}"),
        &Options {
            a2l: Some(a2l.to_owned()),
            ..Options::default()
        },
    )?)
}

/// Frames of one slave's DTOs in `src` and the gaps in its `stress_counter`.
fn frames_and_gaps(src: &mut dyn Source) -> Result<(u64, u64)> {
    let mut dec = Decoder::new(src.meta())?;
    let (mut frames, mut gaps) = (0u64, Gaps::default());
    src.each_frame(&mut |ns, f| {
        frames += 1;
        if let Some(row) = dec.frame(ns, f)
            && let Some(&c) = row.raw.first()
        {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a u32 counter"
            )]
            gaps.see(c as u64);
        }
        Ok(())
    })?;
    Ok((frames, gaps.missing))
}

/// One slave recorded alone for `window`: frames per second and counter gaps.
fn alone(s: &mut Session, path: &Path, window: Duration) -> Result<(f64, u64)> {
    let rec = s.record(&SIGNALS, path, options(), WriterOptions::default())?;
    let t0 = Instant::now();
    while t0.elapsed() < window {
        let _ = rec.measurement().recv(Duration::from_millis(50))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    rec.finish(s)?;
    let (frames, gaps) = frames_and_gaps(&mut Reader::open(path)?)?;
    Ok((frames as f64 / secs, gaps))
}

/// Both slaves at once, each into a file of its own (two writers) for `window`: frames per
/// second of each.
fn two_files(
    a: &mut Session,
    b: &mut Session,
    dir: &Path,
    run: u64,
    window: Duration,
) -> Result<[f64; 2]> {
    let (pa, pb) = (
        dir.join(format!("2a{run}.xcprec")),
        dir.join(format!("2b{run}.xcprec")),
    );
    let ra = a.record(&SIGNALS, &pa, options(), WriterOptions::default())?;
    let rb = b.record(&SIGNALS, &pb, options(), WriterOptions::default())?;
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for m in [ra.measurement(), rb.measurement()] {
            scope.spawn(move || {
                while t0.elapsed() < window {
                    let _ = m.recv(Duration::from_millis(50));
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    ra.finish(a)?;
    rb.finish(b)?;
    let (fa, _) = frames_and_gaps(&mut Reader::open(&pa)?)?;
    let (fb, _) = frames_and_gaps(&mut Reader::open(&pb)?)?;
    Ok([fa as f64 / secs, fb as f64 / secs])
}

/// Both slaves into one file for `window`: each one's frames per second and counter gaps.
fn together(
    a: &mut Session,
    b: &mut Session,
    path: &Path,
    window: Duration,
) -> Result<[(f64, u64); 2]> {
    let pa = a.record_part("a", &SIGNALS, options())?;
    let pb = b.record_part("b", &SIGNALS, options())?;
    let (group, mut parts) = RecordGroup::start(
        path,
        vec![(&mut *a, pa), (&mut *b, pb)],
        WriterOptions::default(),
    )?;
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for p in &parts {
            scope.spawn(move || {
                while t0.elapsed() < window {
                    let _ = p.measurement().recv(Duration::from_millis(50));
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    parts[0].finish(a)?;
    parts[1].finish(b)?;
    group.close()?;
    let mut r = Reader::open(path)?;
    let slaves = Slaves::scan(&mut r)?;
    let mut out = [(0.0, 0); 2];
    for (k, info) in slaves.slaves.iter().enumerate().take(2) {
        let (frames, gaps) = frames_and_gaps(&mut SlaveView::new(&mut r, info))?;
        out[k] = (frames as f64 / secs, gaps);
    }
    Ok(out)
}

fn main() -> Result<()> {
    let runs = env("XCP_BENCH_RUNS", 3).max(1);
    let window = Duration::from_millis(env("XCP_BENCH_MS", 2000).max(200));
    let dir = std::env::temp_dir().join(format!("xcpkit-multi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = bench(&dir, runs, window);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(dir: &Path, runs: u64, window: Duration) -> Result<()> {
    let (a2l_a, a2l_b): (PathBuf, PathBuf) = (dir.join("a.a2l"), dir.join("b.a2l"));
    let ecu_a = Ecu::start(&["--stress", "--tcp", "127.0.0.1:0"], &a2l_a)?;
    let ecu_b = Ecu::start(&["--stress", "--tcp", "127.0.0.1:0"], &a2l_b)?;
    let mut a = open(&ecu_a, &a2l_a)?;
    let mut b = open(&ecu_b, &a2l_b)?;
    println!(
        "two xcpkit ecu --stress over TCP, {} ms windows, {runs} runs, medians",
        window.as_millis()
    );
    let (mut ra, mut rb, mut ta, mut tb, mut ratio) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut two, mut vs_two) = (Vec::new(), Vec::new());
    let mut gaps = 0;
    for run in 0..runs {
        let (x, ga) = alone(&mut a, &dir.join(format!("a{run}.xcprec")), window)?;
        let (y, gb) = alone(&mut b, &dir.join(format!("b{run}.xcprec")), window)?;
        let [(p, gp), (q, gq)] =
            together(&mut a, &mut b, &dir.join(format!("ab{run}.xcprec")), window)?;
        let [u, v] = two_files(&mut a, &mut b, dir, run, window)?;
        gaps += ga + gb + gp + gq;
        println!(
            "  run {run}: alone A {x:.0}/s, B {y:.0}/s; two files at once {:.0}/s; one file A {p:.0}/s + B {q:.0}/s = {:.0}/s",
            u + v,
            p + q
        );
        two.push(u + v);
        vs_two.push((p + q) / (u + v));
        ra.push(x);
        rb.push(y);
        ta.push(p);
        tb.push(q);
        ratio.push((p + q) / (x + y));
    }
    a.close()?;
    b.close()?;
    ecu_a.stop()?;
    ecu_b.stop()?;
    println!(
        "alone:    A {:.0} frames/s, B {:.0} frames/s (sum {:.0})",
        median(ra.clone()),
        median(rb.clone()),
        median(ra) + median(rb)
    );
    println!(
        "together: A {:.0} frames/s + B {:.0} frames/s into one file (aggregate {:.0})",
        median(ta.clone()),
        median(tb.clone()),
        median(ta) + median(tb)
    );
    println!(
        "two at once, each into its own file: aggregate {:.0} frames/s",
        median(two)
    );
    println!(
        "aggregate of two into one recording / each alone added up: {:.2}; / two files at once: {:.2} (medians of the runs' ratios)",
        median(ratio),
        median(vs_two)
    );
    if gaps == 0 {
        println!("every stress_counter unbroken in every recording");
    } else {
        println!("{gaps} samples missing from the recordings (the writer fell behind)");
    }
    Ok(())
}
