//! `xcpkit ecu` as a process: it prints its port, writes an A2L that loads strict-clean and
//! describes the promised signals, serves a master over TCP whose counter it can poll, and
//! stops cleanly on SIGINT.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use a2lfile::A2lObjectName;
use xcp_proto::{Address, Command as Cmd, SessionParams};
use xcp_transport::{PacketRx, PacketTx, Transport};
use xcp_transport_eth::{EthConfig, Protocol, connect};

const WAIT: Duration = Duration::from_secs(20);

fn request(tx: &mut impl PacketTx, rx: &mut impl PacketRx, cmd: Cmd<'_>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = cmd
        .emit(&mut buf, &SessionParams::default())
        .expect("encodes");
    tx.send_now(&buf[..n]).expect("send");
    let res = rx
        .recv(Duration::from_secs(2))
        .expect("receive")
        .expect("an answer within 2 s")
        .to_vec();
    assert_eq!(res[0], 0xFF, "{cmd} refused: {res:02x?}");
    res
}

/// Ends the ECU process if the test fails before it stops it (a failed assertion must not
/// leave a server running).
struct KillOnPanic(Option<u32>);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn the_ecu_serves_its_model_and_stops_on_sigint() {
    let dir = std::env::temp_dir().join(format!("xcpkit-ecu-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let a2l = dir.join("ecu.a2l");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
        .args(["ecu", "--tcp", "127.0.0.1:0", "--a2l-out"])
        .arg(&a2l)
        .stdout(Stdio::piped())
        .spawn()
        .expect("xcpkit starts");
    let mut guard = KillOnPanic(Some(child.id()));
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr: SocketAddr = loop {
        let line = lines.recv_timeout(WAIT).expect("the ECU prints its port");
        if let Some(a) = line.strip_prefix("listening on tcp://") {
            break a.parse().expect("an address");
        }
    };

    // The A2L: strict-clean, with the promised objects.
    let text = std::fs::read_to_string(&a2l).expect("--a2l-out wrote the A2L");
    let (file, warnings) = a2lfile::load_from_string(&text, None, true).expect("strict load");
    assert!(warnings.is_empty(), "{warnings:#?}");
    let module = &file.project.module[0];
    assert!(
        module.measurement.len() >= 33,
        "{} measurements",
        module.measurement.len()
    );
    let kinds: Vec<String> = module
        .characteristic
        .iter()
        .map(|c| c.characteristic_type.to_string())
        .collect();
    assert!(kinds.len() >= 10, "{kinds:?}");
    assert!(
        kinds.iter().any(|k| k == "CURVE") && kinds.iter().any(|k| k == "MAP"),
        "{kinds:?}"
    );
    let events: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("/begin EVENT "))
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect();
    assert_eq!(events, ["1ms", "10ms", "100ms", "stress"]);
    let counter = module
        .measurement
        .iter()
        .find(|m| m.get_name() == "counter_1ms")
        .expect("counter_1ms");
    let counter_addr = counter.ecu_address.as_ref().expect("address").address;
    assert_eq!(
        counter.ecu_address_extension.as_ref().map(|e| e.extension),
        Some(1),
        "absolute"
    );

    // `xcpkit a2l` reads the same file: strict-clean, the map resolved, the transport shown.
    let a2l_cmd = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
            .arg("a2l")
            .args(args)
            .output()
            .expect("xcpkit a2l runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let path = a2l.to_str().expect("utf-8 temp path");
    let (ok, out) = a2l_cmd(&["check", "--strict", path]);
    assert!(ok && out.contains("measurements"), "{out}");
    let (ok, out) = a2l_cmd(&["show", path, "torque_map"]);
    assert!(ok, "{out}");
    assert!(
        out.starts_with("MAP torque_map")
            && out.contains("COM_AXIS")
            && out.contains("points in map_rpm_axis"),
        "{out}"
    );
    let (ok, out) = a2l_cmd(&["show", path, "xcp"]);
    assert!(
        ok && out.contains(&format!("XCP on TCP: 127.0.0.1:{}", addr.port())),
        "{out}"
    );
    let (ok, out) = a2l_cmd(&[
        "list",
        path,
        "--kind",
        "measurement",
        "--filter",
        "^counter_",
    ]);
    assert!(ok && out.lines().count() == 3, "{out}");
    let (ok, out) = a2l_cmd(&["list", path, "--json", "--filter", "^counter_1ms$"]);
    assert!(ok, "{out}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("list --json is JSON");
    let entry = &list[0];
    assert_eq!(entry["name"], "counter_1ms", "{out}");
    assert_eq!(entry["datatype"], "ULONG", "{out}");
    assert_eq!(entry["size"], 4, "{out}");
    assert_eq!(entry["samples"][1], serde_json::json!([1.0, 1.0]), "{out}");
    let broken = dir.join("broken.a2l");
    std::fs::write(&broken, &text[..text.len() / 3]).expect("write");
    let (ok, _) = a2l_cmd(&["check", broken.to_str().expect("utf-8")]);
    assert!(!ok, "a truncated A2L passes the check");

    // A master polls the 1 ms counter: it moves.
    let (mut tx, mut rx) = connect(addr, Protocol::Tcp, &EthConfig::default())
        .expect("connects")
        .split();
    request(&mut tx, &mut rx, Cmd::Connect { mode: 0 });
    let read = |tx: &mut _, rx: &mut _| {
        let r = request(
            tx,
            rx,
            Cmd::ShortUpload {
                count: 4,
                addr: Address::new(1, counter_addr),
            },
        );
        u32::from_le_bytes([r[1], r[2], r[3], r[4]])
    };
    let first = read(&mut tx, &mut rx);
    let mut later = first;
    for _ in 0..10_000 {
        later = read(&mut tx, &mut rx);
        if later > first + 5 {
            break;
        }
    }
    assert!(later > first + 5, "counter_1ms stays at {first}");
    request(&mut tx, &mut rx, Cmd::Disconnect);

    // SIGINT: a clean exit with the summary line.
    let pid = child.id().to_string();
    let kill = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = done
        .recv_timeout(WAIT)
        .expect("the ECU stops within 20 s of SIGINT")
        .expect("wait works");
    guard.0 = None;
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.iter().collect();
    assert!(
        rest.iter().any(|l| l.starts_with("stopped:")),
        "summary missing: {rest:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
