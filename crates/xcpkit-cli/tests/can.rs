//! `xcpkit` over XCP on CAN between processes: `xcpkit ecu --can` on python-can's
//! `udp_multicast` bus, measured and calibrated by `xcpkit read`, `write` and `record`, on
//! classic CAN and CAN FD.
//!
//! Multicast stays on this machine: the test runs itself again inside a private network
//! namespace (`unshare -rn`, loopback up with multicast and a route for 224.0.0.0/4), and
//! the bus's hop limit is 1.

mod common;

use common::{Killer, ok, xcpkit};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const INSIDE: &str = "XCPKIT_TEST_IN_NETNS";

/// Runs `test` of this binary again inside a private network namespace; true when this
/// process is the one inside.
fn in_namespace(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c"])
        .arg(
            "ip link set lo up && ip link set lo multicast on && \
             ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"",
        )
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare (util-linux) and ip (iproute2) run the test in a network namespace");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "inside the namespace: {}\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    // The inner run must have run the test, not filtered it away.
    assert!(
        text(&out.stdout).contains("1 passed"),
        "{}",
        text(&out.stdout)
    );
    false
}

fn dir(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcpkit-can-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Starts `xcpkit ecu --can URL` and waits until it listens.
fn ecu(url: &str, a2l: &std::path::Path) -> Killer {
    ecu_with(url, a2l, &[])
}

fn ecu_with(url: &str, a2l: &std::path::Path, extra: &[&str]) -> Killer {
    let mut args = vec!["--can", url];
    args.extend_from_slice(extra);
    spawn_ecu(&args, a2l, "can://").0
}

/// Starts `xcpkit ecu ARGS --a2l-out A2L` and waits until it prints that it listens on a URL
/// of `scheme`; the process and that URL.
fn spawn_ecu(args: &[&str], a2l: &std::path::Path, scheme: &str) -> (Killer, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .arg("ecu")
        .args(args)
        .arg("--a2l-out")
        .arg(a2l)
        .stdout(Stdio::piped())
        .spawn()
        .expect("xcpkit ecu starts");
    let out = child.stdout.take().expect("stdout");
    let killer = Killer(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let want = format!("listening on {scheme}");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with(&want) => {
                let url = l.trim_start_matches("listening on ").to_owned();
                return (killer, url);
            }
            Ok(_) => {}
            Err(e) => panic!("xcpkit ecu {args:?} did not start listening: {e}"),
        }
    }
}

fn session(label: &str, extra: &str) {
    let url = format!("can://udp_multicast/default?master=0x7E0&slave=0x7E1{extra}");
    let d = dir(label);
    let a2l = d.join("ecu.a2l");
    let _ecu = ecu(&url, &a2l);
    let text = std::fs::read_to_string(&a2l).expect("the A2L");
    assert!(
        text.contains("/begin XCP_ON_CAN 0x0104 CAN_ID_MASTER 0x7E0 CAN_ID_SLAVE 0x7E1"),
        "the runtime A2L describes the CAN link"
    );
    let max = if extra.contains("fd=true") { 64 } else { 8 };
    let info = ok(&["info", "-t", &url]);
    assert!(
        info.contains(&format!("MAX_CTO {max}, MAX_DTO {max}")),
        "{info}"
    );
    // The identifiers from the A2L's XCP_ON_CAN when the URL names none.
    let bare = format!(
        "can://udp_multicast/default?{}",
        extra.trim_start_matches('&')
    );
    let a2l_arg = a2l.to_str().expect("utf-8 path");
    ok(&["write", "-t", &bare, "--a2l", a2l_arg, "idle_rpm=912.5"]);
    let read = ok(&["read", "-t", &url, "--a2l", a2l_arg, "idle_rpm"]);
    assert_eq!(read.trim(), "idle_rpm = 912.5 rpm");
    // Nothing but the bus in the URL: identifiers, CAN FD and MAX_DLC from the A2L (a master
    // on classic frames would not understand an FD slave's 64-byte answers).
    let read = ok(&[
        "read",
        "-t",
        "can://udp_multicast/default",
        "--a2l",
        a2l_arg,
        "idle_rpm",
    ]);
    assert_eq!(read.trim(), "idle_rpm = 912.5 rpm");

    common::record_counters(&url, &a2l, &d);
}

#[test]
fn xcpkit_measures_and_calibrates_its_ecu_over_can_and_can_fd() {
    if !in_namespace("xcpkit_measures_and_calibrates_its_ecu_over_can_and_can_fd") {
        return;
    }
    session("classic", "");
    session("fd", "&fd=true&brs=true");
}

#[test]
fn discover_finds_slaves_on_a_can_bus_and_over_ethernet() {
    if !in_namespace("discover_finds_slaves_on_a_can_bus_and_over_ethernet") {
        return;
    }
    let d = dir("discover");
    let _a = ecu_with(
        "can://udp_multicast/default?master=0x7E0&slave=0x7E1&broadcast=0x100",
        &d.join("a.a2l"),
        &["--tcp", "127.0.0.1:0", "--discovery"],
    );
    let _b = ecu(
        "can://udp_multicast/default?master=0x80000600&slave=0x80000601&broadcast=0x100",
        &d.join("b.a2l"),
    );
    let found = ok(&[
        "discover",
        "--can",
        "can://udp_multicast/default?broadcast=0x100",
    ]);
    assert!(
        found.contains(
            "CAN_ID_MASTER 0x7e0  CAN_ID_SLAVE 0x7e1  (identify by echo)\n  GET_ID 0: xcpkit_ecu"
        ),
        "{found}"
    );
    assert!(
        found.contains("CAN_ID_MASTER 0x00000600x  CAN_ID_SLAVE 0x00000601x"),
        "{found}"
    );
    assert!(
        found.ends_with("2 slave(s) answered on 0x100 within 500 ms\n"),
        "{found}"
    );
    let inverse = ok(&[
        "discover",
        "--can",
        "can://udp_multicast/default?broadcast=0x100",
        "--inverse",
        "--no-identify",
    ]);
    assert_eq!(
        inverse.matches("(confirm by inverse echo)").count(),
        2,
        "{inverse}"
    );
    let eth = ok(&["discover"]);
    assert!(
        eth.contains("TCP 127.0.0.1:") && eth.contains("xcpkit_ecu"),
        "{eth}"
    );
    assert!(
        eth.ends_with("1 slave(s) answered on Ethernet within 500 ms\n"),
        "{eth}"
    );
    let o = xcpkit(&["discover", "--can", "can://udp_multicast/default"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("name CAN_ID_BROADCAST with broadcast=ID"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn an_ethernet_ecu_and_a_can_ecu_record_into_one_file() {
    if !in_namespace("an_ethernet_ecu_and_a_can_ecu_record_into_one_file") {
        return;
    }
    let d = dir("two-buses");
    let can_url = "can://udp_multicast/default?master=0x7E0&slave=0x7E1";
    let can_a2l = d.join("can.a2l");
    let _can = ecu_with(
        can_url,
        &can_a2l,
        &["--clock-offset-ms", "250", "--clock-ppm", "800"],
    );
    let (_eth, eth_url) = spawn_ecu(&["--tcp", "127.0.0.1:0"], &d.join("eth.a2l"), "tcp://");
    let rec = d.join("two.xcprec");
    let rec_arg = rec.to_str().expect("utf-8 path");
    ok(&[
        "record",
        "-t",
        &format!("eth={eth_url}"),
        "-s",
        "counter_1ms",
        "-t",
        &format!("can={can_url}"),
        "--a2l",
        can_a2l.to_str().expect("utf-8 path"),
        "-s",
        "counter_1ms",
        "engine_speed",
        "--duration",
        "2",
        "-o",
        rec_arg,
    ]);
    let info = ok(&["info-rec", rec_arg]);
    for label in ["eth", "can"] {
        let part = &info[info.find(&format!("slave {label}")).expect("the slave")..];
        assert!(part.contains("lost 0;"), "{info}");
    }
    assert!(info.contains("slave        can://udp_multicast"), "{info}");
    let csv = d.join("two.csv");
    let csv_arg = csv.to_str().expect("utf-8 path");
    ok(&["convert", rec_arg, "-o", csv_arg]);
    let text = std::fs::read_to_string(&csv).expect("the CSV");
    let header: Vec<&str> = text.lines().next().expect("a header").split(',').collect();
    for label in ["eth", "can"] {
        let col = header
            .iter()
            .position(|h| *h == format!("{label}.counter_1ms"))
            .unwrap_or_else(|| panic!("no {label}.counter_1ms in {header:?}"));
        let counters: Vec<u64> = text
            .lines()
            .skip(1)
            .filter(|l| {
                l.split(',')
                    .nth(1)
                    .is_some_and(|c| c.starts_with(&format!("{label}/")))
            })
            .filter_map(|l| l.split(',').nth(col).and_then(|v| v.parse().ok()))
            .collect();
        assert!(counters.len() > 1500, "{label}: {} rows", counters.len());
        assert!(
            counters.windows(2).all(|w| w[1] == w[0] + 1),
            "{label}: the counter jumps"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
