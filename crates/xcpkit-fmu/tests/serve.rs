//! The importer behind `xcpkit fmu serve` running the DMA FMU (`xcpkit_ecu_dma`, unpacked
//! from the library this build made): DAQ at each communication point equals the FMU's FMI
//! outputs at that time, calibration changes the next step, the FMU's own service and the
//! importer's agree, and every refusal says why.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use xcp_a2l::Value;
use xcp_slave::TransportDesc;
use xcpkit::{MeasureOptions, Options, Session};
use xcpkit_fmu::import::{ServeOptions, Served};
use xcpkit_fmu::{Fmi, files};

/// One FMU with direct memory access per process (fmi-ls-xcp section 6): the tests that
/// serve one take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The DMA FMU (FMI 3.0) unpacked into a fresh folder named after `tag`.
fn unpacked(tag: &str) -> PathBuf {
    unpacked_for(tag, Fmi::V3)
}

/// The DMA FMU for `fmi` unpacked into a fresh folder named after `tag`.
fn unpacked_for(tag: &str, fmi: Fmi) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xcpkit-serve-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    files::unpack_dma(&files::built_library().expect("the FMU library"), &dir, fmi)
        .expect("unpacked");
    dir
}

fn options() -> ServeOptions {
    ServeOptions {
        tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        step: Some(0.001),
        ..ServeOptions::default()
    }
}

fn tcp(served: &Served) -> SocketAddr {
    served
        .serving()
        .iter()
        .find_map(|d| match d {
            TransportDesc::Tcp(a) => Some(*a),
            _ => None,
        })
        .expect("serving TCP")
}

fn session(url: &str) -> Session {
    let mut s = Session::open(url, &Options::default()).expect("connect");
    s.load_a2l_from_slave().expect("A2L uploaded");
    s
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(x) => *x,
        Value::Text(t) => panic!("a number, not {t:?}"),
    }
}

const OUTPUTS: [&str; 3] = ["engine_speed", "vehicle_speed", "sine_wave"];

/// Steps `served` `steps` times (from its start), then polls the outputs over XCP: each
/// equals, bit for bit, what FMI answers, and `counter_1ms` counts the steps.
fn polls_equal_the_fmi_outputs(served: &mut Served, s: &mut Session, steps: u32) {
    for _ in 0..steps {
        served.step().expect("step");
    }
    let fmi = served.get_f64(&OUTPUTS).expect("outputs");
    for (name, want) in OUTPUTS.iter().zip(&fmi) {
        let got = number(&s.read(name).expect("polled").values[0]);
        assert_eq!(got.to_bits(), want.to_bits(), "{name}");
    }
    assert_eq!(
        number(&s.read("counter_1ms").expect("counter").values[0]),
        f64::from(steps)
    );
}

/// Steps 1 ms of simulation time per millisecond until told to stop (20 s at most);
/// returns each communication point's time (ns) with the FMU's FMI outputs then.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "simulation times of seconds, positive"
)]
fn step_paced(served: &mut Served, stop: &mpsc::Receiver<()>) -> Vec<(u64, Vec<f64>)> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match stop.recv_timeout(Duration::from_millis(1)) {
            Err(RecvTimeoutError::Timeout) => {
                served.step().expect("step");
                let t = (served.time() * 1e9).round() as u64;
                seen.push((t, served.get_f64(&OUTPUTS).expect("outputs")));
            }
            _ => break,
        }
    }
    seen
}

#[test]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts of milliseconds, whole and positive"
)]
fn daq_at_each_communication_point_equals_the_fmi_outputs_and_calibration_acts_next_step() {
    let _turn = turn();
    let dir = unpacked("daq");
    let mut served = Served::open(&dir, &options()).expect("served");
    // Signals (read-only) and parameters (writable): two regions of the image.
    let mut regions = served.regions().to_vec();
    regions.sort_by_key(|r| r.writable);
    assert_eq!(
        regions
            .iter()
            .map(|r| (r.writable, r.objects))
            .collect::<Vec<_>>(),
        [(false, 5), (true, 12)],
        "{regions:?}"
    );
    assert_eq!(regions[0].len, 36, "four f64 signals and a u32 counter");
    let (_, image_len) = served.image();
    assert!(
        regions
            .iter()
            .all(|r| r.offset as usize + r.len <= image_len)
    );

    let addr = tcp(&served);
    let mut s = session(&format!("tcp://{addr}"));
    // The uploaded A2L is the FMU's with IF_DATA XCP for this service.
    let uploaded = s.fetch_a2l().expect("A2L");
    assert_eq!(uploaded, served.a2l());
    assert!(uploaded.contains("XCP_ON_TCP_IP"), "transport described");
    assert!(
        uploaded.contains(&addr.port().to_string()),
        "port described"
    );
    assert!(uploaded.contains("communication point"), "the event");

    // Between steps a poll reads what the FMU holds.
    polls_equal_the_fmi_outputs(&mut served, &mut s, 5);
    let amplitude = number(&s.read("wave_amplitude").expect("parameter").values[0]);
    assert!((amplitude - 1.0).abs() < 1e-6, "{amplitude}");

    let (stop_tx, stop_rx) = mpsc::channel();
    let (seen, rows) = std::thread::scope(|scope| {
        let served = &mut served;
        let stepper = scope.spawn(move || step_paced(served, &stop_rx));
        let mut names: Vec<&str> = OUTPUTS.to_vec();
        names.push("counter_1ms");
        let m = s
            .measure(
                &names,
                MeasureOptions {
                    correlate: false,
                    ..MeasureOptions::default()
                },
            )
            .expect("DAQ");
        assert_eq!(m.events(), [0], "one list, on the communication point");
        let columns: Vec<String> = m.columns()[0].iter().map(|c| c.name.clone()).collect();
        assert_eq!(columns, names);
        let mut rows: Vec<(u64, Vec<f64>)> = Vec::new();
        let mut written = false;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && rows.len() < 600 {
            for row in m
                .recv(Duration::from_millis(200))
                .expect("rows")
                .unwrap_or_default()
            {
                rows.push((
                    row.slave_ns.expect("timestamp"),
                    row.values.iter().map(number).collect(),
                ));
            }
            if !written && rows.len() > 200 {
                s.write("wave_amplitude", &[Value::Number(3.0)])
                    .expect("calibration");
                written = true;
            }
        }
        s.stop().expect("DAQ stops");
        stop_tx.send(()).expect("stop");
        (stepper.join().expect("stepper"), rows)
    });
    assert!(rows.len() >= 600, "{} rows", rows.len());
    // Each row is one communication point: its timestamp is that simulation time, its
    // counter the milliseconds simulated, its values what FMI answered at that point.
    let by_time: HashMap<u64, &Vec<f64>> = seen.iter().map(|(t, v)| (t % (1 << 32), v)).collect();
    let mut matched = 0;
    for (t, values) in &rows {
        assert_eq!(
            (values[3] as u64 * 1_000_000) % (1 << 32),
            t % (1 << 32),
            "counter_1ms vs timestamp"
        );
        let fmi = by_time
            .get(&(t % (1 << 32)))
            .unwrap_or_else(|| panic!("no communication point at {t} ns"));
        for (i, name) in OUTPUTS.iter().enumerate() {
            assert_eq!(values[i].to_bits(), fmi[i].to_bits(), "{name} at {t} ns");
        }
        matched += 1;
    }
    assert_eq!(matched, rows.len());
    // The calibration acts: the amplitude is 1 before the write and 3 after it.
    let waves: Vec<f64> = seen.iter().map(|(_, v)| v[2]).collect();
    assert!(waves.iter().take(100).all(|w| w.abs() <= 1.0 + 1e-9));
    assert!(
        waves.iter().any(|w| w.abs() > 1.5),
        "the FMU follows the write"
    );
    assert!(
        rows.iter().any(|(_, v)| v[2].abs() > 1.5),
        "and DAQ shows it"
    );
    let stats = served.slave().stats();
    assert_eq!(stats.dtos_dropped, 0);
    served.terminate().expect("terminate");
    drop(served);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn the_fmus_own_service_and_the_importers_agree() {
    let _turn = turn();
    let dir = unpacked("both");
    let mut served = Served::open(
        &dir,
        &ServeOptions {
            starts: vec![
                ("XCPServiceTCPEnable".into(), "true".into()),
                ("XCPServiceTCPPort".into(), "0".into()),
            ],
            ..options()
        },
    )
    .expect("served");
    let (log, _) = served.take_log();
    let own = log
        .iter()
        .find_map(|l| l.find("tcp://").map(|i| l[i..].trim().to_owned()))
        .unwrap_or_else(|| panic!("the FMU logs its service's address: {log:?}"));
    let mut mine = session(&format!("tcp://{}", tcp(&served)));
    let mut theirs = session(&own);
    // Every parameter the DMA A2L names reads the same through both.
    let dma = xcp_a2l::A2l::from_text(served.a2l(), &xcp_a2l::LoadOptions::default())
        .expect("A2L")
        .0;
    let params: Vec<String> = dma
        .names()
        .filter(|(_, k)| *k == xcp_a2l::ObjectKind::Value)
        .map(|(n, _)| n)
        .collect();
    assert!(params.len() >= 10, "{params:?}");
    for p in &params {
        let a = mine.read(p).expect("importer's service").values;
        let b = theirs.read(p).expect("own service").values;
        assert_eq!(a, b, "{p}");
    }
    // Every signal measured by both at the same simulation time has the same value: the
    // importer's DAQ on the communication point, the own service's on the model's tasks.
    let mut names: Vec<&str> = OUTPUTS.to_vec();
    names.push("counter_1ms");
    let (stop_tx, stop_rx) = mpsc::channel();
    let (ours, own_rows) = std::thread::scope(|scope| {
        let served = &mut served;
        let stepper = scope.spawn(move || step_paced(served, &stop_rx));
        let opts = MeasureOptions {
            correlate: false,
            ..MeasureOptions::default()
        };
        let a = mine.measure(&names, opts).expect("importer's DAQ");
        let b = theirs.measure(&names, opts).expect("own service's DAQ");
        let columns: Vec<Vec<String>> = b
            .columns()
            .iter()
            .map(|l| l.iter().map(|c| c.name.clone()).collect())
            .collect();
        let (mut ours, mut own) = (HashMap::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && (ours.len() < 500 || own.len() < 500) {
            for row in a
                .recv(Duration::from_millis(50))
                .expect("rows")
                .unwrap_or_default()
            {
                ours.insert(row.slave_ns.expect("timestamp") % (1 << 32), row.values);
            }
            for row in b
                .recv(Duration::from_millis(50))
                .expect("rows")
                .unwrap_or_default()
            {
                let t = row.slave_ns.expect("timestamp") % (1 << 32);
                for (name, v) in columns[row.list].iter().zip(row.values) {
                    own.push((t, name.clone(), v));
                }
            }
        }
        mine.stop().expect("stop");
        theirs.stop().expect("stop");
        stop_tx.send(()).expect("stop stepping");
        stepper.join().expect("stepper");
        (ours, own)
    });
    let mut compared: HashMap<String, usize> = HashMap::new();
    for (t, name, v) in &own_rows {
        let Some(row) = ours.get(t) else { continue };
        let i = names
            .iter()
            .position(|n| n == name)
            .expect("a measured name");
        assert_eq!(&row[i], v, "{name} at {t} ns");
        *compared.entry(name.clone()).or_default() += 1;
    }
    for name in &names {
        assert!(
            compared.get(*name).copied().unwrap_or(0) >= 20,
            "{name}: {compared:?}"
        );
    }
    // A calibration through the FMU's own service reaches the memory the importer serves.
    theirs
        .write("wave_amplitude", &[Value::Number(2.5)])
        .expect("own service calibrates");
    served.step().expect("step");
    let now = number(&mine.read("wave_amplitude").expect("read").values[0]);
    assert!((now - 2.5).abs() < 1e-6, "{now}");
    drop(mine);
    drop(theirs);
    drop(served);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// Steps `served` one step per millisecond while a master measures `counter_1ms` (and
/// `engine_speed`) on `event`, until `wanted` rows came (15 s at most); each row's
/// timestamp and counter.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts of milliseconds, whole and positive"
)]
fn counters_on_event(served: &mut Served, event: u16, wanted: usize) -> Vec<(u64, u64)> {
    let mut s = session(&format!("tcp://{}", tcp(served)));
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let stepper = scope.spawn(move || step_paced(served, &stop_rx));
        let m = s
            .measure(
                &["counter_1ms", "engine_speed"],
                MeasureOptions {
                    correlate: false,
                    event: Some(event),
                    ..MeasureOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("DAQ on event {event}: {e}"));
        let mut rows: Vec<(u64, u64)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && rows.len() < wanted {
            for row in m
                .recv(Duration::from_millis(200))
                .expect("rows")
                .unwrap_or_default()
            {
                rows.push((
                    row.slave_ns.expect("timestamp"),
                    number(&row.values[0]) as u64,
                ));
            }
        }
        s.stop().expect("DAQ stops");
        stop_tx.send(()).expect("stop");
        stepper.join().expect("stepper");
        rows
    })
}

fn refused(dir: &Path, options: &ServeOptions) -> String {
    match Served::open(dir, options) {
        Ok(_) => panic!("{} was served", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{file} has {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn what_cannot_be_served_is_refused_with_the_reason() {
    let _turn = turn();
    let platform = fmi_ls_xcp::platform(true);
    let a2l = format!(
        "extra/org.fmi-standard.fmi-ls-xcp/{platform}/{}",
        files::DMA_A2L_NAME
    );

    // Interface 1 is the FMU's own service: no direct memory access.
    let dir = unpacked("refusals");
    let why = refused(
        &dir,
        &ServeOptions {
            interface: Some(1),
            ..options()
        },
    );
    assert!(
        why.contains("does not support direct memory access"),
        "{why}"
    );
    assert!(why.contains("connect to its own service"), "{why}");
    let why = refused(
        &dir,
        &ServeOptions {
            interface: Some(3),
            ..options()
        },
    );
    assert!(why.contains("takes 1 to 2"), "{why}");

    // A second instance in this process.
    let first = Served::open(&dir, &options()).expect("first");
    let why = refused(&dir, &options());
    assert!(why.contains("already served in this process"), "{why}");
    drop(first);
    let again = Served::open(&dir, &options()).expect("served again once the first is gone");
    drop(again);

    // Start values that do not fit.
    let start = |name: &str, value: &str| ServeOptions {
        starts: vec![(name.into(), value.into())],
        ..options()
    };
    let why = refused(&dir, &start("no_such", "1"));
    assert!(why.contains("no variable no_such"), "{why}");
    let why = refused(&dir, &start("engine_speed", "1"));
    assert!(why.contains("takes no start value"), "{why}");
    let why = refused(&dir, &start("XCPServiceTCPPort", "70000"));
    assert!(why.contains("0 to 65535"), "{why}");

    // Times that are no times.
    for (start, stop) in [
        (Some(f64::NAN), None),
        (None, Some(-1.0)),
        (None, Some(f64::NAN)),
    ] {
        let why = refused(
            &dir,
            &ServeOptions {
                start_time: start,
                stop_time: stop,
                ..options()
            },
        );
        assert!(why.contains("time"), "{why}");
    }

    // A busy port.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let why = refused(
        &dir,
        &ServeOptions {
            tcp: Some(busy.local_addr().expect("addr")),
            ..options()
        },
    );
    assert!(why.contains("cannot serve XCP on TCP"), "{why}");

    // An A2L that is not this binary's: an object past the image's end.
    edit(&dir, &a2l, "ECU_ADDRESS 0x", "ECU_ADDRESS 0x7F");
    let why = refused(&dir, &options());
    assert!(why.contains("outside the FMU's image"), "{why}");

    // An A2L that includes another file.
    edit(
        &dir,
        &a2l,
        "/end MODULE",
        "/include \"more.a2l\"\n/end MODULE",
    );
    let why = refused(&dir, &options());
    assert!(why.contains("includes more.a2l"), "{why}");
    assert!(why.contains("self-contained"), "{why}");

    // No binary for this platform.
    std::fs::rename(
        dir.join("binaries").join(&platform),
        dir.join("binaries").join("riscv64-linux"),
    )
    .expect("rename");
    let why = refused(&dir, &options());
    assert!(why.contains("no binary for this platform"), "{why}");

    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn an_fmi2_fmu_is_served_as_well() {
    let _turn = turn();
    let dir = unpacked_for("fmi2", Fmi::V2);
    let mut served = Served::open(&dir, &options()).expect("served");
    assert_eq!(served.model().fmi_version, "2.0");
    assert_eq!(served.regions().len(), 2);
    let mut s = session(&format!("tcp://{}", tcp(&served)));
    polls_equal_the_fmi_outputs(&mut served, &mut s, 10);
    // The calibration reaches the FMU from the next step on.
    let mut before = Vec::new();
    for _ in 0..1000 {
        served.step().expect("step");
        before.push(served.get_f64(&["sine_wave"]).expect("sine")[0]);
    }
    s.write("wave_amplitude", &[Value::Number(3.0)])
        .expect("calibration");
    let mut after = Vec::new();
    for _ in 0..1000 {
        served.step().expect("step");
        after.push(served.get_f64(&["sine_wave"]).expect("sine")[0]);
    }
    assert!(before.iter().all(|w| w.abs() <= 1.0 + 1e-9));
    assert!(
        after.iter().any(|w| w.abs() > 2.5),
        "the FMU follows the write"
    );
    drop(s);
    served.terminate().expect("fmi2Terminate");
    drop(served);
    // Start values of FMI 2.0 types; the FMU's own refusal reaches the log, its "%s"
    // format expanded.
    let why = refused(
        &dir,
        &ServeOptions {
            starts: vec![("XCPServiceTCPPort".into(), "70000".into())],
            ..options()
        },
    );
    assert!(
        why.contains("--start XCPServiceTCPPort=70000: fmi2SetInteger returned fmi2Error; the FMU logged: Error [logStatusError]")
            && why.contains("a port is 0 to 65535"),
        "{why}"
    );
    let why = refused(
        &dir,
        &ServeOptions {
            starts: vec![("XCPServiceTCPPort".into(), "x".into())],
            ..options()
        },
    );
    assert!(why.contains("is not a 32-bit integer"), "{why}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn intermediate_updates_sample_inside_a_step() {
    let _turn = turn();
    let dir = unpacked("intermediate");
    // 10 ms steps: the FMU stops at the 9 ticks inside each for the importer.
    let mut served = Served::open(
        &dir,
        &ServeOptions {
            step: Some(0.01),
            ..options()
        },
    )
    .expect("served");
    assert!(served.model().provides_intermediate_update);
    assert!(
        served
            .a2l()
            .contains("AVAILABLE_EVENT_LIST EVENT 0 EVENT 1"),
        "both events offered"
    );
    let rows = counters_on_event(&mut served, 1, 450);
    assert!(rows.len() >= 450, "{} rows", rows.len());
    for &(t, counter) in &rows {
        assert_eq!(
            t % (1 << 32),
            (counter * 1_000_000) % (1 << 32),
            "tick {counter}"
        );
        assert_ne!(
            counter % 10,
            0,
            "communication points are not intermediate updates"
        );
    }
    // Nine per step, one per tick, none missed.
    for w in rows.windows(2) {
        let step = w[1].1 - w[0].1;
        assert!(step == 1 || (step == 2 && w[1].1 % 10 == 1), "{w:?}");
    }
    drop(served);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn an_output_clock_is_an_event_of_its_own() {
    let _turn = turn();
    let dir = unpacked("clock");
    let mut served = Served::open(&dir, &options()).expect("served");
    assert!(served.model().has_event_mode);
    // Events: 0 communication point, 1 intermediate update, 2 the clock task_10ms.
    assert!(
        served.a2l().contains("clock task_10ms"),
        "the clock's event"
    );
    assert!(
        served
            .a2l()
            .contains("AVAILABLE_EVENT_LIST EVENT 0 EVENT 1 EVENT 2"),
        "offered on every event"
    );
    let rows = counters_on_event(&mut served, 2, 60);
    assert!(rows.len() >= 60, "{} rows", rows.len());
    for &(t, counter) in &rows {
        assert_eq!(counter % 10, 0, "the clock ticks with the 10 ms task");
        assert_eq!(
            t % (1 << 32),
            (counter * 1_000_000) % (1 << 32),
            "tick {counter}"
        );
    }
    for w in rows.windows(2) {
        assert_eq!(w[1].1 - w[0].1, 10, "every tick, once: {w:?}");
    }
    drop(served);
    std::fs::remove_dir_all(&dir).expect("clean up");
}
