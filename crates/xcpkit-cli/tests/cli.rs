//! The command line against `xcpkit ecu` (spawned on 127.0.0.1:0): every subcommand that
//! talks to a slave, its output and its exit codes, the bad cases included, and `xcpkit demo`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// An `xcpkit ecu` process, killed when dropped.
struct Ecu {
    child: Child,
    url: String,
    a2l: PathBuf,
}

impl Drop for Ecu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcpkit-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn ecu(extra: &[&str], name: &str) -> Ecu {
    let a2l = dir().join(format!("{name}.a2l"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(["-q", "ecu", "--tcp", "127.0.0.1:0", "--a2l-out"])
        .arg(&a2l)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("xcpkit ecu starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Drained to the end, also once the address is known: the ECU keeps printing.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut e = Ecu {
        child,
        url: String::new(),
        a2l,
    };
    while e.url.is_empty() {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the ECU prints its address within 20 s");
        if let Some(a) = line.strip_prefix("listening on ") {
            e.url = a.to_owned();
        }
    }
    e
}

fn xcpkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(args)
        .current_dir(dir())
        .output()
        .expect("xcpkit runs")
}

/// `xcpkit args` writing into a pipe whose reader is already gone (`xcpkit … | head` after
/// `head` ended).
fn closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(args)
        .current_dir(dir())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("xcpkit runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let o = xcpkit(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{args:?}: {err}");
    out
}

fn fails(args: &[&str], code: i32, says: &str) {
    let o = xcpkit(args);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn every_subcommand_against_the_ecu() {
    let e = ecu(&[], "plain");
    let url = e.url.as_str();

    // `info` in the standard's words: the whole text, pinned.
    let info = ok(&["info", "-t", url]);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        info,
        format!(
            "slave at {url}
  identity     xcpkit_ecu
  file         xcpkit_ecu
  EPK          xcpkit ecu {version}
  versions     protocol 1.5, transport 1.5
  session      BYTE_ORDER_MSB_LAST, ADDRESS_GRANULARITY_BYTE, MAX_CTO 255, MAX_DTO 1468, slave block mode on, master block mode on (MAX_BS 255)
  resources    CAL/PAG, DAQ, STIM, PGM (locked: none)
  DAQ          DYNAMIC, 256 lists (0 predefined), IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD_ALIGNED, timestamps of 4 bytes, 1 ns a tick
    event 0   1ms          cycle 1 ms, priority 3
    event 1   10ms         cycle 10 ms, priority 2
    event 2   100ms        cycle 100 ms, priority 1
    event 3   stress       sporadic, priority 0
  PAG          2 segment(s), freeze not supported
  PGM          8 sector(s)
"
        )
    );
    let info: serde_json::Value =
        serde_json::from_str(&ok(&["info", "-t", url, "--json"])).expect("JSON");
    assert_eq!(info["max_cto"], 255);
    assert_eq!(info["byte_order"], "BYTE_ORDER_MSB_LAST");
    assert_eq!(info["daq"]["dynamic"], true);
    assert_eq!(
        info["daq"]["id_field"],
        "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD_ALIGNED"
    );
    assert_eq!(info["events"].as_array().map(Vec::len), Some(4));
    assert_eq!(info["events"][1]["unit_name"], "UNIT_1MS");
    assert_eq!(info["events"][1]["cycle_ns"], 10_000_000);

    // Event-relative measurements are polled like any other (the trigger serves them).
    let polled = ok(&["read", "-t", url, "engine_speed", "torque", "throttle"]);
    assert_eq!(polled.lines().count(), 3, "{polled}");
    for (line, name) in polled.lines().zip(["engine_speed", "torque", "throttle"]) {
        assert!(line.starts_with(&format!("{name} = ")), "{polled}");
    }

    let fetched = dir().join("fetched.a2l");
    ok(&["fetch-a2l", "-t", url, "-o", path(&fetched)]);
    let served = std::fs::read_to_string(&fetched).expect("written");
    assert_eq!(served, std::fs::read_to_string(&e.a2l).expect("--a2l-out"));

    let out = ok(&["read", "-t", url, "idle_rpm", "wave_amplitude"]);
    assert!(out.contains("idle_rpm = 800 rpm"), "{out}");
    ok(&["write", "-t", url, "--a2l", path(&e.a2l), "idle_rpm=950"]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["read", "-t", url, "--json", "idle_rpm"])).expect("JSON");
    assert_eq!(v["idle_rpm"]["value"], 950.0);
    assert_eq!(v["idle_rpm"]["unit"], "rpm");

    // Raw bytes: write four, read them back.
    let a2l = xcp_a2l::A2l::load(&e.a2l, &xcp_a2l::LoadOptions::default())
        .expect("A2L")
        .0;
    let addr = a2l
        .object("wave_amplitude")
        .expect("object")
        .address
        .expect("address");
    let hex = format!("{:#x}", addr.addr);
    let ext = addr.ext.to_string();
    ok(&["download", "-t", url, "--ext", &ext, &hex, "00004040"]);
    let dump = ok(&["upload", "-t", url, "--ext", &ext, &hex, "4"]);
    assert!(dump.trim_end().ends_with("00 00 40 40"), "{dump}");
    let out = ok(&["read", "-t", url, "wave_amplitude"]);
    assert!(out.contains("wave_amplitude = 3"), "{out}");

    // A profile in ./xcpkit.toml stands in for the URL (and brings the A2L).
    let profile = ok(&["profile", "create", "--name", "bench", "-t", url]);
    std::fs::write(
        dir().join("xcpkit.toml"),
        profile.replace("# a2l = \"ecu.a2l\"", &format!("a2l = {:?}", path(&e.a2l))),
    )
    .expect("write profile");
    let out = ok(&["read", "-t", "bench", "idle_rpm"]);
    assert!(out.contains("idle_rpm = 950 rpm"), "{out}");
    assert!(ok(&["profile", "list"]).contains("bench"));
    fails(&["read", "-t", "nosuch", "idle_rpm"], 2, "no such profile");
    // pyXCP's legacy configuration becomes a profile.
    let legacy = dir().join("legacy.toml");
    std::fs::write(
        &legacy,
        "[XCP]\nTRANSPORT = \"ETH\"\n[ETH]\nHOST = \"127.0.0.1\"\nPORT = 5566\nPROTOCOL = \"UDP\"\n",
    )
    .expect("write");
    let converted = ok(&["profile", "convert", "-c", path(&legacy)]);
    assert!(
        converted.contains("transport = \"udp://127.0.0.1:5566\""),
        "{converted}"
    );

    let ping = ok(&["ping", "-t", url, "-n", "20"]);
    assert!(ping.starts_with("20 GET_STATUS"), "{ping}");

    // Flash: an Intel HEX image into the ECU's simulated flash (0x08000000, extension 1).
    let hex_file = dir().join("app.hex");
    std::fs::write(
        &hex_file,
        ":020000040800F2\n:0400000001020304F2\n:0400040005060708DE\n:00000001FF\n",
    )
    .expect("hex");
    let o = xcpkit(&["flash", "-t", url, "--no-reset", path(&hex_file)]);
    let (out, progress) = text(&o);
    assert!(o.status.success(), "{progress}");
    assert_eq!(
        out,
        "flashed 8 bytes in 1 segment(s), 2 packets (master block mode), verified with XCP_CRC_32\n"
    );
    assert_eq!(
        progress,
        "  clearing 100 %\n  programming 100 %\n  verifying 100 %\n"
    );
    let dump = ok(&["upload", "-t", url, "--ext", "1", "0x08000000", "8"]);
    assert!(dump.contains("01 02 03 04 05 06 07 08"), "{dump}");

    // Bad input: exit code 2 and a reason.
    fails(&["read", "-t", url, "idle_rmp"], 2, "idle_rpm");
    fails(&["write", "-t", url, "idle_rpm=99999"], 2, "limits");
    fails(&["write", "-t", url, "engine_speed=1"], 2, "read-only");
    fails(&["write", "-t", url, "idle_rpm"], 2, "NAME=VALUE");
    fails(&["read", "-t", "ftp://x", "idle_rpm"], 2, "tcp://HOST:PORT");
    fails(&["download", "-t", url, "0x10", "abc"], 2, "hex digits");
    let other = dir().join("other-version.a2l");
    let text = std::fs::read_to_string(&e.a2l)
        .expect("A2L")
        .replace("xcpkit ecu 0.", "xcpkit ecu 9.");
    std::fs::write(&other, text).expect("write");
    fails(
        &["read", "-t", url, "--a2l", path(&other), "idle_rpm"],
        2,
        "EPK",
    );
    // The slave refuses: exit code 4.
    fails(&["upload", "-t", url, "--ext", "9", "0x0", "4"], 4, "ERR_");
}

#[test]
fn a2l_show_xcp_speaks_the_standards_words() {
    // XCPlite's hello_xcp A2L as a master has it after fetch-a2l: its A2ML include missing.
    let a2l = dir().join("hello_xcp.a2l");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/a2l/xcplite_hello_xcp_200.a2l"),
        &a2l,
    )
    .expect("copy");
    let o = xcpkit(&["a2l", "show", path(&a2l), "xcp"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("\"XCP_104.aml\" is not there"), "{err}");
    assert_eq!(
        out,
        "EPK \"200\" at 0x80000000
PROTOCOL_LAYER version 0x0104 T1 1000 ms T2 2000 ms T3 0 ms T4 0 ms T5 0 ms T6 0 ms T7 0 ms MAX_CTO 248 MAX_DTO 512 BYTE_ORDER_MSB_LAST ADDRESS_GRANULARITY_BYTE
DAQ DYNAMIC MAX_DAQ 0 MAX_EVENT_CHANNEL 2 MIN_DAQ 0 MAX_ODT_ENTRY_SIZE_DAQ 248 IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE OVERLOAD_INDICATION_PID TIMESTAMP_SUPPORTED 1 SIZE_DWORD UNIT_1NS
  EVENT \"calc_power\" channel 0 DAQ sporadic priority 0 MAX_DAQ_LIST 255
  EVENT \"mainloop\" channel 1 DAQ sporadic priority 0 MAX_DAQ_LIST 255
XCP on UDP: port 5555 (no address given)
(some IF_DATA XCP did not match the A2ML and was skipped)
"
    );
}

#[test]
fn a_project_of_two_included_modules_is_read_whole() {
    let e = ecu(&[], "two-modules");
    let text = std::fs::read_to_string(&e.a2l).expect("the ECU's A2L");
    let begin = text.find("  /begin MODULE").expect("a MODULE");
    let end = text.find("  /end MODULE").expect("its end") + "  /end MODULE".len();
    let module = &text[begin..end];
    // Two ECUs, one file each: the same objects, one served over TCP, the other over UDP.
    let a = module.replacen("/begin MODULE xcpkit_ecu", "/begin MODULE ecu_a", 1);
    let b = module
        .replacen("/begin MODULE xcpkit_ecu", "/begin MODULE ecu_b", 1)
        .replace("/begin XCP_ON_TCP_IP", "/begin XCP_ON_UDP_IP")
        .replace("/end XCP_ON_TCP_IP", "/end XCP_ON_UDP_IP");
    let d = dir().join("two-modules");
    std::fs::create_dir_all(&d).expect("dir");
    std::fs::write(d.join("ecu_a.a2l"), a).expect("write");
    std::fs::write(d.join("ecu_b.a2l"), b).expect("write");
    let main = d.join("bench.a2l");
    std::fs::write(
        &main,
        format!(
            "{}\n/begin PROJECT bench \"\"\n  /include \"ecu_a.a2l\"\n  /include \"ecu_b.a2l\"\n/end PROJECT\n",
            text.lines().next().expect("ASAP2_VERSION")
        ),
    )
    .expect("write");
    let main = path(&main);

    let check = ok(&["a2l", "check", main]);
    assert!(
        check.contains("module ecu_a, ASAP2 1.71") && check.contains("module ecu_b, ASAP2 1.71"),
        "{check}"
    );
    let list = ok(&["a2l", "list", main, "--filter", "^ecu_.::counter_1ms$"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains("ecu_a::counter_1ms") && list.contains("ecu_b::counter_1ms"),
        "{list}"
    );
    fails(
        &["a2l", "show", main, "counter_1ms"],
        1,
        "\"counter_1ms\" is in 2 MODULEs; name one: ecu_a::counter_1ms, ecu_b::counter_1ms",
    );
    let shown = ok(&["a2l", "show", main, "ecu_b::counter_1ms"]);
    assert!(shown.starts_with("MEASUREMENT counter_1ms"), "{shown}");
    let xcp = ok(&["a2l", "show", main, "xcp"]);
    assert!(
        xcp.contains("MODULE ecu_a") && xcp.contains("MODULE ecu_b") && xcp.contains("XCP on UDP"),
        "{xcp}"
    );

    // A session picks the module that serves its transport, or the one named.
    let url = e.url.as_str();
    let read = ok(&["read", "-t", url, "--a2l", main, "idle_rpm"]);
    assert!(read.starts_with("idle_rpm = "), "{read}");
    let read = ok(&[
        "read", "-t", url, "--a2l", main, "--module", "ecu_b", "idle_rpm",
    ]);
    assert!(read.starts_with("idle_rpm = "), "{read}");
    fails(
        &[
            "read", "-t", url, "--a2l", main, "--module", "ecu_c", "idle_rpm",
        ],
        2,
        "has no MODULE \"ecu_c\"; it has ecu_a, ecu_b",
    );
}

#[test]
fn an_error_chain_says_each_cause_once() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let o = xcpkit(&["read", "-t", &format!("tcp://127.0.0.1:{port}"), "idle_rpm"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(
        err,
        format!(
            "error: cannot reach tcp://127.0.0.1:{port}: connecting to slave 127.0.0.1:{port} (TCP): \
             nothing listens there; check the address and port and that the slave runs: \
             Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn no_answer_and_locked_resources() {
    // Nobody listens on this port: exit code 3.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    fails(
        &["info", "-t", &format!("tcp://127.0.0.1:{port}")],
        3,
        "cannot reach",
    );
    // Locked without a key: the slave answers ERR_ACCESS_LOCKED, exit code 4.
    let e = ecu(&["--seed-key"], "locked");
    fails(
        &["write", "-t", &e.url, "--a2l", path(&e.a2l), "idle_rpm=900"],
        4,
        "ACCESS_LOCKED",
    );
}

#[test]
fn the_demo_runs_on_a_can_bus() {
    let csv = dir().join("demo-can.csv");
    let rec = dir().join("demo-can.xcprec");
    let out = ok(&[
        "demo",
        "--can",
        "--seconds",
        "1",
        "-o",
        path(&rec),
        "--csv",
        path(&csv),
    ]);
    assert!(
        out.contains("serving XCP on can://virtual/demo?master=0x7e0&slave=0x7e1"),
        "{out}"
    );
    assert!(out.contains("MAX_CTO 8, MAX_DTO 8"), "{out}");
    assert!(out.contains("calibrated wave_amplitude 1 -> 3"), "{out}");
    assert!(out.contains("lost 0 (counter_1ms gaps 0"), "{out}");
    let rows = std::fs::read_to_string(&csv).expect("CSV").lines().count();
    assert!(rows > 500, "{rows} lines in the CSV");
}

#[test]
fn the_demo_runs_as_the_readme_says() {
    let csv = dir().join("demo.csv");
    let rec = dir().join("demo.xcprec");
    let out = ok(&[
        "demo",
        "--seconds",
        "2",
        "-o",
        path(&rec),
        "--csv",
        path(&csv),
    ]);
    assert!(out.contains("A2L fetched from the slave"), "{out}");
    assert!(out.contains("calibrated wave_amplitude 1 -> 3"), "{out}");
    assert!(out.contains("lost 0"), "{out}");
    let rows = std::fs::read_to_string(&csv).expect("CSV").lines().count();
    assert!(rows > 1000, "{rows} lines in the CSV");
    let info = ok(&["info-rec", path(&rec)]);
    assert!(info.contains("closed normally"), "{info}");
    assert!(info.contains("engine_speed"), "{info}");
    let mf4 = std::fs::read(rec.with_extension("mf4")).expect("the MDF4 export");
    assert_eq!(&mf4[..8], b"MDF     ");
    // A reader that went away ends a command quietly, its work done, never with a panic.
    let again = dir().join("demo-again.csv");
    for args in [
        &["convert", path(&rec), "--to", "csv", "-o", path(&again)][..],
        &["info-rec", path(&rec)][..],
    ] {
        let o = closed_stdout(args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let open = dir().join("demo-open.csv");
    ok(&["convert", path(&rec), "--to", "csv", "-o", path(&open)]);
    let (closed, open) = (
        std::fs::read(&again).expect("the CSV written with stdout closed"),
        std::fs::read(&open).expect("the CSV written with stdout open"),
    );
    assert!(
        closed == open && open.len() > 1000,
        "{} and {} bytes",
        closed.len(),
        open.len()
    );
}

#[test]
fn record_until_the_duration_and_inspect_the_file() {
    let e = ecu(&[], "record");
    let rec = dir().join("run.xcprec");
    let out = ok(&[
        "record",
        "-t",
        &e.url,
        "-s",
        "counter_1ms",
        "engine_speed",
        "-s",
        "sine_wave",
        "--duration",
        "1",
        "--codec",
        "zstd",
        "-o",
        path(&rec),
    ]);
    assert!(out.contains("0 dropped by the writer"), "{out}");
    let frames: u64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("frame count");
    assert!(frames > 900, "{out}");
    let info = ok(&["info-rec", path(&rec)]);
    assert!(
        info.contains(&format!("frames       {frames} in")) && info.contains("(zstd)"),
        "{info}"
    );
    assert!(
        info.contains("event 0") && info.contains("event 1"),
        "{info}"
    );
    // CSV merged, and one file per list: the same rows, each list's file with its own
    // columns only.
    let merged = dir().join("run-merged.csv");
    ok(&["convert", path(&rec), "--to", "csv", "-o", path(&merged)]);
    let merged = std::fs::read_to_string(&merged).expect("merged CSV");
    let merged_rows = merged.lines().count() - 1;
    let out = ok(&[
        "convert",
        path(&rec),
        "--to",
        "csv",
        "--per-list",
        "-o",
        path(&dir().join("run-split.csv")),
    ]);
    let files: Vec<(usize, &str)> = out
        .lines()
        .filter_map(|l| {
            let (n, p) = l.split_once(" rows to ")?;
            Some((n.parse().ok()?, p))
        })
        .collect();
    assert_eq!(files.len(), 2, "{out}");
    let mut signals = Vec::new();
    let mut split_rows = 0;
    for (k, (n, file)) in files.iter().enumerate() {
        assert!(
            file.contains("run-split.") && file.ends_with(".csv"),
            "{file}"
        );
        let text = std::fs::read_to_string(file).expect("a list's CSV");
        let mut lines = text.lines();
        let header = lines.next().expect("header");
        assert!(
            header.starts_with("time_s,") && !header.contains(",list,"),
            "{header}"
        );
        let width = header.split(',').count();
        // The merged file's rows of list k, cut to its columns, are this file's rows.
        let before = signals.len();
        let want: Vec<String> = merged
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(1) == Some(k.to_string().as_str()))
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                let own = &cells[2 + before..2 + before + width - 1];
                format!("{},{}", cells[0], own.join(","))
            })
            .collect();
        let mut rows = 0;
        for (line, want) in lines.zip(&want) {
            assert_eq!(line.split(',').count(), width, "{file}: {line}");
            assert_eq!(line, want, "{file}");
            rows += 1;
        }
        assert_eq!(rows, want.len(), "{file}");
        assert_eq!(rows, *n, "{file}");
        split_rows += rows;
        signals.extend(header.split(',').skip(1).map(str::to_owned));
    }
    assert_eq!(split_rows, merged_rows);
    let merged_header: Vec<&str> = merged.lines().next().expect("header").split(',').collect();
    assert_eq!(merged_header[2..], signals[..]);
    // A time window: the merged rows whose time (microseconds, as the CSV writes it) lies
    // from a third to two thirds in, on the same time axis.
    let micros = |line: &str| -> u64 {
        let (s, f) = line
            .split(',')
            .next()
            .and_then(|t| t.split_once('.'))
            .expect("a time");
        s.parse::<u64>().expect("seconds") * 1_000_000 + f.parse::<u64>().expect("micros")
    };
    let body: Vec<&str> = merged.lines().skip(1).collect();
    let (a, b) = (
        micros(body[body.len() / 3]),
        micros(body[2 * body.len() / 3]),
    );
    assert!(a < b, "{a} {b}");
    let want: Vec<&str> = body
        .iter()
        .copied()
        .filter(|l| (a..b).contains(&micros(l)))
        .collect();
    let windowed = dir().join("run-window.csv");
    let secs = |us: u64| format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    ok(&[
        "convert",
        path(&rec),
        "--to",
        "csv",
        "--from",
        &secs(a),
        "--until",
        &secs(b),
        "-o",
        path(&windowed),
    ]);
    let windowed = std::fs::read_to_string(&windowed).expect("windowed CSV");
    let got: Vec<&str> = windowed.lines().skip(1).collect();
    assert!(!want.is_empty() && want.len() < body.len());
    assert_eq!(got, want, "the window's rows");
    fails(
        &["convert", path(&rec), "--from", "2", "--until", "1"],
        2,
        "ends before it starts",
    );
    fails(
        &["convert", path(&rec), "--from=-1"],
        2,
        "is not a number of seconds",
    );
    fails(
        &["convert", path(&rec), "--to", "mf4", "--per-list"],
        2,
        "applies to --to csv only",
    );
    // A name the A2L does not know: bad input before anything is recorded.
    fails(
        &[
            "record",
            "-t",
            &e.url,
            "-s",
            "no_such_signal",
            "-o",
            path(&rec),
        ],
        2,
        "no_such_signal",
    );
    // Not a recording.
    fails(&["info-rec", path(&e.a2l)], 2, "not a readable recording");
    // Only pyXCP's files import.
    fails(
        &["convert", path(&rec), "--to", "xcprec"],
        2,
        "imports pyXCP .xmraw files",
    );
    // Compression is Parquet's alone, and named.
    fails(
        &[
            "convert",
            path(&rec),
            "--to",
            "csv",
            "--compression",
            "zstd",
        ],
        2,
        "applies to --to parquet only",
    );
    fails(
        &[
            "convert",
            path(&rec),
            "--to",
            "parquet",
            "--compression",
            "gzip",
        ],
        2,
        "not a Parquet compression",
    );
}

#[test]
fn ctrl_c_ends_a_recording_cleanly_with_nothing_lost() {
    let e = ecu(&[], "ctrlc");
    let rec = dir().join("ctrlc.xcprec");
    let child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(["record", "-t", &e.url, "-s", "counter_1ms", "-o"])
        .arg(&rec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("record starts");
    // Wait until the recording has data on disk, then SIGINT.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&rec).map_or(0, |m| m.len()) < 4096 {
        assert!(
            std::time::Instant::now() < deadline,
            "data on disk within 20 s"
        );
        std::thread::yield_now();
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("record ends");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("0 dropped by the writer"), "{stdout}");
    let frames: u64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("frame count");
    let info = ok(&["info-rec", path(&rec)]);
    assert!(info.contains("closed normally"), "{info}");
    assert!(
        info.contains(&format!("frames       {frames} in")) && info.contains("(LZ4)"),
        "{info}"
    );
}

#[test]
fn cal_saves_loads_compares_and_converts_parameter_files() {
    let e = ecu(&[], "cal");
    let url = e.url.as_str();
    let d = dir();
    let f = |name: &str| d.join(format!("cal-{name}"));
    let a2l = path(&e.a2l);
    let out = ok(&["cal", "save", "-t", url, "-o", path(&f("a.dcm"))]);
    assert!(
        out.contains("saved 17 parameter(s) as DCM") && out.contains("EPK xcpkit ecu"),
        "{out}"
    );
    for name in ["a.cdfx", "a.json", "a.hex", "a.bin"] {
        ok(&["cal", "save", "-t", url, "-o", path(&f(name))]);
    }
    let dcm = std::fs::read_to_string(f("a.dcm")).expect("DCM");
    assert!(dcm.contains("GRUPPENKENNFELD torque_map 8 6"), "{dcm}");
    assert!(
        dcm.contains("   ST/Y 100\n   WERT 120 160 200 225 245 240\n"),
        "{dcm}"
    );
    // The same values in every file, images read through the A2L.
    for other in ["a.cdfx", "a.json", "a.hex", "a.bin"] {
        let o = xcpkit(&[
            "cal",
            "diff",
            "--a2l",
            a2l,
            path(&f("a.dcm")),
            path(&f(other)),
        ]);
        assert_eq!(o.status.code(), Some(0), "{other}: {:?}", text(&o));
        assert_eq!(text(&o).0, "", "{other}");
    }
    ok(&[
        "cal",
        "convert",
        path(&f("a.cdfx")),
        "-o",
        path(&f("b.json")),
    ]);
    let o = xcpkit(&["cal", "diff", path(&f("a.json")), path(&f("b.json"))]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // A changed file: shown by a dry run, then loaded and read back.
    let changed = dcm.replace("   WERT 800\n", "   WERT 900\n").replace(
        "   WERT 120 160 200 225 245 240\n",
        "   WERT 120 160 200 225 250 240\n",
    );
    std::fs::write(f("c.dcm"), changed).expect("write");
    let out = ok(&["cal", "load", "-t", url, "--dry-run", path(&f("c.dcm"))]);
    assert!(out.contains("idle_rpm: 800 → 900 rpm"), "{out}");
    assert!(out.contains("torque_map[4,5]: 245 → 250 Nm"), "{out}");
    assert!(out.contains("2 of 17 parameter(s) would change"), "{out}");
    assert_eq!(ok(&["read", "-t", url, "idle_rpm"]), "idle_rpm = 800 rpm\n");
    let out = ok(&["cal", "load", "-t", url, path(&f("c.dcm"))]);
    assert!(
        out.contains("2 of 17 parameter(s) changed") && out.contains("read back equal"),
        "{out}"
    );
    assert_eq!(ok(&["read", "-t", url, "idle_rpm"]), "idle_rpm = 900 rpm\n");
    let o = xcpkit(&["cal", "diff", "-t", url, path(&f("c.dcm"))]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the slave holds the file: {:?}",
        text(&o)
    );
    let o = xcpkit(&["cal", "diff", path(&f("a.dcm")), path(&f("c.dcm"))]);
    assert_eq!(o.status.code(), Some(1), "they differ: {:?}", text(&o));
    assert_eq!(
        text(&o).0,
        "idle_rpm: 800 → 900 rpm\ntorque_map[4,5]: 245 → 250 Nm\n"
    );

    // The saved image puts everything back.
    let out = ok(&["cal", "load", "-t", url, path(&f("a.hex"))]);
    assert!(out.contains("2 of 17 parameter(s) changed"), "{out}");
    assert_eq!(ok(&["read", "-t", url, "idle_rpm"]), "idle_rpm = 800 rpm\n");

    // Refused before anything is written: another EPK, values out of their limits.
    std::fs::write(
        f("e.dcm"),
        dcm.replace("* EPK: \"xcpkit ecu", "* EPK: \"other ecu"),
    )
    .expect("write");
    fails(
        &["cal", "load", "-t", url, path(&f("e.dcm"))],
        2,
        "--ignore-epk",
    );
    ok(&["cal", "load", "-t", url, "--ignore-epk", path(&f("e.dcm"))]);
    std::fs::write(
        f("l.dcm"),
        dcm.replace("   WERT 800\n", "   WERT 5000\n")
            .replace("FESTWERT vehicle_mass", "FESTWERT vehicle_mas"),
    )
    .expect("write");
    let o = xcpkit(&["cal", "load", "-t", url, path(&f("l.dcm"))]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("2 problem(s), nothing was written"), "{err}");
    assert!(
        err.contains("idle_rpm: 5000 is out of range [500, 1500]"),
        "{err}"
    );
    assert!(err.contains("vehicle_mas: no object named"), "{err}");
    assert_eq!(ok(&["read", "-t", url, "idle_rpm"]), "idle_rpm = 800 rpm\n");

    fails(
        &["cal", "convert", path(&f("a.dcm")), "-o", path(&f("x.hex"))],
        1,
        "an image holds the whole calibration memory",
    );
    fails(
        &["cal", "diff", path(&f("a.dcm")), path(&f("a.hex"))],
        2,
        "needs the A2L",
    );
    fails(
        &["cal", "save", "-t", url, "-o", path(&f("a.txt"))],
        2,
        "unknown calibration file type",
    );
    fails(&["cal", "freeze", "-t", url], 2, "--persist DIR");
}

#[test]
fn cal_freeze_keeps_the_working_page_across_a_restart() {
    let store = dir().join("cal-persist");
    let store_arg = path(&store).to_owned();
    {
        let e = ecu(&["--persist", &store_arg], "cal-freeze");
        ok(&["write", "-t", &e.url, "idle_rpm=1000"]);
        let out = ok(&["cal", "freeze", "-t", &e.url]);
        assert!(out.contains("STORE_CAL_REQ done"), "{out}");
    }
    let e = ecu(&["--persist", &store_arg], "cal-freeze-2");
    assert_eq!(
        ok(&["read", "-t", &e.url, "idle_rpm"]),
        "idle_rpm = 1000 rpm\n"
    );
}

/// An unpacked FMI 3.0 FMU whose interface is the ECU's A2L, its TCP port variable
/// starting at `port`.
fn fmu_dir(name: &str, a2l: &Path, port: &str) -> PathBuf {
    let d = dir().join(name);
    let _ = std::fs::remove_dir_all(&d);
    let platform = fmi_ls_xcp::platform(true);
    let extra = d.join("extra/org.fmi-standard.fmi-ls-xcp");
    std::fs::create_dir_all(extra.join(&platform)).expect("dirs");
    std::fs::create_dir_all(d.join("binaries").join(&platform)).expect("dirs");
    std::fs::write(d.join("binaries").join(&platform).join("ecu.so"), "").expect("binary");
    std::fs::copy(a2l, extra.join(&platform).join("ecu.a2l")).expect("A2L");
    std::fs::write(
        d.join("modelDescription.xml"),
        format!(
            r#"<fmiModelDescription fmiVersion="3.0" modelName="ecu"><CoSimulation modelIdentifier="ecu"/><ModelVariables>
<Boolean name="XCP.TCP.Enable" valueReference="1" causality="structuralParameter" variability="fixed" start="true"/>
<UInt16 name="XCP.TCP.Port" valueReference="2" causality="structuralParameter" variability="fixed" start="{port}"/>
</ModelVariables></fmiModelDescription>"#
        ),
    )
    .expect("model description");
    std::fs::write(
        extra.join("fmi-ls-manifest.xml"),
        r#"<fmiLayeredStandardManifest xmlns:fmi-ls="http://fmi-standard.org/fmi-ls-manifest" fmi-ls:fmi-ls-name="org.fmi-standard.fmi-ls-xcp" fmi-ls:fmi-ls-version="1.0.0">
<Interface definition="ecu.a2l" description="the virtual ECU" containsXCPService="true">
<Variable name="XCP.TCP.Enable" role="XCPServiceTCPEnable"/><Variable name="XCP.TCP.Port" role="XCPServiceTCPPort"/>
</Interface></fmiLayeredStandardManifest>"#,
    )
    .expect("manifest");
    d
}

#[test]
fn fmu_check_info_and_a2l() {
    let e = ecu(&[], "fmu");
    let port = e.url.rsplit(':').next().expect("port").to_owned();
    let good = fmu_dir("fmu-good", &e.a2l, &port);
    let out = ok(&["fmu", "check", path(&good)]);
    assert!(
        out.contains("1 interface(s), FMI 3.0") && out.contains("no rule broken"),
        "{out}"
    );
    let out = ok(&["fmu", "info", path(&good)]);
    for says in [
        "FMI          3.0",
        "interface 1  ecu.a2l (its own XCP service)",
        &format!("XCPServiceTCPPort           XCP.TCP.Port = {port} (structuralParameter fixed)"),
        &format!("MODULE xcpkit_ecu, EPK xcpkit ecu 0.1.0, TCP 127.0.0.1:{port}"),
    ] {
        assert!(out.contains(says), "{says:?} in {out}");
    }
    let extracted = dir().join("fmu-extracted.a2l");
    ok(&["fmu", "a2l", path(&good), "-o", path(&extracted)]);
    assert_eq!(
        std::fs::read(&extracted).expect("extracted"),
        std::fs::read(&e.a2l).expect("served")
    );
    let bad = fmu_dir("fmu-bad", &e.a2l, "1");
    let o = xcpkit(&["fmu", "check", path(&bad)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains(&format!(
            "XCP_ON_TCP_IP: port {port}, but XCP.TCP.Port (XCPServiceTCPPort) starts at 1"
        )),
        "{out}"
    );
    assert!(err.contains("1 rule(s) of fmi-ls-xcp broken"), "{err}");
    fails(
        &["fmu", "a2l", path(&good), "--interface", "2"],
        1,
        "takes 1 to 1",
    );
    fails(&["fmu", "info", path(&dir())], 2, "no modelDescription.xml");
}
