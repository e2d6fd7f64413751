//! Recording throughput: frames pushed into a recording until it is closed (everything on
//! disk and synced), and frames read back, for small (40-byte) and large (264-byte) DTOs.
//! The baseline in the same run is writing the same bytes with one `write_all` per 64 KiB,
//! uncompressed: the disk path without the format.
//!
//! `cargo bench -p xcp-recorder --bench record`; `XCP_BENCH_RUNS` runs (default 5),
//! `XCP_BENCH_FRAMES` DTOs per run (default 5 000 000), `XCP_BENCH_SIZES` DTO sizes (default
//! `40,264`).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "statistics"
)]

use std::io::Write;
use std::time::Instant;

use xcp_recorder::{Reader, Recorder, WriterOptions};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Metadata describing the bench DTOs: absolute ODT numbers, PID 0, one ODT of u32 values and
/// trailing bytes, so the MDF4 export can decode them.
fn meta(size: usize) -> serde_json::Value {
    let words = (size - 1) / 4;
    let bytes = size - 1 - words * 4;
    let mut signals = Vec::new();
    let mut odt = Vec::new();
    for i in 0..words + bytes {
        let (ty, n) = if i < words { ("U32", 4) } else { ("U8", 1) };
        signals.push(serde_json::json!({
            "name": format!("s{i}"), "type": ty, "byte_order": "Intel", "unit": "",
            "conversion": {"kind": "IDENTICAL", "name": "", "unit": ""},
        }));
        odt.push(serde_json::json!([i, 0, n]));
    }
    serde_json::json!({
        "bench": size,
        "daq": {
            "byte_order": "Intel", "id_field": "AbsoluteOdt", "timestamp_bytes": 0,
            "overload_pid_msb": false, "tick_ns": 1.0,
            "lists": [{"number": 0, "first_pid": 0, "event": 0, "timestamps": false,
                       "odts": [odt], "signals": signals}],
        },
    })
}

fn main() {
    let dir = std::env::temp_dir().join(format!("xcp-recorder-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bench.xcprec");
    let runs = std::env::var("XCP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let n: u64 = std::env::var("XCP_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    println!("recording {n} DTOs per run, {runs} runs, medians");
    let sizes: Vec<usize> = std::env::var("XCP_BENCH_SIZES").map_or_else(
        |_| vec![40, 264],
        |v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
    );
    for size in sizes {
        // A DTO with a counter and slowly changing values, as DAQ data is.
        let mut dto = vec![0u8; size];
        dto[0] = 0;
        let (mut w, mut r, mut base, mut ratio) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut e = Vec::new();
        let mut d = Vec::new();
        let mut dropped = 0;
        for _ in 0..runs {
            // Baseline: the same bytes straight to a file in 64 KiB writes. Both runs start
            // without a file to truncate (freeing a large file's pages costs time of its own).
            let plain = dir.join("plain.bin");
            let _ = std::fs::remove_file(&plain);
            let _ = std::fs::remove_file(&path);
            let t0 = Instant::now();
            let mut f = std::io::BufWriter::with_capacity(
                64 << 10,
                std::fs::File::create(&plain).expect("create"),
            );
            for i in 0..n {
                dto[4..8].copy_from_slice(&(i as u32).to_le_bytes());
                f.write_all(&dto).expect("write");
            }
            let f = f.into_inner().expect("flush");
            f.sync_all().expect("sync");
            base.push(t0.elapsed().as_secs_f64());

            let t0 = Instant::now();
            let mut rec =
                Recorder::create(&path, &meta(size), WriterOptions::default()).expect("create");
            for i in 0..n {
                dto[4..8].copy_from_slice(&(i as u32).to_le_bytes());
                rec.push(1_000_000 + i * 1000, &dto);
            }
            let s = rec.close().expect("close");
            w.push(t0.elapsed().as_secs_f64());
            assert_eq!(s.frames + s.dropped_frames, n);
            dropped += s.dropped_frames;
            ratio.push(s.file_bytes as f64 / (n as f64 * size as f64));

            let t0 = Instant::now();
            let mut rd = Reader::open(&path).expect("open");
            let mut frames = rd.frames();
            let mut count = 0u64;
            while let Some(f) = frames.next_frame() {
                let (_, b) = f.expect("intact");
                count += u64::from(b[4]);
            }
            r.push(t0.elapsed().as_secs_f64());
            assert!(count > 0);

            // Decoded rows: every value of every row as f64.
            let t0 = Instant::now();
            let mut rd = Reader::open(&path).expect("open");
            let mut dec = xcp_recorder::Decoder::new(rd.meta()).expect("decoder");
            let mut rows = 0u64;
            let mut values = Vec::new();
            let mut frames = rd.frames();
            while let Some(f) = frames.next_frame() {
                let (ns, b) = f.expect("intact");
                if let Some(row) = dec.next_row(ns, b) {
                    dec.values_into(row.list, &mut values);
                    rows += u64::from(!values.is_empty());
                }
            }
            d.push(t0.elapsed().as_secs_f64());
            assert_eq!(rows, n);

            let t0 = Instant::now();
            let mf4 = path.with_extension("mf4");
            let m = xcp_recorder::mdf4::export(&path, &mf4).expect("MDF4");
            e.push(t0.elapsed().as_secs_f64());
            assert_eq!(m.records, n);
            let _ = std::fs::remove_file(&mf4);
            let _ = std::fs::remove_file(&plain);
        }
        let (w, r, b, e, d) = (median(w), median(r), median(base), median(e), median(d));
        println!(
            "  {size:3}-byte DTOs: write {:5.2} M frames/s = {:6.0} MB/s ({:.2}x the plain-file baseline at {:6.0} MB/s), file {:.0} % of the payload; read {:5.2} M frames/s, decoded {:5.2} M rows/s; MDF4 export {:6.0} MB/s of DTO payload; {dropped} dropped",
            n as f64 / w / 1e6,
            n as f64 * size as f64 / w / 1e6,
            b / w,
            n as f64 * size as f64 / b / 1e6,
            100.0 * median(ratio),
            n as f64 / r / 1e6,
            n as f64 / d / 1e6,
            n as f64 * size as f64 / e / 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
