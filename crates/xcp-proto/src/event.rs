//! Events (EV, PID 0xFD) and service requests (SERV, PID 0xFC), XCP part 2 §1.8–1.9.

use core::fmt;

use crate::codes::{EventCode, ServCode, pid};
use crate::command::fmt_hex;
use crate::error::{DecodeError, EncodeError};
use crate::params::SessionParams;
use crate::response::DaqClock;
use crate::wire::{Reader, Writer, check_max};

/// An event packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Event<'a> {
    /// EV_RESUME_MODE: session configuration id and, optionally, the current timestamp.
    ResumeMode {
        /// Session configuration id.
        config_id: u16,
        /// Current slave timestamp, if the slave has timestamps.
        timestamp: Option<u32>,
    },
    /// EV_CLEAR_DAQ.
    ClearDaq,
    /// EV_STORE_DAQ.
    StoreDaq,
    /// EV_STORE_CAL.
    StoreCal,
    /// EV_CMD_PENDING: the command in progress needs more time.
    CmdPending,
    /// EV_DAQ_OVERLOAD: DAQ data was lost.
    DaqOverload,
    /// EV_SESSION_TERMINATED.
    SessionTerminated,
    /// EV_TIME_SYNC: a clock reading, laid out as the GET_DAQ_CLOCK response.
    TimeSync(DaqClock),
    /// EV_STIM_TIMEOUT.
    StimTimeout {
        /// 0 = event channel, 1 = DAQ list.
        info_type: u8,
        /// Event channel or DAQ list number.
        number: u16,
    },
    /// EV_SLEEP.
    Sleep,
    /// EV_WAKE_UP.
    WakeUp,
    /// EV_ECU_STATE_CHANGE.
    EcuStateChange {
        /// New state number.
        state: u8,
    },
    /// EV_USER, EV_TRANSPORT or an unknown event: the bytes after the event code.
    Other {
        /// Event code.
        code: EventCode,
        /// Payload.
        data: &'a [u8],
    },
}

impl<'a> Event<'a> {
    /// The event code.
    pub fn code(&self) -> EventCode {
        match self {
            Self::ResumeMode { .. } => EventCode::ResumeMode,
            Self::ClearDaq => EventCode::ClearDaq,
            Self::StoreDaq => EventCode::StoreDaq,
            Self::StoreCal => EventCode::StoreCal,
            Self::CmdPending => EventCode::CmdPending,
            Self::DaqOverload => EventCode::DaqOverload,
            Self::SessionTerminated => EventCode::SessionTerminated,
            Self::TimeSync(_) => EventCode::TimeSync,
            Self::StimTimeout { .. } => EventCode::StimTimeout,
            Self::Sleep => EventCode::Sleep,
            Self::WakeUp => EventCode::WakeUp,
            Self::EcuStateChange { .. } => EventCode::EcuStateChange,
            Self::Other { code, .. } => *code,
        }
    }

    /// Decodes an EV packet.
    ///
    /// # Errors
    /// `UnexpectedPid` unless the PID is 0xFD, `TooLong`, `Truncated` or `InvalidField`.
    pub fn parse(bytes: &'a [u8], params: &SessionParams) -> Result<Self, DecodeError> {
        let Some(&p) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        if p != pid::EV {
            return Err(DecodeError::UnexpectedPid {
                pid: p,
                expected: "EV (0xFD)",
            });
        }
        let max = usize::from(params.max_cto);
        if bytes.len() > max {
            return Err(DecodeError::TooLong {
                packet: "EV",
                len: bytes.len(),
                max,
            });
        }
        let mut r = Reader::at(bytes, 1, params.byte_order, "EV");
        let code = EventCode::from_u8(r.u8("EVENT_CODE")?);
        let packet = code.spec_name();
        let mut r = Reader::at(bytes, 2, params.byte_order, packet);
        Ok(match code {
            EventCode::ResumeMode => {
                let config_id = r.u16("SESSION_CONFIGURATION_ID")?;
                let timestamp = if r.remaining() >= 4 {
                    Some(r.u32("TIMESTAMP")?)
                } else {
                    None
                };
                Self::ResumeMode {
                    config_id,
                    timestamp,
                }
            }
            EventCode::ClearDaq => Self::ClearDaq,
            EventCode::StoreDaq => Self::StoreDaq,
            EventCode::StoreCal => Self::StoreCal,
            EventCode::CmdPending => Self::CmdPending,
            EventCode::DaqOverload => Self::DaqOverload,
            EventCode::SessionTerminated => Self::SessionTerminated,
            EventCode::TimeSync => Self::TimeSync(DaqClock::parse_body(&mut r, packet)?),
            EventCode::StimTimeout => {
                let info_type = r.u8("INFO_TYPE")?;
                r.skip(1, "RESERVED")?;
                Self::StimTimeout {
                    info_type,
                    number: r.u16("FAILURE_NUMBER")?,
                }
            }
            EventCode::Sleep => Self::Sleep,
            EventCode::WakeUp => Self::WakeUp,
            EventCode::EcuStateChange => Self::EcuStateChange {
                state: r.u8("STATE_NUMBER")?,
            },
            EventCode::User | EventCode::Transport | EventCode::Unknown(_) => Self::Other {
                code,
                data: r.rest(),
            },
        })
    }

    /// Number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        2 + match self {
            Self::ResumeMode { timestamp, .. } => 2 + if timestamp.is_some() { 4 } else { 0 },
            Self::TimeSync(c) => c.body_len(),
            Self::StimTimeout { .. } => 4,
            Self::EcuStateChange { .. } => 1,
            Self::Other { data, .. } => data.len(),
            _ => 0,
        }
    }

    /// Encodes the event and returns the number of bytes written.
    ///
    /// # Errors
    /// `BufferTooSmall`, `TooLong`, or `InvalidField` for an `Other` event whose code has a
    /// dedicated variant, or a clock reading that does not match its payload format.
    pub fn emit(&self, buf: &mut [u8], params: &SessionParams) -> Result<usize, EncodeError> {
        let code = self.code();
        let packet = code.spec_name();
        let len = self.buffer_len();
        check_max(packet, len, usize::from(params.max_cto))?;
        let mut w = Writer::new(buf, params.byte_order, packet);
        w.reserve(len)?;
        w.u8(pid::EV)?;
        w.u8(code.to_u8())?;
        match *self {
            Self::ResumeMode {
                config_id,
                timestamp,
            } => {
                w.u16(config_id)?;
                if let Some(t) = timestamp {
                    w.u32(t)?;
                }
            }
            Self::TimeSync(ref c) => c.emit_body(&mut w, packet)?,
            Self::StimTimeout { info_type, number } => {
                w.u8(info_type)?;
                w.zeros(1)?;
                w.u16(number)?;
            }
            Self::EcuStateChange { state } => w.u8(state)?,
            Self::Other { code, data } => {
                let dedicated =
                    code.is_known() && !matches!(code, EventCode::User | EventCode::Transport);
                if dedicated {
                    return Err(EncodeError::InvalidField {
                        packet,
                        field: "EVENT_CODE",
                        value: u64::from(code.to_u8()),
                    });
                }
                w.bytes(data)?;
            }
            _ => {}
        }
        Ok(w.len())
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EV {}", self.code())?;
        match *self {
            Self::ResumeMode {
                config_id,
                timestamp,
            } => {
                write!(f, " config_id={config_id}")?;
                if let Some(t) = timestamp {
                    write!(f, " timestamp={t}")?;
                }
                Ok(())
            }
            Self::TimeSync(ref c) => write!(f, "{c}"),
            Self::StimTimeout { info_type, number } => {
                write!(f, " info_type={info_type} number={number}")
            }
            Self::EcuStateChange { state } => write!(f, " state={state}"),
            Self::Other { data, .. } => {
                f.write_str(" data=")?;
                fmt_hex(f, data)
            }
            _ => Ok(()),
        }
    }
}

/// A service request packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Serv<'a> {
    /// SERV_RESET: the slave asks the master to reset it.
    Reset,
    /// SERV_TEXT: text, usually ASCII and possibly NUL-terminated.
    Text(&'a [u8]),
    /// An unknown service request code and its payload.
    Other {
        /// Code.
        code: u8,
        /// Payload.
        data: &'a [u8],
    },
}

impl<'a> Serv<'a> {
    /// Decodes a SERV packet.
    ///
    /// # Errors
    /// `UnexpectedPid` unless the PID is 0xFC, `TooLong` or `Truncated`.
    pub fn parse(bytes: &'a [u8], params: &SessionParams) -> Result<Self, DecodeError> {
        let Some(&p) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        if p != pid::SERV {
            return Err(DecodeError::UnexpectedPid {
                pid: p,
                expected: "SERV (0xFC)",
            });
        }
        let max = usize::from(params.max_cto);
        if bytes.len() > max {
            return Err(DecodeError::TooLong {
                packet: "SERV",
                len: bytes.len(),
                max,
            });
        }
        let mut r = Reader::at(bytes, 1, params.byte_order, "SERV");
        let code = r.u8("SERVICE_REQUEST_CODE")?;
        Ok(match ServCode::from_u8(code) {
            ServCode::Reset => Self::Reset,
            ServCode::Text => Self::Text(r.rest()),
            ServCode::Unknown(_) => Self::Other {
                code,
                data: r.rest(),
            },
        })
    }

    /// Encodes the packet and returns the number of bytes written.
    ///
    /// # Errors
    /// `BufferTooSmall`, `TooLong`, or `InvalidField` for an `Other` with a known code.
    pub fn emit(&self, buf: &mut [u8], params: &SessionParams) -> Result<usize, EncodeError> {
        let (code, data) = match *self {
            Self::Reset => (ServCode::Reset.to_u8(), &[][..]),
            Self::Text(t) => (ServCode::Text.to_u8(), t),
            Self::Other { code, data } => {
                if ServCode::from_u8(code).is_known() {
                    return Err(EncodeError::InvalidField {
                        packet: "SERV",
                        field: "SERVICE_REQUEST_CODE",
                        value: u64::from(code),
                    });
                }
                (code, data)
            }
        };
        let len = 2 + data.len();
        check_max("SERV", len, usize::from(params.max_cto))?;
        let mut w = Writer::new(buf, params.byte_order, "SERV");
        w.reserve(len)?;
        w.u8(pid::SERV)?;
        w.u8(code)?;
        w.bytes(data)?;
        Ok(w.len())
    }
}

impl fmt::Display for Serv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Reset => f.write_str("SERV SERV_RESET"),
            Self::Text(t) => {
                f.write_str("SERV SERV_TEXT \"")?;
                for &b in t.iter().take_while(|&&b| b != 0) {
                    if b.is_ascii_graphic() || b == b' ' {
                        write!(f, "{}", char::from(b))?;
                    } else {
                        write!(f, "\\x{b:02x}")?;
                    }
                }
                f.write_str("\"")
            }
            Self::Other { code, data } => {
                write!(f, "SERV UNKNOWN({code:#04x}) data=")?;
                fmt_hex(f, data)
            }
        }
    }
}
