//! DAQ and STIM data transfer objects (DTOs), XCP part 2 §1.5.2.
//!
//! A DTO is `identification field | DTO_CTR? | timestamp? | data`.
//! Which optional fields a packet has depends on the DAQ list it belongs to (its mode bits
//! and whether this is its first ODT), so decoding is two-step and allocation-free:
//! [`DtoId::parse`] reads the identification field, the caller looks the list up, then
//! [`DaqPacket::parse`] splits the packet with the [`DtoShape`] of that list.

use core::fmt;

use crate::codes::pid;
use crate::command::fmt_hex;
use crate::error::{DecodeError, EncodeError};
use crate::params::{ByteOrder, IdField, SessionParams, TimestampSize};
use crate::wire::{check_max, ensure};

/// The identification field of a DTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DtoId {
    /// Absolute ODT number (the PID) or ODT number relative to the DAQ list.
    pub odt: u8,
    /// Absolute DAQ list number (relative identification field types only).
    pub daq: Option<u16>,
    /// Overload indicated by the most significant bit of the first byte.
    pub overload: bool,
}

impl DtoId {
    /// Reads the identification field; returns it and its length.
    ///
    /// # Errors
    /// `Empty`, `UnexpectedPid` when the first byte is a CTO PID (0xFC–0xFF), `Truncated`
    /// when the packet is shorter than the identification field.
    #[inline]
    pub fn parse(bytes: &[u8], params: &SessionParams) -> Result<(Self, usize), DecodeError> {
        let Some(&first) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        if first >= pid::FIRST_CTO {
            return Err(DecodeError::UnexpectedPid {
                pid: first,
                expected: "a DTO (PID below 0xFC)",
            });
        }
        let layout = params.daq;
        let n = layout.id_field.len();
        if bytes.len() < n {
            return Err(DecodeError::Truncated {
                packet: "DTO",
                field: "IDENTIFICATION_FIELD",
                needed: n,
                available: bytes.len(),
            });
        }
        let (odt, overload) = if layout.overload_pid_msb {
            (first & 0x7F, first & 0x80 != 0)
        } else {
            (first, false)
        };
        let word = |a: u8, b: u8| match params.byte_order {
            ByteOrder::Intel => u16::from_le_bytes([a, b]),
            ByteOrder::Motorola => u16::from_be_bytes([a, b]),
        };
        let daq = match layout.id_field {
            IdField::AbsoluteOdt => None,
            IdField::RelativeOdtDaqByte => Some(u16::from(bytes[1])),
            IdField::RelativeOdtDaqWord => Some(word(bytes[1], bytes[2])),
            IdField::RelativeOdtDaqWordAligned => Some(word(bytes[2], bytes[3])),
        };
        Ok((Self { odt, daq, overload }, n))
    }
}

/// Which optional fields a DTO carries, as set by its DAQ list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DtoShape {
    /// PID_OFF: no identification field at all.
    pub pid_off: bool,
    /// DTO_CTR: a counter byte follows the identification field.
    pub ctr: bool,
    /// A timestamp follows (first ODT of a list with TIMESTAMP set).
    pub timestamp: bool,
}

/// A decoded DAQ or STIM packet, borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqPacket<'a> {
    /// Identification field (`None` with PID_OFF).
    pub id: Option<DtoId>,
    /// DTO counter.
    pub ctr: Option<u8>,
    /// Slave timestamp in ticks.
    pub timestamp: Option<u32>,
    /// The ODT's data.
    pub data: &'a [u8],
}

impl<'a> DaqPacket<'a> {
    /// Splits a DTO into its fields.
    ///
    /// # Errors
    /// `TooLong` beyond MAX_DTO, `Truncated` when a field is missing, `InvalidField` when a
    /// timestamp is expected but the session has no timestamp size, and the errors of
    /// [`DtoId::parse`].
    #[inline]
    pub fn parse(
        bytes: &'a [u8],
        params: &SessionParams,
        shape: DtoShape,
    ) -> Result<Self, DecodeError> {
        let max = usize::from(params.max_dto);
        if bytes.len() > max {
            return Err(DecodeError::TooLong {
                packet: "DTO",
                len: bytes.len(),
                max,
            });
        }
        let (id, mut pos) = if shape.pid_off {
            (None, 0)
        } else {
            let (id, n) = DtoId::parse(bytes, params)?;
            (Some(id), n)
        };
        let ctr = if shape.ctr {
            let Some(&c) = bytes.get(pos) else {
                return Err(DecodeError::Truncated {
                    packet: "DTO",
                    field: "DTO_CTR",
                    needed: pos + 1,
                    available: bytes.len(),
                });
            };
            pos += 1;
            Some(c)
        } else {
            None
        };
        let timestamp = if shape.timestamp {
            let size = params.daq.timestamp;
            if size == TimestampSize::None {
                return Err(DecodeError::InvalidField {
                    packet: "DTO",
                    field: "TIMESTAMP_SIZE",
                    value: 0,
                });
            }
            let n = size.len();
            let Some(t) = size.read(bytes.get(pos..).unwrap_or_default(), params.byte_order) else {
                return Err(DecodeError::Truncated {
                    packet: "DTO",
                    field: "TIMESTAMP",
                    needed: pos + n,
                    available: bytes.len(),
                });
            };
            pos += n;
            Some(t)
        } else {
            None
        };
        Ok(Self {
            id,
            ctr,
            timestamp,
            data: &bytes[pos..],
        })
    }

    /// The shape this packet has, for decoding it back.
    pub fn shape(&self) -> DtoShape {
        DtoShape {
            pid_off: self.id.is_none(),
            ctr: self.ctr.is_some(),
            timestamp: self.timestamp.is_some(),
        }
    }

    /// Number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self, params: &SessionParams) -> usize {
        let id = if self.id.is_some() {
            params.daq.id_field.len()
        } else {
            0
        };
        let ts = if self.timestamp.is_some() {
            params.daq.timestamp.len()
        } else {
            0
        };
        id + usize::from(self.ctr.is_some()) + ts + self.data.len()
    }

    /// Encodes the DTO and returns the number of bytes written.
    ///
    /// # Errors
    /// `BufferTooSmall`, `TooLong` beyond MAX_DTO, `InvalidField` when the identification
    /// field does not fit the session's type (a CTO PID, a DAQ number where none belongs or
    /// too large for a byte, an overload flag without PID overload indication) or the
    /// timestamp does not fit its size.
    pub fn emit(&self, buf: &mut [u8], params: &SessionParams) -> Result<usize, EncodeError> {
        const P: &str = "DTO";
        let len = self.buffer_len(params);
        check_max(P, len, usize::from(params.max_dto))?;
        if len > buf.len() {
            return Err(EncodeError::BufferTooSmall {
                packet: P,
                needed: len,
                available: buf.len(),
            });
        }
        let layout = params.daq;
        let mut pos = 0;
        if let Some(id) = self.id {
            let msb_ok = if layout.overload_pid_msb {
                id.odt < 0x80
            } else {
                !id.overload
            };
            ensure(msb_ok, P, "OVERLOAD", u64::from(id.odt))?;
            let first = id.odt | if id.overload { 0x80 } else { 0 };
            ensure(first < pid::FIRST_CTO, P, "PID", u64::from(first))?;
            let word = |v: u16| match params.byte_order {
                ByteOrder::Intel => v.to_le_bytes(),
                ByteOrder::Motorola => v.to_be_bytes(),
            };
            buf[0] = first;
            match (layout.id_field, id.daq) {
                (IdField::AbsoluteOdt, None) => {}
                (IdField::RelativeOdtDaqByte, Some(d)) => {
                    let d = u8::try_from(d).map_err(|_| EncodeError::InvalidField {
                        packet: P,
                        field: "DAQ",
                        value: u64::from(d),
                    })?;
                    buf[1] = d;
                }
                (IdField::RelativeOdtDaqWord, Some(d)) => buf[1..3].copy_from_slice(&word(d)),
                (IdField::RelativeOdtDaqWordAligned, Some(d)) => {
                    buf[1] = 0;
                    buf[2..4].copy_from_slice(&word(d));
                }
                (_, d) => {
                    return Err(EncodeError::InvalidField {
                        packet: P,
                        field: "DAQ",
                        value: u64::from(d.unwrap_or(u16::MAX)),
                    });
                }
            }
            pos = layout.id_field.len();
        }
        if let Some(c) = self.ctr {
            buf[pos] = c;
            pos += 1;
        }
        if let Some(t) = self.timestamp {
            let n = layout.timestamp.len();
            let fits = match layout.timestamp {
                TimestampSize::None => false,
                TimestampSize::Byte => t <= u32::from(u8::MAX),
                TimestampSize::Word => t <= u32::from(u16::MAX),
                TimestampSize::Dword => true,
            };
            ensure(fits, P, "TIMESTAMP", u64::from(t))?;
            let bytes = match params.byte_order {
                ByteOrder::Intel => t.to_le_bytes(),
                ByteOrder::Motorola => t.to_be_bytes(),
            };
            match params.byte_order {
                ByteOrder::Intel => buf[pos..pos + n].copy_from_slice(&bytes[..n]),
                ByteOrder::Motorola => buf[pos..pos + n].copy_from_slice(&bytes[4 - n..]),
            }
            pos += n;
        }
        buf[pos..pos + self.data.len()].copy_from_slice(self.data);
        Ok(len)
    }
}

impl fmt::Display for DaqPacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DTO")?;
        if let Some(id) = self.id {
            match id.daq {
                Some(d) => write!(f, " daq={d} odt={}", id.odt)?,
                None => write!(f, " pid={:#04x}", id.odt)?,
            }
            if id.overload {
                f.write_str(" OVERLOAD")?;
            }
        }
        if let Some(c) = self.ctr {
            write!(f, " ctr={c}")?;
        }
        if let Some(t) = self.timestamp {
            write!(f, " timestamp={t}")?;
        }
        f.write_str(" data=")?;
        fmt_hex(f, self.data)
    }
}
