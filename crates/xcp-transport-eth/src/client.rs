//! The master (client) side.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;

use xcp_transport::{Transport, TransportError};

use crate::link::{EthRx, EthTx};
use crate::{EthConfig, Protocol};

/// A master's link to one slave.
#[doc(alias = "client")]
#[derive(Debug)]
pub struct EthClient {
    tx: EthTx,
    rx: EthRx,
    local: SocketAddr,
}

impl EthClient {
    /// The local address the link uses.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Transport for EthClient {
    type Tx = EthTx;
    type Rx = EthRx;

    fn split(self) -> (EthTx, EthRx) {
        (self.tx, self.rx)
    }
}

/// Applies the configured kernel buffer sizes; the kernel may grant less, which is fine.
pub(crate) fn size_buffers(socket: socket2::SockRef<'_>, config: &EthConfig) {
    if let Some(size) = config.socket_buffer {
        // Best effort: a smaller buffer only means earlier back-pressure or loss, which the
        // counters show.
        let _ = socket.set_recv_buffer_size(size);
        let _ = socket.set_send_buffer_size(size);
    }
}

/// Opens a link to the slave at `addr`.
///
/// # Errors
/// [`TransportError::ConnectTimeout`] when TCP gets no answer within the connect timeout,
/// [`TransportError::Io`] when nothing listens or the address is unusable, and
/// [`TransportError::Config`] for inconsistent settings.
pub fn connect(
    addr: SocketAddr,
    protocol: Protocol,
    config: &EthConfig,
) -> Result<EthClient, TransportError> {
    config.validate(protocol)?;
    let peer = format!("slave {addr} ({protocol})");
    match protocol {
        Protocol::Tcp => {
            let stream = TcpStream::connect_timeout(&addr, config.connect_timeout).map_err(|e| {
                match e.kind() {
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                        TransportError::ConnectTimeout {
                            peer: peer.clone(),
                            waited: config.connect_timeout,
                        }
                    }
                    io::ErrorKind::ConnectionRefused => TransportError::io(
                        format!("connecting to {peer}: nothing listens there; check the address and port and that the slave runs"),
                        e,
                    ),
                    _ => TransportError::io(format!("connecting to {peer}"), e),
                }
            })?;
            let setup = |e| TransportError::io(format!("setting up the connection to {peer}"), e);
            stream.set_nodelay(true).map_err(setup)?;
            stream
                .set_write_timeout(Some(config.send_timeout))
                .map_err(setup)?;
            size_buffers(socket2::SockRef::from(&stream), config);
            let local = stream.local_addr().map_err(setup)?;
            let write_half = stream.try_clone().map_err(setup)?;
            Ok(EthClient {
                tx: EthTx::tcp(write_half, config, peer.clone()),
                rx: EthRx::tcp(stream, config, peer),
                local,
            })
        }
        Protocol::Udp => {
            // Stay on loopback when the slave is local, so nothing is bound on other interfaces.
            let local_ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            let setup = |e| TransportError::io(format!("opening a UDP socket for {peer}"), e);
            let socket = UdpSocket::bind(SocketAddr::new(local_ip, 0)).map_err(setup)?;
            socket.connect(addr).map_err(setup)?;
            socket
                .set_write_timeout(Some(config.send_timeout))
                .map_err(setup)?;
            size_buffers(socket2::SockRef::from(&socket), config);
            let local = socket.local_addr().map_err(setup)?;
            let socket = Arc::new(socket);
            Ok(EthClient {
                tx: EthTx::udp(Arc::clone(&socket), config, peer.clone()),
                rx: EthRx::udp(socket, config, peer),
                local,
            })
        }
    }
}
