//! The FMU's instances driven as an importer would (through the safe API the C functions
//! call), measured and calibrated over their XCP service by xcpkit's master.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use xcp_a2l::Value;
use xcp_slave::TransportDesc;
use xcpkit::{MeasureOptions, Options, Session};
use xcpkit_fmu::vars::{DEFAULT_PORT, vr};
use xcpkit_fmu::{Fmi, Instance, Mode, files};

/// The TCP address an instance serves.
fn tcp(fmu: &Instance) -> SocketAddr {
    fmu.serving()
        .iter()
        .find_map(|d| match d {
            TransportDesc::Tcp(a) => Some(*a),
            _ => None,
        })
        .expect("the instance serves TCP")
}

/// An FMI 3.0 instance on a free port, its service started through Configuration Mode, in
/// Step Mode at `start` seconds.
fn running(start: f64) -> Instance {
    let mut fmu = Instance::new(Fmi::V3, "ecu").expect("instance");
    fmu.set_int(vr::TCP_PORT, 0).expect("port");
    fmu.enter_configuration_mode().expect("configuration mode");
    let notes = fmu.exit_configuration_mode().expect("service starts");
    assert!(
        notes.iter().any(|n| n.starts_with("XCP service on tcp://")),
        "{notes:?}"
    );
    fmu.enter_initialization_mode(Some(start)).expect("init");
    fmu.exit_initialization_mode().expect("step mode");
    fmu
}

fn session(addr: SocketAddr) -> Session {
    let mut s = Session::open(&format!("tcp://{addr}"), &Options::default()).expect("connect");
    s.load_a2l_from_slave().expect("A2L uploaded");
    s
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(x) => *x,
        Value::Text(t) => panic!("a number, not {t:?}"),
    }
}

/// Steps `fmu` by 1 ms of simulation time per millisecond of real time (paced by the stop
/// channel's timeout) until told to stop or 20 s have passed; returns every `sine_wave`.
fn step_paced(fmu: &mut Instance, stop: mpsc::Receiver<()>) -> Vec<f64> {
    let mut waves = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match stop.recv_timeout(Duration::from_millis(1)) {
            Err(RecvTimeoutError::Timeout) => {
                let t = fmu.time();
                fmu.do_step(t, 0.001).expect("DoStep");
                waves.push(fmu.get_f64(vr::SINE_WAVE).expect("sine_wave"));
            }
            _ => break,
        }
    }
    waves
}

#[test]
fn the_service_measures_and_calibrates_in_simulation_time() {
    let mut fmu = running(100.0);
    let addr = tcp(&fmu);
    // The uploaded A2L is the FMU's own for the port in use (UDP as configured: off, 5555).
    let mut s = session(addr);
    let udp = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT));
    assert_eq!(
        s.fetch_a2l().expect("A2L"),
        files::a2l(Some(addr), Some(udp)).expect("A2L text")
    );
    let (stop_tx, stop_rx) = mpsc::channel();
    let waves = std::thread::scope(|scope| {
        let fmu = &mut fmu;
        let stepper = scope.spawn(move || step_paced(fmu, stop_rx));
        // Polling an event-relative signal waits for the next step.
        let rpm = s.read("engine_speed").expect("engine_speed polled");
        assert!(number(&rpm.values[0]) > 500.0, "{rpm:?}");
        let m = s
            .measure(
                &["counter_1ms", "sine_wave"],
                MeasureOptions {
                    correlate: false,
                    ..MeasureOptions::default()
                },
            )
            .expect("DAQ");
        let list_1ms = m.events().iter().position(|&e| e == 0).expect("1 ms list");
        s.write("wave_amplitude", &[Value::Number(3.0)])
            .expect("calibration");
        let mut stamps: Vec<(u64, u64)> = Vec::new();
        let mut big_wave = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !(big_wave && stamps.len() > 500) {
            for row in m
                .recv(Duration::from_millis(200))
                .expect("rows")
                .unwrap_or_default()
            {
                if row.list == list_1ms {
                    let counter = number(&row.values[0]);
                    assert!(counter >= 0.0 && counter.fract() == 0.0, "{counter}");
                    stamps.push((
                        row.slave_ns.expect("timestamp"),
                        counter.to_string().parse::<u64>().expect("a count"),
                    ));
                } else if number(&row.values[0]).abs() > 1.5 {
                    big_wave = true;
                }
            }
        }
        assert!(big_wave, "the calibrated amplitude shows in the DAQ");
        s.stop().expect("DAQ stops");
        stop_tx.send(()).expect("stop");
        // DAQ timestamps are the simulation's tick times: tick k (counter_1ms = k) at
        // 100 s + k ms, carried in the slave's 32-bit nanosecond timestamp.
        assert!(stamps.len() > 500, "{} rows", stamps.len());
        for &(t, counter) in &stamps {
            let tick = 100_000_000_000 + counter * 1_000_000;
            assert_eq!(t % (1 << 32), tick % (1 << 32), "counter {counter}");
        }
        for w in stamps.windows(2) {
            let ((t0, c0), (t1, c1)) = (w[0], w[1]);
            assert_eq!(t1 - t0, (c1 - c0) * 1_000_000, "{w:?}");
        }
        stepper.join().expect("stepper")
    });
    assert!(
        waves.iter().any(|w| w.abs() > 1.5),
        "the FMU's sine_wave output shows the calibration"
    );
    assert!(waves.iter().take(100).all(|w| w.abs() <= 1.0 + 1e-9));
    fmu.terminate().expect("terminate");
    assert!(fmu.serving().is_empty());
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the service stops in Terminate"
    );
}

#[test]
fn instances_in_one_process_each_have_their_own_service() {
    let a = running(0.0);
    let b = running(0.0);
    assert_ne!(tcp(&a), tcp(&b));
    let mut sa = session(tcp(&a));
    let mut sb = session(tcp(&b));
    sa.write("idle_rpm", &[Value::Number(950.0)])
        .expect("write a");
    let ra = sa.read("idle_rpm").expect("read a");
    let rb = sb.read("idle_rpm").expect("read b");
    assert_eq!(number(&ra.values[0]), 950.0);
    assert_eq!(number(&rb.values[0]), 800.0, "b keeps its own calibration");
}

#[test]
fn a_disabled_service_opens_no_socket_and_a_busy_port_is_an_error() {
    // A port that was free a moment ago: with Enable = false nothing listens there.
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let mut off = Instance::new(Fmi::V3, "off").expect("instance");
    off.set_bool(vr::TCP_ENABLE, false).expect("disable");
    off.set_int(vr::TCP_PORT, i64::from(port)).expect("port");
    let notes = off.enter_initialization_mode(Some(0.0)).expect("init");
    assert!(off.serving().is_empty());
    assert!(notes.iter().any(|n| n.contains("disabled")), "{notes:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let mut fmu = Instance::new(Fmi::V2, "busy").expect("instance");
    fmu.set_int(vr::TCP_PORT, i64::from(port)).expect("port");
    let err = fmu.setup_experiment(0.0).expect_err("the port is taken");
    assert!(
        err.0.contains(&format!("127.0.0.1:{port}")) && err.0.contains("XCPServiceTCPPort"),
        "{err}"
    );
}

#[test]
fn settings_are_fixed_once_the_service_runs_fmi3_and_restart_it_fmi2() {
    let mut v3 = Instance::new(Fmi::V3, "v3").expect("instance");
    v3.set_bool(vr::TCP_ENABLE, false)
        .expect("before the start");
    v3.enter_configuration_mode().expect("configuration");
    v3.exit_configuration_mode().expect("exit");
    let err = v3.set_int(vr::TCP_PORT, 6000).expect_err("fixed");
    assert!(err.0.contains("XCPServiceTCPPort is fixed"), "{err}");
    assert!(v3.enter_configuration_mode().is_err(), "no reconfiguration");

    // FMI 2.0: fmi2SetupExperiment starts the service; a setting changed after it (as
    // importers that apply start values late do) restarts it on entering initialisation.
    let mut v2 = Instance::new(Fmi::V2, "v2").expect("instance");
    v2.set_int(vr::TCP_PORT, 0).expect("port");
    v2.setup_experiment(0.0).expect("setup");
    assert_eq!(v2.serving().len(), 1);
    v2.set_bool(vr::TCP_ENABLE, false)
        .expect("still Instantiated");
    let notes = v2.enter_initialization_mode(None).expect("init");
    assert!(notes.iter().any(|n| n.contains("restarts")), "{notes:?}");
    assert!(v2.serving().is_empty(), "restarted with TCP off");
    assert!(
        v2.set_bool(vr::TCP_ENABLE, true).is_err(),
        "fixed after init"
    );
}

#[test]
fn calls_out_of_order_and_wrong_values_are_refused_with_a_reason() {
    let mut fmu = Instance::new(Fmi::V3, "ecu").expect("instance");
    fmu.set_bool(vr::TCP_ENABLE, false).expect("off");
    let e = fmu.do_step(0.0, 0.001).expect_err("not initialised");
    assert!(e.0.contains("not allowed in Instantiated"), "{e}");
    assert!(fmu.terminate().is_err());
    let e = fmu.set_int(vr::TCP_PORT, 70_000).expect_err("range");
    assert!(e.0.contains("0 to 65535"), "{e}");
    let e = fmu.set_f64(vr::ENGINE_SPEED, 1.0).expect_err("output");
    assert!(e.0.contains("engine_speed"), "{e}");
    let e = fmu.get_bool(99).expect_err("unknown");
    assert!(e.0.contains("value reference 99"), "{e}");
    fmu.enter_initialization_mode(Some(2.0)).expect("init");
    fmu.exit_initialization_mode().expect("step");
    assert_eq!(fmu.mode(), Mode::Step);
    let e = fmu.do_step(1.0, 0.001).expect_err("wrong point");
    assert!(e.0.contains("is not the current time 2 s"), "{e}");
    assert!(fmu.do_step(2.0, -1.0).is_err());
    // The pedal input drives the model instead of its profile.
    fmu.set_f64(vr::PEDAL, 100.0).expect("pedal");
    fmu.do_step(2.0, 3.0).expect("3 s");
    assert!(fmu.get_f64(vr::ENGINE_SPEED).expect("rpm") > 5000.0);
    assert_eq!(fmu.get_f64(0).expect("time"), 5.0);
    fmu.terminate().expect("terminate");
}

#[test]
fn the_packed_fmus_pass_the_fmi_ls_xcp_check() {
    let dir = std::env::temp_dir().join(format!("xcpkit-fmu-pack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let paths =
        files::pack(&files::built_library().expect("the FMU library"), &dir).expect("packed");
    assert_eq!(paths.len(), 3);
    for (path, fmi3) in paths.iter().zip([true, false, true]) {
        let mut fmu = fmi_ls_xcp::Fmu::open(path).expect("archive");
        let report = fmi_ls_xcp::check(&mut fmu).expect("checked");
        assert!(report.binary, "{}: a binary FMU", path.display());
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.platform, fmi_ls_xcp::platform(fmi3));
        let a2l = fmu
            .read(&format!(
                "extra/org.fmi-standard.fmi-ls-xcp/{}/xcpkit_ecu.a2l",
                report.platform
            ))
            .expect("read")
            .expect("the A2L is in the platform folder");
        assert_eq!(
            String::from_utf8(a2l).expect("text"),
            files::default_a2l().expect("A2L")
        );
    }
    // The DMA FMU: interface 2 has direct memory access and an A2L whose addresses are the
    // library's symbols (relative to its base).
    let mut fmu = fmi_ls_xcp::Fmu::open(&paths[2]).expect("archive");
    let report = fmi_ls_xcp::check(&mut fmu).expect("checked");
    assert_eq!(report.interfaces.len(), 2);
    assert!(report.interfaces[1].interface.supports_direct_memory_access);
    assert!(!report.interfaces[1].interface.contains_xcp_service);
    let dma = String::from_utf8(
        fmu.read(report.interfaces[1].a2l_path.as_deref().expect("A2L path"))
            .expect("read")
            .expect("the DMA A2L"),
    )
    .expect("text");
    let symbols = xcpkit_fmu::elf::Symbols::read(&files::built_library().expect("the FMU library"))
        .expect("symbols");
    assert!(symbols.relative, "a shared object");
    let model = xcp_a2l::A2l::from_text(&dma, &xcp_a2l::LoadOptions::default())
        .expect("loads")
        .0;
    let params = symbols.get("xcpkit_ecu_params").expect("params symbol");
    let signals = symbols.get("xcpkit_ecu_signals").expect("signals symbol");
    let addr = |name: &str| {
        u64::from(
            model
                .object(name)
                .expect(name)
                .address
                .expect("address")
                .addr,
        )
    };
    assert_eq!(addr("engine_speed"), signals);
    assert_eq!(addr("counter_1ms"), signals + 32);
    assert!(addr("wave_amplitude") >= params && addr("wave_amplitude") < params + 64);
    std::fs::remove_dir_all(&dir).expect("clean up");
}
