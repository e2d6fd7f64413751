//! `xcpkit ecu`: the virtual ECU, served over XCP on TCP, UDP, CAN and serial lines (SxI).
//!
//! The model lives in the `xcpkit-ecu` crate; this module parses the options, binds the transports, starts
//! the tasks and waits for Ctrl-C (or SIGTERM), then stops everything in order: tasks first,
//! then the server, which hands over what is still queued.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// Prints a line on stdout, ignoring write errors: a reader that went away (a closed pipe) is
/// no reason for the ECU to stop serving its masters.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
use clap::Args;
use xcp_proto::Resources;
use xcp_slave::{DemoSeedKey, Server, SlaveConfig, TransportDesc};
use xcp_transport::Boxed;
use xcp_transport_can::{CanTransport, CanUrl};
use xcp_transport_eth::discovery::{DiscoveryConfig, Responder, SlaveId};
use xcp_transport_eth::{EthServer, Protocol, ServerConfig};
use xcp_transport_sxi::{Port, SxiTransport, SxiUrl};

pub(crate) use xcpkit_ecu::SEED_KEY_SECRET;
use xcpkit_ecu::{Ecu, Stress};

/// Options of `xcpkit ecu`.
#[derive(Debug, Args)]
pub(crate) struct EcuArgs {
    /// Serve XCP on TCP at this address (default 127.0.0.1:5555 when neither --tcp nor --udp
    /// is given; port 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// Serve XCP on UDP at this address (may be given with --tcp: one master at a time).
    #[arg(long, value_name = "ADDR")]
    udp: Option<SocketAddr>,
    /// Serve XCP on CAN: `can://BACKEND/CHANNEL?master=0x7E0&slave=0x7E1[&fd=true]…`
    /// (alone or beside --tcp/--udp; MAX_CTO and MAX_DTO become the bus's MAX_DLC).
    #[arg(long, value_name = "URL")]
    can: Option<String>,
    /// Serve XCP on a serial line: `sxi:///dev/ttyUSB0?baud=115200[&header=len_ctr_word]
    /// [&checksum=none|byte|word][&framing=sync_esc]`, or `sxi://pty?…` for a new
    /// pseudo-terminal whose path is printed (`listening on sxi:///dev/pts/N?…`). Alone or
    /// beside the other transports; MAX_CTO and MAX_DTO fit the header's LEN field.
    #[arg(long, value_name = "URL")]
    sxi: Option<String>,
    /// Answer GET_SLAVE_ID over Ethernet multicast (239.255.0.0 port 5556 on the loopback
    /// interface), so `xcpkit discover` and pyXCP's xcp-discovery find the ECU. On CAN,
    /// GET_SLAVE_ID is answered on the URL's broadcast identifier whenever it has one.
    #[arg(long)]
    discovery: bool,
    /// Write the ECU's A2L file here (it is also served by GET_ID 4).
    #[arg(long, value_name = "PATH")]
    a2l_out: Option<PathBuf>,
    /// Longest time a DTO waits in a packet for company, in microseconds (0 sends each packet
    /// at once). Unless `--hold`, DTOs are also sent once the DAQ queue has run dry.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    flush_us: u64,
    /// Hold DTOs for up to `--flush-us` even when no more are queued: fewer, fuller packets at
    /// low rates, that much more latency.
    #[arg(long)]
    hold: bool,
    /// Poll the socket this many microseconds after a command before blocking on a receive:
    /// the next command of a sequence is answered without waking a thread, for a core busy at
    /// most this long per command (0 never polls; see the README's benchmarks).
    #[arg(long, value_name = "N", default_value_t = 100)]
    spin_us: u64,
    /// Protect CAL/PAG, DAQ and PGM with the demo seed & key algorithm (see the README).
    #[arg(long)]
    seed_key: bool,
    /// Keep frozen calibration pages and stored DAQ lists in this directory.
    #[arg(long, value_name = "DIR")]
    persist: Option<PathBuf>,
    /// Also fire the `stress` event as fast as the link takes its DTOs (throughput
    /// benchmarks): the stress loop waits while the transmit queue is half full, so no
    /// sample is lost.
    #[arg(long)]
    stress: bool,
    /// With `--stress`: fire without waiting for room, overrunning the transmit queue
    /// (its drops are counted and the master sees the overload indication).
    #[arg(long, requires = "stress")]
    stress_overrun: bool,
    /// Offset the ECU's clock (DAQ timestamps and GET_DAQ_CLOCK) from the host's by this many
    /// milliseconds, as an ECU whose clock was never set (recordings of several slaves must
    /// correlate it away).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    clock_offset_ms: f64,
    /// Run the ECU's clock this many parts per million fast (negative: slow).
    #[arg(long, value_name = "PPM", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-100_000..=100_000))]
    clock_ppm: i32,
}

/// Runs the ECU until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &EcuArgs) -> anyhow::Result<()> {
    let can: Option<CanUrl> = args
        .can
        .as_deref()
        .map(|u| {
            u.parse()
                .map_err(|e: xcp_transport_can::UrlError| xcpkit::Error::Url {
                    url: u.to_owned(),
                    reason: e.to_string(),
                })
        })
        .transpose()?;
    let sxi: Option<SxiUrl> = args
        .sxi
        .as_deref()
        .map(|u| {
            u.parse()
                .map_err(|e: xcp_transport_sxi::UrlError| xcpkit::Error::Url {
                    url: u.to_owned(),
                    reason: e.to_string(),
                })
        })
        .transpose()?;
    let (tcp, udp) = match (args.tcp, args.udp) {
        (None, None) if can.is_none() && sxi.is_none() => {
            (Some(SocketAddr::from(([127, 0, 0, 1], 5555))), None)
        }
        other => other,
    };
    if !args.clock_offset_ms.is_finite() || args.clock_offset_ms.abs() > 1e12 {
        return Err(xcpkit::Error::Value {
            name: "--clock-offset-ms".into(),
            reason: format!("{} is not an offset in milliseconds", args.clock_offset_ms),
        }
        .into());
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "finite and within ±10^12 ms, checked above"
    )]
    let clock_offset_ns = (args.clock_offset_ms * 1e6).round() as i64;
    let mut config = SlaveConfig {
        send_when_idle: !args.hold,
        clock_offset_ns,
        clock_rate_ppm: args.clock_ppm,
        persist_dir: args.persist.clone(),
        protected: if args.seed_key {
            Resources::CAL_PAG
                .union(Resources::DAQ)
                .union(Resources::PGM)
        } else {
            Resources::NONE
        },
        ..SlaveConfig::default()
    };
    if let Some(c) = &can {
        // Every packet must fit one frame of the bus.
        config.max_cto = c.xcp.link.max_dlc;
        config.max_dto = u16::from(c.xcp.link.max_dlc);
        // A one-byte identification field leaves a classic frame three bytes beside the
        // timestamp (the default, a DAQ word aligned, would leave none).
        config.id_field = xcp_proto::IdField::AbsoluteOdt;
        // Every DTO shares CAN_ID_SLAVE: without its PID a master cannot tell them apart.
        config.pid_off = false;
    }
    if let Some(x) = &sxi {
        // Every packet must fit the header's LEN field.
        let limit = x.settings.packet_limit();
        config.max_cto = config.max_cto.min(u8::try_from(limit).unwrap_or(u8::MAX));
        config.max_dto = config.max_dto.min(u16::try_from(limit).unwrap_or(u16::MAX));
    }
    if let Some(dir) = &args.persist {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("cannot create the persistence directory {}", dir.display())
        })?;
    }
    let seed_key = args
        .seed_key
        .then(|| Box::new(DemoSeedKey::new(SEED_KEY_SECRET, 4)) as Box<dyn xcp_slave::SeedKey>);
    let ecu = Ecu::build(config, seed_key).context("building the ECU model")?;

    let eth = |protocol, bind| {
        let mut c = ServerConfig::new(protocol);
        c.bind = bind;
        c.eth.flush_interval = Duration::from_micros(args.flush_us);
        c.eth.spin = Duration::from_micros(args.spin_us);
        EthServer::bind(c)
    };
    let tcp = tcp
        .map(|a| eth(Protocol::Tcp, a).with_context(|| format!("cannot serve XCP on TCP at {a}")))
        .transpose()?;
    let udp = udp
        .map(|a| eth(Protocol::Udp, a).with_context(|| format!("cannot serve XCP on UDP at {a}")))
        .transpose()?;
    let mut descs = Vec::new();
    if let Some(s) = &tcp {
        descs.push(TransportDesc::Tcp(s.local_addr()));
    }
    if let Some(s) = &udp {
        descs.push(TransportDesc::Udp(s.local_addr()));
    }
    let eth_handle = tcp
        .as_ref()
        .map(EthServer::handle)
        .or_else(|| udp.as_ref().map(EthServer::handle));
    let mut links: Vec<Boxed> = Vec::new();
    links.extend(tcp.map(Boxed::new));
    links.extend(udp.map(Boxed::new));
    if let Some(c) = &can {
        descs.push(TransportDesc::Can {
            link: c.xcp.link,
            broadcast: c.xcp.broadcast,
            bitrate: c.bitrate,
            data_bitrate: c.data_bitrate,
        });
        let bus = c
            .open()
            .with_context(|| format!("cannot serve XCP on CAN at {c}"))?;
        // SET_DAQ_ID may move DAQ lists to identifiers of their own.
        let routes = std::sync::Arc::new(xcp_transport::DtoRoutes::new());
        ecu.slave.set_dto_routes(std::sync::Arc::clone(&routes));
        links.push(Boxed::new(
            CanTransport::slave(bus, c.xcp)
                .with_context(|| format!("--can {c}"))?
                .with_routes(routes),
        ));
    }
    // The URL a master opens: the device's, or the pseudo-terminal's path.
    let mut sxi_master_url = None;
    if let Some(x) = &sxi {
        let line = SxiTransport::from_url(x)
            .with_context(|| format!("cannot serve XCP on a serial line at {x}"))?;
        descs.push(TransportDesc::Sxi {
            baud: x.settings.baud,
            framing: x.settings.framing,
        });
        sxi_master_url = Some(SxiUrl {
            port: Port::Device(line.path().to_owned()),
            ..x.clone()
        });
        links.push(Boxed::new(line));
    }
    ecu.slave.set_transports(descs.clone());
    let _responder = match (args.discovery, eth_handle) {
        (false, _) => None,
        (true, None) => bail!("--discovery answers over Ethernet: serve --tcp or --udp too"),
        (true, Some(handle)) => {
            let id = xcpkit_ecu::NAME.as_bytes().to_vec();
            let resources = Resources::CAL_PAG
                .union(Resources::DAQ)
                .union(Resources::STIM)
                .union(Resources::PGM);
            Some(
                Responder::start(DiscoveryConfig::default(), move || {
                    SlaveId::for_server(&handle, &id, resources)
                })
                .context("answering GET_SLAVE_ID over Ethernet multicast")?,
            )
        }
    };
    if let Some(path) = &args.a2l_out {
        std::fs::write(path, ecu.slave.a2l())
            .with_context(|| format!("cannot write the A2L to {}", path.display()))?;
    }

    // Every transport joined: one master at a time, whichever bus it comes over.
    let Some(link) = Boxed::join(links) else {
        bail!("no transport");
    };
    let server = Server::start(&ecu.slave, link).context("starting the XCP server")?;
    let stress = match (args.stress, args.stress_overrun) {
        (false, _) => None,
        (true, false) => Some(Stress::Paced),
        (true, true) => Some(Stress::Overrun),
    };
    let tasks = ecu.start(stress).context("starting the ECU tasks")?;

    say!(
        "xcpkit ecu: {} (EPK {:?})",
        xcpkit_ecu::NAME,
        ecu.slave.epk()
    );
    for d in &descs {
        match d {
            TransportDesc::Tcp(a) => say!("listening on tcp://{a}"),
            TransportDesc::Udp(a) => say!("listening on udp://{a}"),
            TransportDesc::Can { .. } => {
                if let Some(c) = &can {
                    say!("listening on {c}");
                }
            }
            TransportDesc::Sxi { .. } => {
                if let Some(x) = &sxi_master_url {
                    say!("listening on {x}");
                }
            }
        }
    }
    if let Some(path) = &args.a2l_out {
        say!("A2L written to {}", path.display());
    }
    if args.seed_key {
        say!("seed & key: CAL/PAG, DAQ and PGM are locked (demo algorithm)");
    }
    say!("press Ctrl-C to stop");

    let (stop_tx, stop_rx) = mpsc::sync_channel(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    loop {
        match stop_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !server.is_running() {
                    tasks.stop();
                    let why = server
                        .failure()
                        .unwrap_or_else(|| "its threads ended".into());
                    bail!("the XCP server stopped and no master can reach the ECU: {why}");
                }
            }
        }
    }
    let cycles = tasks.stop();
    let s = server.stats();
    server.stop();
    let st = ecu.slave.stats();
    say!(
        "stopped: {} commands, {} DTOs sent, {} dropped (queue full), cycles 1ms/10ms/100ms {}/{}/{}",
        s.commands,
        s.dtos_sent,
        st.dtos_dropped,
        cycles.task_1ms,
        cycles.task_10ms,
        cycles.task_100ms
    );
    if args.stress {
        say!("stress event: {} triggers", cycles.stress);
    }
    Ok(())
}
