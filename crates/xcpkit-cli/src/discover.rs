//! `xcpkit discover`: XCP slaves found by GET_SLAVE_ID, over Ethernet multicast or on a CAN
//! bus (CAN_ID_BROADCAST).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use xcp_master::{Config, Master, block_on};
use xcp_proto::IdType;
use xcp_proto::tl::can::SlaveIdMode;
use xcp_transport_can::{CanTransport, CanUrl, XcpCan, scan};
use xcp_transport_eth::discovery::{DiscoveryConfig, scan as eth_scan};

/// Options of `xcpkit discover`.
#[derive(Debug, Args)]
pub(crate) struct DiscoverArgs {
    /// Scan a CAN bus: a CAN URL with `broadcast=ID` (CAN_ID_BROADCAST), e.g.
    /// `can://udp_multicast/default?broadcast=0x100`. Without it, Ethernet multicast
    /// (239.255.0.0 port 5556 on the loopback interface) is scanned.
    #[arg(long, value_name = "URL")]
    can: Option<String>,
    /// On CAN, ask for the inverse echo (confirm by inverse echo) instead of the echo.
    #[arg(long)]
    inverse: bool,
    /// How long to collect answers, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    wait_ms: u64,
    /// On CAN, do not connect to each slave found to ask GET_ID 0 (its name).
    #[arg(long)]
    no_identify: bool,
}

/// Runs the scan and prints what answered.
pub(crate) fn run(args: &DiscoverArgs) -> anyhow::Result<()> {
    let wait = Duration::from_millis(args.wait_ms);
    let Some(url) = &args.can else {
        let found = eth_scan(DiscoveryConfig::default(), wait)
            .context("scanning Ethernet multicast 239.255.0.0:5556")?;
        for d in &found {
            let s = &d.slave;
            let protocol = match (s.tcp, s.udp) {
                (true, true) => "TCP and UDP",
                (true, false) => "TCP",
                _ => "UDP",
            };
            out!(
                "{protocol} {}:{}  {}{}",
                s.addr,
                s.port,
                String::from_utf8_lossy(&s.id),
                if s.busy {
                    "  (a master is connected)"
                } else {
                    ""
                }
            );
        }
        out!(
            "{} slave(s) answered on Ethernet within {} ms",
            found.len(),
            args.wait_ms
        );
        return Ok(());
    };
    let bad = |reason: String| xcpkit::Error::Url {
        url: url.clone(),
        reason,
    };
    let can: CanUrl = url
        .parse()
        .map_err(|e: xcp_transport_can::UrlError| bad(e.to_string()))?;
    let Some(broadcast) = can.xcp.broadcast else {
        return Err(
            bad("name CAN_ID_BROADCAST with broadcast=ID to scan the bus".to_owned()).into(),
        );
    };
    let mode = if args.inverse {
        SlaveIdMode::InverseEcho
    } else {
        SlaveIdMode::Echo
    };
    let bus = can.open().with_context(|| format!("opening {can}"))?;
    let found = scan(bus, broadcast, mode, can.xcp.link.fd, wait)
        .with_context(|| format!("GET_SLAVE_ID on {broadcast} of {can}"))?;
    for s in &found {
        out!(
            "CAN_ID_MASTER {}  CAN_ID_SLAVE {}  ({})",
            s.cmd_id,
            s.res_id,
            s.mode
        );
        if args.no_identify {
            continue;
        }
        match identify(&can, s.cmd_id, s.res_id) {
            Ok(name) => out!("  GET_ID 0: {name}"),
            Err(e) => out!("  GET_ID 0 failed: {e:#}"),
        }
    }
    out!(
        "{} slave(s) answered on {broadcast} within {} ms",
        found.len(),
        args.wait_ms
    );
    Ok(())
}

/// Connects to one slave found on the bus and asks its name.
fn identify(
    can: &CanUrl,
    cmd_id: xcp_proto::tl::can::CanId,
    res_id: xcp_proto::tl::can::CanId,
) -> anyhow::Result<String> {
    let mut link = can.xcp.link;
    link.cmd_id = cmd_id;
    link.res_id = res_id;
    let xcp = XcpCan {
        link,
        broadcast: None,
        brs: can.xcp.brs,
    };
    let t = CanTransport::master(can.open()?, xcp)?;
    let mut config = Config::default();
    config.timeouts.t1 = Duration::from_millis(500);
    let mut m = Master::new(t, config)?;
    block_on(m.connect())?;
    let id = block_on(m.identification(IdType::from_u8(0)))?;
    let _ = block_on(m.disconnect());
    Ok(String::from_utf8_lossy(&id)
        .trim_end_matches('\0')
        .to_owned())
}
