//! `xcpkit ecu --stress` with a DAQ list running, over TCP and UDP loopback, beside the
//! plain-socket baseline of `xcp-transport-eth`'s throughput bench, in one run.
//!
//! Each run starts the ECU process (the binary this package builds) with `--stress`, connects
//! a minimal master over `xcp-transport-eth`, puts `stress_counter`, `stress_time` and
//! `stress_values` (addresses from the A2L the ECU writes) into one timestamped ODT on the
//! `stress` event, starts it, discards a warm-up, then counts for a fixed window:
//! DTOs and XCP bytes that arrived, and samples that did not (gaps in `stress_counter`, which
//! the stress loop increments once per trigger). The ECU's own summary then gives how often it
//! triggered and how many DTOs its queue dropped. Baseline and ECU runs alternate and the
//! medians are compared.
//!
//! `cargo bench -p xcpkit-cli --bench ecu_stress` (or `cargo xtask bench`).
//! `XCP_BENCH_RUNS` sets the runs per protocol (default 5), `XCP_BENCH_WINDOW_MS` the
//! counting window (default 1000); a filter argument (`tcp` or `udp`) picks one protocol.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::{Ecu, LAYOUTS};
use xcp_proto::{Address, Command as Cmd, DaqListNumber, EventChannel, OdtEntry, SessionParams};
use xcp_transport::{PacketRx, PacketTx, Transport};
use xcp_transport_eth::baseline::{median, plain_tcp, plain_udp};
use xcp_transport_eth::{EthConfig, EthRx, EthTx, Protocol, connect};

/// SET_DAQ_LIST_MODE bit TIMESTAMP.
const TIMESTAMP: u8 = 0x10;

/// Sends a command and returns its positive response, skipping DTOs that arrive meanwhile.
fn request(tx: &mut EthTx, rx: &mut EthRx, cmd: Cmd<'_>) -> Result<Vec<u8>> {
    let mut buf = [0u8; 256];
    let n = cmd
        .emit(&mut buf, &SessionParams::default())
        .with_context(|| format!("encoding {cmd}"))?;
    tx.send_now(buf.get(..n).unwrap_or_default())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Some(p) = rx.recv(Duration::from_millis(500))? else {
            continue;
        };
        match p.first() {
            Some(0xFF) => return Ok(p.to_vec()),
            Some(0xFE) => bail!("{cmd} refused: {p:02x?}"),
            _ => {}
        }
    }
    bail!("no response to {cmd} within 5 s")
}

/// The stress signals' (address, size) from the ECU's A2L.
fn stress_entries(a2l: &Path, signals: &[&str]) -> Result<Vec<OdtEntry>> {
    let (file, _) = xcp_a2l::A2l::load(a2l, &xcp_a2l::LoadOptions::default())
        .context("loading the ECU's A2L")?;
    signals
        .iter()
        .map(|name| {
            let o = file.object(name)?;
            let a = o
                .address
                .with_context(|| format!("{name} has no address"))?;
            Ok(OdtEntry {
                bit_offset: 0xFF,
                size: u8::try_from(o.size()).context("entry too large")?,
                addr: Address::new(a.ext, a.addr),
            })
        })
        .collect()
}

/// What the master saw in one counting window.
struct Window {
    dtos: u64,
    bytes: u64,
    elapsed: Duration,
    /// Samples missing between consecutive DTOs (gaps in `stress_counter`).
    missing: u64,
    /// Packets the transport counter says were lost on the way (UDP).
    transport_lost: u64,
}

/// One ECU run: configure, start, warm up, count for `window`, stop.
fn ecu_run(
    protocol: Protocol,
    signals: &[&str],
    a2l: &Path,
    window: Duration,
) -> Result<(Window, (u64, u64, u64))> {
    let flag = match protocol {
        Protocol::Tcp => "--tcp",
        Protocol::Udp => "--udp",
    };
    let ecu = Ecu::start(&["--stress", flag, "127.0.0.1:0"], a2l)?;
    let addr = match protocol {
        Protocol::Tcp => ecu.tcp,
        Protocol::Udp => ecu.udp,
    }
    .context("the ECU's address")?;
    let entries = stress_entries(a2l, signals)?;
    let (mut tx, mut rx) = connect(addr, protocol, &EthConfig::default())
        .context("connecting to the ECU")?
        .split();
    request(&mut tx, &mut rx, Cmd::Connect { mode: 0 })?;
    let info = request(&mut tx, &mut rx, Cmd::GetDaqProcessorInfo)?;
    // DAQ_KEY_BYTE bits 6..7: 0 absolute PID, 1 PID + DAQ byte, 2 PID + DAQ word,
    // 3 PID + fill + DAQ word.
    let id_len = [1usize, 2, 3, 4][usize::from(info.get(7).copied().unwrap_or(0) >> 6)];
    let res = request(&mut tx, &mut rx, Cmd::GetDaqResolutionInfo)?;
    let ts_len = usize::from(res.get(5).copied().unwrap_or(0) & 0x07);
    let max_event = u16::from_le_bytes([
        info.get(4).copied().unwrap_or(0),
        info.get(5).copied().unwrap_or(0),
    ]);
    let event = EventChannel(3);
    if max_event <= event.0 {
        bail!("the ECU has {max_event} events; the stress event is number 3");
    }
    let daq = DaqListNumber(0);
    request(&mut tx, &mut rx, Cmd::FreeDaq)?;
    request(&mut tx, &mut rx, Cmd::AllocDaq { count: 1 })?;
    request(&mut tx, &mut rx, Cmd::AllocOdt { daq, count: 1 })?;
    let count = u8::try_from(entries.len()).context("entries")?;
    request(&mut tx, &mut rx, Cmd::AllocOdtEntry { daq, odt: 0, count })?;
    request(
        &mut tx,
        &mut rx,
        Cmd::SetDaqPtr {
            daq,
            odt: 0,
            entry: 0,
        },
    )?;
    for entry in &entries {
        request(&mut tx, &mut rx, Cmd::WriteDaq { entry: *entry })?;
    }
    request(
        &mut tx,
        &mut rx,
        Cmd::SetDaqListMode {
            mode: TIMESTAMP,
            daq,
            event,
            prescaler: 1,
            priority: 0,
        },
    )?;
    request(&mut tx, &mut rx, Cmd::StartStopDaqList { mode: 2, daq })?;
    request(&mut tx, &mut rx, Cmd::StartStopSynch { mode: 1 })?;

    let counter_at = id_len + ts_len;
    let warm_up = Instant::now() + Duration::from_millis(200);
    while Instant::now() < warm_up {
        rx.recv(Duration::from_millis(100))?;
    }
    let before = rx.stats().lost;
    let mut w = Window {
        dtos: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        missing: 0,
        transport_lost: 0,
    };
    let mut last: Option<u32> = None;
    let start = Instant::now();
    while start.elapsed() < window {
        let Some(p) = rx.recv(Duration::from_millis(100))? else {
            continue;
        };
        if p.first().is_some_and(|&pid| pid >= 0xFC) {
            continue;
        }
        w.dtos += 1;
        w.bytes += p.len() as u64;
        let Some(c) = p.get(counter_at..counter_at + 4) else {
            bail!("a DTO of {} bytes is too short: {p:02x?}", p.len());
        };
        let c = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if let Some(l) = last {
            w.missing += u64::from(c.wrapping_sub(l).wrapping_sub(1));
        }
        last = Some(c);
    }
    w.elapsed = start.elapsed();
    w.transport_lost = rx.stats().lost - before;
    if w.dtos == 0 {
        bail!("no DTO arrived in the counting window");
    }
    request(&mut tx, &mut rx, Cmd::StartStopSynch { mode: 0 })?;
    request(&mut tx, &mut rx, Cmd::Disconnect)?;
    drop((tx, rx));
    let summary = ecu.stop()?;
    Ok((w, summary))
}

/// Sums over the runs of one protocol and layout.
#[derive(Default)]
struct Tally {
    rate: Vec<f64>,
    bytes: Vec<f64>,
    dto_len: u64,
    delivered: u64,
    missing: u64,
    transport_lost: u64,
    sent: u64,
    dropped: u64,
    triggers: u64,
}

impl Tally {
    fn add(&mut self, w: &Window, (sent, dropped, triggers): (u64, u64, u64)) {
        let secs = w.elapsed.as_secs_f64();
        self.rate.push(w.dtos as f64 / secs);
        self.bytes.push(w.bytes as f64 / secs);
        self.dto_len = w.bytes / w.dtos;
        self.delivered += w.dtos;
        self.missing += w.missing;
        self.transport_lost += w.transport_lost;
        self.sent += sent;
        self.dropped += dropped;
        self.triggers += triggers;
    }
}

fn main() -> Result<()> {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let runs = env("XCP_BENCH_RUNS", 5);
    let window = Duration::from_millis(env("XCP_BENCH_WINDOW_MS", 1000));
    let dir = std::env::temp_dir().join(format!("xcpkit-ecu-stress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("temp dir")?;
    let a2l = dir.join("ecu.a2l");
    let eth = EthConfig::default();
    println!(
        "xcpkit ecu --stress: one timestamped ODT on event `stress`; {runs} alternating runs per protocol, {} ms windows, medians",
        window.as_millis()
    );
    println!("bytes are XCP packets (the 4-byte Ethernet header is not counted)");
    for (name, protocol) in [("tcp", Protocol::Tcp), ("udp", Protocol::Udp)] {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let mut base = Vec::new();
        let mut tallies: Vec<Tally> = LAYOUTS.iter().map(|_| Tally::default()).collect();
        for _ in 0..runs {
            // The baseline writes what the ECU's packer sends: 64 KiB TCP writes or full datagrams.
            let b = match protocol {
                Protocol::Tcp => plain_tcp(128 << 20, eth.tcp_segment),
                Protocol::Udp => plain_udp(32 << 10, eth.max_datagram),
            }
            .context("the plain-socket baseline")?;
            base.push(b.rate());
            for ((layout, signals), tally) in LAYOUTS.iter().zip(&mut tallies) {
                let (w, summary) = ecu_run(protocol, signals, &a2l, window)
                    .with_context(|| format!("the {layout} ECU run over {name}"))?;
                tally.add(&w, summary);
            }
        }
        let b = median(base);
        println!("{name}: plain socket {:7.1} MB/s", b / 1e6);
        for ((layout, _), t) in LAYOUTS.iter().zip(tallies) {
            let (r, y) = (median(t.rate), median(t.bytes));
            println!(
                "  {layout:<5} {:6.2} M DTO/s of {:3} bytes = {:7.1} MB/s, {:5.1} % of plain",
                r / 1e6,
                t.dto_len,
                y / 1e6,
                100.0 * y / b
            );
            println!(
                "        all runs: {} triggers, {} DTOs sent, {} dropped by the ECU queue (full); windows: {} DTOs arrived, {} samples missing by counter ({:.1} %), {} packets lost in transport",
                t.triggers,
                t.sent,
                t.dropped,
                t.delivered,
                t.missing,
                100.0 * t.missing as f64 / (t.missing + t.delivered).max(1) as f64,
                t.transport_lost
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
