//! `xcpkit ecu --stress` as the throughput benches use it: paced, it fires the `stress` event
//! only as fast as its transmit queue drains, so a master sees every sample (no counter gap, no
//! drop in the ECU's summary); with `--stress-overrun` it overruns the queue, and every sample
//! the master misses is one the ECU counted as dropped.

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{Ecu, Gaps};
use xcp_master::{Config, DaqOptions, ElementType, ListRequest, Master, Signal, Value, block_on};
use xcp_proto::{Address, ByteOrder};
use xcp_transport_eth::{EthConfig, Protocol, connect};

/// Samples to see before stopping (or `WINDOW`, whichever comes first).
const ROWS: u64 = 200_000;
const WINDOW: Duration = Duration::from_secs(3);

struct Run {
    rows: u64,
    /// Samples missing by `stress_counter` between the first and the last row seen.
    gaps: u64,
    /// DTOs the ECU's queue dropped, from its summary.
    ecu_dropped: u64,
}

fn run(args: &[&str], tag: &str) -> Result<Run> {
    let dir = std::env::temp_dir().join(format!("xcpkit-stress-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let a2l_path = dir.join("stress.a2l");
    let ecu = Ecu::start(args, &a2l_path)?;
    let (a2l, _) = xcp_a2l::A2l::load(&a2l_path, &xcp_a2l::LoadOptions::default())?;
    let counter = a2l.object("stress_counter")?;
    let addr = counter.address.context("stress_counter has no address")?;
    let event = a2l
        .xcp()
        .daq
        .context("no DAQ block in the A2L")?
        .events
        .iter()
        .find(|e| e.name == "stress")
        .and_then(|e| e.channel)
        .context("no stress event in the A2L")?;
    let t = connect(
        ecu.tcp.context("tcp")?,
        Protocol::Tcp,
        &EthConfig::default(),
    )?;
    let mut m = Master::new(t, Config::default())?;
    block_on(m.connect())?;
    let list = ListRequest {
        event,
        prescaler: 1,
        priority: 0,
        timestamps: false,
        stim: false,
        signals: vec![Signal {
            name: "stress_counter".into(),
            addr: Address::new(addr.ext, addr.addr),
            ty: ElementType::U32,
            order: ByteOrder::Intel,
        }],
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default()))?;
    block_on(m.start_daq())?;
    let (mut rows, mut gaps) = (0u64, Gaps::default());
    let t0 = Instant::now();
    while rows < ROWS && t0.elapsed() < WINDOW {
        let Some(b) = stream.recv_timeout(Duration::from_millis(100))? else {
            continue;
        };
        for r in b.rows() {
            if let Some(Value::Uint(c)) = r.values.first() {
                gaps.see(*c);
                rows += 1;
            }
        }
    }
    block_on(m.stop_daq())?;
    block_on(m.disconnect())?;
    drop(m);
    let (_, ecu_dropped, triggers) = ecu.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(triggers >= rows, "{triggers} triggers, {rows} rows");
    Ok(Run {
        rows,
        gaps: gaps.missing,
        ecu_dropped,
    })
}

#[test]
fn paced_stress_loses_nothing_and_overrun_stress_counts_every_loss() -> Result<()> {
    let paced = run(&["--stress", "--tcp", "127.0.0.1:0"], "paced")?;
    assert!(paced.rows > 1000, "only {} rows in {WINDOW:?}", paced.rows);
    assert_eq!(
        (paced.gaps, paced.ecu_dropped),
        (0, 0),
        "paced stress lost samples over {} rows",
        paced.rows
    );

    let overrun = run(
        &["--stress", "--stress-overrun", "--tcp", "127.0.0.1:0"],
        "overrun",
    )?;
    assert!(overrun.rows > 1000, "only {} rows", overrun.rows);
    // One DTO per sample: a sample missing between two rows the master saw is a DTO the ECU
    // dropped (its count also covers the time outside the window).
    assert!(
        overrun.gaps <= overrun.ecu_dropped,
        "{} samples missing, the ECU counted {} dropped",
        overrun.gaps,
        overrun.ecu_dropped
    );
    Ok(())
}
