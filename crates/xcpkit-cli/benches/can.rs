//! XCP on CAN, in one run:
//!
//! 1. **DAQ ingest over the in-process bus**: the virtual ECU (`xcpkit-ecu`, its `stress`
//!    event paced by its DAQ queue) and xcp-master on one `VirtualBus`, classic CAN (8-byte
//!    frames, `stress_counter` and `stress_time` in three ODTs with the timestamp) and CAN FD
//!    (64-byte frames, one ODT with `stress_values` too); frames/s and rows/s, lossless by
//!    `stress_counter`.
//! 2. **DAQ over `udp_multicast` between processes**: `xcpkit ecu --can … --stress` and
//!    xcp-master, with python-can's `udp_multicast` bus receiving the same traffic in the same
//!    window (frames on CAN_ID_SLAVE per second, each side's own count).
//! 3. **Command round trip over `udp_multicast`**: SHORT_UPLOAD of 4 bytes, xcp-master and
//!    pyXCP (python-can `udp_multicast`) against the same ECU, p50 and p99.
//!
//! Multicast stays on the machine: the bench runs itself again inside a private network
//! namespace (`unshare -rn`, loopback with multicast and a route for 224.0.0.0/4). Without
//! the interop venv (`cargo xtask interop`) the python-can and pyXCP lines say so.
//! `XCP_BENCH_WINDOW_MS` (default 1000) the DAQ window, `XCP_BENCH_RUNS` (default 3) runs
//! per layout, `XCP_BENCH_RTT` (default 5000) round trips.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "statistics"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::{Ecu, env};
use xcp_master::{Config, Master, Signal, block_on};
use xcp_proto::IdField;
use xcp_proto::tl::can::CanConfig;
use xcp_slave::{Server, SlaveConfig, TransportDesc};
use xcp_transport_can::{CanTransport, CanUrl, VirtualBus, VirtualConfig, XcpCan};
use xcpkit_ecu::{Ecu as Model, Stress};

const INSIDE: &str = "XCPKIT_BENCH_IN_NETNS";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn settings(fd: bool) -> XcpCan {
    XcpCan {
        link: CanConfig {
            fd,
            max_dlc: if fd { 64 } else { 8 },
            ..CanConfig::default()
        },
        broadcast: None,
        brs: fd,
    }
}

/// The stress signals by name from an A2L text.
fn signals(a2l_text: &str, names: &[&str]) -> Result<Vec<Signal>> {
    let (a2l, _) = xcp_a2l::A2l::from_text(a2l_text, &xcp_a2l::LoadOptions::default())?;
    common::signals(&a2l, names)
}

/// Runs DAQ on the stress event for `window`; the master's stream must drop nothing.
fn daq(m: &mut Master, sigs: Vec<Signal>, window: Duration) -> Result<common::Ingested> {
    let r = common::ingest_stress(m, sigs, window)?;
    if r.stream_dropped > 0 {
        bail!("the master's stream dropped {} rows", r.stream_dropped);
    }
    Ok(r)
}

/// Part 1: the ECU model and the master on one in-process bus.
fn virtual_bus(window: Duration, runs: u64) -> Result<()> {
    println!(
        "DAQ ingest over the in-process bus (xcpkit-ecu paced by its queue), {runs} runs of {} ms, medians",
        window.as_millis()
    );
    for (label, fd, names) in [
        ("classic CAN", false, &["stress_counter", "stress_time"][..]),
        (
            "CAN FD     ",
            true,
            &["stress_counter", "stress_time", "stress_values"][..],
        ),
    ] {
        let (mut rates, mut frame_rates, mut gaps) = (Vec::new(), Vec::new(), 0);
        for _ in 0..runs {
            let max = if fd { 64 } else { 8 };
            let config = SlaveConfig {
                max_cto: max,
                max_dto: u16::from(max),
                id_field: IdField::AbsoluteOdt,
                pid_off: false,
                ..SlaveConfig::default()
            };
            let ecu = Model::build(config, None)?;
            ecu.slave.set_transports(vec![TransportDesc::Can {
                link: settings(fd).link,
                broadcast: None,
                bitrate: None,
                data_bitrate: None,
            }]);
            let bus = VirtualBus::new(VirtualConfig::default());
            let srv = Server::start(&ecu.slave, CanTransport::slave(bus.node(), settings(fd))?)?;
            let tasks = ecu.start(Some(Stress::Paced))?;
            let sigs = signals(&ecu.slave.a2l(), names)?;
            let mut m = Master::new(
                CanTransport::master(bus.node(), settings(fd))?,
                Config::default(),
            )?;
            block_on(m.connect())?;
            let r = daq(&mut m, sigs, window)?;
            drop(m);
            tasks.stop();
            srv.stop();
            rates.push(r.rows as f64 / r.secs);
            frame_rates.push((r.rows * r.odts) as f64 / r.secs);
            gaps += r.gaps;
        }
        println!(
            "  {label}  {:6.0} k frames/s  {:6.0} k rows/s  {gaps} samples missing by counter",
            median(frame_rates) / 1e3,
            median(rates) / 1e3,
        );
    }
    Ok(())
}

/// python-can's multicast receiver (`bench_peer.py can_rx`), once it said it is ready.
struct Receiver(std::process::Child);

impl Receiver {
    /// Waits for its JSON line: frames on CAN_ID_SLAVE per second.
    fn finish(mut self) -> Result<f64> {
        let mut out = String::new();
        if let Some(mut o) = self.0.stdout.take() {
            std::io::Read::read_to_string(&mut o, &mut out)?;
        }
        let status = self.0.wait()?;
        if !status.success() {
            bail!("python-can receiver: {status}");
        }
        let line = out.lines().last().context("python-can printed nothing")?;
        let v: serde_json::Value = serde_json::from_str(line)?;
        v["frames_per_s"].as_f64().context("frames_per_s")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts python-can on the bus for `window` and a margin; `None` without the venv.
fn python_can_receiver(work: &Path, window: Duration) -> Result<Option<Receiver>> {
    use std::io::BufRead as _;
    let Some(py) = common::python() else {
        return Ok(None);
    };
    let mut child = std::process::Command::new(py)
        .arg(common::root().join("interop/pyxcp/bench_peer.py"))
        .args(["can_rx", "--seconds"])
        .arg(format!("{}", window.as_secs_f64() + 1.0))
        .arg("--workdir")
        .arg(work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting python-can")?;
    let err = child.stderr.take().context("its stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let receiver = Receiver(child);
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l.trim() == "ready" => return Ok(Some(receiver)),
            Ok(_) => {}
            Err(_) => bail!("python-can did not get ready within 60 s"),
        }
    }
}

/// Part 2 and 3: `xcpkit ecu --can` on python-can's multicast bus.
fn multicast(work: &Path, window: Duration, runs: u64) -> Result<()> {
    let url = "can://udp_multicast/default?master=0x7E0&slave=0x7E1";
    let a2l = work.join("can-stress.a2l");
    let ecu = Ecu::start(&["--can", url, "--stress"], &a2l)?;
    let text = std::fs::read_to_string(&a2l)?;
    let can: CanUrl = url.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut m = Master::new(
        CanTransport::master(can.open()?, can.xcp)?,
        Config::default(),
    )?;
    block_on(m.connect())?;
    println!(
        "DAQ over udp_multicast: xcpkit ecu --can --stress and xcp-master, python-can receiving the same traffic, {runs} runs of {} ms",
        window.as_millis()
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let peer = python_can_receiver(work, window)?;
        let r = daq(
            &mut m,
            signals(&text, &["stress_counter", "stress_time"])?,
            window,
        )?;
        let fps = (r.rows * r.odts) as f64 / r.secs;
        println!(
            "  xcp-master  {:6.1} k frames/s  {:6.1} k rows/s  {} samples missing by counter",
            fps / 1e3,
            r.rows as f64 / r.secs / 1e3,
            r.gaps
        );
        ours.push(fps);
        match peer.map(Receiver::finish) {
            Some(Ok(p)) => {
                println!("  python-can  {:6.1} k frames/s received", p / 1e3);
                theirs.push(p);
            }
            Some(Err(e)) => println!("  python-can: {e:#}"),
            None => println!("  python-can: not installed (run `cargo xtask interop` once)"),
        }
    }
    if !theirs.is_empty() {
        println!(
            "  medians: xcp-master {:.1} k frames/s, python-can {:.1} k frames/s -> {:.1}x",
            median(ours.clone()) / 1e3,
            median(theirs.clone()) / 1e3,
            median(ours) / median(theirs)
        );
    }

    let n = env("XCP_BENCH_RTT", 5000) as usize;
    let o = xcp_a2l::A2l::from_text(&text, &xcp_a2l::LoadOptions::default())?
        .0
        .object("counter_1ms")?;
    let a = o.address.context("counter_1ms address")?;
    let addr = xcp_proto::Address::new(a.ext, a.addr);
    let t = common::round_trip_ns(&mut m, addr, n)?;
    block_on(m.disconnect())?;
    drop(m);
    common::compare_round_trips(
        "udp_multicast",
        &t,
        "python-can udp_multicast",
        &["--can"],
        addr,
        work,
    );
    ecu.stop()?;
    Ok(())
}

fn main() -> Result<()> {
    if std::env::var_os(INSIDE).is_none() {
        let exe = std::env::current_exe()?;
        let status = std::process::Command::new("unshare")
            .args(["-rn", "sh", "-c"])
            .arg(
                "ip link set lo up && ip link set lo multicast on && \
                 ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"",
            )
            .arg(exe)
            .args(std::env::args().skip(1))
            .env(INSIDE, "1")
            .status()
            .context(
                "unshare (util-linux) and ip (iproute2) run the bench in a network namespace",
            )?;
        if !status.success() {
            bail!("the bench inside its network namespace: {status}");
        }
        return Ok(());
    }
    let window = Duration::from_millis(env("XCP_BENCH_WINDOW_MS", 1000));
    let runs = env("XCP_BENCH_RUNS", 3);
    let work = std::env::temp_dir().join(format!("xcpkit-can-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    virtual_bus(window, runs)?;
    multicast(&work, window, runs)?;
    Ok(())
}
