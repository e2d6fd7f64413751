//! # xcp-transport-can: XCP on CAN and CAN FD
//!
//! A [`CanBus`] sends and receives CAN frames with bounded waits; [`CanTransport`] carries
//! XCP over it for a master or a slave, one packet per frame on the identifiers of the A2L's
//! `XCP_ON_CAN` ([`XcpCan`]). Backends:
//!
//! | backend | what it is |
//! |---|---|
//! | [`VirtualBus`] | an in-process bus of any number of nodes, optionally paced to a bit rate |
//! | [`UdpMulticastBus`] | python-can's `udp_multicast` interface, wire-compatible with python-can 4.x |
//! | [`SlcanBus`] | a serial-line CAN adapter (slcan: CANable, USBtin, …), CAN FD extensions included |
//! | `SocketCanBus` | a SocketCAN interface (Linux, feature `socketcan`, on by default) |
//!
//! ```
//! use std::time::Duration;
//! use xcp_transport::{PacketRx, PacketTx, Transport};
//! use xcp_transport_can::{CanTransport, VirtualBus, VirtualConfig, XcpCan};
//!
//! let bus = VirtualBus::new(VirtualConfig::default());
//! let master = CanTransport::master(bus.node(), XcpCan::default())?;
//! let slave = CanTransport::slave(bus.node(), XcpCan::default())?;
//! let (mut m_tx, _m_rx) = master.split();
//! let (_s_tx, mut s_rx) = slave.split();
//! m_tx.send_now(&[0xFF, 0x00])?; // CONNECT, on CAN_ID_MASTER 0x7E0
//! assert_eq!(s_rx.recv(Duration::from_secs(1))?, Some(&[0xFF, 0x00][..]));
//! # Ok::<(), xcp_transport::TransportError>(())
//! ```

mod any;
pub mod bus;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod msgpack;
pub mod probe;
pub mod scan;
pub mod slcan;
#[cfg(all(target_os = "linux", feature = "socketcan"))]
pub mod socketcan_bus;
pub mod udp_multicast;
pub mod url;
pub mod virtual_bus;
pub mod xcp;

pub use any::{AnyBus, AnyRx, AnyTx};
pub use bus::{CanBus, CanRx, CanTx};
pub use frame::{CanFrame, CanId, FrameError, MAX_DATA};
pub use msgpack::MsgpackError;
pub use scan::{FoundSlave, scan};
pub use slcan::SlcanBus;
#[cfg(all(target_os = "linux", feature = "socketcan"))]
pub use socketcan_bus::SocketCanBus;
pub use udp_multicast::{UdpMulticastBus, UdpMulticastConfig};
pub use url::{Backend, CanUrl, UrlError};
pub use virtual_bus::{VirtualBus, VirtualConfig, VirtualNode};
pub use xcp::{CanPacketRx, CanPacketTx, CanTransport, XcpCan};
