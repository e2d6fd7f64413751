//! XCP on CAN: one XCP packet per frame, on the identifiers of the A2L's `XCP_ON_CAN`.
//!
//! The master sends on CAN_ID_MASTER and listens on CAN_ID_SLAVE; the slave does the reverse
//! and also listens on CAN_ID_BROADCAST where one is set. Frames on other identifiers belong
//! to other nodes: they are passed over and counted ([`RxStats::foreign`]). A frame is padded
//! to the next valid length (CAN FD) or to MAX_DLC when MAX_DLC_REQUIRED is set.

use std::fmt;
use std::time::Duration;

use xcp_proto::tl::can::CanConfig;
use xcp_transport::{PacketRx, PacketTx, RxStats, Transport, TransportError, TxStats};

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::{CanFrame, CanId, MAX_DATA};

/// The XCP-on-CAN settings of one master–slave link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XcpCan {
    /// Identifiers, CAN FD, MAX_DLC, MAX_DLC_REQUIRED and the padding byte.
    pub link: CanConfig,
    /// CAN_ID_BROADCAST (GET_SLAVE_ID to every slave), if the bus has one.
    pub broadcast: Option<CanId>,
    /// Send CAN FD frames with bit-rate switch.
    pub brs: bool,
}

impl fmt::Display for XcpCan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CAN_ID_MASTER {} CAN_ID_SLAVE {}",
            self.link.cmd_id, self.link.res_id
        )?;
        if let Some(b) = self.broadcast {
            write!(f, " CAN_ID_BROADCAST {b}")?;
        }
        write!(
            f,
            " {} MAX_DLC {}",
            if self.link.fd {
                "CAN FD"
            } else {
                "classic CAN"
            },
            self.link.max_dlc
        )?;
        if self.link.max_dlc_required {
            write!(f, " MAX_DLC_REQUIRED padding {:#04x}", self.link.padding)?;
        }
        if self.link.fd && self.brs {
            f.write_str(" BRS")?;
        }
        Ok(())
    }
}

impl XcpCan {
    /// Checks the settings against each other.
    ///
    /// # Errors
    /// [`TransportError::Config`] naming what does not fit.
    pub fn check(&self) -> Result<(), TransportError> {
        let l = &self.link;
        let max = if l.fd { 64 } else { 8 };
        if l.max_dlc < 8 || l.max_dlc > max {
            return Err(TransportError::Config(format!(
                "MAX_DLC {} does not fit {} (8{})",
                l.max_dlc,
                if l.fd { "CAN FD" } else { "classic CAN" },
                if l.fd { " to 64" } else { "" }
            )));
        }
        if l.cmd_id == l.res_id {
            return Err(TransportError::Config(format!(
                "CAN_ID_MASTER and CAN_ID_SLAVE are both {}; they must differ",
                l.cmd_id
            )));
        }
        if self
            .broadcast
            .is_some_and(|b| b == l.res_id || b == l.cmd_id)
        {
            return Err(TransportError::Config(
                "CAN_ID_BROADCAST must differ from CAN_ID_MASTER and CAN_ID_SLAVE".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Which end of the link this transport is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Master,
    Slave,
}

/// XCP on CAN over any [`CanBus`], for a master ([`CanTransport::master`]) or a slave
/// ([`CanTransport::slave`]).
pub struct CanTransport<B: CanBus> {
    bus: B,
    settings: XcpCan,
    role: Role,
    routes: Option<std::sync::Arc<xcp_transport::DtoRoutes>>,
    also: Vec<CanId>,
}

impl<B: CanBus> fmt::Debug for CanTransport<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "XCP on CAN ({}) on {}",
            self.settings,
            self.bus.describe()
        )
    }
}

impl<B: CanBus> CanTransport<B> {
    /// The master's end: sends on CAN_ID_MASTER, receives CAN_ID_SLAVE.
    ///
    /// # Errors
    /// [`TransportError::Config`] for settings that do not fit together.
    pub fn master(bus: B, settings: XcpCan) -> Result<Self, TransportError> {
        settings.check()?;
        Ok(Self {
            bus,
            settings,
            role: Role::Master,
            routes: None,
            also: Vec::new(),
        })
    }

    /// The slave's end: sends on CAN_ID_SLAVE, receives CAN_ID_MASTER and CAN_ID_BROADCAST.
    ///
    /// # Errors
    /// [`TransportError::Config`] for settings that do not fit together.
    pub fn slave(bus: B, settings: XcpCan) -> Result<Self, TransportError> {
        settings.check()?;
        Ok(Self {
            bus,
            settings,
            role: Role::Slave,
            routes: None,
            also: Vec::new(),
        })
    }

    /// A slave's end sends each DTO on the identifier `routes` gives its PID (the A2L form
    /// of a CAN identifier), else on CAN_ID_SLAVE; give the slave the same `routes`
    /// (`xcp_slave::Slave::set_dto_routes`) and SET_DAQ_ID moves DAQ lists there.
    #[must_use]
    pub fn with_routes(mut self, routes: std::sync::Arc<xcp_transport::DtoRoutes>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// A master's end also receives on these identifiers: where SET_DAQ_ID puts DAQ lists.
    #[must_use]
    pub fn listen_also(mut self, ids: &[CanId]) -> Self {
        self.also.extend_from_slice(ids);
        self
    }
}

impl<B: CanBus> Transport for CanTransport<B> {
    type Tx = CanPacketTx<B::Tx>;
    type Rx = CanPacketRx<B::Rx>;

    fn split(self) -> (Self::Tx, Self::Rx) {
        let (tx, rx) = self.bus.split();
        let s = self.settings;
        let (send_id, mut listen) = match self.role {
            Role::Master => (s.link.cmd_id, vec![s.link.res_id]),
            Role::Slave => (
                s.link.res_id,
                [Some(s.link.cmd_id), s.broadcast]
                    .into_iter()
                    .flatten()
                    .collect(),
            ),
        };
        listen.extend(self.also);
        (
            CanPacketTx {
                tx,
                link: s.link,
                routes: self.routes,
                id: send_id,
                brs: s.brs,
                stats: TxStats::default(),
            },
            CanPacketRx {
                rx,
                link: s.link,
                listen,
                frame: None,
                stats: RxStats::default(),
            },
        )
    }
}

/// The sending half of a [`CanTransport`].
pub struct CanPacketTx<T: CanTx> {
    tx: T,
    link: CanConfig,
    routes: Option<std::sync::Arc<xcp_transport::DtoRoutes>>,
    id: CanId,
    brs: bool,
    stats: TxStats,
}

impl<T: CanTx> PacketTx for CanPacketTx<T> {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let mut data = [0u8; MAX_DATA];
        let n = self
            .link
            .encode(packet, &mut data)
            .map_err(|_| TransportError::TooLong {
                len: packet.len(),
                max: usize::from(self.link.max_dlc),
            })?;
        // A DTO of a list SET_DAQ_ID moved goes out on its identifier.
        let id = match (&self.routes, packet.first()) {
            (Some(r), Some(&pid)) if pid < xcp_proto::codes::pid::FIRST_CTO => r
                .get(pid)
                .and_then(|a2l| CanId::from_a2l(a2l).ok())
                .unwrap_or(self.id),
            _ => self.id,
        };
        let mut frame = CanFrame::new(id, &data[..n], self.link.fd)
            .map_err(|e| TransportError::Config(e.to_string()))?;
        frame.brs = self.link.fd && self.brs;
        self.tx.send(&frame)?;
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        self.stats.frames += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    fn max_packet_len(&self) -> usize {
        usize::from(self.link.max_dlc)
    }

    fn stats(&self) -> TxStats {
        self.stats
    }
}

/// The receiving half of a [`CanTransport`].
pub struct CanPacketRx<R: CanRx> {
    rx: R,
    link: CanConfig,
    listen: Vec<CanId>,
    frame: Option<CanFrame>,
    stats: RxStats,
}

impl<R: CanRx> CanPacketRx<R> {
    /// Takes `frame` if it is an XCP packet for this end; counts it otherwise.
    fn accept(&mut self, frame: CanFrame) -> bool {
        if !self.listen.contains(&frame.id) {
            self.stats.foreign += 1;
            return false;
        }
        if self.link.decode(frame.data()).is_err() {
            self.stats.malformed += 1;
            return false;
        }
        self.stats.packets += 1;
        self.stats.bytes += frame.data().len() as u64;
        self.frame = Some(frame);
        true
    }

    fn packet(&self) -> Option<&[u8]> {
        self.frame.as_ref().map(CanFrame::data)
    }
}

impl<R: CanRx> PacketRx for CanPacketRx<R> {
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv(left)? {
                Some(f) if self.accept(f) => return Ok(self.packet()),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        while let Some(f) = self.rx.try_recv()? {
            if self.accept(f) {
                return Ok(self.packet());
            }
        }
        Ok(None)
    }

    fn max_packet_len(&self) -> usize {
        usize::from(self.link.max_dlc)
    }

    fn stats(&self) -> RxStats {
        let mut s = self.stats;
        s.lost += self.rx.overruns();
        s
    }
}
