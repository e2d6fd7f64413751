//! SocketCAN (Linux): a CAN or CAN FD interface of the kernel (`can0`, `vcan0`).
//!
//! Two raw sockets on the interface, one for each half, both with CAN FD frames enabled;
//! the receive half reads with the kernel's receive time. Like every socket on the interface,
//! the receive socket also sees what the send socket puts on the bus; the XCP transport
//! passes those over as frames of another identifier.

use std::time::{Duration, UNIX_EPOCH};

use socketcan::{
    CanAnyFrame, CanDataFrame, CanFdFrame, CanFdSocket, EmbeddedFrame, ExtendedId, Id, Socket,
    StandardId,
};
use xcp_transport::TransportError;

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::{CanFrame, CanId};

/// A node on a SocketCAN interface.
#[derive(Debug)]
pub struct SocketCanBus {
    iface: String,
    tx: CanFdSocket,
    rx: CanFdSocket,
    fd: bool,
}

impl SocketCanBus {
    /// Opens interface `iface` (`can0`, `vcan0`); `fd` sends CAN FD frames where asked.
    ///
    /// # Errors
    /// [`TransportError::Io`] naming the interface (no such interface, not a CAN interface,
    /// down, or no CAN FD on it).
    pub fn open(iface: &str, fd: bool) -> Result<Self, TransportError> {
        let open = || {
            CanFdSocket::open(iface).map_err(|e| {
                TransportError::io(
                    format!("opening SocketCAN interface {iface} (is it up? ip link show {iface})"),
                    e,
                )
            })
        };
        Ok(Self {
            iface: iface.to_owned(),
            tx: open()?,
            rx: open()?,
            fd,
        })
    }
}

impl CanBus for SocketCanBus {
    type Tx = SocketCanTx;
    type Rx = SocketCanRx;

    fn split(self) -> (SocketCanTx, SocketCanRx) {
        (
            SocketCanTx {
                socket: self.tx,
                iface: self.iface.clone(),
                fd: self.fd,
            },
            SocketCanRx {
                socket: self.rx,
                iface: self.iface,
                skipped: 0,
            },
        )
    }

    fn describe(&self) -> String {
        format!("SocketCAN {}", self.iface)
    }
}

fn to_id(id: CanId) -> Option<Id> {
    if id.extended {
        ExtendedId::new(id.id).map(Id::Extended)
    } else {
        u16::try_from(id.id)
            .ok()
            .and_then(StandardId::new)
            .map(Id::Standard)
    }
}

fn from_id(id: Id) -> Option<CanId> {
    match id {
        Id::Standard(s) => CanId::standard(u32::from(s.as_raw())).ok(),
        Id::Extended(e) => CanId::extended(e.as_raw()).ok(),
    }
}

/// The send half of a [`SocketCanBus`].
#[derive(Debug)]
pub struct SocketCanTx {
    socket: CanFdSocket,
    iface: String,
    fd: bool,
}

impl CanTx for SocketCanTx {
    fn send(&mut self, frame: &CanFrame) -> Result<(), TransportError> {
        let bad = || TransportError::Config(format!("{frame} cannot be put on SocketCAN"));
        let id = to_id(frame.id).ok_or_else(bad)?;
        let io = |e| TransportError::io(format!("sending on SocketCAN {}", self.iface), e);
        if frame.fd {
            let mut f = CanFdFrame::new(id, frame.data()).ok_or_else(bad)?;
            f.set_brs(frame.brs);
            self.socket.write_frame(&f).map_err(io)
        } else {
            let f = CanDataFrame::new(id, frame.data()).ok_or_else(bad)?;
            self.socket.write_frame(&f).map_err(io)
        }
    }

    fn fd(&self) -> bool {
        self.fd
    }
}

/// The receive half of a [`SocketCanBus`].
#[derive(Debug)]
pub struct SocketCanRx {
    socket: CanFdSocket,
    iface: String,
    skipped: u64,
}

impl SocketCanRx {
    /// Remote and error frames passed over.
    pub const fn skipped(&self) -> u64 {
        self.skipped
    }
}

impl CanRx for SocketCanRx {
    fn recv(&mut self, timeout: Duration) -> Result<Option<CanFrame>, TransportError> {
        let io = |e| TransportError::io(format!("receiving on SocketCAN {}", self.iface), e);
        self.socket
            .set_read_timeout(timeout.max(Duration::from_micros(1)))
            .map_err(io)?;
        let (any, at) = match self.socket.read_frame_with_timestamp() {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        };
        let (id, data, fd, brs) = match &any {
            CanAnyFrame::Normal(f) => (f.id(), f.data(), false, false),
            CanAnyFrame::Fd(f) => (f.id(), f.data(), true, f.is_brs()),
            CanAnyFrame::Remote(_) | CanAnyFrame::Error(_) => {
                self.skipped += 1;
                return Ok(None);
            }
        };
        let Some(id) = from_id(id) else {
            self.skipped += 1;
            return Ok(None);
        };
        let Ok(mut frame) = CanFrame::new(id, data, fd) else {
            self.skipped += 1;
            return Ok(None);
        };
        frame.brs = brs;
        frame.timestamp_ns = at
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        Ok(Some(frame))
    }

    fn overruns(&self) -> u64 {
        0
    }
}
