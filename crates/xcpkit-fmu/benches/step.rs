//! The cost of one 1 ms `DoStep` of the FMU (the safe call the C function makes): with the
//! XCP service disabled, against enabled with a master measuring DAQ lists on all three
//! periodic events, in the same run; the difference is the service's share of a step.
//!
//! The same for the DMA FMU run by `xcpkit fmu serve`'s importer
//! ([`xcpkit_fmu::import::Served::step`]): no XCP service, against a master measuring one
//! DAQ list of all 17 objects its A2L has (5 signals, 12 parameters) on the communication
//! point event. Run with `cargo bench -p xcpkit-fmu` (or `cargo xtask bench`).

#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]
#![allow(clippy::print_stdout, reason = "a bench reports on stdout")]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use xcp_slave::TransportDesc;
use xcpkit::{MeasureOptions, Options, Session};
use xcpkit_fmu::import::{ServeOptions, Served};
use xcpkit_fmu::vars::vr;
use xcpkit_fmu::{Fmi, Instance};

/// Signals measured on the 1, 10 and 100 ms events (three DAQ lists).
const SIGNALS: [&str; 8] = [
    "counter_1ms",
    "engine_speed",
    "torque",
    "throttle",
    "counter_10ms",
    "sine_wave",
    "vehicle_speed",
    "uptime",
];

fn instance(service: bool) -> Instance {
    let mut fmu = Instance::new(Fmi::V3, "bench").expect("instance");
    fmu.set_bool(vr::TCP_ENABLE, service).expect("enable");
    fmu.set_int(vr::TCP_PORT, 0).expect("port");
    fmu.enter_initialization_mode(Some(0.0)).expect("init");
    fmu.exit_initialization_mode().expect("step mode");
    fmu
}

/// A master on its own thread measuring [`SIGNALS`] until `stop`; counts the rows.
fn measure(
    addr: String,
    stop: Arc<AtomicBool>,
    rows: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    measure_names(
        addr,
        SIGNALS.iter().map(|s| (*s).to_owned()).collect(),
        None,
        stop,
        rows,
    )
}

/// A master on its own thread measuring `names` (on `event`, else the A2L's) until `stop`;
/// counts the rows.
fn measure_names(
    addr: String,
    names: Vec<String>,
    event: Option<u16>,
    stop: Arc<AtomicBool>,
    rows: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut s = Session::open(&addr, &Options::default()).expect("connect");
        s.load_a2l_from_slave().expect("A2L");
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = s
            .measure(
                &names,
                MeasureOptions {
                    correlate: false,
                    event,
                    ..MeasureOptions::default()
                },
            )
            .expect("DAQ");
        ready_tx.send(()).expect("ready");
        while !stop.load(Ordering::Relaxed) {
            if let Ok(Some(batch)) = m.recv(Duration::from_millis(50)) {
                rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
        let _ = s.stop();
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the master starts DAQ");
    t
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("do_step_1ms");
    let mut off = instance(false);
    g.bench_function("service_disabled", |b| {
        b.iter(|| {
            let t = off.time();
            off.do_step(black_box(t), 0.001).expect("step");
        });
    });

    let mut on = instance(true);
    let addr = on
        .serving()
        .iter()
        .find_map(|d| match d {
            TransportDesc::Tcp(a) => Some(format!("tcp://{a}")),
            _ => None,
        })
        .expect("serving TCP");
    let stop = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let master = measure(addr, Arc::clone(&stop), Arc::clone(&rows));
    g.bench_function("service_with_daq", |b| {
        b.iter(|| {
            let t = on.time();
            on.do_step(black_box(t), 0.001).expect("step");
        });
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    master.join().expect("master");
    let stats = on.slave().stats();
    // Unpaced steps run far faster than real time, so the queue may overflow: the slave
    // counts what it drops, and the numbers say how much of the DAQ the master kept up with.
    println!(
        "service_with_daq: {:.1} s simulated; {} rows received; slave sent {} DTOs, dropped {}",
        on.time(),
        rows.load(Ordering::Relaxed),
        stats.dtos_dequeued,
        stats.dtos_dropped
    );
}

fn bench_served(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("xcpkit-serve-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    xcpkit_fmu::files::unpack_dma(
        &xcpkit_fmu::files::built_library().expect("the FMU library"),
        &dir,
        Fmi::V3,
    )
    .expect("unpacked");
    let mut g = c.benchmark_group("served_step_1ms");
    {
        let mut quiet = Served::open(
            &dir,
            &ServeOptions {
                tcp: None,
                ..ServeOptions::default()
            },
        )
        .expect("served without a service");
        g.bench_function("no_service", |b| {
            b.iter(|| black_box(quiet.step().expect("step")));
        });
    }
    let mut served = Served::open(
        &dir,
        &ServeOptions {
            tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..ServeOptions::default()
        },
    )
    .expect("served");
    let addr = served
        .serving()
        .iter()
        .find_map(|d| match d {
            TransportDesc::Tcp(a) => Some(format!("tcp://{a}")),
            _ => None,
        })
        .expect("serving TCP");
    let a2l = xcp_a2l::A2l::from_text(served.a2l(), &xcp_a2l::LoadOptions::default())
        .expect("A2L")
        .0;
    let names: Vec<String> = a2l.names().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 17, "{names:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    // The master's commands take the mirror lock between steps; nothing needs a step to
    // answer, so DAQ starts before the bench steps.
    let master = measure_names(addr, names, Some(0), Arc::clone(&stop), Arc::clone(&rows));
    g.bench_function("daq_17_objects", |b| {
        b.iter(|| black_box(served.step().expect("step")));
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    master.join().expect("master");
    let stats = served.slave().stats();
    println!(
        "served daq_17_objects: {:.1} s simulated; {} rows received; slave sent {} DTOs, dropped {}",
        served.time(),
        rows.load(Ordering::Relaxed),
        stats.dtos_dequeued,
        stats.dtos_dropped
    );
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench, bench_served
}
criterion_main!(benches);
