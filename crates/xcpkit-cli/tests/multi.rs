//! Several `xcpkit ecu` processes, their clocks skewed on purpose, recorded by one
//! `xcpkit record` into one file: every slave's counter unbroken, each ECU's 1 ms counter on
//! the common time axis in step with the others', one slave killed while the others go on,
//! and the exports (MDF4, merged CSV, Parquet per slave) holding every slave.

mod common;

use common::{ok, xcpkit};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// An `xcpkit ecu` process, killed and reaped when dropped.
struct Ecu {
    child: Child,
    url: String,
}

impl Drop for Ecu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder of this test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("xcpkit-multi-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        Self(d)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().expect("utf-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `xcpkit ecu` on `transport` (`tcp` or `udp`) at a free port, with `extra` options.
fn ecu(transport: &str, extra: &[&str]) -> Ecu {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(["-q", "ecu", &format!("--{transport}"), "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("xcpkit ecu starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut e = Ecu {
        child,
        url: String::new(),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    while e.url.is_empty() {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the ECU prints its address within 20 s");
        if let Some(a) = line.strip_prefix("listening on ") {
            a.clone_into(&mut e.url);
        }
    }
    e
}

/// `xcpkit record` of `counter_1ms` from each of `targets` into `rec` for `seconds`, started
/// in the background; returned once the file exists (DAQ has started).
fn recording(rec: &str, seconds: u32, targets: &[String]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xcpkit"));
    cmd.args(["record", "--duration", &seconds.to_string(), "-o", rec]);
    for t in targets {
        cmd.args(["-t", t, "-s", "counter_1ms"]);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xcpkit record starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !Path::new(rec).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no recording after 30 s"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    child
}

/// Each slave's `(time_s, counter_1ms)` rows of a merged CSV of several slaves, checked to be
/// in time order over all slaves.
fn counters(csv: &Path, labels: &[&str]) -> Vec<Vec<(f64, u64)>> {
    let text = std::fs::read_to_string(csv).expect("the CSV");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let cols: Vec<usize> = labels
        .iter()
        .map(|l| {
            let name = format!("{l}.counter_1ms");
            header
                .iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
        })
        .collect();
    let mut out = vec![Vec::new(); labels.len()];
    let mut last = f64::NEG_INFINITY;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let t: f64 = cells[0].parse().expect("a time");
        assert!(t >= last, "the merged CSV goes back in time at {line}");
        last = t;
        let label = cells[1].split('/').next().expect("LABEL/LIST");
        let k = labels
            .iter()
            .position(|l| *l == label)
            .unwrap_or_else(|| panic!("a row of no slave: {line}"));
        let c = cells[cols[k]].parse().expect("a counter");
        out[k].push((t, c));
    }
    out
}

/// Every step of `rows`' counter is one.
fn unbroken(label: &str, rows: &[(f64, u64)]) {
    for w in rows.windows(2) {
        assert_eq!(
            w[1].1,
            w[0].1 + 1,
            "{label}: counter_1ms jumps from {} to {} at {} s",
            w[0].1,
            w[1].1,
            w[1].0
        );
    }
}

/// The phase of a 1 ms counter on the common axis (time minus counter milliseconds), its
/// median in each half second from `from` to `until`: constant for a counter that ticks in
/// real time, whatever its ECU's clock does, once the clock is correlated away.
fn phases(rows: &[(f64, u64)], from: f64, until: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 0.5 <= until {
        #[allow(clippy::cast_precision_loss, reason = "counters below 2^52")]
        let mut p: Vec<f64> = rows
            .iter()
            .filter(|(t, _)| (at..at + 0.5).contains(t))
            .map(|(t, c)| t - *c as f64 * 1e-3)
            .collect();
        assert!(p.len() > 200, "{} rows in {at}..{} s", p.len(), at + 0.5);
        p.sort_by(f64::total_cmp);
        out.push(p[p.len() / 2]);
        at += 0.5;
    }
    out
}

/// Two counters' phases (from [`phases`]) stay the same distance apart within 1 ms.
fn in_step(a: &str, b: &str, pa: &[f64], pb: &[f64]) {
    let d: Vec<f64> = pa.iter().zip(pb).map(|(x, y)| x - y).collect();
    for x in &d {
        assert!((x - d[0]).abs() < 1e-3, "{a} and {b} drift apart: {d:?}");
    }
}

/// A value after `key` on the line of `text` that starts with `prefix` (trimmed).
fn field<'a>(text: &'a str, after: &str, key: &str) -> &'a str {
    let block = &text[text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in\n{text}"))..];
    let at = block
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} after {after:?} in\n{text}"));
    block[at + key.len()..]
        .split([' ', ',', ';', '\n'])
        .find(|s| !s.is_empty())
        .expect("a value")
}

#[test]
fn two_skewed_ecus_over_tcp_and_udp_share_one_time_axis() {
    let scratch = Scratch::new("two");
    let a = ecu("tcp", &[]);
    // 1.5 s ahead and 2000 ppm fast: 8 ms apart after 4 s unless the drift is removed.
    let b = ecu("udp", &["--clock-offset-ms", "1500", "--clock-ppm", "2000"]);
    let rec = scratch.path("two.xcprec");
    let out = ok(&[
        "record",
        "-t",
        &format!("front={}", a.url),
        "-s",
        "counter_1ms",
        "engine_speed",
        "-t",
        &format!("rear={}", b.url),
        "-s",
        "counter_1ms",
        "--duration",
        "4",
        "-o",
        &rec,
    ]);
    assert!(out.contains("recorded 2 slaves"), "{out}");

    let info = ok(&["info-rec", &rec]);
    assert!(info.contains("slaves       2"), "{info}");
    for label in ["front", "rear"] {
        assert_eq!(
            field(&info, &format!("slave {label}"), "lost "),
            "0",
            "{info}"
        );
    }
    // The two clocks' rates differ by the 2000 ppm given (the ECUs' own clocks may both
    // differ a little from the host's, alike).
    let drift = |l: &str| -> f64 {
        field(&info, &format!("slave {l}"), "drift ")
            .parse()
            .expect("ppm")
    };
    let rel = drift("rear") - drift("front");
    assert!(
        (rel - 2000.0).abs() < 300.0,
        "relative drift {rel} ppm\n{info}"
    );
    let offset = |l: &str| -> f64 {
        field(&info, &format!("slave {l}"), "offset ")
            .parse()
            .expect("seconds")
    };
    let rel = offset("rear") - offset("front");
    assert!((rel - 1.5).abs() < 0.1, "relative offset {rel} s\n{info}");

    let csv = scratch.path("two.csv");
    ok(&["convert", &rec, "-o", &csv]);
    let rows = counters(Path::new(&csv), &["front", "rear"]);
    for (label, r) in ["front", "rear"].iter().zip(&rows) {
        unbroken(label, r);
        assert!(r.len() > 3500, "{label}: {} rows in 4 s", r.len());
    }
    // Each counter keeps its phase on the common axis, and so stays in step with the other,
    // within 1 ms over the whole recording.
    let pa = phases(&rows[0], 0.5, 3.5);
    let pb = phases(&rows[1], 0.5, 3.5);
    for (label, p) in [("front", &pa), ("rear", &pb)] {
        let spread = p.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - p.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(spread < 1e-3, "{label}: phase moves {spread} s: {p:?}");
    }
    in_step("front", "rear", &pa, &pb);

    // MDF4: a data group per slave and list, channels named by slave.
    let mf4 = scratch.path("two.mf4");
    let m = ok(&["convert", &rec, "--to", "mf4", "-o", &mf4]);
    assert!(m.contains("in 2 data group(s), 5 channels"), "{m}");
    let bytes = std::fs::read(&mf4).expect("the MDF4");
    for name in ["front.counter_1ms", "rear.counter_1ms", "##SI"] {
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "no {name} in the MDF4"
        );
    }
    // Parquet: a file per slave and list.
    let pq = scratch.path("two.parquet");
    let p = ok(&["convert", &rec, "--to", "parquet", "-o", &pq]);
    for file in ["two.front.list0.parquet", "two.rear.list0.parquet"] {
        assert!(p.contains(file), "{p}");
        assert!(scratch.0.join(file).is_file(), "{file} missing");
    }
}

#[test]
fn a_killed_slave_ends_its_part_and_the_others_complete() {
    let scratch = Scratch::new("three");
    let a = ecu("tcp", &[]);
    let b = ecu(
        "udp",
        &["--clock-offset-ms", "-800", "--clock-ppm", "-1000"],
    );
    let mut c = ecu("tcp", &["--clock-ppm", "500"]);
    let rec = scratch.path("three.xcprec");
    let urls = [
        format!("ecu1={}", a.url),
        format!("ecu2={}", b.url),
        format!("ecu3={}", c.url),
    ];
    let record = recording(&rec, 3, &urls);
    // Killed once the recording has run a while.
    std::thread::park_timeout(Duration::from_millis(1200));
    c.child.kill().expect("kill ecu3");
    let _ = c.child.wait();
    let out = record.wait_with_output().expect("xcpkit record ends");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("warning: slave ecu3 dropped out"),
        "{stderr}"
    );

    let info = ok(&["info-rec", &rec]);
    assert!(info.contains("slaves       3"), "{info}");
    assert!(info.contains("closed normally"), "{info}");
    let ecu3 = &info[info.find("slave ecu3").expect("ecu3")..];
    assert!(ecu3.contains("dropped out  at"), "{info}");
    for label in ["ecu1", "ecu2", "ecu3"] {
        assert_eq!(
            field(&info, &format!("slave {label}"), "lost "),
            "0",
            "{info}"
        );
    }
    let csv = scratch.path("three.csv");
    ok(&["convert", &rec, "-o", &csv]);
    let rows = counters(Path::new(&csv), &["ecu1", "ecu2", "ecu3"]);
    for (label, r) in ["ecu1", "ecu2", "ecu3"].iter().zip(&rows) {
        unbroken(label, r);
    }
    let end = |r: &[(f64, u64)]| r.last().map_or(0.0, |x| x.0);
    // The survivors recorded to the end; the killed one stopped where it died.
    assert!(end(&rows[0]) > 2.8 && end(&rows[1]) > 2.8, "{info}");
    assert!(end(&rows[2]) < end(&rows[0]) - 0.5, "{info}");
    assert!(
        rows[2].len() > 500,
        "ecu3: {} rows before it died",
        rows[2].len()
    );
    // The survivors stay in step on the common axis.
    let pa = phases(&rows[0], 0.5, 2.5);
    let pb = phases(&rows[1], 0.5, 2.5);
    in_step("ecu1", "ecu2", &pa, &pb);
}

#[test]
fn signals_belong_to_their_slave_and_labels_must_differ() {
    // Checked before any slave is contacted.
    let o = xcpkit(&[
        "record",
        "-s",
        "x",
        "-t",
        "a=tcp://127.0.0.1:9",
        "-t",
        "b=tcp://127.0.0.1:9",
        "-s",
        "y",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("comes before any -t"), "{e}");
    let o = xcpkit(&[
        "record",
        "-t",
        "a=tcp://127.0.0.1:9",
        "-s",
        "x",
        "-t",
        "a=udp://127.0.0.1:9",
        "-s",
        "y",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("two slaves have this label"), "{e}");
}

#[test]
fn a_profile_of_several_slaves_records_them_all() {
    let scratch = Scratch::new("profile");
    let a = ecu("tcp", &[]);
    let b = ecu("udp", &["--clock-ppm", "-300"]);
    let config = scratch.0.join("xcpkit.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.front]\ntransport = \"{}\"\n\n[profiles.rear]\ntransport = \"{}\"\n\n\
             [profiles.bench]\nslaves = [\"front\", \"rear\"]\n",
            a.url, b.url
        ),
    )
    .expect("the profile file");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xcpkit"))
            .args(args)
            .env("XCPKIT_CONFIG", &config)
            .output()
            .expect("xcpkit runs")
    };
    let rec = scratch.path("bench.xcprec");
    // Names in both slaves' A2L must say whose they are.
    let o = run(&[
        "record",
        "-t",
        "bench",
        "-s",
        "counter_1ms",
        "--duration",
        "1",
        "-o",
        &rec,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("write front.counter_1ms or rear.counter_1ms"),
        "{e}"
    );
    let o = run(&[
        "record",
        "-t",
        "bench",
        "-s",
        "front.counter_1ms",
        "rear.counter_1ms",
        "rear.engine_speed",
        "--duration",
        "1",
        "-o",
        &rec,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = ok(&["info-rec", &rec]);
    assert!(info.contains("slave front"), "{info}");
    assert!(info.contains("counter_1ms, engine_speed"), "{info}");
    // Other commands take one slave.
    let o = run(&["info", "-t", "bench"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("lists several slaves (front, rear)"), "{e}");
}

#[test]
fn a_recording_whose_every_slave_drops_out_exits_3_and_keeps_what_came() {
    let scratch = Scratch::new("all-gone");
    let mut a = ecu("tcp", &[]);
    let mut b = ecu("tcp", &[]);
    let rec = scratch.path("gone.xcprec");
    let record = recording(&rec, 4, &[format!("a={}", a.url), format!("b={}", b.url)]);
    std::thread::park_timeout(Duration::from_millis(500));
    for e in [&mut a, &mut b] {
        e.child.kill().expect("kill");
        let _ = e.child.wait();
    }
    let killed = std::time::Instant::now();
    let out = record.wait_with_output().expect("xcpkit record ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // It ends once both are gone, not at the end of the 4 s asked for.
    assert!(
        killed.elapsed() < Duration::from_millis(2500),
        "{:?}",
        killed.elapsed()
    );
    assert!(stderr.contains("every slave dropped out"), "{stderr}");
    let info = ok(&["info-rec", &rec]);
    assert_eq!(info.matches("dropped out  at").count(), 2, "{info}");
    assert!(info.contains("closed normally"), "{info}");
}
