//! `xcp-master` against `xcpkit ecu`, with pyXCP as the peer, in one run:
//!
//! 1. **Command round trip**: SHORT_UPLOAD of 4 bytes, loopback TCP and UDP (one ECU per
//!    transport), with the defaults of both ends (each polls 100 µs for the next packet), then
//!    with polling off and at 20 µs; min, p50, p99. pyXCP does the same against the TCP ECU,
//!    when its venv exists.
//! 2. **DAQ ingest**: `xcpkit ecu --stress` over TCP, one timestamped DAQ list on the
//!    `stress` event, decoded into typed rows by the master: small rows (7 values, 40-byte
//!    DTOs) and bulk rows (35 values, 264-byte DTOs); rows/s, payload MB/s, rows lost in the
//!    master (counter gaps beyond what the ECU reports dropping, stream drops). pyXCP records
//!    the small layout with its DaqRecorder for comparison.
//! 3. **Latency** at 1 kHz: `counter_1ms` on the `1ms` event with the slave clock correlated
//!    to the host clock; the time from the slave's timestamp to the row reaching the
//!    consumer, p50/p99, with the ECU's default 1 ms packing window and with packing off.
//!
//! `cargo bench -p xcpkit-cli --bench master`. `XCP_BENCH_RTT` commands per round-trip run
//! (default 20000), `XCP_BENCH_WINDOW_MS` the DAQ window (default 1000), `XCP_BENCH_RUNS`
//! DAQ runs per layout (default 3). pyXCP comes from `target/interop/venv` (`cargo xtask
//! interop` installs it); without it the pyXCP lines say so and no ratio is printed.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "statistics"
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{Ecu, LAYOUTS, env, signals};
use xcp_master::{Config, DaqOptions, ListRequest, Master, block_on};
use xcp_proto::Address;
use xcp_transport_eth::baseline::median;
use xcp_transport_eth::{EthConfig, Protocol, connect};

/// Runs the pyXCP peer script `bench_peer.py` and returns its JSON line.
fn pyxcp(args: &[String], work: &Path) -> Result<serde_json::Value> {
    let mut args = args.to_vec();
    args.extend(["--workdir".into(), work.display().to_string()]);
    common::python_json("bench_peer.py", &args).context("pyXCP")
}

fn master(addr: std::net::SocketAddr, protocol: Protocol) -> Result<Master> {
    master_spin(addr, protocol, Config::default().spin)
}

fn master_spin(addr: std::net::SocketAddr, protocol: Protocol, spin: Duration) -> Result<Master> {
    let t = connect(addr, protocol, &EthConfig::default()).context("connecting")?;
    let config = Config {
        spin,
        ..Config::default()
    };
    let mut m = Master::new(t, config)?;
    block_on(m.connect())?;
    Ok(m)
}

fn round_trips(work: &Path) -> Result<()> {
    let n = env("XCP_BENCH_RTT", 20_000) as usize;
    println!("command round trip: SHORT_UPLOAD of 4 bytes against xcpkit ecu, {n} commands");
    let a2l_path = work.join("rtt.a2l");
    let line = |name: &str, t: &[u64]| {
        println!(
            "  {name}: min {:6.1} µs  p50 {:6.1} µs  p99 {:6.1} µs",
            t[0] as f64 / 1e3,
            common::percentile(t, 0.5) / 1e3,
            common::percentile(t, 0.99) / 1e3
        );
    };
    // One ECU per transport: an ECU serving both hands each command from its transport's
    // thread to the command thread, a hop a single transport does not take.
    let mut ours_p50 = None;
    let mut pyxcp_target = None;
    for (name, protocol) in [("TCP", Protocol::Tcp), ("UDP", Protocol::Udp)] {
        let flag = if protocol == Protocol::Tcp {
            "--tcp"
        } else {
            "--udp"
        };
        let ecu = Ecu::start(&[flag, "127.0.0.1:0"], &a2l_path)?;
        let addr = counter_address(&a2l_path)?;
        let sock = if protocol == Protocol::Tcp {
            ecu.tcp
        } else {
            ecu.udp
        };
        let mut m = master(sock.context("address")?, protocol)?;
        let t = common::round_trip_ns(&mut m, addr, n)?;
        line(
            &format!("xcp-master {name}, defaults (both ends poll 100 µs)"),
            &t,
        );
        block_on(m.disconnect())?;
        drop(m);
        if protocol == Protocol::Tcp {
            ours_p50 = Some(common::percentile(&t, 0.5) / 1e3);
            // pyXCP against the same ECU, right after.
            pyxcp_target = Some(pyxcp_rtt(ecu.tcp.context("tcp")?.port(), addr, work));
        }
        ecu.stop()?;
    }
    for spin_us in [0u64, 20] {
        let spin_arg = spin_us.to_string();
        let e = Ecu::start(&["--tcp", "127.0.0.1:0", "--spin-us", &spin_arg], &a2l_path)?;
        let addr = counter_address(&a2l_path)?;
        let mut m = master_spin(
            e.tcp.context("tcp")?,
            Protocol::Tcp,
            Duration::from_micros(spin_us),
        )?;
        let t = common::round_trip_ns(&mut m, addr, n)?;
        line(
            &format!("xcp-master TCP, both ends poll {spin_us:3} µs   "),
            &t,
        );
        block_on(m.disconnect())?;
        drop(m);
        e.stop()?;
    }
    match pyxcp_target {
        Some(Ok(v)) => {
            let p50 = v["p50_us"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  pyXCP      TCP: min {:6.1} µs  p50 {p50:6.1} µs  p99 {:6.1} µs   -> xcp-master is {:.1}x faster (p50)",
                v["min_us"].as_f64().unwrap_or(f64::NAN),
                v["p99_us"].as_f64().unwrap_or(f64::NAN),
                p50 / ours_p50.unwrap_or(f64::NAN),
            );
        }
        Some(Err(e)) => println!("  pyXCP: {e:#}"),
        None => {}
    }
    Ok(())
}

/// `counter_1ms` in the A2L the ECU wrote.
fn counter_address(a2l_path: &Path) -> Result<Address> {
    let (a2l, _) = xcp_a2l::A2l::load(a2l_path, &xcp_a2l::LoadOptions::default())?;
    let o = a2l.object("counter_1ms")?;
    let a = o.address.context("counter_1ms address")?;
    Ok(Address::new(a.ext, a.addr))
}

/// pyXCP's round trips against the ECU on TCP `port`.
fn pyxcp_rtt(port: u16, addr: Address, work: &Path) -> Result<serde_json::Value> {
    let args: Vec<String> = [
        "rtt",
        "--port",
        &port.to_string(),
        "--addr",
        &format!("{:#x}", addr.addr),
        "--ext",
        &addr.ext.to_string(),
        "-n",
        "3000",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    pyxcp(&args, work)
}

struct Ingest {
    rows: u64,
    secs: f64,
    dto_len: usize,
    gaps: u64,
    stream_dropped: u64,
    ecu_dropped: u64,
}

fn ingest_run(work: &Path, names: &[&str], window: Duration) -> Result<Ingest> {
    let a2l_path = work.join("stress.a2l");
    let ecu = Ecu::start(&["--stress", "--tcp", "127.0.0.1:0"], &a2l_path)?;
    let (a2l, _) = xcp_a2l::A2l::load(&a2l_path, &xcp_a2l::LoadOptions::default())?;
    let sigs = signals(&a2l, names)?;
    let dto_len = 4 + 4 + sigs.iter().map(|s| s.ty.size()).sum::<usize>();
    let mut m = master(ecu.tcp.context("tcp")?, Protocol::Tcp)?;
    let r = common::ingest_stress(&mut m, sigs, window)?;
    block_on(m.disconnect())?;
    drop(m);
    let (_, ecu_dropped, _) = ecu.stop()?;
    Ok(Ingest {
        rows: r.rows,
        secs: r.secs,
        dto_len,
        gaps: r.gaps,
        stream_dropped: r.stream_dropped,
        ecu_dropped,
    })
}

fn ingest(work: &Path) -> Result<()> {
    let window = Duration::from_millis(env("XCP_BENCH_WINDOW_MS", 1000));
    let runs = env("XCP_BENCH_RUNS", 3);
    println!(
        "DAQ ingest: xcpkit ecu --stress over TCP, rows decoded by xcp-master, {runs} runs of {} ms, medians",
        window.as_millis()
    );
    let mut small_rate = None;
    for (name, names) in LAYOUTS {
        let mut rates = Vec::new();
        let mut mbs = Vec::new();
        let (mut gaps, mut dropped, mut ecu_dropped, mut rows, mut len) = (0, 0, 0, 0, 0);
        for _ in 0..runs {
            let r = ingest_run(work, names, window)?;
            rates.push(r.rows as f64 / r.secs);
            mbs.push((r.rows * r.dto_len as u64) as f64 / r.secs / 1e6);
            gaps += r.gaps;
            dropped += r.stream_dropped;
            ecu_dropped += r.ecu_dropped;
            rows += r.rows;
            len = r.dto_len;
        }
        let rate = median(rates);
        println!(
            "  {name:<5} {:5.2} M rows/s of {len} B DTOs = {:7.1} MB/s; windows: {rows} rows, {gaps} samples missing by counter, {dropped} dropped by the stream; the ECU's queue dropped {ecu_dropped} (overload, counted by the slave)",
            rate / 1e6,
            median(mbs)
        );
        if name == "small" {
            small_rate = Some(rate);
        }
    }
    let a2l_path = work.join("stress-py.a2l");
    let ecu = Ecu::start(&["--stress", "--tcp", "127.0.0.1:0"], &a2l_path)?;
    let args: Vec<String> = vec![
        "daq".into(),
        "--port".into(),
        ecu.tcp.context("tcp")?.port().to_string(),
        "--a2l".into(),
        a2l_path.display().to_string(),
        "--seconds".into(),
        "2".into(),
    ];
    match pyxcp(&args, work) {
        Ok(v) => {
            let r = v["frames_per_s"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  pyXCP small: {:.0} k frames/s recorded (DaqRecorder, C++ writer), then decoded at {:.0} k rows/s  -> xcp-master ingests {:.0}x more",
                r / 1e3,
                v["frames"].as_f64().unwrap_or(0.0)
                    / v["decode_seconds"].as_f64().unwrap_or(f64::NAN)
                    / 1e3,
                small_rate.unwrap_or(f64::NAN) / r
            );
        }
        Err(e) => println!("  pyXCP: {e:#}"),
    }
    ecu.stop()?;
    Ok(())
}

fn latency_run(work: &Path, ecu_args: &[&str]) -> Result<(f64, f64, f64, usize)> {
    let a2l_path = work.join("latency.a2l");
    let mut args = vec!["--tcp", "127.0.0.1:0"];
    args.extend_from_slice(ecu_args);
    let ecu = Ecu::start(&args, &a2l_path)?;
    let (a2l, _) = xcp_a2l::A2l::load(&a2l_path, &xcp_a2l::LoadOptions::default())?;
    let mut m = master(ecu.tcp.context("tcp")?, Protocol::Tcp)?;
    let c0 = block_on(m.correlate_clock(32))?;
    let list = ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: true,
        stim: false,
        signals: signals(&a2l, &["counter_1ms"])?,
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default()))?;
    block_on(m.start_daq())?;
    // (slave ns since the first correlation, host ns when the consumer got the row)
    let mut seen = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let Some(b) = stream.recv_timeout(Duration::from_millis(50))? else {
            continue;
        };
        let now = xcp_master::time::host_now_ns();
        if t0.elapsed() < Duration::from_millis(300) {
            continue;
        }
        for r in b.rows() {
            if let Some(ns) = r.slave_ns {
                seen.push((ns as f64 - c0.raw as f64 * c0.tick_ns, now));
            }
        }
    }
    // A second correlation gives the slave clock's rate against the host clock (the ECU
    // calibrates its TSC over 20 ms, so it drifts by up to ~1e-4).
    let c1 = block_on(m.correlate_clock(32))?;
    block_on(m.stop_daq())?;
    block_on(m.disconnect())?;
    drop(m);
    ecu.stop()?;
    let mut lin = c0.linearizer();
    let ticks1 = lin.extend(c1.raw as u32, c1.host_ns);
    let slave_span = (ticks1 - c0.raw) as f64 * c0.tick_ns;
    let rate = (c1.host_ns - c0.host_ns) as f64 / slave_span;
    let mut lat: Vec<u64> = seen
        .iter()
        .map(|&(slave, host)| {
            let at = c0.host_ns as f64 + slave * rate;
            (host as f64 - at).max(0.0) as u64
        })
        .collect();
    lat.sort_unstable();
    Ok((
        common::percentile(&lat, 0.5) / 1e3,
        common::percentile(&lat, 0.99) / 1e3,
        (c0.uncertainty_ns + c1.uncertainty_ns) as f64 / 1e3,
        lat.len(),
    ))
}

fn latency(work: &Path) -> Result<()> {
    println!(
        "DAQ latency at 1 kHz: slave timestamp (on the host clock) to the row in the consumer's hands"
    );
    for (label, args) in [
        ("default (send when idle)", &[][..]),
        ("--hold (1 ms packing)", &["--hold"][..]),
        ("--flush-us 0", &["--flush-us", "0"][..]),
    ] {
        let (p50, p99, unc, n) = latency_run(work, args)?;
        println!(
            "  {label:<24}: p50 {p50:7.1} µs  p99 {p99:7.1} µs over {n} rows (clock correlation ±{unc:.1} µs, drift removed by a second correlation)"
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let work = std::env::temp_dir().join(format!("xcpkit-master-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let want = |s: &str| filter.as_ref().is_none_or(|f| s.contains(f.as_str()));
    if want("rtt") {
        round_trips(&work)?;
    }
    if want("ingest") {
        ingest(&work)?;
    }
    if want("latency") {
        latency(&work)?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
