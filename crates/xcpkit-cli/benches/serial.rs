//! XCP on SxI and on USB, in one run:
//!
//! 1. **DAQ ingest through a pseudo-terminal**: `xcpkit ecu --sxi sxi://pty?baud=4000000
//!    --stress` (unpaced: the pty's own speed, 4 MBd being the highest rate its termios
//!    takes) and xcp-master on the printed device; `stress_counter`, `stress_time` and
//!    `stress_values` with the timestamp; frames/s and rows/s, lossless by the counter; no
//!    checksum, and a byte checksum with SYNC/ESC framing.
//! 2. **DAQ ingest through the in-process USB device**: the ECU model in this process behind
//!    `xcp_transport_usb::memory::in_process`, several packets per 512-byte transfer, and
//!    streaming.
//! 3. **Command round trip over the pseudo-terminal**: SHORT_UPLOAD of 4 bytes, xcp-master
//!    and pyXCP's SxI transport against the same ECU, p50 and p99. Without the interop venv
//!    (`cargo xtask interop`) the pyXCP line says so.
//!
//! `XCP_BENCH_WINDOW_MS` (default 1000) the DAQ window, `XCP_BENCH_RUNS` (default 3) runs
//! per layout, `XCP_BENCH_RTT` (default 5000) round trips; `XCP_BENCH_ECU_SPIN_US` (default
//! 0) and `XCP_BENCH_MASTER_SPIN_US` (default 100, the master's default) how long each side
//! polls the line after a packet.

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
use xcp_proto::tl::HeaderFormat;
use xcp_proto::tl::usb::{Alignment, Packing, UsbConfig};
use xcp_slave::{Server, SlaveConfig};
use xcp_transport_sxi::{SxiTransport, SxiUrl};
use xcp_transport_usb::{UsbSettings, master, memory};
use xcpkit_ecu::{Ecu as Model, Stress};

const SIGNALS: [&str; 3] = ["stress_counter", "stress_time", "stress_values"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn signals(a2l_text: &str) -> Result<Vec<Signal>> {
    let (a2l, _) = xcp_a2l::A2l::from_text(a2l_text, &xcp_a2l::LoadOptions::default())?;
    common::signals(&a2l, &SIGNALS)
}

fn report(label: &str, runs: &[common::Ingested]) -> Result<()> {
    let gaps: u64 = runs.iter().map(|r| r.gaps).sum();
    let dropped: u64 = runs.iter().map(|r| r.stream_dropped).sum();
    if dropped > 0 {
        bail!("{label}: the master's stream dropped {dropped} rows");
    }
    println!(
        "  {label}  {:7.1} k frames/s  {:7.1} k rows/s  {gaps} samples missing by counter",
        median(
            runs.iter()
                .map(|r| (r.rows * r.odts) as f64 / r.secs)
                .collect()
        ) / 1e3,
        median(runs.iter().map(|r| r.rows as f64 / r.secs).collect()) / 1e3,
    );
    Ok(())
}

/// Part 1: the ECU process on a pseudo-terminal.
fn pty(work: &Path, window: Duration, runs: u64) -> Result<()> {
    println!(
        "DAQ ingest through a pseudo-terminal (xcpkit ecu --sxi --stress, paced by its queue), {runs} runs of {} ms, medians",
        window.as_millis()
    );
    for (label, query) in [
        ("LEN_CTR_WORD, no checksum      ", "baud=4000000"),
        (
            "LEN_CTR_WORD, byte sum, SYNC/ESC",
            "baud=4000000&checksum=byte&framing=sync_esc",
        ),
    ] {
        let a2l = work.join("sxi-stress.a2l");
        let ecu = Ecu::start(&["--sxi", &format!("sxi://pty?{query}"), "--stress"], &a2l)?;
        let url: SxiUrl = ecu
            .sxi
            .clone()
            .context("the ECU's device")?
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let sigs = signals(&std::fs::read_to_string(&a2l)?)?;
        let mut m = Master::new(SxiTransport::from_url(&url)?, Config::default())?;
        block_on(m.connect())?;
        let mut done = Vec::new();
        for _ in 0..runs {
            done.push(common::ingest_stress(&mut m, sigs.clone(), window)?);
        }
        block_on(m.disconnect())?;
        drop(m);
        ecu.stop()?;
        report(label, &done)?;
    }
    Ok(())
}

/// Part 2: the ECU model behind the in-process USB device.
fn usb(window: Duration, runs: u64) -> Result<()> {
    println!(
        "DAQ ingest through the in-process USB device (xcpkit-ecu paced by its queue), {runs} runs of {} ms, medians",
        window.as_millis()
    );
    for (label, packing) in [
        ("multiple packing, 512-byte transfers ", Packing::Multiple),
        ("streaming, 512-byte transfers        ", Packing::Streaming),
    ] {
        let s = UsbSettings {
            config: UsbConfig {
                header: HeaderFormat::LenCtrWord,
                packing,
                alignment: Alignment::Bits32,
            },
            ..UsbSettings::default()
        };
        let mut done = Vec::new();
        for _ in 0..runs {
            let config = SlaveConfig {
                max_cto: 255,
                max_dto: 248,
                ..SlaveConfig::default()
            };
            let ecu = Model::build(config, None)?;
            let (device, function, _control) = memory::in_process(s, 64)?;
            let srv = Server::start(&ecu.slave, function)?;
            let tasks = ecu.start(Some(Stress::Paced))?;
            let sigs = signals(&ecu.slave.a2l())?;
            let mut m = Master::new(master(device, s)?, Config::default())?;
            block_on(m.connect())?;
            done.push(common::ingest_stress(&mut m, sigs, window)?);
            drop(m);
            tasks.stop();
            srv.stop();
        }
        report(label, &done)?;
    }
    Ok(())
}

/// Part 3: round trips over the pseudo-terminal, ours and pyXCP's.
fn rtt(work: &Path) -> Result<()> {
    let a2l = work.join("sxi-rtt.a2l");
    let spin = env("XCP_BENCH_ECU_SPIN_US", 0);
    let ecu = Ecu::start(
        &["--sxi", &format!("sxi://pty?baud=4000000&spin_us={spin}")],
        &a2l,
    )?;
    let device_url = ecu.sxi.clone().context("the ECU's device")?;
    let url: SxiUrl = device_url.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = std::fs::read_to_string(&a2l)?;
    let o = xcp_a2l::A2l::from_text(&text, &xcp_a2l::LoadOptions::default())?
        .0
        .object("counter_1ms")?;
    let a = o.address.context("counter_1ms address")?;
    let addr = xcp_proto::Address::new(a.ext, a.addr);
    let n = env("XCP_BENCH_RTT", 5000) as usize;
    let config = Config {
        spin: Duration::from_micros(env("XCP_BENCH_MASTER_SPIN_US", 100)),
        ..Config::default()
    };
    let mut m = Master::new(SxiTransport::from_url(&url)?, config)?;
    block_on(m.connect())?;
    let t = common::round_trip_ns(&mut m, addr, n)?;
    block_on(m.disconnect())?;
    drop(m);
    let device = device_url
        .trim_start_matches("sxi://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    common::compare_round_trips(
        "a pseudo-terminal",
        &t,
        "SxI",
        &["--sxi", &device],
        addr,
        work,
    );
    ecu.stop()?;
    Ok(())
}

fn main() -> Result<()> {
    let window = Duration::from_millis(env("XCP_BENCH_WINDOW_MS", 1000));
    let runs = env("XCP_BENCH_RUNS", 3);
    let work = std::env::temp_dir().join(format!("xcpkit-serial-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    pty(&work, window, runs)?;
    usb(window, runs)?;
    rtt(&work)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
