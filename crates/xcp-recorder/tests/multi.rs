//! A recording of two slaves written through one `SharedRecorder`, their clocks known
//! exactly: one 1500 ppm fast and 3 s ahead, the other 400 ppm slow, both wrapping (32-bit
//! nanosecond timestamps) twice in the 10 s recorded. Every export must put every row at the
//! host time it was sampled, drift removed; the reader must count each slave's frames, its
//! losses, its clock offset and drift, and its drop-out.

use std::path::PathBuf;

use serde_json::{Value as Json, json};
use xcp_recorder::multi::{SharedRecorder, SlaveView, Slaves};
use xcp_recorder::{Reader, Source, WriterOptions};

/// Host time of the first sample.
const T0: u64 = 1_700_000_000_000_000_000;
/// Samples per slave, one per millisecond.
const SAMPLES: u64 = 10_000;
/// How long a DTO takes to arrive.
const LATENCY: u64 = 80_000;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A slave's clock: ahead by `offset` ns and `ppm` fast.
#[derive(Clone, Copy)]
struct Clock {
    offset: i64,
    ppm: i64,
}

impl Clock {
    /// The slave clock at host time `host`, whole.
    fn at(self, host: u64) -> u64 {
        let h = i128::from(host);
        let t =
            h + i128::from(self.offset) + (h - i128::from(T0)) * i128::from(self.ppm) / 1_000_000;
        u64::try_from(t).expect("positive")
    }
}

fn signal(name: &str, ty: &str) -> Json {
    json!({"name": name, "type": ty, "byte_order": "Intel", "unit": "",
           "conversion": {"kind": "IDENTICAL", "name": "", "unit": ""}})
}

/// The 64-bit signal's value in sample `i`: past what a double holds exactly.
const fn big(i: u64) -> u64 {
    (1 << 60) + i
}

/// The float signal's value in sample `i`.
#[allow(clippy::cast_precision_loss, reason = "test values")]
fn float(i: u64) -> f32 {
    i as f32 * 0.1
}

fn meta(label: &str, url: &str, clock: Clock) -> Json {
    let before = T0 - 5_000_000;
    json!({
        "label": label,
        "slave": {"transport": url, "epk": format!("{label} EPK")},
        "daq": {
            "byte_order": "Intel", "id_field": "AbsoluteOdt", "timestamp_bytes": 4,
            "overload_pid_msb": false, "tick_ns": 1.0,
            "clock": {"host_ns": before, "raw": clock.at(before) & 0xFFFF_FFFF, "tick_ns": 1.0,
                      "bytes": 4, "uncertainty_ns": 0, "slave_ns": clock.at(before) as f64},
            "lists": [{"number": 0, "first_pid": 0, "event": 0, "timestamps": true,
                "name": "fast", "odts": [[[0, 0, 4], [1, 0, 8], [2, 0, 4]]],
                "signals": [signal("counter", "U32"), signal("big", "U64"), signal("f", "F32")]}],
        },
    })
}

/// Records both slaves; `rear` drops out after `rear_until` samples. Returns the file.
fn record(dir: &std::path::Path, clocks: [Clock; 2], rear_until: u64) -> PathBuf {
    let path = dir.join("two.xcprec");
    let rec = SharedRecorder::create(
        &path,
        vec![
            meta("front", "tcp://127.0.0.1:5555", clocks[0]),
            meta("rear", "udp://127.0.0.1:5556", clocks[1]),
        ],
        // Small blocks: a crash's cut leaves many whole ones.
        WriterOptions {
            block_bytes: 16 << 10,
            chunk_bytes: 4 << 10,
            ..WriterOptions::default()
        },
    )
    .expect("create");
    let mut handed = [0u64; 2];
    for i in 0..SAMPLES {
        let sampled = T0 + i * 1_000_000;
        for (k, c) in clocks.iter().enumerate() {
            if k == 1 && i >= rear_until {
                continue;
            }
            #[allow(
                clippy::cast_possible_truncation,
                reason = "cut to the timestamp width"
            )]
            let ts = c.at(sampled) as u32;
            let mut f = vec![0u8];
            f.extend_from_slice(&ts.to_le_bytes());
            #[allow(clippy::cast_possible_truncation, reason = "test counters")]
            f.extend_from_slice(&(i as u32).to_le_bytes());
            f.extend_from_slice(&big(i).to_le_bytes());
            f.extend_from_slice(&float(i).to_le_bytes());
            let tag = u8::try_from(k).expect("tag");
            rec.push(tag, sampled + LATENCY + 7_000 * k as u64, &f);
            handed[k] += 1;
        }
        // A clock reading of each slave every second.
        if i % 1000 == 500 {
            for (k, c) in clocks.iter().enumerate() {
                let at = sampled + 100_000;
                let tag = u8::try_from(k).expect("tag");
                if k == 1 && i >= rear_until {
                    continue;
                }
                rec.note(
                    tag,
                    at,
                    "clock",
                    json!({"host_ns": at, "raw": c.at(at) & 0xFFFF_FFFF,
                           "slave_ns": c.at(at) as f64, "uncertainty_ns": 0}),
                );
            }
        }
        if i + 1 == rear_until {
            rec.note(
                1,
                sampled + 2_000_000,
                "dropped out",
                json!({"reason": "no answer"}),
            );
        }
    }
    for (k, n) in handed.iter().enumerate() {
        let tag = u8::try_from(k).expect("tag");
        rec.note(tag, T0 + SAMPLES * 1_000_000, "end", json!({"frames": n}));
    }
    rec.close().expect("close");
    path
}

const CLOCKS: [Clock; 2] = [
    Clock {
        offset: 3_000_000_000,
        ppm: 1500,
    },
    Clock {
        offset: -700_000,
        ppm: -400,
    },
];

#[test]
fn the_reader_knows_each_slave_its_frames_clock_and_drop_out() {
    let dir = std::env::temp_dir().join(format!("xcp-multi-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let _scratch = Scratch(dir.clone());
    let path = record(&dir, CLOCKS, 6_000);
    let mut r = Reader::open(&path).expect("open");
    let s = Slaves::scan(&mut r).expect("scan");
    assert_eq!((s.bad_notes, s.stray_frames), (0, 0));
    let front = s.find("front").expect("front");
    let rear = s.find("rear").expect("rear");
    assert_eq!((front.frames, front.lost()), (SAMPLES, Some(0)));
    assert_eq!((rear.frames, rear.lost()), (6_000, Some(0)));
    assert!(front.dropped_out.is_none());
    assert_eq!(
        rear.dropped_out.as_ref().map(|d| d.1.as_str()),
        Some("no answer")
    );
    // The drift from the readings, to a fraction of a ppm; the offset within the clock's
    // range (the readings carry the whole clock, so 3 s stays 3 s).
    let ppm = front.drift_ppm().expect("drift");
    assert!((ppm - 1500.0).abs() < 0.5, "{ppm}");
    let ppm = rear.drift_ppm().expect("drift");
    assert!((ppm + 400.0).abs() < 0.5, "{ppm}");
    let off = front.offset_ns().expect("offset");
    assert!((off - 3e9).abs() < 1e5, "{off}");
    // At the first reading, 5 ms before T0, the slow clock was 2 µs less behind; the reading
    // travels as a double (a Unix time in ns to about 256 ns).
    let off = rear.offset_ns().expect("offset");
    assert!((off + 0.698e6).abs() < 1e3, "{off}");
    assert_eq!(front.clock.len(), 11, "before, and every second");
    // One slave's view: its frames only, untagged.
    let mut view = SlaveView::new(&mut r, rear);
    let mut n = 0u64;
    view.each_frame(&mut |_, f| {
        assert_eq!((f.len(), f[0]), (21, 0));
        n += 1;
        Ok(())
    })
    .expect("frames");
    assert_eq!(n, 6_000);
    assert_eq!(view.meta()["slave"]["epk"], "rear EPK");

    // Cut short as a crash leaves it: what was written is read, the losses are unknown.
    let cut = dir.join("cut.xcprec");
    let bytes = std::fs::read(&path).expect("the recording");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("the cut copy");
    let mut r = Reader::open(&cut).expect("open the cut copy");
    assert!(!r.salvage().closed);
    let s = Slaves::scan(&mut r).expect("scan the cut copy");
    let front = s.find("front").expect("front");
    assert!(
        front.frames > 1_000 && front.frames < SAMPLES,
        "{}",
        front.frames
    );
    assert_eq!(front.lost(), None);
    assert!(front.clock.len() > 1 && front.drift_ppm().is_some());
}

#[test]
fn every_export_puts_every_row_at_its_sample_time() {
    let dir = std::env::temp_dir().join(format!("xcp-multi-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let _scratch = Scratch(dir.clone());
    let path = record(&dir, CLOCKS, SAMPLES);
    // Merged CSV: time order, each row at its sample's time to the microsecond it is written
    // with (sampled = T0 + counter ms; the axis starts at the first arrival).
    let csv = dir.join("two.csv");
    let s = xcp_recorder::csv::export(&path, &csv).expect("csv");
    assert_eq!(s.rows, 2 * SAMPLES);
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("time_s,list,front.counter,front.big,front.f,rear.counter,rear.big,rear.f")
    );
    let first = T0 + LATENCY;
    let mut last = f64::NEG_INFINITY;
    let mut worst = 0.0f64;
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        let t: f64 = c[0].parse().expect("time");
        assert!(t >= last, "back in time at {l}");
        last = t;
        let at = if c[1] == "front/0" { 2 } else { 5 };
        let counter: u64 = c[at].parse().expect("counter");
        // 64-bit integers exactly, floats as their own width's shortest decimal.
        assert_eq!(c[at + 1], big(counter).to_string(), "{l}");
        assert_eq!(c[at + 2], float(counter).to_string(), "{l}");
        #[allow(clippy::cast_precision_loss, reason = "test counters")]
        let counter = counter as f64;
        #[allow(clippy::cast_precision_loss, reason = "test times")]
        let want = (T0 as f64 - first as f64) / 1e9 + counter * 1e-3;
        worst = worst.max((t - want).abs());
    }
    assert!(worst < 2e-6, "a row {worst} s from its sample time");

    // MDF4: a group per slave, the same times in its master channel.
    let mf4 = dir.join("two.mf4");
    let m = xcp_recorder::mdf4::export(&path, &mf4).expect("mdf4");
    assert_eq!((m.groups, m.channels, m.records), (2, 8, 2 * SAMPLES));
    let bytes = std::fs::read(&mf4).expect("mf4");
    for name in [
        "front.counter",
        "rear.counter",
        "tcp://127.0.0.1:5555",
        "##SI",
    ] {
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "no {name} in the MDF4"
        );
    }
    // Per slave and list CSVs, named by slave.
    let per = dir.join("each.csv");
    let s = xcp_recorder::csv::export_with(
        &mut Reader::open(&path).expect("open"),
        &per,
        xcp_recorder::csv::Layout::PerList,
    )
    .expect("per list");
    let names: Vec<String> = s
        .files
        .iter()
        .map(|(p, n)| {
            format!(
                "{} {n}",
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            format!("each.front.fast.csv {SAMPLES}"),
            format!("each.rear.fast.csv {SAMPLES}")
        ]
    );
}

#[test]
fn a_recording_of_no_slaves_or_twice_the_same_label_is_refused() {
    let dir = std::env::temp_dir().join(format!("xcp-multi-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let _scratch = Scratch(dir.clone());
    let p = dir.join("x.xcprec");
    let e =
        SharedRecorder::create(&p, Vec::new(), WriterOptions::default()).expect_err("no slaves");
    assert!(e.to_string().contains("1 to 255 slaves"), "{e}");
    let m = meta("a", "tcp://x", CLOCKS[0]);
    let e = SharedRecorder::create(&p, vec![m.clone(), m], WriterOptions::default())
        .expect_err("twice");
    assert!(e.to_string().contains("two slaves are labelled"), "{e}");
}

#[test]
fn arrival_times_pushed_out_of_order_are_kept_from_going_back() {
    let dir = std::env::temp_dir().join(format!("xcp-multi-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let _scratch = Scratch(dir.clone());
    let p = dir.join("order.xcprec");
    let rec = SharedRecorder::create(
        &p,
        vec![
            meta("a", "tcp://x", CLOCKS[0]),
            meta("b", "tcp://y", CLOCKS[1]),
        ],
        WriterOptions::default(),
    )
    .expect("create");
    // Two readers' batches arriving at the writer in the other order, then in order.
    let pushed = [
        (0u8, 1_000u64),
        (0, 1_010),
        (1, 990),
        (1, 1_005),
        (0, 1_020),
        (1, 1_030),
    ];
    for (tag, ns) in pushed {
        rec.push(tag, ns, &[0xAA]);
    }
    rec.close().expect("close");
    let mut r = Reader::open(&p).expect("open");
    let mut got = Vec::new();
    r.each_frame(&mut |ns, _| {
        got.push(ns);
        Ok(())
    })
    .expect("frames");
    // Each time is the later of its own and the last one before it: exact, never back.
    assert_eq!(got, [1_000, 1_010, 1_010, 1_010, 1_020, 1_030]);
}
