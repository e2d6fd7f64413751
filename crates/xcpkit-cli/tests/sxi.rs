//! `xcpkit` over XCP on SxI between processes: `xcpkit ecu --sxi sxi://pty` serves the ECU
//! on a new pseudo-terminal and prints its path; `xcpkit info`, `read`, `write` and `record`
//! reach it there, with the line settings from the URL or from the ECU's A2L.
//! Without USB hardware, `usb://` URLs and `xcpkit usb list` end in clear errors.

mod common;

use common::{Killer, ok, xcpkit};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn dir(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcpkit-sxi-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Starts `xcpkit ecu --sxi URL`; returns it and the URL it prints for masters.
fn ecu(url: &str, a2l: &Path) -> (Killer, String) {
    let mut child = Killer(
        Command::new(env!("CARGO_BIN_EXE_xcpkit"))
            .args(["ecu", "--sxi", url, "--a2l-out"])
            .arg(a2l)
            .stdout(Stdio::piped())
            .spawn()
            .expect("xcpkit ecu starts"),
    );
    let out = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                if let Some(u) = l.strip_prefix("listening on ") {
                    return (child, u.to_owned());
                }
            }
            Err(e) => panic!("xcpkit ecu --sxi did not start listening: {e}"),
        }
    }
}

fn session(label: &str, query: &str) {
    let d = dir(label);
    let a2l = d.join("ecu.a2l");
    let (_ecu, url) = ecu(&format!("sxi://pty?{query}"), &a2l);
    assert!(url.starts_with("sxi:///dev/"), "{url}");
    let text = std::fs::read_to_string(&a2l).expect("the A2L");
    assert!(
        text.contains("/begin XCP_ON_SxI 0x0100 "),
        "the runtime A2L describes the line"
    );
    let info = ok(&["info", "-t", &url]);
    assert!(info.contains("EPK          xcpkit ecu"), "{info}");
    let a2l_arg = a2l.to_str().expect("utf-8 path");
    ok(&["write", "-t", &url, "--a2l", a2l_arg, "idle_rpm=912.5"]);
    // Nothing but the device in the URL: the header, checksum and framing from the A2L.
    let bare = url.split('?').next().expect("the device");
    let read = ok(&["read", "-t", bare, "--a2l", a2l_arg, "idle_rpm"]);
    assert_eq!(read.trim(), "idle_rpm = 912.5 rpm");

    common::record_counters(&url, &a2l, &d);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn xcpkit_measures_and_calibrates_its_ecu_over_a_serial_line() {
    session("word", "baud=921600&checksum=byte");
    session(
        "byte-sync",
        "baud=921600&header=len_ctr_byte&checksum=word&framing=sync_esc",
    );
}

#[test]
fn a_master_with_the_wrong_checksum_says_what_to_check() {
    let d = dir("wrong");
    let a2l = d.join("ecu.a2l");
    let (_ecu, url) = ecu("sxi://pty?checksum=byte", &a2l);
    let device = url.split('?').next().expect("the device");
    let o = xcpkit(&[
        "info",
        "-t",
        &format!("{device}?checksum=word"),
        "--timeout-ms",
        "100",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("serial header and checksum"), "{err}");
    let o = xcpkit(&["info", "-t", "sxi://pty"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("a master opens a serial device"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// XCP on USB needs a device; without one (as on machines of the CI's kind, which have no
/// USB at all) every command ends in an error that says what to check.
#[test]
fn usb_urls_without_the_device_end_in_a_clear_error() {
    let o = xcpkit(&[
        "info",
        "-t",
        "usb://1234:5678?packing=multiple&alignment=32",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("starting libusb") || err.contains("no USB 1234:5678 is attached"),
        "{err}"
    );
    let o = xcpkit(&["usb", "list", "--all"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        (o.status.success() && (out.contains("usb://") || out.contains("no USB device")))
            || err.contains("starting libusb"),
        "{out}\n{err}"
    );
    let o = xcpkit(&["info", "-t", "usb://1234:5678?packing=bulk"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("single, multiple or streaming"));
}
