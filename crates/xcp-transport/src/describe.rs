//! Packets in spec words, for traces and dumps.
//!
//! [`PacketView`] decodes as much of a packet as its direction and the session parameters
//! allow and falls back to hex for the rest, so a trace line never fails.

use std::fmt;

use xcp_proto::codes::pid;
use xcp_proto::{Command, CommandCode, DtoId, Pending, SessionParams, SlaveCto};

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Commands and STIM data.
    MasterToSlave,
    /// Responses, errors, events, service requests and DAQ data.
    SlaveToMaster,
}

/// A packet with what is needed to decode it.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    /// The XCP packet, without transport framing.
    pub bytes: &'a [u8],
    /// Which way it travels.
    pub direction: Direction,
    /// Byte order, address granularity and DAQ layout of the session.
    pub params: SessionParams,
    /// The command a slave→master response answers, when known.
    pub pending: Option<Pending>,
}

/// Hex bytes separated by spaces, truncated after `max` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// How many to show.
    pub max: usize,
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.bytes.iter().take(self.max).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        if self.bytes.len() > self.max {
            write!(f, " … ({} bytes)", self.bytes.len())?;
        }
        Ok(())
    }
}

impl fmt::Display for PacketView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = Hex {
            bytes: self.bytes,
            max: 32,
        };
        let Some(&first) = self.bytes.first() else {
            return f.write_str("(empty packet)");
        };
        match self.direction {
            Direction::MasterToSlave if first >= 0xC0 => {
                match Command::parse(self.bytes, &self.params) {
                    Ok(cmd) => write!(f, "{cmd}"),
                    Err(e) => write!(f, "undecodable command ({e}): {hex}"),
                }
            }
            Direction::MasterToSlave => write!(f, "STIM {}", self.dto(hex)),
            Direction::SlaveToMaster if first >= pid::FIRST_CTO => {
                let pending = self
                    .pending
                    .unwrap_or(Pending::from(CommandCode::Unknown(0)));
                match (first, self.pending) {
                    (pid::RES, None) => write!(f, "RES (no command pending): {hex}"),
                    _ => match SlaveCto::parse(self.bytes, pending, &self.params) {
                        Ok(cto) => write!(f, "{cto}"),
                        Err(e) => write!(f, "undecodable slave packet ({e}): {hex}"),
                    },
                }
            }
            Direction::SlaveToMaster => write!(f, "DAQ {}", self.dto(hex)),
        }
    }
}

impl PacketView<'_> {
    fn dto<'h>(&self, hex: Hex<'h>) -> DtoText<'h> {
        DtoText {
            id: DtoId::parse(self.bytes, &self.params).ok(),
            hex,
        }
    }
}

struct DtoText<'a> {
    id: Option<(DtoId, usize)>,
    hex: Hex<'a>,
}

impl fmt::Display for DtoText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some((id, _)) => {
                write!(f, "odt={}", id.odt)?;
                if let Some(daq) = id.daq {
                    write!(f, " daq={daq}")?;
                }
                if id.overload {
                    f.write_str(" OVERLOAD")?;
                }
                write!(f, " len={}: {}", self.hex.bytes.len(), self.hex)
            }
            None => write!(f, "len={}: {}", self.hex.bytes.len(), self.hex),
        }
    }
}
