//! Two sessions recording into one file through `RecordGroup`, a thread each: one slave is
//! stopped while recording; its part ends with a note, the other's goes on to the end.

use std::time::{Duration, Instant};

use xcpkit::recorder::multi::Slaves;
use xcpkit::recorder::{Reader, WriterOptions};
use xcpkit::{MeasureOptions, Options, RecordGroup, Session, SlaveRecording};
use xcpkit_ecu::InProcess;

/// Two virtual ECUs in this process and a session with each, their A2Ls fetched.
fn two_ecus() -> (InProcess, InProcess, Session, Session) {
    let start = || InProcess::start_tcp("127.0.0.1:0".parse().expect("addr")).expect("ECU");
    let (front, rear) = (start(), start());
    let open = |e: &InProcess| {
        let mut s = Session::open(&e.url(), &Options::default()).expect("a session");
        s.load_a2l_from_slave().expect("A2L");
        s
    };
    let (a, b) = (open(&front), open(&rear));
    (front, rear, a, b)
}

/// Drives one slave for `window`: its clock every 200 ms; a failure is a drop-out.
fn drive(rec: &mut SlaveRecording, s: &mut Session, window: Duration) -> Option<String> {
    let t0 = Instant::now();
    let mut next = t0 + Duration::from_millis(200);
    while t0.elapsed() < window {
        let _ = rec.measurement().recv(Duration::from_millis(20));
        if Instant::now() >= next {
            next += Duration::from_millis(200);
            if let Err(e) = rec.read_clock(s) {
                let why = e.to_string();
                rec.drop_out(s, &why);
                return Some(why);
            }
        }
    }
    rec.finish(s).expect("finish");
    None
}

#[test]
fn a_stopped_slave_ends_its_part_and_the_other_records_on() {
    let (front, rear, mut a, mut b) = two_ecus();
    let pa = a
        .record_part("front", &["counter_1ms"], MeasureOptions::default())
        .expect("front part");
    let pb = b
        .record_part("rear", &["counter_1ms"], MeasureOptions::default())
        .expect("rear part");
    assert_eq!((pa.label(), pb.label()), ("front", "rear"));
    let path = std::env::temp_dir().join(format!("xcpkit-group-{}.xcprec", std::process::id()));
    let (group, mut parts) = RecordGroup::start(
        &path,
        vec![(&mut a, pa), (&mut b, pb)],
        WriterOptions::default(),
    )
    .expect("start");
    let (first, second) = parts.split_at_mut(1);
    let (why_a, why_b) = std::thread::scope(|scope| {
        let ha = scope.spawn(|| drive(&mut first[0], &mut a, Duration::from_millis(1500)));
        let hb = scope.spawn(|| drive(&mut second[0], &mut b, Duration::from_millis(1500)));
        // The rear ECU goes away half-way.
        std::thread::park_timeout(Duration::from_millis(600));
        let _ = rear.stop();
        (
            ha.join().expect("front thread"),
            hb.join().expect("rear thread"),
        )
    });
    assert_eq!(why_a, None);
    let why_b = why_b.expect("the rear slave dropped out");
    assert!(parts[1].ended() && parts[0].ended());
    let summary = group.close().expect("close");
    assert_eq!(summary.dropped_frames, 0);

    let mut r = Reader::open(&path).expect("open");
    let slaves = Slaves::scan(&mut r).expect("scan");
    let f = slaves.find("front").expect("front");
    let b = slaves.find("rear").expect("rear");
    assert!(f.frames > 1300, "front: {} frames in 1.5 s", f.frames);
    assert!(
        b.frames > 400 && b.frames < 1000,
        "rear: {} frames",
        b.frames
    );
    assert_eq!((f.lost(), b.lost()), (Some(0), Some(0)));
    assert!(f.dropped_out.is_none());
    assert_eq!(
        b.dropped_out.as_ref().map(|d| d.1.as_str()),
        Some(why_b.as_str())
    );
    // Before, every 200 ms, and after for the front; the rear's stop at the drop-out.
    assert!(f.clock.len() >= 7, "{} front readings", f.clock.len());
    assert!(b.clock.len() < f.clock.len());
    a.close().expect("disconnect");
    let _ = front.stop();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_slave_measured_without_timestamps_records_on_arrival_times() {
    let (front, rear, mut a, mut b) = two_ecus();
    let pa = a
        .record_part("front", &["counter_1ms"], MeasureOptions::default())
        .expect("front part");
    let untimed = MeasureOptions {
        timestamps: false,
        ..MeasureOptions::default()
    };
    let pb = b
        .record_part("rear", &["counter_1ms"], untimed)
        .expect("rear part");
    let path = std::env::temp_dir().join(format!("xcpkit-untimed-{}.xcprec", std::process::id()));
    let (group, mut parts) = RecordGroup::start(
        &path,
        vec![(&mut a, pa), (&mut b, pb)],
        WriterOptions::default(),
    )
    .expect("start");
    assert!(parts[0].clocked() && !parts[1].clocked());
    std::thread::park_timeout(Duration::from_millis(300));
    // The untimed slave is only asked whether it still answers.
    parts[0].read_clock(&mut a).expect("front clock");
    parts[1].read_clock(&mut b).expect("rear status");
    std::thread::park_timeout(Duration::from_millis(300));
    parts[0].finish(&mut a).expect("front finish");
    parts[1].finish(&mut b).expect("rear finish");
    group.close().expect("close");
    let mut r = Reader::open(&path).expect("open");
    let slaves = Slaves::scan(&mut r).expect("scan");
    let (f, b_info) = (
        slaves.find("front").expect("f"),
        slaves.find("rear").expect("r"),
    );
    assert_eq!(f.clock.len(), 3);
    assert!(b_info.clock.is_empty() && b_info.drift_ppm().is_none());
    assert!(b_info.frames > 400, "{}", b_info.frames);
    // Both export, the untimed one on its arrival times.
    let csv = path.with_extension("csv");
    let s = xcpkit::recorder::csv::export(&path, &csv).expect("csv");
    assert_eq!(s.rows, f.frames + b_info.frames);
    a.close().expect("disconnect");
    b.close().expect("disconnect");
    let _ = (front.stop(), rear.stop());
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&csv);
}
