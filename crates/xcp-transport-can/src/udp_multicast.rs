//! python-can's `udp_multicast` bus: every frame one UDP datagram to a multicast group,
//! holding a MessagePack map as python-can 4.x writes it (`timestamp`, `arbitration_id`,
//! `is_extended_id`, `is_remote_frame`, `is_error_frame`, `channel`, `dlc` as the byte length,
//! `data`, `is_fd`, `bitrate_switch`, `error_state_indicator`). Anything python-can puts on
//! the group (pyXCP's CAN transport included) reaches this bus, and back.
//!
//! Every node binds the group's port with address reuse, so several share a machine; a node
//! receives its own frames, as python-can's do. The hop limit is 1 and the group is joined
//! on the loopback interface unless another is named, so frames stay on this machine.
//! Remote and error frames are passed over (counted as foreign by the XCP transport's
//! receive half through [`UdpMulticastRx::skipped`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};
use xcp_transport::TransportError;

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::{CanFrame, CanId};
use crate::msgpack::{MsgpackError, Value, Writer, decode_map};

/// python-can's default IPv4 group.
pub const DEFAULT_GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 74, 163, 2);
/// python-can's default IPv6 group.
pub const DEFAULT_GROUP_V6: &str = "ff15:7079:7468:6f6e:6465:6d6f:6d63:6173";
/// python-can's default port.
pub const DEFAULT_PORT: u16 = 43113;

/// Where a `udp_multicast` bus is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpMulticastConfig {
    /// The group.
    pub group: IpAddr,
    /// The port.
    pub port: u16,
    /// The IPv4 interface to join on and send from (IPv6: interface index 0, the default).
    pub interface: Ipv4Addr,
    /// Hop limit / TTL; 1 keeps the frames on the local link.
    pub hop_limit: u32,
    /// Whether this bus carries CAN FD frames.
    pub fd: bool,
}

impl Default for UdpMulticastConfig {
    fn default() -> Self {
        Self {
            group: IpAddr::V4(DEFAULT_GROUP_V4),
            port: DEFAULT_PORT,
            interface: Ipv4Addr::LOCALHOST,
            hop_limit: 1,
            fd: true,
        }
    }
}

/// A node on a `udp_multicast` bus.
#[derive(Debug)]
pub struct UdpMulticastBus {
    socket: UdpSocket,
    config: UdpMulticastConfig,
}

impl UdpMulticastBus {
    /// Joins the group.
    ///
    /// # Errors
    /// [`TransportError::Io`] naming the group when a socket call fails (no multicast route,
    /// the interface without multicast).
    pub fn open(config: UdpMulticastConfig) -> Result<Self, TransportError> {
        let at = SocketAddr::new(config.group, config.port);
        let ctx = |what: &str| format!("udp_multicast {at}: {what}");
        let io = |what: &str| {
            let c = ctx(what);
            move |e| TransportError::io(c, e)
        };
        if !config.group.is_multicast() {
            return Err(TransportError::Config(ctx("not a multicast group")));
        }
        let domain = match config.group {
            IpAddr::V4(_) => Domain::IPV4,
            IpAddr::V6(_) => Domain::IPV6,
        };
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(io("socket"))?;
        s.set_reuse_address(true).map_err(io("SO_REUSEADDR"))?;
        s.set_reuse_port(true).map_err(io("SO_REUSEPORT"))?;
        match config.group {
            IpAddr::V4(g) => {
                s.set_multicast_ttl_v4(config.hop_limit)
                    .map_err(io("IP_MULTICAST_TTL"))?;
                s.set_multicast_loop_v4(true)
                    .map_err(io("IP_MULTICAST_LOOP"))?;
                s.set_multicast_if_v4(&config.interface)
                    .map_err(io("IP_MULTICAST_IF"))?;
                let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
                s.bind(&any.into()).map_err(io("bind"))?;
                s.join_multicast_v4(&g, &config.interface)
                    .map_err(io("joining the group (is multicast on and routed?)"))?;
            }
            IpAddr::V6(g) => {
                s.set_multicast_hops_v6(config.hop_limit)
                    .map_err(io("IPV6_MULTICAST_HOPS"))?;
                s.set_multicast_loop_v6(true)
                    .map_err(io("IPV6_MULTICAST_LOOP"))?;
                let any = SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), config.port);
                s.bind(&any.into()).map_err(io("bind"))?;
                s.join_multicast_v6(&g, 0)
                    .map_err(io("joining the group (is multicast on and routed?)"))?;
            }
        }
        // Room for bursts of DAQ frames while the reader is busy.
        let _ = s.set_recv_buffer_size(4 << 20);
        Ok(Self {
            socket: s.into(),
            config,
        })
    }
}

impl CanBus for UdpMulticastBus {
    type Tx = UdpMulticastTx;
    type Rx = UdpMulticastRx;

    fn split(self) -> (UdpMulticastTx, UdpMulticastRx) {
        let to = SocketAddr::new(self.config.group, self.config.port);
        let tx = self.socket.try_clone().map(|socket| UdpMulticastTx {
            socket: Some(socket),
            to,
            fd: self.config.fd,
            buf: Vec::with_capacity(256),
        });
        let tx = tx.unwrap_or_else(|e| {
            tracing::error!("udp_multicast {to}: cannot clone the socket for sending: {e}");
            UdpMulticastTx {
                socket: None,
                to,
                fd: self.config.fd,
                buf: Vec::new(),
            }
        });
        (
            tx,
            UdpMulticastRx {
                socket: self.socket,
                at: to,
                buf: vec![0; 4096],
                // Blocking without a timeout, as the socket is made: never asked for.
                mode: Some(Duration::MAX),
                skipped: 0,
                malformed: 0,
            },
        )
    }

    fn describe(&self) -> String {
        format!(
            "udp_multicast {}",
            SocketAddr::new(self.config.group, self.config.port)
        )
    }
}

/// The send half of a [`UdpMulticastBus`].
#[derive(Debug)]
pub struct UdpMulticastTx {
    socket: Option<UdpSocket>,
    to: SocketAddr,
    fd: bool,
    buf: Vec<u8>,
}

/// Encodes `frame` as python-can does.
pub fn encode(frame: &CanFrame, out: &mut Vec<u8>) {
    out.clear();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut w = Writer(out);
    w.map(11);
    w.str("timestamp");
    w.f64(now);
    w.str("arbitration_id");
    w.uint(u64::from(frame.id.id));
    w.str("is_extended_id");
    w.bool(frame.id.extended);
    w.str("is_remote_frame");
    w.bool(false);
    w.str("is_error_frame");
    w.bool(false);
    w.str("channel");
    w.nil();
    w.str("dlc");
    w.uint(frame.data().len() as u64);
    w.str("data");
    w.bin(frame.data());
    w.str("is_fd");
    w.bool(frame.fd);
    w.str("bitrate_switch");
    w.bool(frame.brs);
    w.str("error_state_indicator");
    w.bool(false);
}

/// What a datagram held.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A data frame.
    Frame(CanFrame),
    /// A remote or error frame, which XCP does not use.
    Other,
}

/// Decodes a python-can datagram.
///
/// # Errors
/// [`MsgpackError`] naming what is wrong: not a map, a missing or ill-typed field, an
/// identifier or length a CAN frame cannot have.
pub fn decode(datagram: &[u8]) -> Result<Decoded, MsgpackError> {
    let mut id = None;
    let mut extended = false;
    let mut data = None;
    let mut fd = false;
    let mut brs = false;
    let mut other = false;
    let mut dlc = None;
    let mut timestamp = None;
    let bad = |k: &str| MsgpackError(format!("field {k} has the wrong type"));
    decode_map(datagram, |k, v| {
        match (k, v) {
            ("arbitration_id", Value::Int(i)) => {
                id = Some(u32::try_from(i).map_err(|_| bad(k))?);
            }
            ("is_extended_id", Value::Bool(b)) => extended = b,
            ("is_remote_frame" | "is_error_frame", Value::Bool(b)) => other |= b,
            ("is_fd", Value::Bool(b)) => fd = b,
            ("bitrate_switch", Value::Bool(b)) => brs = b,
            ("data", Value::Bytes(b)) => data = Some(b),
            ("dlc", Value::Int(i)) => dlc = Some(usize::try_from(i).map_err(|_| bad(k))?),
            ("timestamp", Value::Float(t)) => timestamp = Some(t),
            ("timestamp", Value::Int(t)) => {
                #[allow(clippy::cast_precision_loss, reason = "seconds since 1970")]
                let t = t as f64;
                timestamp = Some(t);
            }
            (
                "arbitration_id" | "is_extended_id" | "is_remote_frame" | "is_error_frame"
                | "is_fd" | "bitrate_switch" | "data" | "dlc",
                _,
            ) => return Err(bad(k)),
            // channel, error_state_indicator and whatever later versions add.
            _ => {}
        }
        Ok(())
    })?;
    if other {
        return Ok(Decoded::Other);
    }
    let id = id.ok_or_else(|| MsgpackError("no arbitration_id".to_owned()))?;
    let id = if extended {
        CanId::extended(id)
    } else {
        CanId::standard(id)
    }
    .map_err(|_| MsgpackError(format!("identifier {id:#x} is too wide")))?;
    let data = data.unwrap_or_default();
    if dlc.is_some_and(|d| d != data.len()) {
        return Err(MsgpackError(format!(
            "dlc {} but {} data bytes",
            dlc.unwrap_or(0),
            data.len()
        )));
    }
    let mut frame = CanFrame::new(id, &data, fd).map_err(|e| MsgpackError(e.to_string()))?;
    frame.brs = fd && brs;
    frame.timestamp_ns = timestamp.filter(|t| t.is_finite() && *t >= 0.0).map(|t| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "non-negative seconds since 1970 fit u64 nanoseconds"
        )]
        let ns = (t * 1e9) as u64;
        ns
    });
    Ok(Decoded::Frame(frame))
}

impl CanTx for UdpMulticastTx {
    fn send(&mut self, frame: &CanFrame) -> Result<(), TransportError> {
        let Some(socket) = &self.socket else {
            return Err(TransportError::Closed {
                transport: format!("udp_multicast {}", self.to),
                reason: "its socket could not be shared for sending".to_owned(),
            });
        };
        if frame.fd && !self.fd {
            return Err(TransportError::Config(format!(
                "udp_multicast {} is configured for classic CAN; a CAN FD frame cannot be sent",
                self.to
            )));
        }
        encode(frame, &mut self.buf);
        socket
            .send_to(&self.buf, self.to)
            .map_err(|e| TransportError::io(format!("sending to udp_multicast {}", self.to), e))?;
        Ok(())
    }

    fn fd(&self) -> bool {
        self.fd
    }
}

/// The receive half of a [`UdpMulticastBus`].
#[derive(Debug)]
pub struct UdpMulticastRx {
    socket: UdpSocket,
    at: SocketAddr,
    buf: Vec<u8>,
    /// The socket's receive mode: `None` non-blocking, else the read timeout set.
    mode: Option<Duration>,
    skipped: u64,
    malformed: u64,
}

impl UdpMulticastRx {
    /// Remote and error frames passed over.
    pub const fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Datagrams that were not python-can frames.
    pub const fn malformed(&self) -> u64 {
        self.malformed
    }

    fn read(&mut self, wait: Option<Duration>) -> Result<Option<CanFrame>, TransportError> {
        let io = |e| TransportError::io(format!("receiving from udp_multicast {}", self.at), e);
        // The socket's mode changes only when the caller's does: a spinning caller pays no
        // system call but the receive, a waiting one sets its timeout when it changes (in
        // whole milliseconds, rounded up; the caller's loop keeps the exact deadline).
        let want = wait.map(|d| {
            Duration::from_millis(
                u64::try_from(d.as_micros().div_ceil(1000))
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
        });
        if want != self.mode {
            match want {
                None => self.socket.set_nonblocking(true).map_err(io)?,
                Some(d) => {
                    if self.mode.is_none() {
                        self.socket.set_nonblocking(false).map_err(io)?;
                    }
                    self.socket.set_read_timeout(Some(d)).map_err(io)?;
                }
            }
            self.mode = want;
        }
        match self.socket.recv(&mut self.buf) {
            Ok(n) => match decode(&self.buf[..n]) {
                Ok(Decoded::Frame(f)) => Ok(Some(f)),
                Ok(Decoded::Other) => {
                    self.skipped += 1;
                    Ok(None)
                }
                Err(e) => {
                    self.malformed += 1;
                    tracing::debug!("udp_multicast {}: {e}", self.at);
                    Ok(None)
                }
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(TransportError::io(
                format!("receiving from udp_multicast {}", self.at),
                e,
            )),
        }
    }
}

impl CanRx for UdpMulticastRx {
    fn recv(&mut self, timeout: Duration) -> Result<Option<CanFrame>, TransportError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return self.read(None);
            }
            if let Some(f) = self.read(Some(left))? {
                return Ok(Some(f));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    fn try_recv(&mut self) -> Result<Option<CanFrame>, TransportError> {
        // Datagrams that are no data frames are passed over until one is or none is left.
        for _ in 0..64 {
            let before = self.skipped + self.malformed;
            match self.read(None)? {
                Some(f) => return Ok(Some(f)),
                None if self.skipped + self.malformed == before => return Ok(None),
                None => {}
            }
        }
        Ok(None)
    }

    fn overruns(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_survives_encoding() {
        let id = CanId::extended(0x1234_5678).expect("id");
        let mut f = CanFrame::new(id, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], true).expect("f");
        f.brs = true;
        let mut buf = Vec::new();
        encode(&f, &mut buf);
        let Decoded::Frame(back) = decode(&buf).expect("decodes") else {
            unreachable!("a data frame was encoded")
        };
        assert_eq!(
            (back.id, back.data(), back.fd, back.brs),
            (id, f.data(), true, true)
        );
        assert!(back.timestamp_ns.is_some());
        for n in 0..buf.len() {
            assert!(decode(&buf[..n]).is_err(), "prefix {n} decoded");
        }
    }

    #[test]
    fn random_and_mutated_datagrams_never_panic() {
        // A fixed xorshift stream: random datagrams, and valid frames with bytes flipped,
        // cut short or extended. Whatever arrives is a frame, "other", or an error.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let id = CanId::standard(0x7E1).expect("id");
        let mut valid = Vec::new();
        encode(
            &CanFrame::new(id, &[0xFF, 1, 2, 3, 4, 5, 6, 7], false).expect("frame"),
            &mut valid,
        );
        let (mut frames, mut errors) = (0, 0);
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = usize::try_from(next() % 300).expect("small");
                (0..len).map(|_| next().to_le_bytes()[0]).collect()
            } else {
                let mut b = valid.clone();
                for _ in 0..=next() % 4 {
                    let i = usize::try_from(next()).expect("64-bit") % b.len();
                    b[i] = next().to_le_bytes()[0];
                }
                let keep = usize::try_from(next()).expect("64-bit") % (b.len() + 8);
                b.resize(keep, 0);
                b
            };
            match decode(&bytes) {
                Ok(_) => frames += 1,
                Err(_) => errors += 1,
            }
        }
        // Some mutations leave a valid frame (a flipped data byte), most break it.
        assert!(
            frames > 0 && errors > 10_000,
            "{frames} frames, {errors} errors"
        );
    }

    #[test]
    fn what_a_can_frame_cannot_be_is_refused() {
        let mut buf = Vec::new();
        let mut w = Writer(&mut buf);
        w.map(3);
        w.str("arbitration_id");
        w.uint(0x800);
        w.str("is_extended_id");
        w.bool(false);
        w.str("data");
        w.bin(&[0]);
        let e = decode(&buf).expect_err("an 11-bit id above 0x7ff");
        assert!(e.to_string().contains("too wide"), "{e}");
    }
}
