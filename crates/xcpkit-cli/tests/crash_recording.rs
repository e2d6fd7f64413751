//! `xcpkit record` killed with SIGKILL at a random moment, at 10 Hz, at 1 kHz and at the
//! ECU's stress rate: every frame that arrived longer ago than the flush bound (`--flush-ms`)
//! is in the file, in order, with the ECU's counter unbroken.
//!
//! Seeded: the seed is printed, and `XCPKIT_CRASH_SEED=N` replays a run.
#![allow(
    clippy::print_stdout,
    reason = "the seed and the measured counts go into the test output"
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use xcp_recorder::{Decoder, Reader};

const WAIT: Duration = Duration::from_secs(30);
/// The bound under test, as given to `--flush-ms`.
const FLUSH_MS: u64 = 500;
/// Scheduling jitter allowed on top of the bound (the machine is shared).
const SLACK_MS: u64 = 100;

struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcpkit-crash-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Lines of a child's output, on a thread of their own.
fn lines(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no line starting {prefix:?} within {WAIT:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
}

fn unix_ns() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(d.as_nanos()).expect("before 2554")
}

/// Records `signal` from an ECU started with `ecu_args`, kills the recorder after
/// `run_ms`, and checks what the file kept. `period_ms` is the signal's event period.
fn crash(label: &str, ecu_args: &[&str], signal: &str, period_ms: u64, run_ms: u64) {
    let mut ecu = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(["ecu", "--tcp", "127.0.0.1:0"])
        .args(ecu_args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("xcpkit ecu starts");
    let ecu_out = lines(ecu.stdout.take().expect("stdout"));
    let _ecu = Killer(ecu);
    let url = format!("tcp://{}", wait_for(&ecu_out, "listening on tcp://"));
    let file = dir().join(format!("{}.xcprec", label.replace(' ', "_")));
    let mut rec = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(["record", "-t", &url, "-s", signal, "--flush-ms"])
        .arg(FLUSH_MS.to_string())
        .arg("-o")
        .arg(&file)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("xcpkit record starts");
    let rec_err = lines(rec.stderr.take().expect("stderr"));
    wait_for(&rec_err, "recording ");
    // The recorder runs for `run_ms`; whatever it prints meanwhile is read (an error line
    // would fail the test below, as the recording would then be short).
    let kill_at = Instant::now() + Duration::from_millis(run_ms);
    while let Some(left) = kill_at.checked_duration_since(Instant::now()) {
        match rec_err.recv_timeout(left) {
            Ok(line) => assert!(!line.starts_with("error"), "{label}: {line}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{label}: the recorder ended early")
            }
        }
    }
    let killed_ns = unix_ns();
    rec.kill().expect("SIGKILL");
    let _ = rec.wait();

    let mut reader = Reader::open(&file).expect("the killed recording opens");
    let mut decoder = Decoder::new(reader.meta()).expect("its metadata decode");
    let (mut rows, mut last_ns, mut last_value) = (0u64, 0u64, None::<f64>);
    let mut frames = reader.frames();
    while let Some(frame) = frames.next_frame() {
        let (host_ns, bytes) = frame.expect("every salvaged block reads");
        assert!(host_ns >= last_ns, "{label}: frames out of order");
        last_ns = host_ns;
        let Some(row) = decoder.frame(host_ns, bytes) else {
            continue;
        };
        let value = row.raw[0];
        if let Some(prev) = last_value {
            let expected = (prev + 1.0) % 4_294_967_296.0;
            assert!(
                (value - expected).abs() < 0.5,
                "{label}: the counter jumps from {prev} to {value} after {rows} rows"
            );
        }
        last_value = Some(value);
        rows += 1;
    }
    let bound_ns = (FLUSH_MS + period_ms + SLACK_MS) * 1_000_000;
    let age_ms = killed_ns.saturating_sub(last_ns) / 1_000_000;
    println!(
        "{label}: killed after {run_ms} ms; {rows} rows salvaged, the last arrived {age_ms} ms before the kill"
    );
    assert!(rows > 0, "{label}: nothing salvaged");
    assert!(
        last_ns + bound_ns >= killed_ns,
        "{label}: the last salvaged frame arrived {age_ms} ms before the kill (bound {FLUSH_MS} ms)"
    );
}

fn seeded_run_ms(salt: u64) -> u64 {
    let seed = std::env::var("XCPKIT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0C8A_5027_u64);
    println!("seed {seed} (XCPKIT_CRASH_SEED={seed} replays this run)");
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    1500 + (z ^ (z >> 29)) % 2000
}

#[test]
fn a_killed_recording_at_10_hz_keeps_all_but_the_last_half_second() {
    crash("10 Hz", &[], "counter_100ms", 100, seeded_run_ms(1));
}

#[test]
fn a_killed_recording_at_1_khz_keeps_all_but_the_last_half_second() {
    crash("1 kHz", &[], "counter_1ms", 1, seeded_run_ms(2));
}

#[test]
fn a_killed_recording_at_the_stress_rate_keeps_all_but_the_last_half_second() {
    crash(
        "stress",
        &["--stress"],
        "stress_counter",
        0,
        seeded_run_ms(3),
    );
}
