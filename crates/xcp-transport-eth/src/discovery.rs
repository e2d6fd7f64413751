//! Slave discovery: GET_SLAVE_ID over UDP multicast (IPv4).
//!
//! A master (the scanner) sends TRANSPORT_LAYER_CMD GET_SLAVE_ID in an Ethernet frame to the
//! multicast group 239.255.0.0, port 5556, naming the address and port where it wants the
//! answers. Every slave that listens (a [`Responder`]) answers there with its address, port,
//! protocols, availability, resources and identification string.
//!
//! Layouts (after the 4-byte LEN/CTR header, all little-endian):
//!
//! | request | bytes |
//! |---|---|
//! | 0xF2 TRANSPORT_LAYER_CMD, 0xFF GET_SLAVE_ID | 2 |
//! | response port | 2 |
//! | response address (IPv4 in the first 4 bytes) | 16 |
//! | IP version (0 = IPv4) | 1 |
//!
//! | answer | bytes |
//! |---|---|
//! | slave address (IPv4 in the first 4 bytes) | 16 |
//! | slave port | 2 |
//! | status: bits 0–1 protocol (0 TCP, 1 UDP, 2 both), bit 2 IP version, bit 3 busy, bit 4 GET_SLAVE_ID_EXTENDED supported | 1 |
//! | resources (CAL/PAG, DAQ, STIM, PGM bits as in CONNECT) | 1 |
//! | identification length n | 4 |
//! | identification (GET_ID type 0) | n |
//!
//! The answer carries no PID, as pyXCP's `xcp-discovery` expects. The responder and the
//! scanner join the group on one interface (127.0.0.1 by default) and send with a TTL of 1,
//! so by default nothing leaves the host.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use xcp_proto::tl::Framing;
use xcp_proto::{DecodeError, Resources};
use xcp_transport::TransportError;

use crate::{Protocol, ServerHandle};

/// The ASAM discovery multicast group.
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 0, 0);
/// The ASAM discovery port.
pub const DISCOVERY_PORT: u16 = 5556;
/// TRANSPORT_LAYER_CMD sub-command GET_SLAVE_ID.
pub const GET_SLAVE_ID: u8 = 0xFF;
/// TRANSPORT_LAYER_CMD command code.
const TRANSPORT_LAYER_CMD: u8 = 0xF2;

/// A GET_SLAVE_ID request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaveIdRequest {
    /// Where the slaves should send their answers (0.0.0.0:0: back to the sender).
    pub response: SocketAddrV4,
}

impl SlaveIdRequest {
    /// Length of the XCP packet.
    pub const LEN: usize = 21;

    /// The XCP packet (without the Ethernet header).
    pub fn emit(&self) -> [u8; Self::LEN] {
        let mut p = [0u8; Self::LEN];
        p[0] = TRANSPORT_LAYER_CMD;
        p[1] = GET_SLAVE_ID;
        p[2..4].copy_from_slice(&self.response.port().to_le_bytes());
        p[4..8].copy_from_slice(&self.response.ip().octets());
        p
    }

    /// Reads a request packet.
    ///
    /// # Errors
    /// When the packet is not a GET_SLAVE_ID, is short, or asks for IPv6 answers.
    pub fn parse(packet: &[u8]) -> Result<Self, DecodeError> {
        const NAME: &str = "GET_SLAVE_ID";
        if packet.len() < Self::LEN {
            return Err(DecodeError::Truncated {
                packet: NAME,
                field: "IP_VERSION",
                needed: Self::LEN,
                available: packet.len(),
            });
        }
        if packet[0] != TRANSPORT_LAYER_CMD || packet[1] != GET_SLAVE_ID {
            return Err(DecodeError::InvalidField {
                packet: NAME,
                field: "SUB_COMMAND",
                value: u32::from(u16::from_be_bytes([packet[0], packet[1]])),
            });
        }
        if packet[20] != 0 {
            return Err(DecodeError::InvalidField {
                packet: NAME,
                field: "IP_VERSION",
                value: u32::from(packet[20]),
            });
        }
        let port = u16::from_le_bytes([packet[2], packet[3]]);
        let ip = Ipv4Addr::new(packet[4], packet[5], packet[6], packet[7]);
        Ok(Self {
            response: SocketAddrV4::new(ip, port),
        })
    }
}

/// What a slave tells a scanner about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveId {
    /// The slave's IPv4 address.
    pub addr: Ipv4Addr,
    /// The slave's XCP port.
    pub port: u16,
    /// Serves XCP on TCP.
    pub tcp: bool,
    /// Serves XCP on UDP.
    pub udp: bool,
    /// A master is connected.
    pub busy: bool,
    /// Resources the slave offers (CONNECT's RESOURCE byte).
    pub resources: Resources,
    /// Identification (GET_ID type 0), usually the A2L name.
    pub id: Vec<u8>,
}

impl SlaveId {
    /// The answer for a running server: its address, protocol and whether a master holds it.
    ///
    /// A server bound to IPv6 reports 0.0.0.0: the answer layout carries IPv4 only.
    pub fn for_server(server: &ServerHandle, id: &[u8], resources: Resources) -> Self {
        let local = server.local_addr();
        Self {
            addr: match local.ip() {
                IpAddr::V4(ip) => ip,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            },
            port: local.port(),
            tcp: server.protocol() == Protocol::Tcp,
            udp: server.protocol() == Protocol::Udp,
            busy: server.master().is_some(),
            resources,
            id: id.to_vec(),
        }
    }

    fn status(&self) -> u8 {
        let protocol = match (self.tcp, self.udp) {
            (true, true) => 2,
            (false, true) => 1,
            _ => 0,
        };
        protocol | if self.busy { 1 << 3 } else { 0 }
    }

    /// The answer packet (without the Ethernet header).
    pub fn emit(&self) -> Vec<u8> {
        let id_len = self.id.len().min(usize::from(u16::MAX));
        let mut p = vec![0u8; 24 + id_len];
        p[0..4].copy_from_slice(&self.addr.octets());
        p[16..18].copy_from_slice(&self.port.to_le_bytes());
        p[18] = self.status();
        p[19] = self.resources.0;
        p[20..24].copy_from_slice(&u32::try_from(id_len).unwrap_or(0).to_le_bytes());
        p[24..].copy_from_slice(&self.id[..id_len]);
        p
    }

    /// Reads an answer packet.
    ///
    /// # Errors
    /// When the packet is shorter than its fixed part or its identification length says.
    pub fn parse(packet: &[u8]) -> Result<Self, DecodeError> {
        const NAME: &str = "GET_SLAVE_ID answer";
        if packet.len() < 24 {
            return Err(DecodeError::Truncated {
                packet: NAME,
                field: "LENGTH",
                needed: 24,
                available: packet.len(),
            });
        }
        let n = u32::from_le_bytes([packet[20], packet[21], packet[22], packet[23]]);
        let end = usize::try_from(n).ok().and_then(|n| n.checked_add(24));
        let Some(id) = end.and_then(|end| packet.get(24..end)) else {
            return Err(DecodeError::Truncated {
                packet: NAME,
                field: "IDENTIFICATION",
                needed: end.unwrap_or(usize::MAX),
                available: packet.len(),
            });
        };
        let status = packet[18];
        let protocol = status & 0b11;
        if protocol == 3 {
            return Err(DecodeError::InvalidField {
                packet: NAME,
                field: "STATUS.PROTOCOL",
                value: u32::from(protocol),
            });
        }
        Ok(Self {
            addr: Ipv4Addr::new(packet[0], packet[1], packet[2], packet[3]),
            port: u16::from_le_bytes([packet[16], packet[17]]),
            tcp: protocol != 1,
            udp: protocol != 0,
            busy: status & (1 << 3) != 0,
            resources: Resources(packet[19]),
            id: id.to_vec(),
        })
    }
}

/// Where discovery traffic goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// The local interface address to join the group on and send from (127.0.0.1 keeps
    /// everything on this host).
    pub interface: Ipv4Addr,
    /// The multicast group.
    pub group: Ipv4Addr,
    /// The discovery port (0 for a responder lets the OS choose, for tests).
    pub port: u16,
    /// Multicast TTL of what is sent: 1 stays on the local network segment.
    pub ttl: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            interface: Ipv4Addr::LOCALHOST,
            group: MULTICAST_GROUP,
            port: DISCOVERY_PORT,
            ttl: 1,
        }
    }
}

fn frame(packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; packet.len() + crate::HEADER_LEN];
    // Cannot fail: `out` is sized for the header and the packet.
    let _ = Framing::ETH.encode(0, packet, &mut out);
    out
}

/// Answers GET_SLAVE_ID requests on a thread of its own until dropped.
#[derive(Debug)]
pub struct Responder {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    /// Joins the group and starts answering with what `identify` returns at each request.
    ///
    /// # Errors
    /// [`TransportError::Io`] when the socket cannot be set up (no multicast route on the
    /// interface, port in use without address reuse).
    pub fn start(
        config: DiscoveryConfig,
        identify: impl Fn() -> SlaveId + Send + 'static,
    ) -> Result<Self, TransportError> {
        let io = |what: &str| {
            let what = format!(
                "discovery responder on {}:{} via {}: {what}",
                config.group, config.port, config.interface
            );
            move |e| TransportError::io(what, e)
        };
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(socket2::Protocol::UDP))
            .map_err(io("creating the socket"))?;
        // Several slaves on one host share the discovery port.
        socket.set_reuse_address(true).map_err(io("SO_REUSEADDR"))?;
        #[cfg(unix)]
        socket.set_reuse_port(true).map_err(io("SO_REUSEPORT"))?;
        // Binding to the group address receives only the group's traffic (Linux, macOS);
        // Windows needs the wildcard address instead.
        let bind_ip = if cfg!(windows) {
            Ipv4Addr::UNSPECIFIED
        } else {
            config.group
        };
        socket
            .bind(&SocketAddr::from((bind_ip, config.port)).into())
            .map_err(io("binding"))?;
        socket
            .join_multicast_v4(&config.group, &config.interface)
            .map_err(io("joining the group"))?;
        let socket: UdpSocket = socket.into();
        let port = socket.local_addr().map_err(io("reading the port"))?.port();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io("setting the poll interval"))?;
        let reply =
            UdpSocket::bind((config.interface, 0)).map_err(io("binding the reply socket"))?;
        reply
            .set_multicast_ttl_v4(config.ttl)
            .map_err(io("setting the multicast TTL"))?;
        socket2::SockRef::from(&reply)
            .set_multicast_if_v4(&config.interface)
            .map_err(io("choosing the multicast interface"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let (thread_stop, thread_answered) = (Arc::clone(&stop), Arc::clone(&answered));
        let thread = std::thread::Builder::new()
            .name("xcp-discovery".into())
            .spawn(move || {
                respond_loop(&socket, &reply, &thread_stop, &thread_answered, &identify);
            })
            .map_err(|e| TransportError::io("starting the discovery thread", e))?;
        Ok(Self {
            stop,
            answered,
            port,
            thread: Some(thread),
        })
    }

    /// The port the responder listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many requests were answered.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // The loop polls the flag every 100 ms.
            let _ = thread.join();
        }
    }
}

/// The answer to one datagram, when it is a well-formed GET_SLAVE_ID; also where it goes.
pub fn answer_for(
    datagram: &[u8],
    from: SocketAddr,
    identify: &dyn Fn() -> SlaveId,
) -> Option<(Vec<u8>, SocketAddr)> {
    let (frame_in, _) = Framing::ETH.decode(datagram, 64).ok()?;
    let request = SlaveIdRequest::parse(frame_in.packet).ok()?;
    let to = if request.response.ip().is_unspecified() || request.response.port() == 0 {
        from
    } else {
        SocketAddr::V4(request.response)
    };
    Some((frame(&identify().emit()), to))
}

fn respond_loop(
    socket: &UdpSocket,
    reply: &UdpSocket,
    stop: &AtomicBool,
    answered: &AtomicU64,
    identify: &dyn Fn() -> SlaveId,
) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Acquire) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        match answer_for(&buf[..n], from, identify) {
            Some((answer, to)) => {
                if let Err(e) = reply.send_to(&answer, to) {
                    tracing::warn!(%to, error = %e, "could not answer GET_SLAVE_ID");
                } else {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => tracing::debug!(%from, len = n, "ignored a datagram on the discovery port"),
        }
    }
}

/// A slave found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Where the answer came from.
    pub from: SocketAddr,
    /// What the slave said.
    pub slave: SlaveId,
}

/// Sends GET_SLAVE_ID to the group and collects answers for `wait`.
///
/// Datagrams that are not well-formed answers are skipped.
///
/// # Errors
/// [`TransportError::Io`] when the socket cannot be set up or the request cannot be sent
/// (no multicast route on the interface).
pub fn scan(config: DiscoveryConfig, wait: Duration) -> Result<Vec<Discovered>, TransportError> {
    let io = |what: &'static str| {
        move |e| {
            TransportError::io(
                format!(
                    "discovery scan of {}:{} via {}: {what}",
                    config.group, config.port, config.interface
                ),
                e,
            )
        }
    };
    let socket = UdpSocket::bind((config.interface, 0)).map_err(io("binding"))?;
    socket
        .set_multicast_ttl_v4(config.ttl)
        .map_err(io("setting the multicast TTL"))?;
    socket
        .set_multicast_loop_v4(true)
        .map_err(io("enabling multicast loopback"))?;
    socket2::SockRef::from(&socket)
        .set_multicast_if_v4(&config.interface)
        .map_err(io("choosing the multicast interface"))?;
    let local = match socket
        .local_addr()
        .map_err(io("reading the local address"))?
    {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => SocketAddrV4::new(config.interface, 0),
    };
    let request = SlaveIdRequest { response: local }.emit();
    socket
        .send_to(&frame(&request), (config.group, config.port))
        .map_err(io("sending GET_SLAVE_ID"))?;
    let deadline = Instant::now() + wait;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(found);
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(io("setting the timeout"))?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => return Err(io("receiving answers")(e)),
        };
        let answer = Framing::ETH
            .decode(&buf[..n], usize::from(u16::MAX))
            .ok()
            .and_then(|(f, _)| SlaveId::parse(f.packet).ok());
        if let Some(slave) = answer {
            found.push(Discovered { from, slave });
        }
    }
}
