//! The send and receive halves shared by client and server.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use xcp_proto::DecodeError;
use xcp_proto::tl::Framing;
use xcp_proto::tl::eth::{CtrTracker, HEADER_LEN, Packer};
use xcp_transport::{PacketRx, PacketTx, RxStats, TransportError, TxStats};

use crate::{EthConfig, Protocol};

/// Where a server's send half writes: the current master, which the receive half installs.
#[derive(Debug)]
pub(crate) enum Target {
    Tcp(TcpStream),
    Udp(Arc<UdpSocket>, SocketAddr),
}

/// The current master of a server, shared by its two halves.
#[derive(Debug, Default)]
pub(crate) struct PeerSlot {
    generation: AtomicU64,
    target: Mutex<Option<(u64, Arc<Target>)>>,
}

impl PeerSlot {
    pub(crate) fn set(&self, target: Option<Target>) {
        let mut slot = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        *slot = target.map(|t| (generation, Arc::new(t)));
        self.generation.store(generation, Ordering::Release);
    }

    fn get(&self) -> (u64, Option<Arc<Target>>) {
        let slot = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.generation.load(Ordering::Acquire);
        (generation, slot.as_ref().map(|(_, t)| Arc::clone(t)))
    }
}

#[derive(Debug)]
enum Sink {
    Tcp(TcpStream),
    Udp(Arc<UdpSocket>),
    Server {
        slot: Arc<PeerSlot>,
        generation: u64,
        target: Option<Arc<Target>>,
    },
}

/// The send half of an Ethernet transport: packs packets and writes segments.
#[derive(Debug)]
pub struct EthTx {
    sink: Sink,
    packer: Packer<Vec<u8>>,
    ctr: u16,
    first_queued: Option<Instant>,
    flush_interval: Duration,
    send_timeout: Duration,
    max_packet: usize,
    peer: String,
    stats: TxStats,
}

impl EthTx {
    fn with_sink(sink: Sink, config: &EthConfig, protocol: Protocol, peer: String) -> Self {
        let segment = config.segment(protocol);
        Self {
            sink,
            packer: Packer::new(vec![0; segment], segment),
            ctr: 0,
            first_queued: None,
            flush_interval: config.flush_interval,
            send_timeout: config.send_timeout,
            max_packet: config.max_packet_len(),
            peer,
            stats: TxStats::default(),
        }
    }

    pub(crate) fn tcp(stream: TcpStream, config: &EthConfig, peer: String) -> Self {
        Self::with_sink(Sink::Tcp(stream), config, Protocol::Tcp, peer)
    }

    pub(crate) fn udp(socket: Arc<UdpSocket>, config: &EthConfig, peer: String) -> Self {
        Self::with_sink(Sink::Udp(socket), config, Protocol::Udp, peer)
    }

    pub(crate) fn server(slot: Arc<PeerSlot>, config: &EthConfig, protocol: Protocol) -> Self {
        Self::with_sink(
            Sink::Server {
                slot,
                generation: 0,
                target: None,
            },
            config,
            protocol,
            "master".into(),
        )
    }

    /// Follows a change of master: what was queued for the old one is dropped and counted,
    /// and the counter starts again at 0 for the new one.
    fn follow_master(&mut self) {
        let Sink::Server {
            slot,
            generation,
            target,
        } = &mut self.sink
        else {
            return;
        };
        if slot.generation.load(Ordering::Acquire) == *generation {
            return;
        }
        let (g, t) = slot.get();
        *generation = g;
        *target = t;
        self.stats.dropped += self.packer.frames() as u64;
        self.packer.clear();
        self.first_queued = None;
        self.ctr = 0;
        self.peer = match target.as_deref() {
            Some(Target::Tcp(s)) => s
                .peer_addr()
                .map_or_else(|_| "master".into(), |a| format!("master {a}")),
            Some(Target::Udp(_, a)) => format!("master {a}"),
            None => "master".into(),
        };
    }

    fn write_segment(&mut self) -> Result<(), TransportError> {
        let timeout = self.send_timeout;
        let peer = &self.peer;
        let bytes = self.packer.bytes();
        let result = match &mut self.sink {
            Sink::Tcp(stream) => write_tcp(stream, bytes, timeout, peer),
            Sink::Udp(socket) => {
                retry_within(timeout, || socket.send(bytes)).map_err(|e| udp_error(e, peer))
            }
            Sink::Server { target, .. } => match target.as_deref() {
                Some(Target::Tcp(stream)) => {
                    let mut s: &TcpStream = stream;
                    let r = write_tcp(&mut s, bytes, timeout, peer);
                    if r.is_err() {
                        // A partly written segment leaves the stream out of sync: end it, the
                        // receive half then reports the master gone.
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    r
                }
                Some(Target::Udp(socket, to)) => {
                    retry_within(timeout, || socket.send_to(bytes, to))
                        .map_err(|e| udp_error(e, peer))
                }
                None => Err(TransportError::NoPeer),
            },
        };
        self.stats.frames += 1;
        result
    }
}

/// Sends one datagram; a full non-blocking socket is retried until `timeout`.
fn retry_within(timeout: Duration, mut send: impl FnMut() -> io::Result<usize>) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match send() {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < timeout => {
                std::thread::yield_now();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes everything; a non-blocking socket (the receive half may be spinning on the shared
/// descriptor) that is full is retried until `timeout`, as the blocking send timeout would.
fn write_all_within(mut stream: impl Write, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    let start = Instant::now();
    let mut rest = bytes;
    while !rest.is_empty() {
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < timeout => {
                std::thread::yield_now();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_tcp(
    stream: impl Write,
    bytes: &[u8],
    timeout: Duration,
    peer: &str,
) -> Result<(), TransportError> {
    write_all_within(stream, bytes, timeout).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => TransportError::Stalled {
            peer: peer.into(),
            waited: timeout,
        },
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected => TransportError::Disconnected {
            peer: peer.into(),
            reason: format!("sending failed: {e}"),
        },
        _ => TransportError::io(format!("sending to {peer}"), e),
    })
}

fn udp_error(e: io::Error, peer: &str) -> TransportError {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        TransportError::Disconnected {
            peer: peer.into(),
            reason: "nothing listens on its port (ICMP port unreachable); check the address and port and that the slave runs".into(),
        }
    } else {
        TransportError::io(format!("UDP to {peer}"), e)
    }
}

impl PacketTx for EthTx {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        if packet.len() > self.max_packet {
            return Err(TransportError::TooLong {
                len: packet.len(),
                max: self.max_packet,
            });
        }
        self.follow_master();
        if let Sink::Server { target: None, .. } = self.sink {
            self.stats.dropped += 1;
            return Err(TransportError::NoPeer);
        }
        if !self.packer.fits(packet.len()) {
            self.flush()?;
        }
        let pushed = self
            .packer
            .push(self.ctr, packet)
            .map_err(|_| TransportError::TooLong {
                len: packet.len(),
                max: self.max_packet,
            })?;
        debug_assert!(pushed, "an empty packer takes any packet up to max_packet");
        self.ctr = self.ctr.wrapping_add(1);
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        if self.flush_interval.is_zero() || !self.packer.fits(1) {
            return self.flush();
        }
        // One clock read when a segment starts, then one per 16 packets: the owner's
        // `poll_flush` catches the deadline exactly, `send` only needs to notice a stream
        // of packets that keeps a segment open too long.
        let frames = self.packer.frames();
        if frames == 1 {
            self.first_queued = Some(Instant::now());
        } else if frames.is_multiple_of(16)
            && let Some(first) = self.first_queued
            && first.elapsed() >= self.flush_interval
        {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.follow_master();
        if self.packer.is_empty() {
            return Ok(());
        }
        let frames = self.packer.frames() as u64;
        let result = self.write_segment();
        if result.is_err() {
            self.stats.dropped += frames;
        }
        self.packer.clear();
        self.first_queued = None;
        result
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.first_queued.map(|t| t + self.flush_interval)
    }

    fn max_packet_len(&self) -> usize {
        self.max_packet
    }

    fn stats(&self) -> TxStats {
        self.stats
    }
}

/// How a read from the link ended when it gave no packet.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer closed; `partial` is `(have, need)` when it closed inside a frame.
    Eof { partial: Option<(usize, usize)> },
    /// The stream is out of sync.
    Malformed(DecodeError),
    /// The OS said no.
    Io(io::Error),
}

impl ReadEnd {
    pub(crate) fn into_error(self, peer: &str) -> TransportError {
        match self {
            Self::Eof { partial: None } => TransportError::Disconnected {
                peer: peer.into(),
                reason: "the connection was closed".into(),
            },
            Self::Eof {
                partial: Some((have, need)),
            } => TransportError::Disconnected {
                peer: peer.into(),
                reason: format!(
                    "the connection was closed inside a frame ({have} of {need} bytes received)"
                ),
            },
            Self::Malformed(source) => TransportError::Malformed {
                peer: peer.into(),
                source,
            },
            Self::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => udp_error(e, peer),
            Self::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                TransportError::Disconnected {
                    peer: peer.into(),
                    reason: format!("the connection was reset ({e})"),
                }
            }
            Self::Io(e) => TransportError::io(format!("receiving from {peer}"), e),
        }
    }
}

/// The end of a wait, read from the clock only when the wait actually has to block: a
/// receive that finds a packet already buffered costs no clock read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    timeout: Duration,
    at: Option<Instant>,
    /// Whether the socket was read once already: a zero timeout still polls it once.
    polled: bool,
    /// Read the socket once without blocking, whatever the spin budget (a master's poll).
    once: bool,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        Self {
            timeout,
            at: None,
            polled: false,
            once: false,
        }
    }

    /// One non-blocking read of the socket after the buffered packets, and no wait.
    pub(crate) const fn poll_once() -> Self {
        Self {
            timeout: Duration::ZERO,
            at: None,
            polled: false,
            once: true,
        }
    }

    /// A deadline that is already over and polled: readers hand out buffered packets only.
    pub(crate) const fn buffered_only() -> Self {
        Self {
            timeout: Duration::ZERO,
            at: None,
            polled: true,
            once: false,
        }
    }

    pub(crate) fn at(&mut self) -> Instant {
        *self.at.get_or_insert_with(|| Instant::now() + self.timeout)
    }

    pub(crate) fn left(&mut self) -> Duration {
        self.at().saturating_duration_since(Instant::now())
    }
}

/// Sets a socket read timeout for the time left until `deadline`; `false` when none is left.
fn arm(
    current: &mut Option<Duration>,
    deadline: &mut Deadline,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> Result<bool, ReadEnd> {
    let left = deadline.left();
    if left.is_zero() && deadline.polled {
        return Ok(false);
    }
    deadline.polled = true;
    // The kernel counts in microseconds or coarser; re-arm only on a real change.
    let left = left.max(Duration::from_micros(100));
    let changed = current.is_none_or(|c| c.abs_diff(left) > Duration::from_micros(500));
    if changed {
        set(Some(left)).map_err(ReadEnd::Io)?;
        *current = Some(left);
    }
    Ok(true)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reassembles packets from a TCP stream.
#[derive(Debug)]
pub(crate) struct StreamReader {
    pub(crate) stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    max_packet: usize,
    timeout: Option<Duration>,
    spin: Spin,
}

/// The poll-before-block phase of a reader (see [`crate::EthConfig::spin`]).
#[derive(Debug)]
pub(crate) struct Spin {
    budget: Duration,
    /// The socket is in non-blocking mode now.
    nonblocking: bool,
    /// The last spin found nothing and nothing arrived since: the next wait blocks at once,
    /// so an idle link costs no polling (polling pays off only while packets follow each
    /// other).
    idle: bool,
}

impl Spin {
    pub(crate) const fn new(budget: Duration) -> Self {
        Self {
            budget,
            nonblocking: false,
            idle: false,
        }
    }

    /// Data arrived: the next wait polls first again.
    pub(crate) const fn heard(&mut self) {
        self.idle = false;
    }

    /// Reads without blocking until data comes, the budget or the deadline is used up, or
    /// an error; `Ok(None)` when it gave up. The socket is blocking again whenever a
    /// blocking read may follow (a poll-once deadline never blocks, so it leaves the socket
    /// non-blocking for the next poll).
    fn read<T>(
        &mut self,
        deadline: &mut Deadline,
        set_nonblocking: impl Fn(bool) -> io::Result<()>,
        mut read: impl FnMut() -> io::Result<T>,
    ) -> Result<Option<T>, ReadEnd> {
        if deadline.once {
            if deadline.polled {
                return Ok(None);
            }
            deadline.polled = true;
            if !self.nonblocking {
                set_nonblocking(true).map_err(ReadEnd::Io)?;
                self.nonblocking = true;
            }
            return match read() {
                Ok(v) => Ok(Some(v)),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    Ok(None)
                }
                Err(e) => Err(ReadEnd::Io(e)),
            };
        }
        if self.budget.is_zero() || deadline.polled || self.idle {
            if self.nonblocking {
                set_nonblocking(false).map_err(ReadEnd::Io)?;
                self.nonblocking = false;
            }
            return Ok(None);
        }
        if !self.nonblocking {
            set_nonblocking(true).map_err(ReadEnd::Io)?;
            self.nonblocking = true;
        }
        let until = (Instant::now() + self.budget).min(deadline.at());
        loop {
            match read() {
                Ok(v) => return Ok(Some(v)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadEnd::Io(e)),
            }
            if Instant::now() >= until {
                break;
            }
            std::hint::spin_loop();
        }
        set_nonblocking(false).map_err(ReadEnd::Io)?;
        self.nonblocking = false;
        self.idle = true;
        Ok(None)
    }
}

impl StreamReader {
    pub(crate) fn with_spin(stream: TcpStream, max_packet: usize, spin: Duration) -> Self {
        let size = (max_packet + HEADER_LEN).max(64 * 1024);
        Self {
            stream,
            buf: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
            max_packet,
            timeout: None,
            spin: Spin::new(spin),
        }
    }

    /// The next packet as `(offset, len, ctr)` in the buffer, or `None` at the deadline.
    pub(crate) fn next(
        &mut self,
        deadline: &mut Deadline,
    ) -> Result<Option<(usize, usize, u16)>, ReadEnd> {
        loop {
            match Framing::ETH.decode(&self.buf[self.start..self.end], self.max_packet) {
                Ok((frame, used)) => {
                    let at = (
                        self.start + HEADER_LEN,
                        frame.packet.len(),
                        frame.ctr.unwrap_or(0),
                    );
                    self.start += used;
                    return Ok(Some(at));
                }
                Err(DecodeError::Truncated { .. }) => {}
                Err(e) => return Err(ReadEnd::Malformed(e)),
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let spun = {
                let (stream, buf) = (&self.stream, &mut self.buf[self.end..]);
                self.spin.read(
                    deadline,
                    |on| stream.set_nonblocking(on),
                    || (&*stream).read(buf),
                )?
            };
            let got = if let Some(n) = spun {
                Ok(n)
            } else {
                let stream = &self.stream;
                if !arm(&mut self.timeout, deadline, |t| stream.set_read_timeout(t))? {
                    return Ok(None);
                }
                self.stream.read(&mut self.buf[self.end..])
            };
            match got {
                Ok(0) => {
                    let have = self.end - self.start;
                    let partial = (have > 0).then(|| {
                        let need = if have >= 2 {
                            HEADER_LEN
                                + usize::from(u16::from_le_bytes([
                                    self.buf[self.start],
                                    self.buf[self.start + 1],
                                ]))
                        } else {
                            HEADER_LEN
                        };
                        (have, need)
                    });
                    return Err(ReadEnd::Eof { partial });
                }
                Ok(n) => {
                    self.end += n;
                    self.spin.heard();
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadEnd::Io(e)),
            }
        }
    }

    pub(crate) fn packet(&self, offset: usize, len: usize) -> &[u8] {
        &self.buf[offset..offset + len]
    }
}

/// Walks the packets of received datagrams.
#[derive(Debug)]
pub(crate) struct DatagramReader {
    pub(crate) socket: Arc<UdpSocket>,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    pub(crate) from: Option<SocketAddr>,
    max_packet: usize,
    timeout: Option<Duration>,
    spin: Spin,
}

/// What the next step of a datagram reader produced.
#[derive(Debug)]
pub(crate) enum DatagramStep {
    /// A packet at `(offset, len, ctr)` from the datagram sent by `from`.
    Packet(usize, usize, u16),
    /// The rest of a datagram was malformed and skipped.
    Malformed,
    /// A new datagram arrived; its packets follow.
    Datagram,
}

impl DatagramReader {
    pub(crate) fn with_spin(socket: Arc<UdpSocket>, max_packet: usize, spin: Duration) -> Self {
        Self {
            socket,
            buf: vec![0; 65536].into_boxed_slice(),
            pos: 0,
            len: 0,
            from: None,
            max_packet,
            timeout: None,
            spin: Spin::new(spin),
        }
    }

    /// The bytes of the current datagram not yet handed out.
    pub(crate) fn rest(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    /// Forgets the rest of the current datagram.
    pub(crate) fn skip_rest(&mut self) {
        self.pos = self.len;
    }

    /// The next packet of the current datagram, or a new datagram, or `None` at the deadline.
    pub(crate) fn step(
        &mut self,
        deadline: &mut Deadline,
        connected: bool,
    ) -> Result<Option<DatagramStep>, ReadEnd> {
        if self.pos < self.len {
            return Ok(Some(
                match Framing::ETH.decode(&self.buf[self.pos..self.len], self.max_packet) {
                    Ok((frame, used)) => {
                        let step = DatagramStep::Packet(
                            self.pos + HEADER_LEN,
                            frame.packet.len(),
                            frame.ctr.unwrap_or(0),
                        );
                        self.pos += used;
                        step
                    }
                    Err(_) => {
                        self.pos = self.len;
                        DatagramStep::Malformed
                    }
                },
            ));
        }
        loop {
            let spun = {
                let (socket, buf) = (&self.socket, &mut self.buf);
                self.spin.read(
                    deadline,
                    |on| socket.set_nonblocking(on),
                    || {
                        if connected {
                            socket.recv(buf).map(|n| (n, None))
                        } else {
                            socket.recv_from(buf).map(|(n, a)| (n, Some(a)))
                        }
                    },
                )?
            };
            let got = if let Some(v) = spun {
                Ok(v)
            } else {
                let socket = &self.socket;
                if !arm(&mut self.timeout, deadline, |t| socket.set_read_timeout(t))? {
                    return Ok(None);
                }
                if connected {
                    self.socket.recv(&mut self.buf).map(|n| (n, None))
                } else {
                    self.socket
                        .recv_from(&mut self.buf)
                        .map(|(n, a)| (n, Some(a)))
                }
            };
            match got {
                Ok((n, from)) => {
                    self.spin.heard();
                    self.pos = 0;
                    self.len = n;
                    self.from = from;
                    return Ok(Some(DatagramStep::Datagram));
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadEnd::Io(e)),
            }
        }
    }

    pub(crate) fn packet(&self, offset: usize, len: usize) -> &[u8] {
        &self.buf[offset..offset + len]
    }
}

/// Counters and the CTR tracker of a receive half.
#[derive(Debug, Default)]
pub(crate) struct RxCount {
    pub(crate) stats: RxStats,
    pub(crate) ctr: CtrTracker,
}

impl RxCount {
    pub(crate) fn packet(&mut self, len: usize, ctr: u16) {
        self.ctr.observe(ctr);
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
        self.stats.lost = self.ctr.lost;
        self.stats.out_of_order = self.ctr.out_of_order;
    }

    /// A new peer: its counter starts afresh.
    pub(crate) fn new_peer(&mut self) {
        self.ctr.reset();
    }
}

#[derive(Debug)]
enum RxKind {
    Tcp(StreamReader),
    Udp(DatagramReader),
    Server(Box<crate::server::ServerRx>),
}

/// The receive half of an Ethernet transport: unpacks datagrams, reassembles the TCP stream
/// and counts counter gaps.
#[derive(Debug)]
pub struct EthRx {
    kind: RxKind,
    count: RxCount,
    max_packet: usize,
    peer: String,
    dead: bool,
}

impl EthRx {
    pub(crate) fn tcp(stream: TcpStream, config: &EthConfig, peer: String) -> Self {
        Self::with_kind(
            RxKind::Tcp(StreamReader::with_spin(
                stream,
                config.max_packet_len(),
                config.spin,
            )),
            config,
            peer,
        )
    }

    pub(crate) fn udp(socket: Arc<UdpSocket>, config: &EthConfig, peer: String) -> Self {
        Self::with_kind(
            RxKind::Udp(DatagramReader::with_spin(
                socket,
                config.max_packet_len(),
                config.spin,
            )),
            config,
            peer,
        )
    }

    pub(crate) fn server(rx: crate::server::ServerRx, config: &EthConfig) -> Self {
        Self::with_kind(RxKind::Server(Box::new(rx)), config, "master".into())
    }

    /// Lowers the largest packet accepted, for a master that learned MAX_CTO and MAX_DTO from
    /// CONNECT: a LEN above `max` then ends the link as malformed. The limit never rises
    /// above the configured one (the buffers are sized for it). Applies to client links; a
    /// server takes its limit from its configuration.
    pub fn limit_packet_len(&mut self, max: usize) {
        let max = max.clamp(1, self.max_packet);
        self.max_packet = max;
        match &mut self.kind {
            RxKind::Tcp(r) => r.max_packet = max,
            RxKind::Udp(r) => r.max_packet = max,
            RxKind::Server(_) => {}
        }
    }

    fn with_kind(kind: RxKind, config: &EthConfig, peer: String) -> Self {
        Self {
            kind,
            count: RxCount::default(),
            max_packet: config.max_packet_len(),
            peer,
            dead: false,
        }
    }
}

impl EthRx {
    fn recv_until(&mut self, mut deadline: Deadline) -> Result<Option<&[u8]>, TransportError> {
        if self.dead {
            return Err(TransportError::Disconnected {
                peer: self.peer.clone(),
                reason: "the link already failed; open a new one".into(),
            });
        }
        let found = match &mut self.kind {
            RxKind::Tcp(reader) => match reader.next(&mut deadline) {
                Ok(Some((off, len, ctr))) => {
                    self.count.packet(len, ctr);
                    Some((off, len))
                }
                Ok(None) => None,
                Err(end) => {
                    self.dead = true;
                    let _ = reader.stream.shutdown(Shutdown::Both);
                    return Err(end.into_error(&self.peer));
                }
            },
            RxKind::Udp(reader) => loop {
                match reader.step(&mut deadline, true) {
                    Ok(Some(DatagramStep::Packet(off, len, ctr))) => {
                        self.count.packet(len, ctr);
                        break Some((off, len));
                    }
                    Ok(Some(DatagramStep::Malformed)) => self.count.stats.malformed += 1,
                    Ok(Some(DatagramStep::Datagram)) => {}
                    Ok(None) => break None,
                    Err(end) => return Err(end.into_error(&self.peer)),
                }
            },
            RxKind::Server(server) => server.next(&mut deadline, &mut self.count)?,
        };
        Ok(found.map(|(off, len)| match &self.kind {
            RxKind::Tcp(r) => r.packet(off, len),
            RxKind::Udp(r) => r.packet(off, len),
            RxKind::Server(s) => s.packet(off, len),
        }))
    }
}

impl PacketRx for EthRx {
    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        self.recv_until(Deadline::buffered_only())
    }

    fn poll_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        // A server's sockets change with its peers: it polls its buffers only.
        let deadline = if matches!(self.kind, RxKind::Server(_)) {
            Deadline::buffered_only()
        } else {
            Deadline::poll_once()
        };
        self.recv_until(deadline)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        self.recv_until(Deadline::after(timeout))
    }

    fn max_packet_len(&self) -> usize {
        self.max_packet
    }

    fn stats(&self) -> RxStats {
        self.count.stats
    }
}
