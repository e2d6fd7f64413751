//! `xcpkit fmu serve` on the DMA FMU (unpacked from the FMU library this build made),
//! reached by `xcpkit read`, `write` and `upload` while it runs; its outputs CSV shows the
//! calibration; an interface without direct memory access is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Killer, ok, xcpkit};

#[test]
fn a_served_fmu_is_read_calibrated_and_guarded_while_it_runs() {
    let dir = std::env::temp_dir().join(format!("xcpkit-cli-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fmu = dir.join("fmu");
    xcpkit_fmu::files::unpack_dma(
        &xcpkit_fmu::files::built_library().expect("the FMU library"),
        &fmu,
        xcpkit_fmu::Fmi::V3,
    )
    .expect("unpacked");
    let (a2l, csv) = (dir.join("served.a2l"), dir.join("outputs.csv"));
    let path = |p: &PathBuf| p.to_str().expect("utf-8 path").to_owned();

    // Interface 1 is the FMU's own service.
    let o = xcpkit(&["fmu", "serve", &path(&fmu), "--interface", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not support direct memory access"),
        "{err}"
    );

    let mut child = Killer(
        Command::new(env!("CARGO_BIN_EXE_xcpkit"))
            .args([
                "fmu",
                "serve",
                &path(&fmu),
                "--tcp",
                "127.0.0.1:0",
                "--stop-time",
                "3",
                "--a2l-out",
                &path(&a2l),
                "--outputs",
                &path(&csv),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("xcpkit fmu serve starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no listening line: {lines:?}"));
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.to_owned();
        }
        lines.push(line);
    };
    assert!(
        lines.iter().any(|l| l.contains("read-write"))
            && lines.iter().any(|l| l.contains("read-only")),
        "{lines:?}"
    );

    let read = ok(&[
        "read",
        "-t",
        &url,
        "--a2l",
        &path(&a2l),
        "wave_amplitude",
        "limiter_on",
    ]);
    assert!(read.contains("wave_amplitude = 1"), "{read}");
    assert!(read.contains("limiter_on = \"on\""), "{read}");
    ok(&[
        "write",
        "-t",
        &url,
        "--a2l",
        &path(&a2l),
        "wave_amplitude=3",
    ]);
    // An address outside every A2L object.
    let o = xcpkit(&["upload", "-t", &url, "0x100", "4"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ERR_OUT_OF_RANGE"), "{err}");

    // It stops by itself at 3 s simulated (paced in real time).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rest = Vec::new();
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "still running after 60 s");
        rest.extend(rx.recv_timeout(Duration::from_millis(100)));
    };
    assert!(status.success(), "{status}");
    // The reader thread ends with the child's stdout.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l.starts_with("3000 steps to 3 s")),
        "{rest:?}"
    );

    let text = std::fs::read_to_string(&csv).expect("outputs");
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some("time,engine_speed,vehicle_speed,sine_wave")
    );
    let waves: Vec<f64> = rows
        .map(|r| {
            r.rsplit(',')
                .next()
                .expect("a column")
                .parse()
                .expect("a number")
        })
        .collect();
    assert_eq!(waves.len(), 3000);
    assert!(waves.iter().take(100).all(|w| w.abs() <= 1.0 + 1e-9));
    assert!(
        waves.iter().any(|w| w.abs() > 1.5),
        "the written amplitude shows in the FMU's outputs"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
