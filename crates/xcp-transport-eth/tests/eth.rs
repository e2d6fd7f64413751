//! XCP on Ethernet over real loopback sockets: TCP and UDP, IPv4 and IPv6.
//!
//! Every server binds port 0 and the tests read the port back, so they run in parallel.
//! Nothing sleeps: waits are bounded `recv` calls that return as soon as data arrives.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use xcp_transport::fault::{Fault, FaultConfig, FaultPlan};
use xcp_transport::{PacketRx, PacketTx, Transport, TransportError};
use xcp_transport_eth::{
    EthConfig, EthServer, Protocol, ServerConfig, ServerHandle, connect, discovery,
};

const WAIT: Duration = Duration::from_secs(5);
const CONNECT: [u8; 2] = [0xFF, 0x00];

fn local(protocol: Protocol, ip: &str) -> ServerConfig {
    ServerConfig {
        bind: SocketAddr::new(ip.parse().expect("literal IP"), 0),
        ..ServerConfig::new(protocol)
    }
}

fn recv_vec(rx: &mut impl PacketRx) -> Vec<u8> {
    rx.recv(WAIT)
        .expect("receive failed")
        .expect("no packet within 5 s")
        .to_vec()
}

/// A packet of `len` bytes; its first byte is 0x01 (a STIM PID), never a command code the
/// UDP server interprets (0xFE DISCONNECT releases the slave).
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i * 31 + seed).to_le_bytes()[0]).collect();
    p[0] = 0x01;
    p
}

/// Runs an echo slave on its own thread until its master has gone `masters` times and the
/// link then stays quiet for 100 ms (at most 30 s in all).
fn echo_slave(server: EthServer, masters: usize) -> thread::JoinHandle<Vec<String>> {
    let (mut tx, mut rx) = server.split();
    thread::spawn(move || {
        let mut gone = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            match rx.recv(Duration::from_millis(100)) {
                Ok(Some(p)) => {
                    let p = p.to_vec();
                    // Echo; a master that vanished meanwhile is not a test failure.
                    let _ = tx.send_now(&p);
                }
                Ok(None) if gone.len() >= masters => break,
                Ok(None) => {}
                Err(e) => gone.push(e.to_string()),
            }
        }
        gone
    })
}

fn round_trip_every_size(protocol: Protocol, ip: &str) {
    let server = EthServer::bind(local(protocol, ip)).expect("bind");
    let addr = server.local_addr();
    let slave = echo_slave(server, 1);
    let client = connect(addr, protocol, &EthConfig::default()).expect("connect");
    let (mut tx, mut rx) = client.split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    let max = tx.max_packet_len();
    assert_eq!(max, 1468);
    for len in 1..=max {
        let p = pattern(len, len);
        tx.send_now(&p).expect("send");
        assert_eq!(recv_vec(&mut rx), p, "{protocol} {ip} len {len}");
    }
    assert!(matches!(
        tx.send(&vec![0; max + 1]),
        Err(TransportError::TooLong { max: 1468, .. })
    ));
    let stats = rx.stats();
    assert_eq!((stats.lost, stats.out_of_order, stats.malformed), (0, 0, 0));
    drop((tx, rx));
    let gone = slave.join().expect("slave thread");
    assert_eq!(gone.len(), 1);
}

#[test]
fn tcp_ipv4_carries_every_packet_size() {
    round_trip_every_size(Protocol::Tcp, "127.0.0.1");
}

#[test]
fn udp_ipv4_carries_every_packet_size() {
    // The UDP slave learns the master is gone only from a takeover; the echo loop ends after
    // its 30 s budget otherwise, so stop it through a DISCONNECT-free path: a second master.
    let mut config = local(Protocol::Udp, "127.0.0.1");
    config.udp_takeover_after = Duration::ZERO;
    let server = EthServer::bind(config).expect("bind");
    let addr = server.local_addr();
    let slave = echo_slave(server, 1);
    {
        let (mut tx, mut rx) = connect(addr, Protocol::Udp, &EthConfig::default())
            .expect("connect")
            .split();
        tx.send_now(&CONNECT).expect("send");
        assert_eq!(recv_vec(&mut rx), CONNECT);
        for len in 1..=1468 {
            let p = pattern(len, len);
            tx.send_now(&p).expect("send");
            assert_eq!(recv_vec(&mut rx), p, "len {len}");
        }
        assert_eq!(rx.stats().lost, 0);
    }
    // A new master takes over at once (takeover time zero); the slave sees the old one go.
    let (mut tx, mut rx) = connect(addr, Protocol::Udp, &EthConfig::default())
        .expect("connect")
        .split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    let gone = slave.join().expect("slave thread");
    assert!(gone[0].contains("took over"), "{gone:?}");
}

#[test]
fn udp_jumbo_datagrams_carry_packets_up_to_8968_bytes() {
    let eth = EthConfig {
        max_datagram: 8972,
        ..EthConfig::default()
    };
    let server = EthServer::bind(ServerConfig {
        eth,
        ..local(Protocol::Udp, "127.0.0.1")
    })
    .expect("bind");
    let addr = server.local_addr();
    let (mut stx, mut srx) = server.split();
    let (mut tx, mut rx) = connect(addr, Protocol::Udp, &eth).expect("connect").split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    assert_eq!(stx.max_packet_len(), 8968);
    for len in [1, 1468, 1469, 4000, 8967, 8968] {
        let p = pattern(len, 3);
        stx.send_now(&p).expect("send");
        assert_eq!(recv_vec(&mut rx), p, "len {len}");
    }
    // Two 4000-byte packets share one jumbo datagram.
    stx.send(&[1; 4000]).expect("send");
    stx.send(&[2; 4000]).expect("send");
    stx.flush().expect("flush");
    assert_eq!(recv_vec(&mut rx), [1; 4000]);
    assert_eq!(recv_vec(&mut rx), [2; 4000]);
    assert_eq!(stx.stats().frames, 7);
    // After CONNECT a master may lower the limit to the slave's MAX_DTO.
    rx.limit_packet_len(2000);
    stx.send_now(&[3; 2001]).expect("send");
    stx.send_now(&[4; 2000]).expect("send");
    assert_eq!(
        recv_vec(&mut rx),
        [4; 2000],
        "the oversized datagram is discarded"
    );
    assert_eq!(rx.stats().malformed, 1);
}

#[test]
fn tcp_ipv6_loopback() {
    round_trip_every_size(Protocol::Tcp, "::1");
}

#[test]
fn udp_ipv6_loopback() {
    let server = EthServer::bind(local(Protocol::Udp, "::1")).expect("bind [::1]");
    let addr = server.local_addr();
    assert!(addr.is_ipv6());
    let handle = server.handle();
    let (mut stx, mut srx) = server.split();
    let (mut tx, mut rx) = connect(addr, Protocol::Udp, &EthConfig::default())
        .expect("connect")
        .split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    assert!(handle.master().is_some_and(|m| m.is_ipv6()));
    stx.send_now(&[0xFF, 1, 2, 3]).expect("send");
    assert_eq!(recv_vec(&mut rx), [0xFF, 1, 2, 3]);
}

/// A raw UDP "master" that speaks CONNECT to the server and reads raw datagrams.
fn raw_udp_master(server: SocketAddr) -> UdpSocket {
    let raw = UdpSocket::bind("127.0.0.1:0").expect("bind raw");
    raw.connect(server).expect("connect raw");
    raw.set_read_timeout(Some(WAIT)).expect("timeout");
    raw.send(&[2, 0, 0, 0, 0xFF, 0x00]).expect("send CONNECT");
    raw
}

#[test]
fn udp_packs_packets_up_to_the_datagram_limit_with_consecutive_counters() {
    let server = EthServer::bind(local(Protocol::Udp, "127.0.0.1")).expect("bind");
    let raw = raw_udp_master(server.local_addr());
    let (mut tx, mut rx) = server.split();
    assert_eq!(recv_vec(&mut rx), CONNECT);
    for i in 0..100u8 {
        tx.send(&[i; 100]).expect("send");
    }
    tx.flush().expect("flush");
    let mut ctrs = Vec::new();
    let mut datagrams = 0;
    let mut buf = [0u8; 2048];
    while ctrs.len() < 100 {
        let n = raw.recv(&mut buf).expect("datagram within 5 s");
        assert!(n <= 1472, "datagram of {n} bytes");
        datagrams += 1;
        let mut at = 0;
        while at < n {
            let len = usize::from(u16::from_le_bytes([buf[at], buf[at + 1]]));
            ctrs.push(u16::from_le_bytes([buf[at + 2], buf[at + 3]]));
            let idx = ctrs.len() - 1;
            assert_eq!(
                &buf[at + 4..at + 4 + len],
                &[u8::try_from(idx).expect("< 100"); 100]
            );
            at += 4 + len;
        }
    }
    // 104 bytes per frame: 14 frames fit 1472 bytes, so 100 packets need 8 datagrams.
    assert_eq!(datagrams, 8);
    assert_eq!(ctrs, (0..100).collect::<Vec<u16>>());
    assert_eq!(tx.stats().frames, 8);
    assert_eq!(tx.stats().packets, 100);
}

#[test]
fn queued_packets_leave_when_the_flush_interval_expires() {
    let server = EthServer::bind(local(Protocol::Udp, "127.0.0.1")).expect("bind");
    let raw = raw_udp_master(server.local_addr());
    let (mut tx, mut rx) = server.split();
    assert_eq!(recv_vec(&mut rx), CONNECT);
    let before = Instant::now();
    tx.send(&[0xAA; 10]).expect("send");
    let deadline = tx.flush_deadline().expect("a packet is queued");
    assert!(deadline >= before && deadline <= Instant::now() + Duration::from_millis(1));
    // Before the deadline nothing is written.
    tx.poll_flush(before).expect("poll");
    assert_eq!(tx.stats().frames, 0);
    raw.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 64];
    assert!(
        raw.recv(&mut buf).is_err(),
        "nothing may be sent before the deadline"
    );
    raw.set_nonblocking(false).expect("blocking");
    // At the deadline the segment leaves.
    tx.poll_flush(deadline).expect("poll");
    assert_eq!(tx.flush_deadline(), None);
    let n = raw.recv(&mut buf).expect("the flushed datagram");
    assert_eq!(
        &buf[..n],
        &[
            10, 0, 0, 0, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA
        ]
    );
    // A zero interval sends every packet at once.
    let server = EthServer::bind(ServerConfig {
        eth: EthConfig {
            flush_interval: Duration::ZERO,
            ..EthConfig::default()
        },
        ..local(Protocol::Udp, "127.0.0.1")
    })
    .expect("bind");
    let raw = raw_udp_master(server.local_addr());
    let (mut tx, mut rx) = server.split();
    assert_eq!(recv_vec(&mut rx), CONNECT);
    tx.send(&[1]).expect("send");
    assert_eq!(tx.flush_deadline(), None);
    assert_eq!(raw.recv(&mut buf).expect("sent at once"), 5);
}

/// A raw TCP "master" connected to a server whose receive half runs in the test.
fn raw_tcp(server: &EthServer) -> TcpStream {
    let s = TcpStream::connect(server.local_addr()).expect("connect raw");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

fn eth_frame(ctr: u16, packet: &[u8]) -> Vec<u8> {
    let mut f = u16::try_from(packet.len())
        .expect("short")
        .to_le_bytes()
        .to_vec();
    f.extend_from_slice(&ctr.to_le_bytes());
    f.extend_from_slice(packet);
    f
}

#[test]
fn tcp_reassembles_any_split_and_any_coalescing() {
    let server = EthServer::bind(local(Protocol::Tcp, "127.0.0.1")).expect("bind");
    let mut raw = raw_tcp(&server);
    let (_tx, mut rx) = server.split();
    let packets: Vec<Vec<u8>> = (0..200).map(|i| pattern(1 + (i * 37) % 1468, i)).collect();
    let stream: Vec<u8> = packets
        .iter()
        .enumerate()
        .flat_map(|(i, p)| eth_frame(u16::try_from(i).expect("< 200"), p))
        .collect();
    let writer = thread::spawn(move || {
        // Chunks of 1, 2, 3, … 97 bytes, then the rest at once.
        let mut at = 0;
        let mut size = 1;
        while at < stream.len() / 2 {
            let end = (at + size).min(stream.len());
            raw.write_all(&stream[at..end]).expect("write");
            raw.flush().expect("flush");
            at = end;
            size = size % 97 + 1;
        }
        raw.write_all(&stream[at..]).expect("write");
        raw
    });
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(&recv_vec(&mut rx), p, "packet {i}");
    }
    let stats = rx.stats();
    assert_eq!((stats.packets, stats.lost, stats.out_of_order), (200, 0, 0));
    drop(writer.join().expect("writer"));
    assert!(rx.recv(WAIT).expect_err("peer closed").is_disconnect());
}

#[test]
fn tcp_oversized_len_is_an_error_and_the_next_master_is_accepted() {
    let server = EthServer::bind(local(Protocol::Tcp, "127.0.0.1")).expect("bind");
    let handle = server.handle();
    let mut raw = raw_tcp(&server);
    let (_tx, mut rx) = server.split();
    raw.write_all(&eth_frame(0, &CONNECT)).expect("write");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    // LEN 60000 > 1468: rejected from the header alone, without waiting for 60000 bytes.
    raw.write_all(&[0x60, 0xEA, 1, 0, 0xFF]).expect("write");
    match rx.recv(WAIT) {
        Err(TransportError::Malformed { source, .. }) => {
            assert!(source.to_string().contains("60000"), "{source}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    // The slave closed that connection.
    let mut buf = [0u8; 16];
    assert_eq!(raw.read(&mut buf).expect("EOF"), 0);
    let mut next = raw_tcp_addr(handle.local_addr());
    next.write_all(&eth_frame(0, &CONNECT)).expect("write");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    assert_eq!(handle.stats().connections, 2);
    assert_eq!(handle.stats().refused, 0);
}

fn raw_tcp_addr(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect raw");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

#[test]
fn tcp_peer_closing_mid_frame_or_half_closing_is_reported() {
    let server = EthServer::bind(local(Protocol::Tcp, "127.0.0.1")).expect("bind");
    let addr = server.local_addr();
    let mut raw = raw_tcp(&server);
    let (_tx, mut rx) = server.split();
    raw.write_all(&[10, 0, 0, 0, 0xFF, 0x00]).expect("write");
    raw.shutdown(std::net::Shutdown::Write).expect("half-close");
    match rx.recv(WAIT) {
        Err(TransportError::Disconnected { reason, .. }) => {
            assert!(reason.contains("inside a frame (6 of 14 bytes"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // A clean half-close between frames is a plain disconnect.
    let mut raw = raw_tcp_addr(addr);
    raw.write_all(&eth_frame(0, &CONNECT)).expect("write");
    raw.shutdown(std::net::Shutdown::Write).expect("half-close");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    match rx.recv(WAIT) {
        Err(TransportError::Disconnected { reason, .. }) => {
            assert_eq!(reason, "the connection was closed");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

#[test]
fn tcp_second_master_is_refused_and_the_next_accepted_after_the_first_leaves() {
    let mut config = local(Protocol::Tcp, "127.0.0.1");
    config.refuse_grace = Duration::from_millis(20);
    let server = EthServer::bind(config).expect("bind");
    let handle = server.handle();
    let addr = server.local_addr();
    let slave = echo_slave(server, 2);
    let (mut tx1, mut rx1) = connect(addr, Protocol::Tcp, &EthConfig::default())
        .expect("first")
        .split();
    tx1.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx1), CONNECT);

    let (mut tx2, mut rx2) = connect(addr, Protocol::Tcp, &EthConfig::default())
        .expect("the kernel accepts; the slave refuses")
        .split();
    let _ = tx2.send_now(&CONNECT);
    // ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE, then the connection closes.
    assert_eq!(recv_vec(&mut rx2), [0xFE, 0x33]);
    assert!(rx2.recv(WAIT).expect_err("closed").is_disconnect());
    assert_eq!(handle.stats().refused, 1);

    drop((tx1, rx1));
    let (mut tx3, mut rx3) = connect(addr, Protocol::Tcp, &EthConfig::default())
        .expect("third")
        .split();
    tx3.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx3), CONNECT);
    assert_eq!(handle.stats().connections, 2);
    drop((tx3, rx3));
    let gone = slave.join().expect("slave");
    assert_eq!(gone.len(), 2, "{gone:?}");
}

#[test]
fn udp_latches_the_master_refuses_others_and_hands_over_after_disconnect() {
    let server = EthServer::bind(local(Protocol::Udp, "127.0.0.1")).expect("bind");
    let handle = server.handle();
    let addr = server.local_addr();
    let (mut stx, mut srx) = server.split();
    assert!(matches!(stx.send_now(&[0xFF]), Err(TransportError::NoPeer)));

    let (mut tx1, mut rx1) = connect(addr, Protocol::Udp, &EthConfig::default())
        .expect("first")
        .split();
    tx1.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    let first = handle.master().expect("latched");

    // Someone else's non-CONNECT traffic is ignored and counted; its CONNECT is refused.
    let (mut tx2, mut rx2) = connect(addr, Protocol::Udp, &EthConfig::default())
        .expect("second")
        .split();
    tx2.send_now(&[0xFD]).expect("send");
    tx2.send_now(&CONNECT).expect("send");
    tx1.send_now(&[0xFB]).expect("send");
    // The slave's receive half sorts the datagrams: two from the stranger, one from the master.
    assert_eq!(
        recv_vec(&mut srx),
        [0xFB],
        "only the master's packets arrive"
    );
    assert_eq!(recv_vec(&mut rx2), [0xFE, 0x33]);
    assert_eq!(srx.stats().foreign, 1);
    assert_eq!(handle.stats().refused, 1);
    assert_eq!(handle.master(), Some(first));

    // DISCONNECT releases the slave; its response still goes to the first master.
    tx1.send_now(&[0xFE]).expect("send");
    assert_eq!(recv_vec(&mut srx), [0xFE]);
    stx.send_now(&[0xFF]).expect("respond");
    assert_eq!(recv_vec(&mut rx1), [0xFF]);
    tx2.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    assert_ne!(handle.master(), Some(first));
    stx.send_now(&[0xFF, 0x01]).expect("respond");
    assert_eq!(recv_vec(&mut rx2), [0xFF, 0x01]);
    assert_eq!(handle.stats().connections, 2);
}

#[test]
fn udp_garbage_is_counted_not_fatal() {
    let server = EthServer::bind(local(Protocol::Udp, "127.0.0.1")).expect("bind");
    let raw = raw_udp_master(server.local_addr());
    let (_tx, mut rx) = server.split();
    assert_eq!(recv_vec(&mut rx), CONNECT);
    // LEN 0, a LEN beyond the datagram, a LEN beyond MAX, and a good frame after a bad one
    // in the same datagram (lost with the rest of that datagram).
    for junk in [
        &[0u8, 0, 1, 0, 0xFF][..],
        &[50, 0, 2, 0, 1, 2, 3],
        &[0xFF, 0xFF, 3, 0, 1],
        &[1, 0, 4, 0],
    ] {
        raw.send(junk).expect("send");
    }
    raw.send(&eth_frame(5, &[0xFD])).expect("send");
    assert_eq!(recv_vec(&mut rx), [0xFD]);
    let stats = rx.stats();
    assert_eq!(stats.malformed, 4);
    assert_eq!(stats.lost, 4, "counters 1–4 never arrived as packets");
}

#[test]
fn client_errors_say_what_to_check() {
    // Bind and drop a listener so the port is known to be closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let err = connect(addr, Protocol::Tcp, &EthConfig::default()).expect_err("closed port");
    assert!(err.to_string().contains("nothing listens there"), "{err}");
    let (mut tx, mut rx) = connect(addr, Protocol::Udp, &EthConfig::default())
        .expect("UDP has no handshake")
        .split();
    tx.send_now(&CONNECT).expect("the first datagram leaves");
    let err = rx.recv(WAIT).expect_err("ICMP port unreachable");
    assert!(
        err.to_string().contains("nothing listens on its port"),
        "{err}"
    );
    let bad = EthConfig {
        max_datagram: 10,
        ..EthConfig::default()
    };
    assert!(matches!(
        connect(addr, Protocol::Udp, &bad),
        Err(TransportError::Config(_))
    ));
}

#[test]
fn a_master_that_stops_reading_stalls_the_slave_within_the_send_timeout() {
    let config = ServerConfig {
        eth: EthConfig {
            send_timeout: Duration::from_millis(100),
            socket_buffer: Some(16 * 1024),
            ..EthConfig::default()
        },
        ..local(Protocol::Tcp, "127.0.0.1")
    };
    let server = EthServer::bind(config).expect("bind");
    let mut raw = raw_tcp(&server);
    let (mut tx, mut rx) = server.split();
    raw.write_all(&eth_frame(0, &CONNECT)).expect("write");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    let started = Instant::now();
    let mut result = Ok(());
    // The kernel buffers at most a few MiB; 100k packets of 1 KiB exceed them.
    for _ in 0..100_000 {
        result = tx.send(&[0x55; 1024]);
        if result.is_err() {
            break;
        }
    }
    match result {
        Err(TransportError::Stalled { waited, .. }) => {
            assert_eq!(waited, Duration::from_millis(100));
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    assert!(started.elapsed() < WAIT);
    assert!(tx.stats().dropped > 0);
    // The slave closed the stalled connection; its receive half reports the master gone.
    assert!(rx.recv(WAIT).expect_err("closed").is_disconnect());
}

/// Relays UDP between a master and a slave; drops slave→master datagrams by `plan`.
/// Returns the relay's address and a channel of the dropped datagrams' packet counts.
fn faulty_relay(slave: SocketAddr, mut plan: FaultPlan) -> (SocketAddr, mpsc::Receiver<usize>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("relay bind");
    let addr = sock.local_addr().expect("relay addr");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let (dropped_tx, dropped_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut master = None;
        let mut buf = [0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from == slave {
                let Some(m) = master else { continue };
                if plan.next_fault(n) == Fault::Drop {
                    let frames = xcp_proto::tl::eth::packets(&buf[..n], 65535).count();
                    if dropped_tx.send(frames).is_err() {
                        return;
                    }
                } else {
                    let _ = sock.send_to(&buf[..n], m);
                }
            } else {
                master = Some(from);
                let _ = sock.send_to(&buf[..n], slave);
            }
        }
    });
    (addr, dropped_rx)
}

#[test]
fn counter_gaps_count_exactly_the_packets_in_dropped_datagrams() {
    let server = EthServer::bind(local(Protocol::Udp, "127.0.0.1")).expect("bind");
    let slave_addr = server.local_addr();
    let (mut stx, mut srx) = server.split();
    let plan = FaultPlan::new(FaultConfig::seeded(42).drop(0.2));
    let (relay, dropped) = faulty_relay(slave_addr, plan);
    let (mut tx, mut rx) = connect(relay, Protocol::Udp, &EthConfig::default())
        .expect("connect")
        .split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    // 1000 DTOs of 60 bytes, 23 per datagram, and a final marker the relay may also drop.
    for i in 0..1000u16 {
        let mut dto = vec![0x01; 60];
        dto[1..3].copy_from_slice(&i.to_le_bytes());
        stx.send(&dto).expect("send");
    }
    stx.flush().expect("flush");
    let mut received = 0u64;
    while let Some(p) = rx.recv(Duration::from_millis(300)).expect("recv") {
        assert_eq!(p.len(), 60);
        received += 1;
    }
    let lost_in_relay: usize = dropped.try_iter().sum();
    let stats = rx.stats();
    assert!(
        lost_in_relay > 0,
        "seed 42 at 20 % drops some of 44 datagrams"
    );
    assert_eq!(received + lost_in_relay as u64, 1000);
    // Gaps are seen only before the last datagram that arrived.
    assert!(stats.lost <= lost_in_relay as u64);
    assert!(
        stats.lost + 23 >= lost_in_relay as u64,
        "{stats:?} vs {lost_in_relay}"
    );
    assert_eq!(stats.packets, received);
}

#[test]
fn discovery_packets_round_trip_and_reject_garbage() {
    let request = discovery::SlaveIdRequest {
        response: "127.0.0.1:40000".parse().expect("literal"),
    };
    let bytes = request.emit();
    assert_eq!(&bytes[..8], &[0xF2, 0xFF, 0x40, 0x9C, 127, 0, 0, 1]);
    assert_eq!(discovery::SlaveIdRequest::parse(&bytes), Ok(request));
    assert!(discovery::SlaveIdRequest::parse(&bytes[..20]).is_err());
    let mut v6 = bytes;
    v6[20] = 1;
    assert!(discovery::SlaveIdRequest::parse(&v6).is_err());

    let id = discovery::SlaveId {
        addr: "192.168.0.7".parse().expect("literal"),
        port: 5555,
        tcp: true,
        udp: false,
        busy: true,
        resources: xcp_proto::Resources(0x15),
        id: b"ecu.a2l".to_vec(),
    };
    let packet = id.emit();
    assert_eq!(packet.len(), 31);
    assert_eq!(&packet[16..24], &[0xB3, 0x15, 0x08, 0x15, 7, 0, 0, 0]);
    assert_eq!(discovery::SlaveId::parse(&packet), Ok(id));
    assert!(
        discovery::SlaveId::parse(&packet[..30]).is_err(),
        "truncated identification"
    );
    let mut bad = packet.clone();
    bad[20] = 0xFF;
    bad[23] = 0xFF;
    assert!(
        discovery::SlaveId::parse(&bad).is_err(),
        "huge identification length"
    );

    let from: SocketAddr = "127.0.0.1:1234".parse().expect("literal");
    let answer = |_: &[u8]| discovery::SlaveId::parse(&packet).expect("valid");
    let framed = eth_frame(0, &bytes);
    let (reply, to) = discovery::answer_for(&framed, from, &|| answer(&[])).expect("answered");
    assert_eq!(to, "127.0.0.1:40000".parse().expect("literal"));
    assert_eq!(&reply[4..], &packet[..]);
    assert!(discovery::answer_for(&framed[..10], from, &|| answer(&[])).is_none());
    assert!(discovery::answer_for(&eth_frame(0, &[0xF2, 0xFE]), from, &|| answer(&[])).is_none());
}

#[test]
fn discovery_finds_a_slave_over_multicast_on_loopback() {
    let server = EthServer::bind(local(Protocol::Tcp, "127.0.0.1")).expect("bind");
    let handle: ServerHandle = server.handle();
    let config = discovery::DiscoveryConfig {
        port: 0,
        ..discovery::DiscoveryConfig::default()
    };
    let responder = match discovery::Responder::start(config, move || {
        discovery::SlaveId::for_server(&handle, b"xcpkit-test", xcp_proto::Resources(0x05))
    }) {
        Ok(r) => r,
        Err(e) => {
            println!(
                "multicast on lo is not available here ({e}); only the packet handling was tested"
            );
            return;
        }
    };
    let config = discovery::DiscoveryConfig {
        port: responder.port(),
        ..config
    };
    let found = match discovery::scan(config, Duration::from_millis(500)) {
        Ok(found) => found,
        Err(e) => {
            println!(
                "multicast on lo is not available here ({e}); only the packet handling was tested"
            );
            return;
        }
    };
    if found.is_empty() {
        println!("no multicast delivery on lo here; only the packet handling was tested");
        return;
    }
    println!("multicast discovery on lo: found {} slave(s)", found.len());
    let slave = &found[0].slave;
    assert_eq!(slave.id, b"xcpkit-test");
    assert_eq!(slave.port, server.local_addr().port());
    assert_eq!(slave.addr, std::net::Ipv4Addr::LOCALHOST);
    assert!(slave.tcp && !slave.udp && !slave.busy);
    assert_eq!(responder.answered(), 1);
}

#[test]
fn fault_injection_wraps_an_ethernet_client() {
    let server = EthServer::bind(local(Protocol::Tcp, "127.0.0.1")).expect("bind");
    let addr = server.local_addr();
    let (mut stx, mut srx) = server.split();
    let client = connect(addr, Protocol::Tcp, &EthConfig::default()).expect("connect");
    let faults = FaultConfig::seeded(9)
        .at(1, Fault::Drop)
        .at(2, Fault::Duplicate);
    let (mut tx, mut rx) = xcp_transport::FaultInjecting::new(client, faults).split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    for i in 0..4u8 {
        stx.send(&[0xFF, i]).expect("send");
    }
    stx.flush().expect("flush");
    let got: Vec<Vec<u8>> = (0..4).map(|_| recv_vec(&mut rx)).collect();
    assert_eq!(got, [[0xFF, 0], [0xFF, 2], [0xFF, 2], [0xFF, 3]]);
    assert_eq!(rx.faults().dropped, 1);
    // The transport itself lost nothing: the counter saw every packet.
    assert_eq!(rx.stats().lost, 0);
}

#[test]
fn tcp_packs_into_large_writes_and_splits_at_the_segment_size() {
    let server = EthServer::bind(ServerConfig {
        eth: EthConfig {
            tcp_segment: 4096,
            ..EthConfig::default()
        },
        ..local(Protocol::Tcp, "127.0.0.1")
    })
    .expect("bind");
    let mut raw = raw_tcp(&server);
    let (mut tx, mut rx) = server.split();
    raw.write_all(&eth_frame(0, &CONNECT)).expect("write");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    for i in 0..100u8 {
        tx.send(&[i; 100]).expect("send");
    }
    tx.flush().expect("flush");
    // 104 bytes per frame: 39 frames per 4096-byte write, so 100 packets take 3 writes.
    assert_eq!(tx.stats().frames, 3);
    let mut all = vec![0u8; 100 * 104];
    raw.read_exact(&mut all).expect("all frames");
    for (i, frame) in all.chunks(104).enumerate() {
        let i = u8::try_from(i).expect("< 100");
        assert_eq!(&frame[..4], &[100, 0, i, 0]);
        assert_eq!(&frame[4..], &[i; 100]);
    }
}

#[test]
fn a_zero_timeout_polls_the_socket_once() {
    let server = EthServer::bind(local(Protocol::Udp, "127.0.0.1")).expect("bind");
    let addr = server.local_addr();
    let (mut stx, mut srx) = server.split();
    let (mut tx, mut rx) = connect(addr, Protocol::Udp, &EthConfig::default())
        .expect("connect")
        .split();
    assert_eq!(rx.recv(Duration::ZERO).expect("poll"), None);
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut srx), CONNECT);
    // Loopback UDP queues the datagram before `send` returns, so one poll finds it.
    stx.send_now(&[0xFF, 7]).expect("send");
    assert_eq!(rx.recv(Duration::ZERO).expect("poll"), Some(&[0xFF, 7][..]));
}

/// With `spin` set on both ends, packets of every size still arrive, an idle receive still
/// times out, and bulk sends from the side whose receiver polls (its socket is non-blocking
/// meanwhile) still go out whole.
fn spinning_ends(protocol: Protocol) {
    let spin = Duration::from_micros(200);
    // UDP has no end of link the echo slave could see; 1000 datagrams of 1 KB fit the
    // socket buffers, so none is dropped on loopback.
    let (masters, count) = match protocol {
        Protocol::Tcp => (1, 3000),
        Protocol::Udp => (0, 1000),
    };
    let mut config = local(protocol, "127.0.0.1");
    config.eth.spin = spin;
    let server = EthServer::bind(config).expect("bind");
    let addr = server.local_addr();
    let slave = echo_slave(server, masters);
    let eth = EthConfig {
        spin,
        ..EthConfig::default()
    };
    let (mut tx, mut rx) = connect(addr, protocol, &eth).expect("connect").split();
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    let t0 = Instant::now();
    assert!(rx.recv(Duration::from_millis(20)).expect("idle").is_none());
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_millis(20) && idle < Duration::from_secs(2),
        "{idle:?}"
    );
    // A reader thread keeps polling while this thread sends a burst bigger than the
    // socket buffers can take at once.
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < count && start.elapsed() < Duration::from_secs(20) {
            if let Some(p) = rx.recv(Duration::from_millis(100)).expect("receive") {
                got.push(p.to_vec());
            }
        }
        got
    });
    let sent: Vec<Vec<u8>> = (0..count).map(|i| pattern(1000, i)).collect();
    for p in &sent {
        tx.send_now(p).expect("send while the receiver spins");
    }
    let got = reader.join().expect("reader");
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "every echoed packet in order");
    drop(tx);
    slave.join().expect("slave thread");
}

#[test]
fn tcp_spinning_receivers_deliver_time_out_and_never_break_sending() {
    spinning_ends(Protocol::Tcp);
}

#[test]
fn udp_spinning_receivers_deliver_time_out_and_never_break_sending() {
    spinning_ends(Protocol::Udp);
}

/// `poll_recv` (a master's command polling for its response) reads what has arrived without
/// waiting, in order with what `recv` and `try_recv` hand out, and leaves the socket ready for
/// a blocking `recv` that waits its full timeout.
fn polling_ends(protocol: Protocol, spin: Duration) {
    let (masters, count) = match protocol {
        Protocol::Tcp => (1, 600),
        Protocol::Udp => (0, 300),
    };
    let server = EthServer::bind(local(protocol, "127.0.0.1")).expect("bind");
    let addr = server.local_addr();
    let slave = echo_slave(server, masters);
    let eth = EthConfig {
        spin,
        ..EthConfig::default()
    };
    let (mut tx, mut rx) = connect(addr, protocol, &eth).expect("connect").split();
    // The slave takes a UDP master from its CONNECT.
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx), CONNECT);
    for _ in 0..50 {
        assert!(rx.poll_recv().expect("poll of an empty link").is_none());
    }
    let sent: Vec<Vec<u8>> = (0..count).map(|i| pattern(40 + i % 200, i)).collect();
    let mut got = Vec::new();
    let start = Instant::now();
    for (i, p) in sent.iter().enumerate() {
        tx.send_now(p).expect("send");
        // Every third packet is awaited by a blocking receive, the others by polling.
        if i % 3 == 0 {
            got.push(recv_vec(&mut rx));
        }
        loop {
            match rx.poll_recv().expect("poll") {
                Some(p) => got.push(p.to_vec()),
                None if got.len() > i => break,
                None => assert!(start.elapsed() < WAIT, "packet {i} never polled"),
            }
        }
        while let Some(p) = rx.try_recv().expect("buffered") {
            got.push(p.to_vec());
        }
    }
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "every echoed packet once, in order");
    let t0 = Instant::now();
    assert!(rx.recv(Duration::from_millis(30)).expect("idle").is_none());
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_millis(30) && idle < Duration::from_secs(2),
        "a blocking receive after polling waits its timeout: {idle:?}"
    );
    tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv_vec(&mut rx), CONNECT, "and still receives");
    drop((tx, rx));
    slave.join().expect("slave thread");
}

#[test]
fn polling_receivers_never_wait_and_leave_blocking_receives_intact() {
    for spin in [Duration::ZERO, Duration::from_micros(50)] {
        polling_ends(Protocol::Tcp, spin);
        polling_ends(Protocol::Udp, spin);
    }
}
