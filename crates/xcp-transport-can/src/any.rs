//! [`AnyBus`]: whichever backend a URL opened, as one type.

use std::time::Duration;

use xcp_transport::TransportError;

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::CanFrame;
use crate::slcan::{SlcanBus, SlcanRx, SlcanTx};
#[cfg(all(target_os = "linux", feature = "socketcan"))]
use crate::socketcan_bus::{SocketCanBus, SocketCanRx, SocketCanTx};
use crate::udp_multicast::{UdpMulticastBus, UdpMulticastRx, UdpMulticastTx};
use crate::virtual_bus::{VirtualNode, VirtualRx, VirtualTx};

/// A node on any of the backends.
pub enum AnyBus {
    /// The in-process bus.
    Virtual(VirtualNode),
    /// python-can's multicast bus.
    UdpMulticast(UdpMulticastBus),
    /// A serial-line adapter.
    Slcan(SlcanBus),
    /// A SocketCAN interface.
    #[cfg(all(target_os = "linux", feature = "socketcan"))]
    SocketCan(SocketCanBus),
}

/// The send half of an [`AnyBus`].
pub enum AnyTx {
    /// The in-process bus.
    Virtual(VirtualTx),
    /// python-can's multicast bus.
    UdpMulticast(UdpMulticastTx),
    /// A serial-line adapter.
    Slcan(SlcanTx),
    /// A SocketCAN interface.
    #[cfg(all(target_os = "linux", feature = "socketcan"))]
    SocketCan(SocketCanTx),
}

/// The receive half of an [`AnyBus`].
pub enum AnyRx {
    /// The in-process bus.
    Virtual(VirtualRx),
    /// python-can's multicast bus.
    UdpMulticast(UdpMulticastRx),
    /// A serial-line adapter.
    Slcan(SlcanRx),
    /// A SocketCAN interface.
    #[cfg(all(target_os = "linux", feature = "socketcan"))]
    SocketCan(SocketCanRx),
}

impl CanBus for AnyBus {
    type Tx = AnyTx;
    type Rx = AnyRx;

    fn split(self) -> (AnyTx, AnyRx) {
        match self {
            Self::Virtual(b) => {
                let (t, r) = b.split();
                (AnyTx::Virtual(t), AnyRx::Virtual(r))
            }
            Self::UdpMulticast(b) => {
                let (t, r) = b.split();
                (AnyTx::UdpMulticast(t), AnyRx::UdpMulticast(r))
            }
            Self::Slcan(b) => {
                let (t, r) = b.split();
                (AnyTx::Slcan(t), AnyRx::Slcan(r))
            }
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(b) => {
                let (t, r) = b.split();
                (AnyTx::SocketCan(t), AnyRx::SocketCan(r))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Virtual(b) => b.describe(),
            Self::UdpMulticast(b) => b.describe(),
            Self::Slcan(b) => b.describe(),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(b) => b.describe(),
        }
    }
}

impl CanTx for AnyTx {
    fn send(&mut self, frame: &CanFrame) -> Result<(), TransportError> {
        match self {
            Self::Virtual(t) => t.send(frame),
            Self::UdpMulticast(t) => t.send(frame),
            Self::Slcan(t) => t.send(frame),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(t) => t.send(frame),
        }
    }

    fn fd(&self) -> bool {
        match self {
            Self::Virtual(t) => t.fd(),
            Self::UdpMulticast(t) => t.fd(),
            Self::Slcan(t) => t.fd(),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(t) => t.fd(),
        }
    }
}

impl CanRx for AnyRx {
    fn recv(&mut self, timeout: Duration) -> Result<Option<CanFrame>, TransportError> {
        match self {
            Self::Virtual(r) => r.recv(timeout),
            Self::UdpMulticast(r) => r.recv(timeout),
            Self::Slcan(r) => r.recv(timeout),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(r) => r.recv(timeout),
        }
    }

    fn try_recv(&mut self) -> Result<Option<CanFrame>, TransportError> {
        match self {
            Self::Virtual(r) => r.try_recv(),
            Self::UdpMulticast(r) => r.try_recv(),
            Self::Slcan(r) => r.try_recv(),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(r) => r.try_recv(),
        }
    }

    fn overruns(&self) -> u64 {
        match self {
            Self::Virtual(r) => r.overruns(),
            Self::UdpMulticast(r) => r.overruns(),
            Self::Slcan(r) => r.overruns(),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Self::SocketCan(r) => r.overruns(),
        }
    }
}
