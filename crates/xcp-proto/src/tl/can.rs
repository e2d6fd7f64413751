//! XCP on CAN and CAN FD framing.
//!
//! CAN carries one XCP packet per frame with no header; the packet length is the frame's data
//! length, padding included (packets tolerate trailing bytes). Classic CAN allows 0–8 data
//! bytes; CAN FD also 12, 16, 20, 24, 32, 48 and 64, so a packet of another length is padded
//! up to the next valid length. With MAX_DLC_REQUIRED every frame is padded to MAX_DLC.
//!
//! Identifiers are named by direction: [`CanConfig::cmd_id`] is what the master sends on
//! (A2L `CAN_ID_MASTER`), [`CanConfig::res_id`] what the slave answers on (A2L
//! `CAN_ID_SLAVE`). In the A2L, bit 31 of an identifier marks a 29-bit (extended) id.

use core::fmt;

use crate::error::{DecodeError, EncodeError};

/// Valid CAN FD data lengths, indexed by DLC.
pub const FD_LENGTHS: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/// A CAN identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CanId {
    /// The identifier (11 or 29 bits).
    pub id: u32,
    /// 29-bit extended identifier.
    pub extended: bool,
}

impl CanId {
    /// Bit 31 of an A2L identifier: extended id.
    pub const A2L_EXTENDED_BIT: u32 = 0x8000_0000;

    /// A standard (11-bit) identifier.
    ///
    /// # Errors
    /// `InvalidField` when `id` does not fit 11 bits.
    pub const fn standard(id: u32) -> Result<Self, EncodeError> {
        if id > 0x7FF {
            return Err(EncodeError::InvalidField {
                packet: "CAN_ID",
                field: "STANDARD_ID",
                value: id as u64,
            });
        }
        Ok(Self {
            id,
            extended: false,
        })
    }

    /// An extended (29-bit) identifier.
    ///
    /// # Errors
    /// `InvalidField` when `id` does not fit 29 bits.
    pub const fn extended(id: u32) -> Result<Self, EncodeError> {
        if id > 0x1FFF_FFFF {
            return Err(EncodeError::InvalidField {
                packet: "CAN_ID",
                field: "EXTENDED_ID",
                value: id as u64,
            });
        }
        Ok(Self { id, extended: true })
    }

    /// Decodes an A2L identifier (bit 31 set: extended).
    ///
    /// # Errors
    /// `InvalidField` when the remaining bits do not fit the identifier's width.
    pub const fn from_a2l(raw: u32) -> Result<Self, EncodeError> {
        if raw & Self::A2L_EXTENDED_BIT != 0 {
            Self::extended(raw & !Self::A2L_EXTENDED_BIT)
        } else {
            Self::standard(raw)
        }
    }

    /// Encodes as an A2L identifier.
    pub const fn to_a2l(self) -> u32 {
        if self.extended {
            self.id | Self::A2L_EXTENDED_BIT
        } else {
            self.id
        }
    }
}

impl fmt::Display for CanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.extended {
            write!(f, "{:#010x}x", self.id)
        } else {
            write!(f, "{:#05x}", self.id)
        }
    }
}

/// XCP on CAN settings (A2L `XCP_ON_CAN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CanConfig {
    /// Master→slave identifier (A2L `CAN_ID_MASTER`).
    pub cmd_id: CanId,
    /// Slave→master identifier (A2L `CAN_ID_SLAVE`).
    pub res_id: CanId,
    /// CAN FD.
    pub fd: bool,
    /// MAX_DLC: the largest data length (8 classic, up to 64 FD).
    pub max_dlc: u8,
    /// MAX_DLC_REQUIRED: pad every frame to `max_dlc`.
    pub max_dlc_required: bool,
    /// Byte used for padding.
    pub padding: u8,
}

impl Default for CanConfig {
    fn default() -> Self {
        Self {
            cmd_id: CanId {
                id: 0x7E0,
                extended: false,
            },
            res_id: CanId {
                id: 0x7E1,
                extended: false,
            },
            fd: false,
            max_dlc: 8,
            max_dlc_required: false,
            padding: 0,
        }
    }
}

impl fmt::Display for CanConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cmd_id={} (master→slave) res_id={} (slave→master) {} max_dlc={}{}",
            self.cmd_id,
            self.res_id,
            if self.fd { "CAN FD" } else { "CAN" },
            self.max_dlc,
            if self.max_dlc_required { " padded" } else { "" }
        )
    }
}

/// DLC for a data length, or `None` when the length is not valid on this bus.
pub fn dlc_for_len(len: usize, fd: bool) -> Option<u8> {
    let limit = if fd { 64 } else { 8 };
    if len > limit {
        return None;
    }
    FD_LENGTHS
        .iter()
        .position(|&l| usize::from(l) == len)
        .and_then(|i| u8::try_from(i).ok())
}

/// Data length for a DLC (CAN FD table; classic CAN treats 9–15 as 8).
pub fn len_for_dlc(dlc: u8, fd: bool) -> Option<usize> {
    match (dlc, fd) {
        (0..=8, _) => Some(usize::from(dlc)),
        (9..=15, false) => Some(8),
        (9..=15, true) => Some(usize::from(FD_LENGTHS[usize::from(dlc)])),
        _ => None,
    }
}

/// Smallest valid data length that holds `len` bytes.
pub fn round_up_len(len: usize, fd: bool) -> Option<usize> {
    let limit = if fd { 64 } else { 8 };
    FD_LENGTHS
        .iter()
        .map(|&l| usize::from(l))
        .find(|&l| l >= len && l <= limit)
}

impl CanConfig {
    fn max_len(&self) -> usize {
        let bus = if self.fd { 64 } else { 8 };
        usize::from(self.max_dlc).min(bus)
    }

    /// Data length of the frame that carries a packet of `len` bytes.
    ///
    /// # Errors
    /// `TooLong` when the packet exceeds MAX_DLC; `InvalidField` for an empty packet.
    pub fn frame_len(&self, len: usize) -> Result<usize, EncodeError> {
        if len == 0 {
            return Err(EncodeError::InvalidField {
                packet: "CAN_FRAME",
                field: "LEN",
                value: 0,
            });
        }
        let max = self.max_len();
        if len > max {
            return Err(EncodeError::TooLong {
                packet: "CAN_FRAME",
                len,
                max,
            });
        }
        let target = if self.max_dlc_required { max } else { len };
        round_up_len(target, self.fd).ok_or(EncodeError::TooLong {
            packet: "CAN_FRAME",
            len: target,
            max,
        })
    }

    /// Writes the frame data for `packet` into `out` (padding included); returns its length.
    ///
    /// # Errors
    /// As [`frame_len`](Self::frame_len); `BufferTooSmall` when `out` is too short.
    pub fn encode(&self, packet: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        let n = self.frame_len(packet.len())?;
        if out.len() < n {
            return Err(EncodeError::BufferTooSmall {
                packet: "CAN_FRAME",
                needed: n,
                available: out.len(),
            });
        }
        out[..packet.len()].copy_from_slice(packet);
        out[packet.len()..n].fill(self.padding);
        Ok(n)
    }

    /// Checks received frame data and returns the XCP packet (padding still attached).
    ///
    /// # Errors
    /// `Empty` for a frame without data, `TooLong` beyond MAX_DLC, `InvalidField` for a
    /// length that is not a valid DLC length, or shorter than MAX_DLC when MAX_DLC_REQUIRED.
    pub fn decode<'a>(&self, data: &'a [u8]) -> Result<&'a [u8], DecodeError> {
        if data.is_empty() {
            return Err(DecodeError::Empty);
        }
        let max = self.max_len();
        if data.len() > max {
            return Err(DecodeError::TooLong {
                packet: "CAN_FRAME",
                len: data.len(),
                max,
            });
        }
        let valid = dlc_for_len(data.len(), self.fd).is_some()
            && (!self.max_dlc_required || data.len() == round_up_len(max, self.fd).unwrap_or(max));
        if !valid {
            return Err(DecodeError::InvalidField {
                packet: "CAN_FRAME",
                field: "DLC",
                value: u32::try_from(data.len()).unwrap_or(u32::MAX),
            });
        }
        Ok(data)
    }
}

/// The transport-layer sub-commands of XCP on CAN (TRANSPORT_LAYER_CMD, 0xF2).
pub mod sub {
    /// GET_SLAVE_ID: which slaves are on the bus, and on which identifier each listens.
    pub const GET_SLAVE_ID: u8 = 0xFF;
    /// GET_DAQ_ID: the identifier a DAQ list's DTOs go out on.
    pub const GET_DAQ_ID: u8 = 0xFE;
    /// SET_DAQ_ID: put a DAQ list's DTOs on an identifier of its own.
    pub const SET_DAQ_ID: u8 = 0xFD;
}

/// The mode of GET_SLAVE_ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlaveIdMode {
    /// Identify by echo: the slave answers "XCP".
    Echo,
    /// Confirm by inverse echo: the slave answers "XCP" with every bit inverted.
    InverseEcho,
}

impl SlaveIdMode {
    /// The mode byte.
    pub const fn code(self) -> u8 {
        match self {
            Self::Echo => 0,
            Self::InverseEcho => 1,
        }
    }

    /// The bytes a slave answers with after the PID, before its identifier.
    pub const fn magic(self) -> [u8; 3] {
        match self {
            Self::Echo => *b"XCP",
            Self::InverseEcho => [!b'X', !b'C', !b'P'],
        }
    }
}

impl fmt::Display for SlaveIdMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Echo => "identify by echo",
            Self::InverseEcho => "confirm by inverse echo",
        })
    }
}

/// GET_SLAVE_ID as a packet: `F2 FF 'X' 'C' 'P' MODE`.
pub const fn get_slave_id(mode: SlaveIdMode) -> [u8; 6] {
    [0xF2, sub::GET_SLAVE_ID, b'X', b'C', b'P', mode.code()]
}

/// The mode of a GET_SLAVE_ID packet, `None` for any other packet.
pub fn parse_get_slave_id(packet: &[u8]) -> Option<SlaveIdMode> {
    match packet {
        [0xF2, code, params @ ..] => {
            match CanCommand::parse(*code, params, crate::ByteOrder::Intel) {
                Ok(Some(CanCommand::GetSlaveId(mode))) => Some(mode),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A transport-layer command of XCP on CAN: TRANSPORT_LAYER_CMD's sub-command and the
/// parameters after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanCommand {
    /// GET_SLAVE_ID in a mode.
    GetSlaveId(SlaveIdMode),
    /// GET_DAQ_ID of a DAQ list.
    GetDaqId {
        /// The DAQ list.
        daq: u16,
    },
    /// SET_DAQ_ID: a DAQ list on an identifier.
    SetDaqId {
        /// The DAQ list.
        daq: u16,
        /// The identifier, A2L form (bit 31 for 29 bits).
        id: u32,
    },
}

impl CanCommand {
    /// Reads the parameters of sub-command `code` in the session's byte order; `Ok(None)`
    /// for a sub-command that is not one of XCP on CAN's.
    ///
    /// # Errors
    /// `Truncated` for missing parameters; `InvalidField` for GET_SLAVE_ID without "XCP"
    /// (field `XCP`) or with a mode other than 0 and 1 (field `MODE`).
    pub fn parse(
        code: u8,
        params: &[u8],
        order: crate::ByteOrder,
    ) -> Result<Option<Self>, DecodeError> {
        let mut r = crate::wire::Reader::at(params, 0, order, "TRANSPORT_LAYER_CMD");
        Ok(Some(match code {
            sub::GET_SLAVE_ID => {
                if r.bytes(3, "XCP")? != b"XCP" {
                    return Err(DecodeError::InvalidField {
                        packet: "GET_SLAVE_ID",
                        field: "XCP",
                        value: 0,
                    });
                }
                match r.u8("MODE")? {
                    0 => Self::GetSlaveId(SlaveIdMode::Echo),
                    1 => Self::GetSlaveId(SlaveIdMode::InverseEcho),
                    m => {
                        return Err(DecodeError::InvalidField {
                            packet: "GET_SLAVE_ID",
                            field: "MODE",
                            value: u32::from(m),
                        });
                    }
                }
            }
            sub::GET_DAQ_ID => Self::GetDaqId {
                daq: r.u16("DAQ_LIST_NUMBER")?,
            },
            sub::SET_DAQ_ID => Self::SetDaqId {
                daq: r.u16("DAQ_LIST_NUMBER")?,
                id: r.u32("CAN_ID")?,
            },
            _ => return Ok(None),
        }))
    }

    /// The sub-command code.
    pub const fn code(&self) -> u8 {
        match self {
            Self::GetSlaveId(_) => sub::GET_SLAVE_ID,
            Self::GetDaqId { .. } => sub::GET_DAQ_ID,
            Self::SetDaqId { .. } => sub::SET_DAQ_ID,
        }
    }

    /// Writes the parameters after the sub-command code; returns their length (at most 6).
    pub fn emit_params(&self, order: crate::ByteOrder) -> ([u8; 6], usize) {
        let mut out = [0u8; 6];
        let n = match *self {
            Self::GetSlaveId(mode) => {
                out[..4].copy_from_slice(&[b'X', b'C', b'P', mode.code()]);
                4
            }
            Self::GetDaqId { daq } => {
                out[..2].copy_from_slice(&u16_bytes(daq, order));
                2
            }
            Self::SetDaqId { daq, id } => {
                out[..2].copy_from_slice(&u16_bytes(daq, order));
                out[2..6].copy_from_slice(&u32_bytes(id, order));
                6
            }
        };
        (out, n)
    }
}

const fn u16_bytes(v: u16, order: crate::ByteOrder) -> [u8; 2] {
    match order {
        crate::ByteOrder::Intel => v.to_le_bytes(),
        crate::ByteOrder::Motorola => v.to_be_bytes(),
    }
}

const fn u32_bytes(v: u32, order: crate::ByteOrder) -> [u8; 4] {
    match order {
        crate::ByteOrder::Intel => v.to_le_bytes(),
        crate::ByteOrder::Motorola => v.to_be_bytes(),
    }
}

/// GET_DAQ_ID's answer: whether the list's identifier is fixed, and the identifier (A2L form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DaqIdAnswer {
    /// The identifier cannot be changed with SET_DAQ_ID.
    pub fixed: bool,
    /// The identifier, A2L form (bit 31 for 29 bits).
    pub id: u32,
}

impl DaqIdAnswer {
    /// The answer packet: `FF FIXED 00 00 CAN_ID`.
    pub const fn emit(&self, order: crate::ByteOrder) -> [u8; 8] {
        let id = u32_bytes(self.id, order);
        [0xFF, self.fixed as u8, 0, 0, id[0], id[1], id[2], id[3]]
    }

    /// Reads the answer's bytes after the PID.
    ///
    /// # Errors
    /// `Truncated` when fewer than seven bytes follow the PID.
    pub fn parse(data: &[u8], order: crate::ByteOrder) -> Result<Self, DecodeError> {
        let mut r = crate::wire::Reader::at(data, 0, order, "GET_DAQ_ID answer");
        let fixed = r.u8("CAN_ID_FIXED")? != 0;
        r.bytes(2, "RESERVED")?;
        Ok(Self {
            fixed,
            id: r.u32("CAN_ID")?,
        })
    }
}

/// A slave's answer to GET_SLAVE_ID: `FF`, the magic of the mode, and the A2L form of its
/// CAN_ID_MASTER in the slave's byte order.
pub fn slave_id_answer(mode: SlaveIdMode, cmd_id: CanId, order: crate::ByteOrder) -> [u8; 8] {
    let m = mode.magic();
    let id = u32_bytes(cmd_id.to_a2l(), order);
    [0xFF, m[0], m[1], m[2], id[0], id[1], id[2], id[3]]
}

/// Reads an answer to GET_SLAVE_ID: its mode and the slave's CAN_ID_MASTER. The byte order
/// is the slave's, which a scanner does not know yet: `None` tries Intel, then Motorola, and
/// takes the first that is a CAN identifier.
pub fn parse_slave_id_answer(
    packet: &[u8],
    order: Option<crate::ByteOrder>,
) -> Option<(SlaveIdMode, CanId)> {
    let [0xFF, a, b, c, i0, i1, i2, i3, ..] = *packet else {
        return None;
    };
    let mode = [SlaveIdMode::Echo, SlaveIdMode::InverseEcho]
        .into_iter()
        .find(|m| m.magic() == [a, b, c])?;
    let le = u32::from_le_bytes([i0, i1, i2, i3]);
    let be = u32::from_be_bytes([i0, i1, i2, i3]);
    let id = match order {
        Some(crate::ByteOrder::Intel) => CanId::from_a2l(le).ok(),
        Some(crate::ByteOrder::Motorola) => CanId::from_a2l(be).ok(),
        None => CanId::from_a2l(le).or_else(|_| CanId::from_a2l(be)).ok(),
    }?;
    Some((mode, id))
}

#[cfg(test)]
mod slave_id_tests {
    use super::*;
    use crate::ByteOrder;

    #[test]
    fn get_slave_id_and_its_answers_round_trip() {
        for mode in [SlaveIdMode::Echo, SlaveIdMode::InverseEcho] {
            assert_eq!(parse_get_slave_id(&get_slave_id(mode)), Some(mode));
            for order in [ByteOrder::Intel, ByteOrder::Motorola] {
                for id in [
                    CanId::standard(0x7E0).expect("id"),
                    CanId::extended(0x18DA_00F1).expect("id"),
                ] {
                    let a = slave_id_answer(mode, id, order);
                    assert_eq!(parse_slave_id_answer(&a, Some(order)), Some((mode, id)));
                    assert_eq!(
                        parse_slave_id_answer(&a, None),
                        Some((mode, id)),
                        "{mode} {order:?} {id}"
                    );
                }
            }
        }
        assert_eq!(
            slave_id_answer(
                SlaveIdMode::InverseEcho,
                CanId::standard(0x7E0).expect("id"),
                ByteOrder::Intel
            ),
            [0xFF, 0xA7, 0xBC, 0xAF, 0xE0, 0x07, 0, 0]
        );
        assert_eq!(parse_get_slave_id(&[0xF2, 0xFF, b'X', b'C', b'Q', 0]), None);
        for order in [ByteOrder::Intel, ByteOrder::Motorola] {
            for cmd in [
                CanCommand::GetSlaveId(SlaveIdMode::InverseEcho),
                CanCommand::GetDaqId { daq: 0x0102 },
                CanCommand::SetDaqId {
                    daq: 3,
                    id: 0x8000_0300,
                },
            ] {
                let (p, n) = cmd.emit_params(order);
                assert_eq!(CanCommand::parse(cmd.code(), &p[..n], order), Ok(Some(cmd)));
                for cut in 0..n {
                    assert!(CanCommand::parse(cmd.code(), &p[..cut], order).is_err());
                }
            }
            let a = DaqIdAnswer {
                fixed: true,
                id: 0x7E1,
            };
            assert_eq!(DaqIdAnswer::parse(&a.emit(order)[1..], order), Ok(a));
        }
        assert_eq!(
            CanCommand::SetDaqId { daq: 1, id: 0x300 }.emit_params(ByteOrder::Motorola),
            ([0, 1, 0, 0, 3, 0], 6)
        );
        assert!(matches!(
            CanCommand::parse(0xFF, b"XCP\x02", ByteOrder::Intel),
            Err(DecodeError::InvalidField { field: "MODE", .. })
        ));
        assert_eq!(CanCommand::parse(0xFA, &[], ByteOrder::Intel), Ok(None));
        assert_eq!(
            parse_slave_id_answer(&[0xFF, b'X', b'C', b'P', 0], None),
            None
        );
    }
}
