//! The server end to end: a master over TCP, UDP and the in-memory pair measures an
//! application that triggers events, loses nothing, and can vanish without breaking the slave.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, Sample, fixture};
use xcp_proto::{
    Address, Command, DaqListNumber, EventChannel, OdtEntry, Pending, Response, SessionParams,
};
use xcp_slave::memory::{EXT_EVENT, event_address};
use xcp_slave::{Server, SlaveConfig};
use xcp_transport::{PacketRx, PacketTx, Transport, TransportError, mem};
use xcp_transport_eth::{EthConfig, EthServer, Protocol, ServerConfig, connect};

/// A minimal master for the tests: commands wait for their response; DTOs are collected.
struct Master<T: Transport> {
    tx: T::Tx,
    rx: T::Rx,
    params: SessionParams,
    dtos: Vec<Vec<u8>>,
    events: Vec<Vec<u8>>,
}

impl<T: Transport> Master<T> {
    fn new(t: T) -> Self {
        let (tx, rx) = t.split();
        Self {
            tx,
            rx,
            params: SessionParams::default(),
            dtos: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Sends a command and returns the response bytes (RES or ERR).
    fn cmd(&mut self, cmd: Command<'_>) -> Result<Vec<u8>, TransportError> {
        let mut buf = [0u8; 256];
        let n = cmd.emit(&mut buf, &self.params).expect("encodes");
        self.tx.send_now(&buf[..n])?;
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no response to {cmd}");
            let Some(p) = self.rx.recv(left)? else {
                continue;
            };
            match p[0] {
                0xFE | 0xFF => return Ok(p.to_vec()),
                0xFC | 0xFD => self.events.push(p.to_vec()),
                _ => self.dtos.push(p.to_vec()),
            }
        }
    }

    fn ok(&mut self, cmd: Command<'_>) -> Vec<u8> {
        let r = self.cmd(cmd).expect("link up");
        assert_eq!(r[0], 0xFF, "{cmd}: {r:02x?}");
        r
    }

    fn connect(&mut self) {
        let r = self.ok(Command::Connect { mode: 0 });
        if let Ok(Response::Connect(c)) = Response::parse(
            &r,
            Pending::from(&Command::Connect { mode: 0 }),
            &self.params,
        ) {
            self.params = c.session_params(&self.params);
        }
    }

    /// Waits until `n` DTOs arrived or `timeout` passed.
    fn collect(&mut self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.dtos.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.rx.recv(left.min(Duration::from_millis(50))) {
                Ok(Some(p)) if p[0] < 0xFC => self.dtos.push(p.to_vec()),
                Ok(Some(p)) => self.events.push(p.to_vec()),
                Ok(None) => {}
                Err(e) => panic!("link lost while collecting: {e}"),
            }
        }
    }
}

fn entry(addr: Address, size: u8) -> OdtEntry {
    OdtEntry {
        bit_offset: 0xFF,
        size,
        addr,
    }
}

/// Allocates list 0 with one ODT of `entries` and sets its mode and event.
fn one_list<T: Transport>(m: &mut Master<T>, entries: &[OdtEntry], mode: u8, event: u16) {
    let d = DaqListNumber(0);
    m.ok(Command::FreeDaq);
    m.ok(Command::AllocDaq { count: 1 });
    m.ok(Command::AllocOdt { daq: d, count: 1 });
    m.ok(Command::AllocOdtEntry {
        daq: d,
        odt: 0,
        count: u8::try_from(entries.len()).expect("few entries"),
    });
    m.ok(Command::SetDaqPtr {
        daq: d,
        odt: 0,
        entry: 0,
    });
    for &entry in entries {
        m.ok(Command::WriteDaq { entry });
    }
    m.ok(Command::SetDaqListMode {
        mode,
        daq: d,
        event: EventChannel(event),
        prescaler: 1,
        priority: 0,
    });
}

/// One DAQ list on event 1: the instance's `count` (u32) and the global `counter`, with a
/// timestamp.
fn configure<T: Transport>(m: &mut Master<T>, f: &Fixture) {
    let entries = [
        entry(Address::new(EXT_EVENT, event_address(1, 8)), 4),
        entry(f.counter.address(), 4),
    ];
    one_list(m, &entries, 0x10, 1);
    let d = DaqListNumber(0);
    m.ok(Command::StartStopDaqList { mode: 2, daq: d });
    m.ok(Command::StartStopSynch { mode: 1 });
}

/// The fixture served over `protocol` on a loopback port, and a connected master.
/// The fixture's slave served on a free loopback port.
fn listen(f: &Fixture, protocol: Protocol) -> (Server, std::net::SocketAddr) {
    let server = EthServer::bind(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        ..ServerConfig::new(protocol)
    })
    .expect("bind");
    let addr = server.local_addr();
    (Server::start(&f.slave, server).expect("server"), addr)
}

fn serve(f: &Fixture, protocol: Protocol) -> (Server, Master<impl Transport + use<>>) {
    let (srv, addr) = listen(f, protocol);
    let mut m = Master::new(connect(addr, protocol, &EthConfig::default()).expect("connect"));
    m.connect();
    (srv, m)
}

/// Triggers event 1 `n` times with `count` = 0..n and the global counter = count.
fn run_application(f: &Fixture, n: u32) {
    let mut s = Sample::default();
    for i in 0..n {
        s.count = i;
        f.counter.set(i);
        f.ev1.trigger_with(&s);
    }
}

/// Checks the DTOs: header (ODT 0, DAQ 0), timestamps increasing, both values equal and
/// consecutive from 0.
fn check_samples(dtos: &[Vec<u8>], n: u32) {
    assert_eq!(dtos.len(), n as usize, "every sample arrived");
    let mut last_ts = None;
    for (i, d) in dtos.iter().enumerate() {
        assert_eq!(d.len(), 4 + 4 + 8, "header, timestamp, two u32");
        assert_eq!(&d[..4], &[0, 0, 0, 0], "ODT 0, fill, DAQ 0");
        let ts = u32::from_le_bytes(d[4..8].try_into().expect("4"));
        if let Some(l) = last_ts {
            // 1 ns ticks wrap every 4.3 s; a burst is far shorter.
            assert!(ts.wrapping_sub(l) < 1 << 31, "timestamps increase");
        }
        last_ts = Some(ts);
        let count = u32::from_le_bytes(d[8..12].try_into().expect("4"));
        let global = u32::from_le_bytes(d[12..16].try_into().expect("4"));
        let want = u32::try_from(i).expect("few");
        assert_eq!((count, global), (want, want), "sample {i}");
    }
}

fn eth_roundtrip(protocol: Protocol) {
    let f = fixture(SlaveConfig::default());
    let (srv, mut m) = serve(&f, protocol);
    configure(&mut m, &f);
    let n = 20_000;
    run_application(&f, n);
    m.collect(n as usize, Duration::from_secs(10));
    check_samples(&m.dtos, n);
    assert_eq!(m.rx.stats().lost, 0, "no CTR gaps");
    assert_eq!(f.slave.stats().dtos_dropped, 0);
    m.ok(Command::StartStopSynch { mode: 0 });
    m.ok(Command::Disconnect);
    assert!(srv.stats().dtos_sent >= u64::from(n));
    srv.stop();
}

/// STIM end to end: the master sends STIM DTOs over the socket, the application sees them in
/// its global variable at its next event.
fn stim_roundtrip(protocol: Protocol) {
    let f = fixture(SlaveConfig::default());
    let (srv, mut m) = serve(&f, protocol);
    one_list(&mut m, &[entry(f.counter.address(), 4)], 0x02, 0);
    m.ok(Command::StartStopDaqList {
        mode: 1,
        daq: DaqListNumber(0),
    });
    for value in [0x1234_5678u32, 42, 7] {
        let mut dto = vec![0, 0, 0, 0];
        dto.extend_from_slice(&value.to_le_bytes());
        m.tx.send_now(&dto).expect("send STIM");
        // The receive thread stores it; the application's next event applies it.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            f.ev10.trigger();
            if f.counter.get() == value {
                break;
            }
            assert!(Instant::now() < deadline, "STIM {value:#x} never applied");
            std::thread::yield_now();
        }
    }
    assert_eq!(f.slave.stats().stim_received, 3);
    assert_eq!(srv.stats().stim, 3);
    m.ok(Command::Disconnect);
    srv.stop();
}

/// One DTO of a slow event: with `send_when_idle` it leaves once the queue runs dry; without,
/// it waits out the transport's (here 2 s) flush interval.
fn lone_dto(send_when_idle: bool) {
    let f = fixture(SlaveConfig {
        send_when_idle,
        ..SlaveConfig::default()
    });
    let mut config = ServerConfig::new(Protocol::Tcp);
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.eth.flush_interval = Duration::from_secs(2);
    let server = EthServer::bind(config).expect("bind");
    let addr = server.local_addr();
    let srv = Server::start(&f.slave, server).expect("server");
    let mut m = Master::new(connect(addr, Protocol::Tcp, &EthConfig::default()).expect("connect"));
    m.connect();
    configure(&mut m, &f);
    run_application(&f, 1);
    m.collect(1, Duration::from_millis(500));
    if send_when_idle {
        check_samples(&m.dtos, 1);
    } else {
        assert!(m.dtos.is_empty(), "held for the flush interval");
        m.collect(1, Duration::from_secs(10));
        check_samples(&m.dtos, 1);
    }
    m.ok(Command::StartStopSynch { mode: 0 });
    m.ok(Command::Disconnect);
    srv.stop();
}

#[test]
fn a_lone_dto_leaves_when_the_queue_runs_dry() {
    lone_dto(true);
}

#[test]
fn a_held_dto_waits_for_the_flush_interval() {
    lone_dto(false);
}

#[test]
fn stim_over_tcp_reaches_the_application() {
    stim_roundtrip(Protocol::Tcp);
}

#[test]
fn stim_over_udp_reaches_the_application() {
    stim_roundtrip(Protocol::Udp);
}

#[test]
fn daq_over_tcp_loses_nothing() {
    eth_roundtrip(Protocol::Tcp);
}

#[test]
fn daq_over_udp_loses_nothing() {
    eth_roundtrip(Protocol::Udp);
}

#[test]
fn a_master_that_vanishes_mid_daq_leaves_the_slave_ready() {
    let f = fixture(SlaveConfig::default());
    let (srv, addr) = listen(&f, Protocol::Tcp);
    let stop = Arc::new(AtomicBool::new(false));
    // The application keeps triggering through everything below.
    let app = {
        let (stop, ev, counter) = (Arc::clone(&stop), f.ev1.clone(), f.counter.clone());
        std::thread::spawn(move || {
            let mut s = Sample::default();
            while !stop.load(Ordering::Relaxed) {
                s.count = s.count.wrapping_add(1);
                counter.set(s.count);
                ev.trigger_with(&s);
                std::thread::yield_now();
            }
        })
    };
    for round in 0..3 {
        let mut m =
            Master::new(connect(addr, Protocol::Tcp, &EthConfig::default()).expect("connect"));
        m.connect();
        // The first packet after CONNECT is its response: no DTO of the last session leaked.
        assert!(m.dtos.is_empty(), "round {round}: stale DTOs");
        let status = m.ok(Command::GetStatus);
        assert_eq!(
            status[1] & 0x40,
            0,
            "round {round}: DAQ stopped after the last master"
        );
        configure(&mut m, &f);
        m.collect(100, Duration::from_secs(5));
        assert!(m.dtos.len() >= 100, "round {round}: DAQ runs");
        // Vanish without DISCONNECT.
        drop(m);
        let deadline = Instant::now() + Duration::from_secs(5);
        while srv.stats().sessions_ended < round + 1 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(srv.stats().sessions_ended, round + 1, "the slave noticed");
    }
    stop.store(true, Ordering::Relaxed);
    app.join().expect("application thread");
    assert!(srv.is_running());
    srv.stop();
}

#[test]
fn garbage_on_the_socket_gets_errors_not_a_crash() {
    let f = fixture(SlaveConfig::default());
    let (srv, addr) = listen(&f, Protocol::Tcp);
    let frame = |ctr: u16, packet: &[u8]| {
        let mut v = u16::try_from(packet.len())
            .expect("short")
            .to_le_bytes()
            .to_vec();
        v.extend_from_slice(&ctr.to_le_bytes());
        v.extend_from_slice(packet);
        v
    };
    let mut s = TcpStream::connect(addr).expect("tcp");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.write_all(&frame(0, &[0xFF, 0])).expect("CONNECT");
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).expect("CONNECT response");
    assert_eq!(reply[4], 0xFF);
    // Well-framed nonsense: every command code with junk bytes, each followed by SYNCH.
    // Every packet back is a RES, ERR or EV (a junk DOWNLOAD may open a block and answer
    // nothing until SYNCH ends it), and the session survives.
    let mut seed = 0x1234_5678u32;
    for code in 0xC0..=0xFFu8 {
        if matches!(code, 0xFE | 0xFF | 0xCF) {
            continue; // DISCONNECT, CONNECT and PROGRAM_RESET are valid with any bytes.
        }
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let len = 1 + (seed >> 16) as usize % 7;
        let mut p = vec![code];
        p.extend((0..len).map(|i| (seed >> (i % 4 * 8)).to_le_bytes()[0]));
        s.write_all(&frame(1, &p)).expect("write");
        s.write_all(&frame(2, &[0xFC])).expect("SYNCH");
        loop {
            let mut head = [0u8; 4];
            s.read_exact(&mut head).expect("the slave answers SYNCH");
            let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).expect("body");
            assert!(body[0] >= 0xFC, "{code:#x}: {body:02x?}");
            if body == [0xFE, 0x00] {
                break;
            }
        }
    }
    // A frame longer than the slave accepts ends that connection only.
    s.write_all(&[0xFF, 0xFF, 0, 0]).expect("write");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let mut m =
        Master::new(connect(addr, Protocol::Tcp, &EthConfig::default()).expect("reconnect"));
    m.connect();
    m.ok(Command::GetStatus);
    assert!(srv.is_running());
    srv.stop();
}

#[test]
fn over_the_memory_pair_the_server_ends_with_its_master() {
    let f = fixture(SlaveConfig::default());
    let (master, slave_end) = mem::pair();
    let srv = Server::start(&f.slave, slave_end).expect("server");
    let mut m = Master::new(master);
    m.connect();
    configure(&mut m, &f);
    run_application(&f, 500);
    m.collect(500, Duration::from_secs(5));
    check_samples(&m.dtos, 500);
    drop(m);
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.is_running() && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(
        !srv.is_running(),
        "the receive thread ended with the transport"
    );
    let why = srv.failure().expect("the server says why it stopped");
    assert_eq!(
        why,
        "the in-memory link is closed for good: the in-memory master was dropped"
    );
    srv.stop();
}

#[test]
fn many_bad_connections_in_a_row_never_stop_the_server() {
    let f = fixture(SlaveConfig::default());
    let (srv, addr) = listen(&f, Protocol::Tcp);
    // Garbage, a LEN of 0, a LEN of 65535, a frame cut short, and a connection that says
    // nothing: each closes at once, many times over, with no good packet in between.
    let bad: [&[u8]; 5] = [
        &[0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x01],
        &[0, 0, 0, 0],
        &[0xFF, 0xFF, 0, 0, 1, 2, 3],
        &[0x08, 0, 0, 0, 0xFF],
        &[],
    ];
    for round in 0..40 {
        let mut s = TcpStream::connect(addr).expect("the slave still listens");
        s.write_all(bad[round % bad.len()]).expect("write");
        drop(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.stats().links_lost < 40 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(srv.stats().links_lost, 40, "{:?}", srv.stats());
    assert!(srv.is_running(), "{:?}", srv.failure());
    let mut m =
        Master::new(connect(addr, Protocol::Tcp, &EthConfig::default()).expect("reconnect"));
    m.connect();
    m.ok(Command::GetStatus);
    srv.stop();
}
