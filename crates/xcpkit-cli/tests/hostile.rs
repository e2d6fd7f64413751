//! `xcpkit ecu` under hostile traffic: thousands of connections and datagrams that break the
//! framing, send commands before CONNECT, throw random memory and DAQ commands at a session
//! or vanish in the middle of DAQ. After each phase a well-behaved master must still CONNECT,
//! see the 1 ms counter move and DISCONNECT, over TCP, over UDP and with both served at once;
//! the ECU's resident memory must stay bounded.
//!
//! Seeded: the seed is printed, and `XCPKIT_HOSTILE_SEED=N` replays a run.
#![allow(
    clippy::print_stdout,
    reason = "the seed and the measured counts go into the test output"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xcp_proto::{Address, Command as Cmd, SessionParams};
use xcp_transport::{PacketRx, PacketTx, Transport};
use xcp_transport_eth::{EthConfig, Protocol, connect};

const WAIT: Duration = Duration::from_secs(20);
/// Longest a well-behaved master keeps trying to CONNECT: a UDP master that vanished holds
/// the slave for the ECU's 5 s takeover time.
const GOOD_MASTER_PATIENCE: Duration = Duration::from_secs(15);
/// Growth of the ECU's resident memory, from after the first good master to the end, that
/// counts as bounded (the work is thousands of connections; a leak of a few hundred bytes
/// each would pass unnoticed only below this).
const RSS_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

/// SplitMix64: a small seeded generator, so a failing run replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A length in `0..n`.
    fn len(&mut self, n: u64) -> usize {
        usize::try_from(self.below(n)).unwrap_or(0)
    }
    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// An Ethernet frame: LEN, CTR (Intel order), packet.
fn frame(ctr: u16, packet: &[u8]) -> Vec<u8> {
    let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
    let mut v = len.to_le_bytes().to_vec();
    v.extend_from_slice(&ctr.to_le_bytes());
    v.extend_from_slice(packet);
    v
}

fn encode(cmd: Cmd<'_>) -> Vec<u8> {
    let mut buf = [0u8; 300];
    let n = cmd
        .emit(&mut buf, &SessionParams::default())
        .expect("a command the test builds encodes");
    buf[..n].to_vec()
}

/// What the hostile phases did, for the summary line.
#[derive(Default)]
struct Counts {
    tcp_connections: u64,
    datagrams: u64,
    packets: u64,
    good_masters: u64,
}

struct Ecu {
    child: Child,
    tcp: Option<SocketAddr>,
    udp: Option<SocketAddr>,
    counter: u32,
}

impl Ecu {
    fn start(args: &[&str], name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xcpkit-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let a2l = dir.join(format!("{name}.a2l"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
            .arg("ecu")
            .args(args)
            .arg("--a2l-out")
            .arg(&a2l)
            .stdout(Stdio::piped())
            .spawn()
            .expect("xcpkit ecu starts");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut ecu = Self {
            child,
            tcp: None,
            udp: None,
            counter: 0,
        };
        loop {
            let line = lines
                .recv_timeout(WAIT)
                .expect("the ECU prints its addresses");
            if let Some(a) = line.strip_prefix("listening on tcp://") {
                ecu.tcp = Some(a.parse().expect("an address"));
            } else if let Some(a) = line.strip_prefix("listening on udp://") {
                ecu.udp = Some(a.parse().expect("an address"));
            } else if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        // The address as the A2L gives it (a line scan: the file's own loading is tested
        // elsewhere).
        let text = std::fs::read_to_string(&a2l).expect("--a2l-out wrote the A2L");
        let after = text
            .split("/begin MEASUREMENT counter_1ms ")
            .nth(1)
            .expect("counter_1ms in the A2L");
        let hex = after
            .lines()
            .find_map(|l| l.trim().strip_prefix("ECU_ADDRESS 0x"))
            .expect("its ECU_ADDRESS");
        ecu.counter = u32::from_str_radix(hex.trim(), 16).expect("a hex address");
        ecu
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status of the ECU");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    fn assert_alive(&mut self, phase: &str) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!("after {phase}: the ECU exited ({status})");
        }
    }

    /// A well-behaved master: CONNECT (retrying while the slave is still held), the 1 ms
    /// counter read twice and seen to move, DISCONNECT.
    fn good_master(&mut self, protocol: Protocol, phase: &str, counts: &mut Counts) {
        self.assert_alive(phase);
        let addr = match protocol {
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
        }
        .expect("the ECU serves this protocol");
        let start = Instant::now();
        let (mut tx, mut rx) = loop {
            let attempt = connect(addr, protocol, &EthConfig::default());
            let (mut tx, mut rx) = attempt
                .unwrap_or_else(|e| panic!("after {phase}: no {protocol} link: {e}"))
                .split();
            tx.send_now(&encode(Cmd::Connect { mode: 0 }))
                .expect("send CONNECT");
            let answer = rx.recv(Duration::from_millis(500));
            if let Ok(Some(r)) = answer
                && r.first() == Some(&0xFF)
            {
                break (tx, rx);
            }
            assert!(
                start.elapsed() < GOOD_MASTER_PATIENCE,
                "after {phase}: CONNECT over {protocol} refused or unanswered for {GOOD_MASTER_PATIENCE:?}: {:?}",
                answer.map(|o| o.map(<[u8]>::to_vec))
            );
            // Paces the next attempt: a late answer to this one is read and dropped.
            let _ = rx.recv(Duration::from_millis(100));
        };
        // An earlier attempt's socket may have had the same port (the OS reuses them), and
        // the slave may still answer its CONNECT: let such late answers arrive and drop them.
        let quiet_by = Instant::now() + Duration::from_secs(2);
        while Instant::now() < quiet_by
            && matches!(rx.recv(Duration::from_millis(100)), Ok(Some(_)))
        {}
        let mut read = || {
            tx.send_now(&encode(Cmd::ShortUpload {
                count: 4,
                addr: Address::new(1, self.counter),
            }))
            .expect("send");
            // DTOs of an earlier session never reach a new master; skip anything but the
            // answer to be safe against EV packets.
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let p = rx
                    .recv(deadline.saturating_duration_since(Instant::now()))
                    .expect("receive")
                    .unwrap_or_else(|| panic!("after {phase}: SHORT_UPLOAD unanswered"))
                    .to_vec();
                if p[0] == 0xFF {
                    assert_eq!(
                        p.len(),
                        5,
                        "after {phase}: not a SHORT_UPLOAD answer: {p:02x?}"
                    );
                    return u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
                }
                assert_ne!(p[0], 0xFE, "after {phase}: SHORT_UPLOAD refused: {p:02x?}");
            }
        };
        // The 1 ms task runs: its counter moves within a second of polling.
        let first = read();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut second = read();
        while second == first && Instant::now() < deadline {
            second = read();
        }
        assert_ne!(second, first, "after {phase}: counter_1ms stands still");
        tx.send_now(&encode(Cmd::Disconnect)).expect("DISCONNECT");
        let _ = rx.recv(Duration::from_secs(2));
        counts.good_masters += 1;
    }
}

impl Drop for Ecu {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::yield_now();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hostile packets of one kind, as XCP packets (framed by the caller).
fn pre_connect_commands(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0xC0..=0xFEu8)
        .map(|code| {
            let mut p = vec![code];
            let n = rng.len(16);
            p.extend(rng.bytes(n));
            p
        })
        .collect()
}

/// Commands a confused master sends inside a session: memory access at random addresses
/// and extensions, DAQ commands in any order with any numbers, level-1 and transport-layer
/// sub-commands.
fn session_chaos(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let addr = match rng.below(3) {
            0 => u32::try_from(rng.below(1 << 32)).unwrap_or(0),
            1 => u32::try_from(rng.below(0x1_0000)).unwrap_or(0),
            _ => 0x8000_0000 | u32::try_from(rng.below(0x1_0000)).unwrap_or(0),
        };
        let ext = u8::try_from(rng.below(4)).unwrap_or(0);
        let small = u8::try_from(1 + rng.below(8)).unwrap_or(1);
        let p = match rng.below(12) {
            0 => encode(Cmd::ShortUpload {
                count: small,
                addr: Address::new(ext, addr),
            }),
            1 => encode(Cmd::SetMta {
                addr: Address::new(ext, addr),
            }),
            2 => vec![0xF5, u8::try_from(rng.below(300)).unwrap_or(255)], // UPLOAD
            3 => {
                // DOWNLOAD n bytes (sometimes announcing more than follow).
                let mut p = vec![0xF0, small];
                let n = rng.len(7);
                p.extend(rng.bytes(n));
                p
            }
            // FREE_DAQ, ALLOC_DAQ, ALLOC_ODT, ALLOC_ODT_ENTRY, SET_DAQ_PTR, WRITE_DAQ,
            // SET_DAQ_LIST_MODE, START_STOP_DAQ_LIST, START_STOP_SYNCH, GET_DAQ_LIST_INFO,
            // CLEAR_DAQ_LIST, with random fields.
            4..=9 => {
                let codes = [
                    0xD6, 0xD5, 0xD4, 0xD3, 0xE2, 0xE1, 0xE0, 0xDE, 0xDD, 0xD8, 0xE3,
                ];
                let code = codes[rng.len(codes.len() as u64)];
                let mut p = vec![code];
                let n = rng.len(8);
                p.extend(rng.bytes(n));
                p
            }
            10 => {
                // Level-1 commands (0xC0) with any sub-command.
                let mut p = vec![0xC0];
                let n = 1 + rng.len(7);
                p.extend(rng.bytes(n));
                p
            }
            _ => {
                // Transport-layer commands (0xF2) with any sub-command.
                let mut p = vec![0xF2];
                let n = 1 + rng.len(7);
                p.extend(rng.bytes(n));
                p
            }
        };
        out.push(p);
        if rng.below(8) == 0 {
            out.push(vec![0xFC]); // SYNCH ends whatever block was opened
        }
    }
    out
}

/// A valid DAQ list on the 1 ms event measuring `counter`, started: the master then vanishes.
fn daq_setup(counter: u32) -> Vec<Vec<u8>> {
    let mut v = vec![
        vec![0xD6],                // FREE_DAQ
        vec![0xD5, 0, 1, 0],       // ALLOC_DAQ 1
        vec![0xD4, 0, 0, 0, 1],    // ALLOC_ODT list 0: 1
        vec![0xD3, 0, 0, 0, 0, 1], // ALLOC_ODT_ENTRY list 0, odt 0: 1
        vec![0xE2, 0, 0, 0, 0, 0], // SET_DAQ_PTR 0/0/0
    ];
    let mut write = vec![0xE1, 0xFF, 4, 1];
    write.extend_from_slice(&counter.to_le_bytes());
    v.push(write); // WRITE_DAQ 4 bytes at ext 1
    v.push(vec![0xE0, 0x10, 0, 0, 0, 0, 1, 0]); // SET_DAQ_LIST_MODE timestamp, event 0
    v.push(vec![0xDE, 2, 0, 0]); // START_STOP_DAQ_LIST select 0
    v.push(vec![0xDD, 1]); // START_STOP_SYNCH start selected
    v
}

/// Reads (and drops) what the slave sends for a moment, so its answers never block it.
fn drain_tcp(s: &mut TcpStream, for_: Duration) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(2)));
    let deadline = Instant::now() + for_;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(0) = std::io::Read::read(s, &mut sink) {
            return;
        }
    }
}

fn tcp_phases(ecu: &mut Ecu, rng: &mut Rng, scale: usize, counts: &mut Counts) {
    let addr = ecu.tcp.expect("TCP");
    let mut hostile = |name: &str, ecu: &mut Ecu, make: &mut dyn FnMut(&mut Rng) -> Vec<u8>| {
        for _ in 0..scale {
            let mut s = TcpStream::connect(addr)
                .unwrap_or_else(|e| panic!("during {name}: the ECU stopped listening: {e}"));
            let bytes = make(rng);
            let _ = s.write_all(&bytes);
            counts.tcp_connections += 1;
        }
        ecu.good_master(Protocol::Tcp, name, counts);
    };
    hostile("TCP random bytes", ecu, &mut |r| {
        let n = usize::try_from(1 + r.below(512)).unwrap_or(1);
        r.bytes(n)
    });
    hostile("TCP LEN 0", ecu, &mut |r| {
        let mut f = frame(0, &[]);
        let n = r.len(8);
        f.extend(r.bytes(n));
        f
    });
    hostile("TCP LEN 65535 then close", ecu, &mut |r| {
        let mut f = vec![0xFF, 0xFF, 0, 0];
        let n = r.len(64);
        f.extend(r.bytes(n));
        f
    });
    hostile("TCP LEN above MAX_CTO", ecu, &mut |r| {
        let n = usize::try_from(256 + r.below(2000)).unwrap_or(256);
        let mut p = vec![0xFF, 0];
        p.extend(r.bytes(n));
        frame(0, &p)
    });
    hostile("TCP truncated frame", ecu, &mut |r| {
        let mut f = frame(0, &[0xFF, 0, 0, 0, 0, 0, 0, 0]);
        f.truncate(r.len(11));
        f
    });
    hostile("TCP commands before CONNECT", ecu, &mut |r| {
        let mut out = Vec::new();
        for (i, p) in pre_connect_commands(r).iter().enumerate() {
            out.extend(frame(u16::try_from(i).unwrap_or(0), p));
        }
        out
    });
    // In a session: one connection per round, answers read and dropped.
    for round in 0..scale / 10 {
        let mut s = TcpStream::connect(addr).expect("the ECU listens");
        let mut out = frame(0, &encode(Cmd::Connect { mode: 0 }));
        for (i, p) in session_chaos(rng, 60).iter().enumerate() {
            out.extend(frame(u16::try_from(i + 1).unwrap_or(0), p));
            counts.packets += 1;
        }
        let _ = s.write_all(&out);
        drain_tcp(
            &mut s,
            Duration::from_millis(if round % 10 == 0 { 20 } else { 2 }),
        );
        counts.tcp_connections += 1;
    }
    ecu.good_master(Protocol::Tcp, "TCP random commands in a session", counts);
    for _ in 0..scale / 50 {
        let mut s = TcpStream::connect(addr).expect("the ECU listens");
        let mut out = frame(0, &encode(Cmd::Connect { mode: 0 }));
        for (i, p) in daq_setup(ecu.counter).iter().enumerate() {
            out.extend(frame(u16::try_from(i + 1).unwrap_or(0), p));
        }
        let _ = s.write_all(&out);
        drain_tcp(&mut s, Duration::from_millis(30));
        counts.tcp_connections += 1;
        // Vanishes: closed without DISCONNECT while DAQ runs.
    }
    ecu.good_master(Protocol::Tcp, "TCP masters vanishing mid-DAQ", counts);
}

fn udp_phases(ecu: &mut Ecu, rng: &mut Rng, scale: usize, counts: &mut Counts) {
    let addr = ecu.udp.expect("UDP");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let mut hostile = |name: &str, ecu: &mut Ecu, make: &mut dyn FnMut(&mut Rng) -> Vec<u8>| {
        for _ in 0..scale {
            let d = make(rng);
            socket
                .send_to(&d, addr)
                .unwrap_or_else(|e| panic!("during {name}: sending failed: {e}"));
            counts.datagrams += 1;
        }
        ecu.good_master(Protocol::Udp, name, counts);
    };
    hostile("UDP random bytes", ecu, &mut |r| {
        let n = usize::try_from(1 + r.below(1400)).unwrap_or(1);
        r.bytes(n)
    });
    hostile("UDP LEN 0", ecu, &mut |_| frame(0, &[]));
    hostile("UDP LEN 65535", ecu, &mut |r| {
        let mut f = vec![0xFF, 0xFF, 0, 0];
        let n = r.len(64);
        f.extend(r.bytes(n));
        f
    });
    hostile("UDP LEN above MAX_CTO", ecu, &mut |r| {
        let n = usize::try_from(256 + r.below(1000)).unwrap_or(256);
        let mut p = vec![0xFF, 0];
        p.extend(r.bytes(n));
        frame(0, &p)
    });
    hostile("UDP commands before CONNECT", ecu, &mut |r| {
        let cmds = pre_connect_commands(r);
        let i = r.len(cmds.len() as u64);
        frame(0, &cmds[i])
    });
    // In a session, from one address (a UDP master holds the slave until it disconnects or
    // falls silent), ending with DISCONNECT.
    let master = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    master
        .set_read_timeout(Some(Duration::from_millis(1)))
        .expect("timeout");
    let mut sink = [0u8; 2048];
    master
        .send_to(&frame(0, &encode(Cmd::Connect { mode: 0 })), addr)
        .expect("send");
    for (i, p) in session_chaos(rng, scale * 2).iter().enumerate() {
        master
            .send_to(&frame(u16::try_from(i % 65536).unwrap_or(0), p), addr)
            .expect("send");
        counts.datagrams += 1;
        counts.packets += 1;
        while master.recv(&mut sink).is_ok() {}
    }
    master
        .send_to(&frame(0, &encode(Cmd::Disconnect)), addr)
        .expect("send");
    ecu.good_master(Protocol::Udp, "UDP random commands in a session", counts);
    // A master that starts DAQ and vanishes: the next one takes over after the ECU's
    // takeover time.
    let vanishing = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    vanishing
        .send_to(&frame(0, &encode(Cmd::Connect { mode: 0 })), addr)
        .expect("send");
    for (i, p) in daq_setup(ecu.counter).iter().enumerate() {
        vanishing
            .send_to(&frame(u16::try_from(i + 1).unwrap_or(0), p), addr)
            .expect("send");
        counts.datagrams += 1;
    }
    // It vanishes once the ECU sends it DTOs (or after 2 s at the latest).
    vanishing
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut sink = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(n) = vanishing.recv(&mut sink)
            && n > 4
            && sink[4] < 0xC0
        {
            break;
        }
    }
    drop(vanishing);
    ecu.good_master(Protocol::Udp, "a UDP master vanishing mid-DAQ", counts);
}

fn seed() -> u64 {
    let seed = std::env::var("XCPKIT_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0027);
    println!("seed {seed} (XCPKIT_HOSTILE_SEED={seed} replays this run)");
    seed
}

fn run(args: &[&str], name: &str, tcp: bool, udp: bool) {
    let mut rng = Rng(seed());
    let mut counts = Counts::default();
    let mut ecu = Ecu::start(args, name);
    let first = if tcp { Protocol::Tcp } else { Protocol::Udp };
    ecu.good_master(first, "start", &mut counts);
    let rss_start = ecu.rss_kib();
    let scale = 300;
    if tcp {
        tcp_phases(&mut ecu, &mut rng, scale, &mut counts);
    }
    if udp {
        udp_phases(&mut ecu, &mut rng, scale, &mut counts);
    }
    if tcp && udp {
        // Both again, interleaved: hostile TCP while a UDP master is served, and back.
        tcp_phases(&mut ecu, &mut rng, scale / 3, &mut counts);
        ecu.good_master(
            Protocol::Udp,
            "TCP traffic on the joined transports",
            &mut counts,
        );
        udp_phases(&mut ecu, &mut rng, scale / 3, &mut counts);
        ecu.good_master(
            Protocol::Tcp,
            "UDP traffic on the joined transports",
            &mut counts,
        );
    }
    let rss_end = ecu.rss_kib();
    println!(
        "{name}: {} hostile TCP connections, {} hostile datagrams, {} random in-session commands, {} good masters served; RSS {rss_start} KiB -> {rss_end} KiB",
        counts.tcp_connections, counts.datagrams, counts.packets, counts.good_masters
    );
    assert!(
        rss_end <= rss_start + RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
    assert!(counts.tcp_connections + counts.datagrams >= 1000);
}

#[test]
fn hostile_tcp_masters_never_take_the_ecu_off_the_network() {
    run(&["--tcp", "127.0.0.1:0"], "tcp", true, false);
}

#[test]
fn hostile_udp_masters_never_take_the_ecu_off_the_network() {
    run(&["--udp", "127.0.0.1:0"], "udp", false, true);
}

#[test]
fn hostile_masters_on_tcp_and_udp_at_once_never_take_the_ecu_off_the_network() {
    run(
        &["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"],
        "both",
        true,
        true,
    );
}
