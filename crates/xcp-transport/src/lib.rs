//! The transport layer between an XCP master (client) and slave (server), independent of the bus.
//!
//! A [`Transport`] moves whole XCP packets: each bus crate (`xcp-transport-eth`, `-can`, …)
//! applies the framing of [`xcp_proto::tl`] inside, so master and slave never see LEN, CTR,
//! SYNC bytes or CAN padding. A transport splits into a send half ([`PacketTx`]) and a receive
//! half ([`PacketRx`]) so one thread can wait for DAQ packets while another sends commands.
//!
//! The trait is blocking with an explicit timeout on every wait, and names no async runtime.
//! An async master runs each half on a thread of its own (as it must anyway for blocking bus
//! APIs such as serial ports and USB) and talks to it through bounded channels; a slave needs
//! no runtime at all.
//!
//! This crate also holds the test and diagnosis tools every bus shares:
//!
//! | item | purpose |
//! |---|---|
//! | [`mem::pair`] | an in-memory master/slave pair for tests |
//! | [`Tracing`] | logs every packet in spec words at `trace` level (target `xcp::packet`) |
//! | [`FaultInjecting`] | seeded, reproducible drop, duplicate, corrupt, delay and reorder |
//! | [`fault::FaultPlan`] | the same seeded decisions, for faults injected below the framing |
//! | [`either::Either`] | one slave on two transports (TCP and UDP), one master at a time |
//!
//! It does not open sockets or devices, and it does not know the XCP session state.
//!
//! ```
//! use std::time::Duration;
//! use xcp_transport::{mem, PacketRx, PacketTx, Transport};
//!
//! # fn main() -> Result<(), xcp_transport::TransportError> {
//! let (master, slave) = mem::pair();
//! let (mut m_tx, mut m_rx) = master.split();
//! let (mut s_tx, mut s_rx) = slave.split();
//!
//! m_tx.send_now(&[0xFF, 0x00])?; // CONNECT
//! let cmd = s_rx.recv(Duration::from_secs(1))?.expect("the packet is already queued");
//! assert_eq!(cmd, [0xFF, 0x00]);
//!
//! s_tx.send_now(&[0xFF, 0x15, 0xC0, 0x08, 0x08, 0x00, 0x01, 0x01])?;
//! let res = m_rx.recv(Duration::from_secs(1))?.expect("the packet is already queued");
//! assert_eq!(res[0], 0xFF);
//! # Ok(())
//! # }
//! ```

pub mod describe;
pub mod either;
pub mod fault;
pub mod mem;
pub mod routes;
mod trace;

use std::time::{Duration, Instant};

pub use fault::{FaultConfig, FaultInjecting};
pub use routes::DtoRoutes;
pub use trace::{Role, Tracing};

/// A bidirectional packet link to one peer, split into halves before use.
pub trait Transport: Send + 'static {
    /// The send half.
    type Tx: PacketTx;
    /// The receive half.
    type Rx: PacketRx;

    /// Splits the transport so sending and receiving can run on different threads.
    fn split(self) -> (Self::Tx, Self::Rx);
}

/// The sending half of a transport.
///
/// A transport may pack several packets into one bus frame (an Ethernet datagram, a USB
/// transfer). [`send`](Self::send) only queues a packet when packing is configured; the packets
/// leave when the frame is full, when [`flush`](Self::flush) is called, or when a later `send`
/// or [`poll_flush`](Self::poll_flush) finds that the oldest queued packet waited longer than
/// the flush interval. A loop that owns the half should wait no longer than
/// [`flush_deadline`](Self::flush_deadline) before calling `poll_flush`.
pub trait PacketTx: Send + 'static {
    /// Queues one XCP packet for sending; it may leave at once or be packed with the next ones.
    ///
    /// # Errors
    /// [`TransportError::TooLong`] when the packet cannot fit the bus; otherwise link errors.
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError>;

    /// Sends everything queued now.
    ///
    /// # Errors
    /// Link errors, including [`TransportError::Stalled`] when the peer stops reading.
    fn flush(&mut self) -> Result<(), TransportError>;

    /// Sends one packet and flushes, for commands and responses that must not wait.
    ///
    /// # Errors
    /// As [`send`](Self::send) and [`flush`](Self::flush).
    fn send_now(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        self.send(packet)?;
        self.flush()
    }

    /// The latest time at which queued packets must be flushed; `None` when nothing is queued.
    fn flush_deadline(&self) -> Option<Instant> {
        None
    }

    /// Flushes when the flush deadline has passed at `now`.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    fn poll_flush(&mut self, now: Instant) -> Result<(), TransportError> {
        match self.flush_deadline() {
            Some(deadline) if deadline <= now => self.flush(),
            _ => Ok(()),
        }
    }

    /// The largest XCP packet this half can send.
    fn max_packet_len(&self) -> usize;

    /// Counters of what this half sent and dropped.
    fn stats(&self) -> TxStats;
}

/// The receiving half of a transport.
pub trait PacketRx: Send + 'static {
    /// Waits at most `timeout` for the next XCP packet.
    ///
    /// Returns `Ok(None)` when the time ran out. The packet borrows the half's buffer until
    /// the next call.
    ///
    /// # Errors
    /// [`TransportError::Disconnected`] when the peer went away. On a server this is reported
    /// once per lost peer; the next call waits for a new one. Other variants describe link
    /// failures and malformed framing.
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError>;

    /// The next packet if one has already arrived and sits in this half's buffers, without
    /// waiting and without a system call; `Ok(None)` otherwise (the default: no buffers).
    ///
    /// A master drains these before it reports a response, so that a duplicate already
    /// received cannot be mistaken for the answer to its next command.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        Ok(None)
    }

    /// The next packet if one has already arrived, looking past this half's buffers into
    /// the channel below (one non-blocking read of a socket) but never waiting; `Ok(None)`
    /// otherwise. A master that polls for its response instead of sleeping calls this in a
    /// loop. The default is [`try_recv`](Self::try_recv), for halves whose buffers are the
    /// channel itself.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    fn poll_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        self.try_recv()
    }

    /// The largest XCP packet this half accepts.
    fn max_packet_len(&self) -> usize;

    /// Counters of what this half received, lost and discarded.
    fn stats(&self) -> RxStats;
}

/// What a send half did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxStats {
    /// XCP packets handed to the bus.
    pub packets: u64,
    /// Bytes of XCP packets handed to the bus (without transport headers).
    pub bytes: u64,
    /// Bus frames written (datagrams, TCP writes, CAN frames).
    pub frames: u64,
    /// Packets queued but never sent: the peer changed or went away before the flush.
    pub dropped: u64,
}

/// What a receive half saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RxStats {
    /// XCP packets delivered.
    pub packets: u64,
    /// Bytes of XCP packets delivered (without transport headers).
    pub bytes: u64,
    /// Packets the peer sent that never arrived, from gaps in the transport-layer counter.
    pub lost: u64,
    /// Packets whose counter repeated or went backwards (duplicates, reordering).
    pub out_of_order: u64,
    /// Frames or datagrams discarded as malformed (bad LEN, truncated, bad checksum).
    pub malformed: u64,
    /// Packets from a sender that is not the current peer, discarded.
    pub foreign: u64,
}

/// Why a transport operation failed.
///
/// Messages say what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer closed the link or vanished.
    #[error("{peer} disconnected: {reason}")]
    Disconnected {
        /// Who went away.
        peer: String,
        /// What was observed.
        reason: String,
    },
    /// The peer stopped taking data for longer than the send timeout.
    #[error("{peer} did not take data for {waited:?}; the peer is stuck or the link is overloaded")]
    Stalled {
        /// Who is not reading.
        peer: String,
        /// How long the send waited.
        waited: Duration,
    },
    /// A packet is longer than the bus or the configuration allows.
    #[error(
        "packet of {len} bytes exceeds the transport maximum of {max}; check MAX_CTO/MAX_DTO and the transport's size settings"
    )]
    TooLong {
        /// The packet length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// There is no peer to send to (a server before a master connected).
    #[error("no master is connected")]
    NoPeer,
    /// The peer's framing is broken beyond recovery (a stream lost sync).
    #[error(
        "malformed data from {peer}: {source}; the link was closed because nothing after it can be trusted"
    )]
    Malformed {
        /// Who sent it.
        peer: String,
        /// What was wrong.
        source: xcp_proto::DecodeError,
    },
    /// Another master holds the slave.
    #[error("{peer} refused the connection: {reason}")]
    Refused {
        /// Who refused.
        peer: String,
        /// Why.
        reason: String,
    },
    /// Opening the link timed out.
    #[error(
        "no connection to {peer} within {waited:?}; check the address, the port and that the slave is running"
    )]
    ConnectTimeout {
        /// The address tried.
        peer: String,
        /// How long it waited.
        waited: Duration,
    },
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was attempted, including the address involved.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setting is unusable.
    #[error("invalid transport configuration: {0}")]
    Config(String),
    /// The transport can no longer take any peer: a server's listening socket failed, or the
    /// other end of an in-memory pair is gone. A server ends on this error and on no other.
    #[error("{transport} is closed for good: {reason}")]
    Closed {
        /// Which transport (with its address where it has one).
        transport: String,
        /// What was observed.
        reason: String,
    },
}

impl TransportError {
    /// Wraps an OS error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether the peer went away. A server carries on with the next peer, unless the
    /// transport is also [closed](Self::is_closed).
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Disconnected { .. } | Self::Closed { .. })
    }

    /// Whether the transport can take no peer any more: a server on it has nothing left to
    /// serve. Every other error ends one peer's session at most.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed { .. })
    }
}

/// Why a transport URL (`can://…`, `sxi://…`, `usb://…`) is unusable: what to fix, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

/// A transport split into boxed halves at once, so that transports of different types can
/// be kept in one list and joined (a server on any set of buses, through [`either::Either`]).
pub struct Boxed {
    tx: Box<dyn PacketTx>,
    rx: Box<dyn PacketRx>,
}

impl Boxed {
    /// Splits `transport` and boxes its halves.
    pub fn new<T: Transport>(transport: T) -> Self {
        let (tx, rx) = transport.split();
        Self {
            tx: Box::new(tx),
            rx: Box::new(rx),
        }
    }

    /// `transports` joined into one by [`either::Either`], first to last; `None` for none.
    pub fn join(transports: Vec<Self>) -> Option<Self> {
        transports
            .into_iter()
            .reduce(|a, b| Self::new(either::Either::new(a, b)))
    }
}

impl Transport for Boxed {
    type Tx = Box<dyn PacketTx>;
    type Rx = Box<dyn PacketRx>;

    fn split(self) -> (Self::Tx, Self::Rx) {
        (self.tx, self.rx)
    }
}

impl<T: PacketTx + ?Sized> PacketTx for Box<T> {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        (**self).send(packet)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        (**self).flush()
    }
    fn send_now(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        (**self).send_now(packet)
    }
    fn flush_deadline(&self) -> Option<Instant> {
        (**self).flush_deadline()
    }
    fn poll_flush(&mut self, now: Instant) -> Result<(), TransportError> {
        (**self).poll_flush(now)
    }
    fn max_packet_len(&self) -> usize {
        (**self).max_packet_len()
    }
    fn stats(&self) -> TxStats {
        (**self).stats()
    }
}

impl<T: PacketRx + ?Sized> PacketRx for Box<T> {
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        (**self).recv(timeout)
    }
    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        (**self).try_recv()
    }
    fn poll_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        (**self).poll_recv()
    }
    fn max_packet_len(&self) -> usize {
        (**self).max_packet_len()
    }
    fn stats(&self) -> RxStats {
        (**self).stats()
    }
}
