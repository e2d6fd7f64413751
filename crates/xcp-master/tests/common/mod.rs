//! A slave to drive: `xcp-slave` with a calibration segment, globals and two events, served
//! over the in-memory pair, TCP or UDP.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of these helpers"
)]

use std::time::Duration;

use xcp_master::{Config, Master};
use xcp_proto::{ByteOrder, Resources};
use xcp_slave::{
    CalSeg, CharKind, DemoSeedKey, ElementType, Event, FlashConfig, Global, Meta, Server, Slave,
    SlaveConfig,
};
use xcp_transport::mem;
use xcp_transport_eth::{EthConfig, EthServer, Protocol, ServerConfig, connect};

/// The demo seed & key secret of the fixture.
pub const SECRET: &[u8] = b"xcpkit-master-test";

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Params {
    pub gain: f32,
    pub offset: i32,
    pub table: [u16; 200],
}

pub const PARAMS: Params = Params {
    gain: 1.5,
    offset: -7,
    table: [0; 200],
};

pub struct Fixture {
    pub slave: Slave,
    pub params: CalSeg<Params>,
    pub counter: Global<u32>,
    pub temp: Global<f32>,
    pub wide: Global<u64>,
    pub ev_fast: Event,
    pub ev_slow: Event,
}

pub fn fixture(config: SlaveConfig) -> Fixture {
    fixture_with(config, None)
}

/// The fixture with simulated flash (sectors at extension 1).
pub fn fixture_with(config: SlaveConfig, flash: Option<FlashConfig>) -> Fixture {
    let protected = config.protected;
    let mut b = Slave::builder("master-fixture")
        .epk("master fixture 1.0")
        .config(config);
    if let Some(f) = flash {
        b = b.flash(f);
    }
    if protected != Resources::NONE {
        b = b.seed_key(Box::new(DemoSeedKey::new(SECRET, 40)));
    }
    let fast = b
        .event("fast", Some(Duration::from_millis(1)), 1)
        .expect("event");
    let slow = b
        .event("slow", Some(Duration::from_millis(10)), 2)
        .expect("event");
    let params = b.cal_segment("params", &PARAMS).expect("segment");
    b.characteristic(
        &params,
        "gain",
        0,
        ElementType::F32,
        CharKind::Value,
        Meta::new("gain"),
    )
    .expect("gain");
    let counter = b
        .global::<u32>("counter", Some(fast), Meta::new("counter"))
        .expect("counter");
    let temp = b
        .global::<f32>("temp", Some(fast), Meta::new("temperature"))
        .expect("temp");
    let wide = b
        .global::<u64>("wide", Some(slow), Meta::new("wide"))
        .expect("wide");
    let slave = b.build().expect("slave");
    Fixture {
        ev_fast: slave.event(fast).expect("ev"),
        ev_slow: slave.event(slow).expect("ev"),
        slave,
        params,
        counter,
        temp,
        wide,
    }
}

/// Short timeouts so failure paths finish quickly.
pub fn quick() -> Config {
    let mut c = Config::default();
    c.timeouts.t1 = Duration::from_millis(300);
    c.timeouts.t6 = Duration::from_millis(300);
    c.timeouts.t7 = Duration::from_millis(5);
    c
}

pub enum Link {
    Mem,
    Tcp,
    Udp,
    /// XCP on SxI on a pseudo-terminal (LEN_CTR_WORD, byte checksum).
    Sxi,
    /// XCP on USB through the in-process device (several packets per transfer).
    Usb,
}

impl Link {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Mem => "in-memory pair",
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sxi => "SxI on a pseudo-terminal",
            Self::Usb => "USB through the in-process device",
        }
    }
}

/// The fixture's slave served over `link`, and a master on the other end (not connected).
pub fn serve(f: &Fixture, link: &Link, config: Config) -> (Server, Master) {
    match link {
        Link::Mem => {
            let (m, s) = mem::pair();
            let srv = Server::start(&f.slave, s).expect("server");
            (srv, Master::new(m, config).expect("master"))
        }
        Link::Tcp | Link::Udp => {
            let protocol = if matches!(link, Link::Tcp) {
                Protocol::Tcp
            } else {
                Protocol::Udp
            };
            let server = EthServer::bind(ServerConfig {
                bind: "127.0.0.1:0".parse().expect("addr"),
                ..ServerConfig::new(protocol)
            })
            .expect("bind");
            let addr = server.local_addr();
            let srv = Server::start(&f.slave, server).expect("server");
            let t = connect(addr, protocol, &EthConfig::default()).expect("connect");
            (srv, Master::new(t, config).expect("master"))
        }
        Link::Sxi => {
            // Room for the default MAX_DTO (1468).
            let s = xcp_transport_sxi::SxiSettings {
                framing: xcp_proto::tl::sxi::SxiConfig {
                    tail: xcp_proto::tl::Tail::Byte,
                    ..xcp_proto::tl::sxi::SxiConfig::default()
                },
                max_packet: 2048,
                ..xcp_transport_sxi::SxiSettings::default()
            };
            let slave_end = xcp_transport_sxi::SxiTransport::pty(s).expect("a pseudo-terminal");
            let master_end =
                xcp_transport_sxi::SxiTransport::open(slave_end.path(), s).expect("its path");
            let srv = Server::start(&f.slave, slave_end).expect("server");
            (srv, Master::new(master_end, config).expect("master"))
        }
        Link::Usb => {
            let s = xcp_transport_usb::UsbSettings {
                config: xcp_proto::tl::usb::UsbConfig {
                    packing: xcp_proto::tl::usb::Packing::Multiple,
                    alignment: xcp_proto::tl::usb::Alignment::Bits32,
                    ..xcp_proto::tl::usb::UsbConfig::default()
                },
                transfer: 4096,
                max_packet: 1500,
                ..xcp_transport_usb::UsbSettings::default()
            };
            let (device, function, _control) =
                xcp_transport_usb::memory::in_process(s, 64).expect("the in-process device");
            let srv = Server::start(&f.slave, function).expect("server");
            let host = xcp_transport_usb::master(device, s).expect("the host's end");
            (srv, Master::new(host, config).expect("master"))
        }
    }
}

pub fn config(order: ByteOrder) -> SlaveConfig {
    SlaveConfig {
        byte_order: order,
        ..SlaveConfig::default()
    }
}

/// The byte order of this host, which is the order of `xcp-slave`'s memory whatever the
/// protocol's byte order.
pub fn native() -> ByteOrder {
    if cfg!(target_endian = "little") {
        ByteOrder::Intel
    } else {
        ByteOrder::Motorola
    }
}

/// A signal in the slave's (host-native) memory.
pub fn sig(name: &str, addr: xcp_proto::Address, ty: ElementType) -> xcp_master::Signal {
    xcp_master::Signal {
        name: name.to_owned(),
        addr,
        ty,
        order: native(),
    }
}

/// The application: counts up until told to stop, setting `counter`, `temp` (half the count)
/// and `wide` (the count in its high word, 0xABCD in its low word) before each trigger of the
/// fast event, and triggering the slow event every tenth count. `pace` is the period of the
/// fast event (`None`: as fast as the scheduler allows).
pub fn run_app(f: &Fixture, stop: &std::sync::atomic::AtomicBool, pace: Option<Duration>) {
    use std::sync::atomic::Ordering;
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n = n.wrapping_add(1);
        f.counter.set(n);
        #[allow(clippy::cast_precision_loss, reason = "test values")]
        f.temp.set(n as f32 * 0.5);
        f.wide.set(u64::from(n) << 32 | 0xABCD);
        f.ev_fast.trigger();
        if n.is_multiple_of(10) {
            f.ev_slow.trigger();
        }
        let next = std::time::Instant::now() + pace.unwrap_or_default();
        loop {
            std::thread::yield_now();
            if std::time::Instant::now() >= next || stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
}

/// Runs the application at 1 kHz while DAQ runs, until `n` rows arrived (at most 10 s), then
/// stops DAQ and the application: the rows' values and slave times.
pub fn rows_while_running(
    m: &mut Master,
    f: &std::sync::Arc<Fixture>,
    stream: &xcp_master::DaqStream,
    n: usize,
) -> Vec<(Vec<xcp_master::Value>, Option<u64>)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    use xcp_master::block_on;
    let stop = Arc::new(AtomicBool::new(false));
    let app = {
        let (f, stop) = (Arc::clone(f), Arc::clone(&stop));
        std::thread::spawn(move || run_app(&f, &stop, Some(Duration::from_millis(1))))
    };
    let mut rows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows.len() < n && Instant::now() < deadline {
        if let Some(b) = stream
            .recv_timeout(Duration::from_millis(100))
            .expect("open")
        {
            for r in b.rows() {
                rows.push((r.values.to_vec(), r.slave_ns));
            }
        }
    }
    block_on(m.stop_daq()).expect("stop");
    stop.store(true, Ordering::Relaxed);
    app.join().expect("app");
    rows
}

/// One timestamped list on the fast event (0): `counter`, `temp` (when `with_temp`) and
/// `wide`, as the application of [`run_app`] writes them.
pub fn counter_list(f: &Fixture, with_temp: bool) -> xcp_master::ListRequest {
    let mut signals = vec![sig("counter", f.counter.address(), ElementType::U32)];
    if with_temp {
        signals.push(sig("temp", f.temp.address(), ElementType::F32));
    }
    signals.push(sig("wide", f.wide.address(), ElementType::U64));
    xcp_master::ListRequest {
        event: 0,
        prescaler: 1,
        priority: 0,
        timestamps: true,
        stim: false,
        signals,
    }
}

/// Rows of [`counter_list`]: each sample's values belong together, every row is timestamped
/// and the counter steps by exactly 1 (no sample lost). Returns the counters.
pub fn check_counter_rows(what: &str, rows: &[(Vec<xcp_master::Value>, Option<u64>)]) -> Vec<u64> {
    use xcp_master::Value;
    let mut counters = Vec::with_capacity(rows.len());
    for (values, ts) in rows {
        let (Some(Value::Uint(c)), Some(Value::Uint(wide))) = (values.first(), values.last())
        else {
            panic!("{what}: row shape {values:?}")
        };
        assert_eq!(
            *wide,
            *c << 32 | 0xABCD,
            "{what}: one sample's values stay together"
        );
        assert!(ts.is_some(), "{what}: timestamped");
        if let Some(prev) = counters.last() {
            assert_eq!(*c, prev + 1, "{what}: no sample lost");
        }
        counters.push(*c);
    }
    counters
}
