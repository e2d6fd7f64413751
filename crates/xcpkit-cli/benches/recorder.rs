//! `xcp-recorder` against pyXCP's recorder and converters on the same frames, in one run.
//!
//! pyXCP's `DaqRecorder` records `xcpkit ecu --stress` (the small stress layout: 7 values in
//! 40-byte DTOs) for a few seconds into an `.xmraw`. On those frames:
//!
//! - **write**: pyXCP's `XcpLogFileWriter` (`add_frame` per frame, then `finalize`) against
//!   `Recorder::push` per frame, then `close` (everything on disk);
//! - **convert**: pyXCP's CSV, MDF (asammdf) and Parquet (pyarrow) converters on the `.xmraw`
//!   (timed in their Python process, `Converter(file).run()` with the modules loaded) against
//!   xcp-recorder's exports reading the `.xmraw` in place, timed in this process the same way
//!   (open, export, file written); `xcpkit convert FILE.xmraw --to csv|mf4|parquet`, process
//!   start included, is reported beside them (the ratio in brackets);
//! - **import**: `.xmraw` to our format, frames per second (no pyXCP counterpart).
//!
//! Medians of `XCP_BENCH_RUNS` runs (default 5: conversions of 30–50 ms vary by a tenth from
//! run to run on a shared machine); `XCP_BENCH_SECONDS` of pyXCP recording
//! (default 3); the write test writes the frames `XCP_BENCH_REPEAT` times over (default 8) so
//! that creating, closing and syncing the file do not dominate. pyXCP comes from `target/interop/venv` (`cargo xtask interop` installs it);
//! without it the bench says so and measures nothing.
//!
//! `cargo bench -p xcpkit-cli --bench recorder`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::cast_precision_loss, reason = "statistics")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use common::{Ecu, env, python, python_json};
use xcp_recorder::{Reader, Recorder, WriterOptions};
use xcp_transport_eth::baseline::median;

/// `input` converted in this process, as pyXCP's converters are timed (`Converter(file).run()`
/// with the modules loaded): open the `.xmraw`, export; the rows written and the seconds.
fn convert_in_process(input: &Path, to: &str, out: &Path) -> Result<(u64, f64)> {
    let t0 = Instant::now();
    let mut src = xcp_recorder::xmraw::XmrawSource::open(input)?;
    let rows = match to {
        "csv" => xcp_recorder::csv::export_from(&mut src, out)?.rows,
        "mf4" => xcp_recorder::mdf4::export_from(&mut src, out)?.records,
        "parquet" => xcp_recorder::parquet::export_from(
            &mut src,
            out,
            xcp_recorder::parquet::Compression::default(),
        )?
        .files
        .iter()
        .map(|f| f.1)
        .sum(),
        other => bail!("no export to {other}"),
    };
    Ok((rows, t0.elapsed().as_secs_f64()))
}

/// `xcpkit convert IN --to TO -o OUT` (process start included); the rows it reports and the
/// seconds it took.
fn convert(input: &Path, to: &str, out: &Path) -> Result<(u64, f64)> {
    let t0 = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .arg("convert")
        .arg(input)
        .args(["--to", to, "-o"])
        .arg(out)
        .output()
        .context("xcpkit convert")?;
    let secs = t0.elapsed().as_secs_f64();
    if !o.status.success() {
        bail!(
            "xcpkit convert --to {to}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // "N rows to …" (CSV, one line per Parquet file) or "N records in …" (MDF4).
    let rows = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Ok((rows, secs))
}

fn main() -> Result<()> {
    if python().is_none() {
        println!(
            "recorder vs pyXCP: pyXCP not installed (run `cargo xtask interop` once); nothing measured"
        );
        return Ok(());
    }
    let runs = env("XCP_BENCH_RUNS", 5).max(1);
    let seconds = env("XCP_BENCH_SECONDS", 3);
    let repeat = env("XCP_BENCH_REPEAT", 8).max(1);
    let work = std::env::temp_dir().join(format!("xcpkit-bench-recorder-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;

    // pyXCP records the stress event.
    let a2l = work.join("stress.a2l");
    let ecu = Ecu::start(&["--stress", "--tcp", "127.0.0.1:0"], &a2l)?;
    let rec = python_json(
        "bench_peer.py",
        &[
            "daq".into(),
            "--port".into(),
            ecu.tcp.context("tcp")?.port().to_string(),
            "--a2l".into(),
            a2l.display().to_string(),
            "--seconds".into(),
            seconds.to_string(),
            "--workdir".into(),
            work.display().to_string(),
        ],
    );
    ecu.stop()?;
    let rec = rec?;
    let xmraw = work.join("bench_daq.xmraw");
    println!(
        "recorder vs pyXCP on the frames pyXCP's DaqRecorder took from `xcpkit ecu --stress` in {seconds} s ({} frames of the 40-byte layout), medians of {runs} runs",
        rec["frames"]
    );

    // Ours: import, then the same frames pushed into a recording.
    let imported = work.join("imported.xcprec");
    let mut t = Vec::new();
    let mut frames = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let s = xcp_recorder::xmraw::import(&xmraw, &imported, WriterOptions::default())?;
        t.push(t0.elapsed().as_secs_f64());
        frames = s.daq_frames;
    }
    let import_rate = frames as f64 / median(t);
    let mut all: Vec<(u64, Vec<u8>)> = Vec::new();
    {
        let mut r = Reader::open(&imported)?;
        let mut it = r.frames();
        while let Some(f) = it.next_frame() {
            let (ns, b) = f?;
            all.push((ns, b.to_vec()));
        }
    }
    let meta = Reader::open(&imported)?.meta().clone();
    let span = all.last().map_or(0, |l| l.0) - all.first().map_or(0, |f| f.0) + 1;
    let mut t = Vec::new();
    let mut written = Vec::new();
    let mut dropped = 0;
    let total = all.len() as u64 * repeat;
    for _ in 0..runs {
        // Every timed run writes a new file (as pyXCP's does): nothing to truncate.
        let path = work.join("rewrite.xcprec");
        let _ = std::fs::remove_file(&path);
        let t0 = Instant::now();
        let mut w = Recorder::create(&path, &meta, WriterOptions::default())?;
        for k in 0..repeat {
            for (ns, b) in &all {
                w.push(*ns + k * span, b);
            }
        }
        let s = w.close()?;
        t.push(t0.elapsed().as_secs_f64());
        // The writer drops (and counts) only when it falls behind by a full channel.
        if s.frames + s.dropped_frames != total {
            bail!(
                "{} written + {} dropped of {total} frames",
                s.frames,
                s.dropped_frames
            );
        }
        written.push(s.frames as f64);
        dropped = dropped.max(s.dropped_frames);
    }
    let write_rate = median(written) / median(t);

    // pyXCP's writer and converters on the same file.
    let peer = python_json(
        "bench_recorder.py",
        &[
            "--xmraw".into(),
            xmraw.display().to_string(),
            "--workdir".into(),
            work.join("py").display().to_string(),
            "--runs".into(),
            runs.to_string(),
            "--repeat".into(),
            repeat.to_string(),
        ],
    )?;
    let theirs = |k: &str| peer[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "  write    {total} frames ({repeat}x over), closed and synced: xcp-recorder {:8.2} M frames/s, {dropped} lost   pyXCP XcpLogFileWriter {:6.1} k frames/s, {} lost at finalize   -> {:5.0}x",
        write_rate / 1e6,
        theirs("write_frames_per_s") / 1e3,
        theirs("write_frames_lost"),
        write_rate / theirs("write_frames_per_s")
    );
    println!(
        "  import   .xmraw -> xcprec {:6.2} M frames/s (pyXCP has no counterpart)",
        import_rate / 1e6
    );
    for (to, key, what) in [
        ("csv", "csv", "CsvConverter"),
        ("mf4", "mdf", "MdfConverter (asammdf)"),
        ("parquet", "arrow", "ArrowConverter (pyarrow)"),
    ] {
        let (mut t, mut t_cli) = (Vec::new(), Vec::new());
        let out = work.join(format!("out.{to}"));
        // Every timed run writes new files, as pyXCP's do (the Parquet export names one per
        // list, `out.<list>.parquet`); in-process and CLI runs alternate. One untimed run of
        // each first, as pyXCP's converters get one (the run that counts their rows): both
        // cores are busy before the clock starts, and the input is in the page cache.
        let clear = || -> Result<()> {
            for e in std::fs::read_dir(&work)? {
                let p = e?.path();
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("out."))
                {
                    std::fs::remove_file(&p)?;
                }
            }
            Ok(())
        };
        clear()?;
        let (mut rows, _) = convert_in_process(&xmraw, to, &out)?;
        clear()?;
        convert(&xmraw, to, &out)?;
        for _ in 0..runs {
            clear()?;
            let (n, s) = convert_in_process(&xmraw, to, &out)?;
            rows = n;
            t.push(s);
            clear()?;
            let (n, s) = convert(&xmraw, to, &out)?;
            if n != rows {
                bail!("xcpkit convert --to {to} wrote {n} rows, the library {rows}");
            }
            t_cli.push(s);
        }
        let ours = rows as f64 / median(t);
        let cli = rows as f64 / median(t_cli);
        let py_rows = theirs(&format!("{key}_rows"));
        if (py_rows - rows as f64).abs() > 0.5 {
            println!("  {to:8} row counts differ: xcpkit {rows}, pyXCP {py_rows}");
        }
        let py = theirs(&format!("{key}_rows_per_s"));
        println!(
            "  {to:8} xcp-recorder {:6.2} M rows/s (xcpkit convert, process start included, {:6.2})   pyXCP {what} {:6.1} k rows/s   -> {:4.0}x ({:3.0}x)",
            ours / 1e6,
            cli / 1e6,
            py / 1e3,
            ours / py,
            cli / py
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
