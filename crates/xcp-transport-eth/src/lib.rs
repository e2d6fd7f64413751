//! XCP on Ethernet: TCP and UDP, master (client) and slave (server) sides, IPv4 and IPv6.
//!
//! Every XCP packet travels behind the 4-byte LEN/CTR header of [`xcp_proto::tl::eth`].
//! The send half packs several packets into one datagram (up to [`EthConfig::max_datagram`],
//! 1472 bytes by default) or one TCP write (up to [`EthConfig::tcp_segment`], 64 KiB), and
//! sends them when the segment is full, on
//! [`PacketTx::flush`](xcp_transport::PacketTx::flush), or once the oldest packet has waited
//! [`EthConfig::flush_interval`] (1 ms by default). The receive half unpacks datagrams and
//! reassembles the TCP stream, checks every LEN against the largest packet allowed, and counts
//! gaps in the sender's counter as lost packets ([`RxStats::lost`](xcp_transport::RxStats)).
//!
//! | side | entry point | notes |
//! |---|---|---|
//! | master (client) | [`connect`] | TCP or UDP to one slave |
//! | slave (server) | [`EthServer::bind`] | one master at a time; runs on threads it owns, no async runtime |
//! | discovery | [`discovery::scan`], [`discovery::Responder`] | GET_SLAVE_ID over UDP multicast 239.255.0.0:5556 |
//! | benchmarks | [`baseline::plain_tcp`], [`baseline::plain_udp`] | plain-socket reference runs that throughput benches compare against |
//!
//! The server binds 127.0.0.1:5555 unless told otherwise; it never listens on all interfaces
//! by default. A second master is refused with an ERR packet
//! (ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE) and the connection closed; after the master goes
//! away the next one is accepted. Over UDP the server latches the address that sent CONNECT;
//! see [`ServerConfig::udp_takeover_after`] for masters that vanish without DISCONNECT.
//!
//! This crate knows nothing of XCP sessions beyond that: the slave and master crates do.
//!
//! ```
//! use std::time::Duration;
//! use xcp_transport::{PacketRx, PacketTx, Transport};
//! use xcp_transport_eth::{connect, EthConfig, EthServer, Protocol, ServerConfig};
//!
//! # fn main() -> Result<(), xcp_transport::TransportError> {
//! let server = EthServer::bind(ServerConfig {
//!     bind: "127.0.0.1:0".parse().expect("literal address"),
//!     ..ServerConfig::new(Protocol::Tcp)
//! })?;
//! let addr = server.local_addr();
//! let (_s_tx, mut s_rx) = server.split();
//!
//! let (mut m_tx, _m_rx) = connect(addr, Protocol::Tcp, &EthConfig::default())?.split();
//! m_tx.send_now(&[0xFF, 0x00])?; // CONNECT
//! let packet = s_rx.recv(Duration::from_secs(5))?.expect("CONNECT arrives");
//! assert_eq!(packet, [0xFF, 0x00]);
//! # Ok(())
//! # }
//! ```

pub mod baseline;
mod client;
pub mod discovery;
mod link;
mod server;

use std::time::Duration;

pub use client::{EthClient, connect};
pub use link::{EthRx, EthTx};
pub use server::{EthServer, ServerConfig, ServerHandle, ServerStats};
pub use xcp_proto::tl::eth::{DEFAULT_MAX_DATAGRAM, DEFAULT_PORT, HEADER_LEN};

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// XCP on TCP: a stream, reassembled; the connection is the session.
    Tcp,
    /// XCP on UDP: datagrams, each holding whole packets.
    Udp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        })
    }
}

/// Settings shared by both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthConfig {
    /// Largest UDP datagram payload, headers included. Packets are packed up to this size.
    /// 1472 fits a standard 1500-byte Ethernet frame; jumbo frames allow about 8972.
    pub max_datagram: usize,
    /// Largest TCP write. The stream has no datagram limit, so larger writes only save
    /// system calls; latency is bounded by `flush_interval` and explicit flushes.
    pub tcp_segment: usize,
    /// How long the first queued packet may wait for company before the segment is sent.
    /// Zero sends every packet at once.
    pub flush_interval: Duration,
    /// Largest XCP packet sent or accepted, on both protocols; `None` means
    /// `max_datagram` − 4 (1468 by default, capped at 65535). A received LEN above it ends a
    /// TCP link with an error instead of an allocation, and discards a UDP datagram.
    pub max_packet_len: Option<usize>,
    /// Longest wait for a TCP connection to open.
    pub connect_timeout: Duration,
    /// Longest wait for the peer to take sent data before the link counts as stalled.
    pub send_timeout: Duration,
    /// Socket send and receive buffer sizes to ask the kernel for (it may grant less).
    pub socket_buffer: Option<usize>,
    /// Before a receive blocks, poll the socket without blocking for up to this long, once
    /// something has arrived since the last poll that found nothing (an idle link blocks at
    /// once). On machines where waking a blocked thread costs tens of microseconds (virtual
    /// machines), this answers a sequence of commands without waking a thread, at the price
    /// of a busy core for up to this long after each packet. Zero (the default) never spins.
    pub spin: Duration,
}

impl Default for EthConfig {
    fn default() -> Self {
        Self {
            max_datagram: DEFAULT_MAX_DATAGRAM,
            tcp_segment: 64 * 1024,
            flush_interval: Duration::from_millis(1),
            max_packet_len: None,
            connect_timeout: Duration::from_secs(2),
            send_timeout: Duration::from_secs(2),
            socket_buffer: Some(4 << 20),
            spin: Duration::ZERO,
        }
    }
}

impl EthConfig {
    /// The largest XCP packet this configuration carries.
    pub fn max_packet_len(&self) -> usize {
        self.max_packet_len.unwrap_or_else(|| {
            self.max_datagram
                .saturating_sub(HEADER_LEN)
                .min(usize::from(u16::MAX))
        })
    }

    /// The packing unit for `protocol`: a datagram or a TCP write.
    pub fn segment(&self, protocol: Protocol) -> usize {
        match protocol {
            Protocol::Tcp => self.tcp_segment,
            Protocol::Udp => self.max_datagram,
        }
    }

    fn validate(&self, protocol: Protocol) -> Result<(), xcp_transport::TransportError> {
        let bad = |why: String| Err(xcp_transport::TransportError::Config(why));
        let segment = self.segment(protocol);
        if segment < HEADER_LEN + 8 {
            return bad(format!(
                "the {protocol} segment size {segment} is too small; it must hold a 4-byte header and an 8-byte CTO"
            ));
        }
        let max_packet = self.max_packet_len();
        if !(8..=usize::from(u16::MAX)).contains(&max_packet) {
            return bad(format!(
                "max_packet_len {max_packet} is outside 8..=65535 (LEN is 16 bits, a CTO is at least 8 bytes)"
            ));
        }
        if max_packet + HEADER_LEN > segment {
            return bad(format!(
                "max_packet_len {max_packet} plus the 4-byte header exceeds the {protocol} segment size {segment}"
            ));
        }
        Ok(())
    }
}
