//! The slave (server) side: one master at a time.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xcp_proto::ErrorCode;
use xcp_proto::codes::pid;
use xcp_proto::tl::Framing;
use xcp_transport::{Transport, TransportError};

use crate::client::size_buffers;
use crate::link::{
    DatagramReader, DatagramStep, Deadline, EthRx, EthTx, PeerSlot, ReadEnd, RxCount, StreamReader,
    Target,
};
use crate::{EthConfig, Protocol};

/// Where and how a slave listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Address to listen on; 127.0.0.1:5555 by default. Port 0 picks a free port
    /// (read it back with [`EthServer::local_addr`]).
    pub bind: SocketAddr,
    /// Packing, limits and timeouts.
    pub eth: EthConfig,
    /// UDP only: a CONNECT from a new address takes the slave over when the current master
    /// has sent nothing for this long (a master that vanished without DISCONNECT cannot say
    /// so over UDP). Earlier, the new master is refused. After a DISCONNECT it is accepted
    /// at once.
    pub udp_takeover_after: Duration,
    /// TCP only: how long a new connection waits for the previous master's connection to be
    /// seen closing before it is refused (a master that reconnects at once races its own FIN).
    pub refuse_grace: Duration,
}

impl ServerConfig {
    /// Defaults for `protocol`: 127.0.0.1:5555, 1 ms flush, 5 s UDP takeover, 200 ms grace.
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            bind: SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_PORT)),
            eth: EthConfig::default(),
            udp_takeover_after: Duration::from_secs(5),
            refuse_grace: Duration::from_millis(200),
        }
    }
}

/// Counters of a server's masters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Masters accepted (TCP connections handed to the slave, UDP addresses latched).
    pub connections: u64,
    /// Masters refused because another one held the slave.
    pub refused: u64,
    /// UDP masters replaced by a new one after being silent for the takeover time.
    pub takeovers: u64,
}

#[derive(Debug)]
struct Shared {
    local: SocketAddr,
    protocol: Protocol,
    connections: AtomicU64,
    refused: AtomicU64,
    takeovers: AtomicU64,
    master: Mutex<Option<SocketAddr>>,
    /// Whether a TCP master holds the slave; the acceptor waits on `released`.
    active: Mutex<bool>,
    released: Condvar,
    stop: AtomicBool,
    /// Why the listening socket can take no master any more, once it cannot.
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn set_master(&self, master: Option<SocketAddr>) {
        *self.master.lock().unwrap_or_else(PoisonError::into_inner) = master;
        if master.is_none() {
            *self.active.lock().unwrap_or_else(PoisonError::into_inner) = false;
            self.released.notify_all();
        }
    }
}

/// A cloneable view of a running server: its address, its current master and its counters.
#[derive(Debug, Clone)]
pub struct ServerHandle(Arc<Shared>);

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local
    }

    /// TCP or UDP.
    pub fn protocol(&self) -> Protocol {
        self.0.protocol
    }

    /// The master currently holding the slave.
    pub fn master(&self) -> Option<SocketAddr> {
        *self.0.master.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Masters accepted, refused and taken over so far.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.0.connections.load(Ordering::Relaxed),
            refused: self.0.refused.load(Ordering::Relaxed),
            takeovers: self.0.takeovers.load(Ordering::Relaxed),
        }
    }
}

/// A slave's Ethernet transport: listens, serves one master at a time, and follows the
/// master as it changes.
///
/// The receive half reports [`TransportError::Disconnected`] once when a master goes away
/// (closed, reset, malformed stream, replaced); the slave should then end the session
/// (stop DAQ) and call `recv` again to wait for the next master. Until a master is there the
/// send half fails with [`TransportError::NoPeer`].
#[doc(alias = "server")]
#[derive(Debug)]
pub struct EthServer {
    tx: EthTx,
    rx: EthRx,
    handle: ServerHandle,
}

impl EthServer {
    /// Starts listening.
    ///
    /// TCP spawns one thread that accepts connections and refuses extra masters; UDP needs
    /// no thread. Both stop when the receive half is dropped.
    ///
    /// # Errors
    /// [`TransportError::Io`] when the address cannot be bound (in use, not local);
    /// [`TransportError::Config`] for inconsistent settings.
    pub fn bind(config: ServerConfig) -> Result<Self, TransportError> {
        config.eth.validate(config.protocol)?;
        let bind_err = |e| {
            TransportError::io(
                format!(
                    "binding XCP on {} to {}; check that the port is free and the address is local",
                    config.protocol, config.bind
                ),
                e,
            )
        };
        let slot = Arc::new(PeerSlot::default());
        let (kind, local) = match config.protocol {
            Protocol::Tcp => {
                let listener = TcpListener::bind(config.bind).map_err(bind_err)?;
                let local = listener.local_addr().map_err(bind_err)?;
                (Pending::Tcp(listener), local)
            }
            Protocol::Udp => {
                let socket = UdpSocket::bind(config.bind).map_err(bind_err)?;
                size_buffers(socket2::SockRef::from(&socket), &config.eth);
                socket
                    .set_write_timeout(Some(config.eth.send_timeout))
                    .map_err(bind_err)?;
                let local = socket.local_addr().map_err(bind_err)?;
                (Pending::Udp(Arc::new(socket)), local)
            }
        };
        let shared = Arc::new(Shared {
            local,
            protocol: config.protocol,
            connections: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
            master: Mutex::new(None),
            active: Mutex::new(false),
            released: Condvar::new(),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let kind = match kind {
            Pending::Tcp(listener) => {
                let (to_rx, incoming) = mpsc::sync_channel(1);
                let acceptor_shared = Arc::clone(&shared);
                let grace = config.refuse_grace;
                let acceptor = std::thread::Builder::new()
                    .name("xcp-eth-accept".into())
                    .spawn(move || accept_loop(&listener, &to_rx, &acceptor_shared, grace))
                    .map_err(|e| TransportError::io("starting the accept thread", e))?;
                ServerKind::Tcp {
                    incoming,
                    current: None,
                    acceptor: Some(acceptor),
                }
            }
            Pending::Udp(socket) => ServerKind::Udp {
                reader: DatagramReader::with_spin(
                    socket,
                    config.eth.max_packet_len(),
                    config.eth.spin,
                ),
                master: None,
                last_heard: Instant::now(),
                released: false,
            },
        };
        let rx = ServerRx {
            kind,
            shared: Arc::clone(&shared),
            slot: Arc::clone(&slot),
            config,
        };
        Ok(Self {
            tx: EthTx::server(slot, &config.eth, config.protocol),
            rx: EthRx::server(rx, &config.eth),
            handle: ServerHandle(shared),
        })
    }

    /// The address the server listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// A handle that outlives [`split`](Transport::split), for addresses and counters.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }
}

impl Transport for EthServer {
    type Tx = EthTx;
    type Rx = EthRx;

    fn split(self) -> (EthTx, EthRx) {
        (self.tx, self.rx)
    }
}

enum Pending {
    Tcp(TcpListener),
    Udp(Arc<UdpSocket>),
}

/// An ERR packet (RESOURCE_TEMPORARY_NOT_ACCESSIBLE) in an Ethernet frame with CTR 0.
fn refusal_frame() -> [u8; 6] {
    let mut frame = [0u8; 6];
    let packet = [pid::ERR, ErrorCode::ResourceTemporaryNotAccessible.to_u8()];
    // Cannot fail: the buffer holds the 4-byte header and the 2-byte packet exactly.
    let _ = Framing::ETH.encode(0, &packet, &mut frame);
    frame
}

/// Tells a second TCP master that the slave is taken, then closes its connection.
fn refuse_tcp(mut stream: TcpStream) {
    let limit = Duration::from_millis(200);
    let _ = stream.set_write_timeout(Some(limit));
    let _ = stream.write_all(&refusal_frame());
    let _ = stream.shutdown(Shutdown::Write);
    // Read what the master already sent (its CONNECT) before closing: closing with unread
    // data would reset the connection and could destroy the ERR packet in flight.
    let _ = stream.set_read_timeout(Some(limit));
    let deadline = Instant::now() + limit;
    let mut sink = [0u8; 256];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Whether an error of `accept` or of a server's UDP socket means the socket itself is
/// unusable (closed, not a socket, not listening), rather than one connection or datagram
/// failing or the system being short of descriptors or memory for a moment.
fn socket_failed(e: &std::io::Error) -> bool {
    /// Linux's EBADF, ENOTSOCK and EOPNOTSUPP.
    #[cfg(target_os = "linux")]
    const DEAD: [i32; 3] = [9, 88, 95];
    #[cfg(not(target_os = "linux"))]
    const DEAD: [i32; 0] = [];
    e.kind() == std::io::ErrorKind::InvalidInput
        || e.raw_os_error().is_some_and(|code| DEAD.contains(&code))
}

fn accept_loop(
    listener: &TcpListener,
    to_rx: &SyncSender<(TcpStream, SocketAddr)>,
    shared: &Shared,
    grace: Duration,
) {
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) if socket_failed(&e) => {
                tracing::error!(error = %e, "the XCP listening socket failed");
                *shared
                    .failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some(format!("accepting connections failed: {e}"));
                // Dropping the channel tells the receive half, which reports it.
                return;
            }
            Err(e) => {
                // Out of file descriptors, a connection reset before it was accepted: the
                // listener still works. Warn at most once a second and do not spin.
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, "accepting an XCP master failed");
                    last_warning = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let deadline = Instant::now() + grace;
        let mut active = shared.active.lock().unwrap_or_else(PoisonError::into_inner);
        while *active {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            active = shared
                .released
                .wait_timeout(active, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if *active {
            drop(active);
            tracing::info!(%addr, "refusing a second XCP master");
            shared.refused.fetch_add(1, Ordering::Relaxed);
            refuse_tcp(stream);
            continue;
        }
        *active = true;
        drop(active);
        if to_rx.send((stream, addr)).is_err() {
            return;
        }
    }
}

#[derive(Debug)]
enum ServerKind {
    Tcp {
        incoming: Receiver<(TcpStream, SocketAddr)>,
        current: Option<(StreamReader, SocketAddr)>,
        acceptor: Option<JoinHandle<()>>,
    },
    Udp {
        reader: DatagramReader,
        master: Option<SocketAddr>,
        last_heard: Instant,
        released: bool,
    },
}

/// The server-specific part of a receive half.
#[derive(Debug)]
pub(crate) struct ServerRx {
    kind: ServerKind,
    shared: Arc<Shared>,
    slot: Arc<PeerSlot>,
    config: ServerConfig,
}

impl ServerRx {
    /// The next packet of the current master as `(offset, len)`.
    pub(crate) fn next(
        &mut self,
        deadline: &mut Deadline,
        count: &mut RxCount,
    ) -> Result<Option<(usize, usize)>, TransportError> {
        match &mut self.kind {
            ServerKind::Tcp {
                incoming, current, ..
            } => loop {
                if current.is_none() {
                    match incoming.recv_timeout(deadline.left()) {
                        Ok((stream, addr)) => {
                            if let Err(e) = start_tcp(&stream, &self.config.eth) {
                                let _ = stream.shutdown(Shutdown::Both);
                                self.shared.set_master(None);
                                tracing::warn!(%addr, error = %e, "could not set up an XCP master's connection");
                                continue;
                            }
                            let Ok(write_half) = stream.try_clone() else {
                                self.shared.set_master(None);
                                continue;
                            };
                            self.slot.set(Some(Target::Tcp(write_half)));
                            self.shared.set_master(Some(addr));
                            self.shared.connections.fetch_add(1, Ordering::Relaxed);
                            count.new_peer();
                            tracing::info!(%addr, "XCP master connected over TCP");
                            *current = Some((
                                StreamReader::with_spin(
                                    stream,
                                    self.config.eth.max_packet_len(),
                                    self.config.eth.spin,
                                ),
                                addr,
                            ));
                        }
                        Err(RecvTimeoutError::Timeout) => return Ok(None),
                        Err(RecvTimeoutError::Disconnected) => {
                            let reason = self
                                .shared
                                .failure
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .clone()
                                .unwrap_or_else(|| "the accept thread stopped".into());
                            return Err(TransportError::Closed {
                                transport: format!("XCP on TCP at {}", self.shared.local),
                                reason,
                            });
                        }
                    }
                }
                let Some((reader, addr)) = current.as_mut() else {
                    continue;
                };
                match reader.next(deadline) {
                    Ok(Some((off, len, ctr))) => {
                        count.packet(len, ctr);
                        return Ok(Some((off, len)));
                    }
                    Ok(None) => return Ok(None),
                    Err(end) => {
                        let error = end.into_error(&format!("master {addr}"));
                        let _ = reader.stream.shutdown(Shutdown::Both);
                        tracing::info!(%addr, %error, "XCP master gone");
                        *current = None;
                        self.slot.set(None);
                        self.shared.set_master(None);
                        return Err(error);
                    }
                }
            },
            ServerKind::Udp {
                reader,
                master,
                last_heard,
                released,
            } => loop {
                let step = match reader.step(deadline, false) {
                    Ok(step) => step,
                    Err(ReadEnd::Io(e)) if socket_failed(&e) => {
                        return Err(TransportError::Closed {
                            transport: format!("XCP on UDP at {}", self.shared.local),
                            reason: format!("receiving failed: {e}"),
                        });
                    }
                    Err(ReadEnd::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionRefused
                                | std::io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        // An ICMP error about an earlier datagram to a master that has gone:
                        // it concerns that master, not the socket, and loses no data.
                        tracing::debug!(error = %e, "ICMP error on the XCP UDP socket");
                        continue;
                    }
                    Err(e) => return Err(e.into_error("XCP masters (UDP)")),
                };
                match step {
                    None => return Ok(None),
                    Some(DatagramStep::Packet(off, len, ctr)) => {
                        if reader.packet(off, len).first() == Some(&0xFE) {
                            // DISCONNECT: the next CONNECT from anywhere may take over.
                            *released = true;
                        }
                        count.packet(len, ctr);
                        *last_heard = Instant::now();
                        return Ok(Some((off, len)));
                    }
                    Some(DatagramStep::Malformed) => count.stats.malformed += 1,
                    Some(DatagramStep::Datagram) => {
                        let Some(from) = reader.from else { continue };
                        if *master == Some(from) {
                            *last_heard = Instant::now();
                            continue;
                        }
                        let is_connect = matches!(
                            Framing::ETH.decode(reader.rest(), self.config.eth.max_packet_len()),
                            Ok((frame, _)) if frame.packet.first() == Some(&0xFF)
                        );
                        if !is_connect {
                            count.stats.foreign += 1;
                            reader.skip_rest();
                            continue;
                        }
                        let silent = last_heard.elapsed();
                        let previous = *master;
                        match previous {
                            Some(_) if !*released && silent < self.config.udp_takeover_after => {
                                tracing::info!(%from, "refusing a second XCP master");
                                self.shared.refused.fetch_add(1, Ordering::Relaxed);
                                let _ = reader.socket.send_to(&refusal_frame(), from);
                                reader.skip_rest();
                                continue;
                            }
                            _ => {}
                        }
                        // Latch the new master; its CONNECT is delivered by the next steps.
                        *master = Some(from);
                        *last_heard = Instant::now();
                        let was_released = std::mem::replace(released, false);
                        self.slot
                            .set(Some(Target::Udp(Arc::clone(&reader.socket), from)));
                        self.shared.set_master(Some(from));
                        self.shared.connections.fetch_add(1, Ordering::Relaxed);
                        count.new_peer();
                        tracing::info!(%from, "XCP master connected over UDP");
                        if let Some(old) = previous
                            && !was_released
                        {
                            self.shared.takeovers.fetch_add(1, Ordering::Relaxed);
                            return Err(TransportError::Disconnected {
                                peer: format!("master {old}"),
                                reason: format!(
                                    "silent for {silent:?}; master {from} took over with CONNECT"
                                ),
                            });
                        }
                    }
                }
            },
        }
    }

    pub(crate) fn packet(&self, offset: usize, len: usize) -> &[u8] {
        match &self.kind {
            ServerKind::Tcp { current, .. } => current
                .as_ref()
                .map_or(&[][..], |(r, _)| r.packet(offset, len)),
            ServerKind::Udp { reader, .. } => reader.packet(offset, len),
        }
    }
}

fn start_tcp(stream: &TcpStream, config: &EthConfig) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(config.send_timeout))?;
    size_buffers(socket2::SockRef::from(stream), config);
    Ok(())
}

impl Drop for ServerRx {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.slot.set(None);
        self.shared.set_master(None);
        if let ServerKind::Tcp {
            current, acceptor, ..
        } = &mut self.kind
        {
            if let Some((reader, _)) = current.take() {
                let _ = reader.stream.shutdown(Shutdown::Both);
            }
            // Wake the accept thread with a connection of our own so it sees the stop flag.
            let mut wake = self.shared.local;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let woke = TcpStream::connect_timeout(&wake, Duration::from_millis(500)).is_ok();
            if let Some(thread) = acceptor.take()
                && woke
            {
                let _ = thread.join();
            }
        }
    }
}
