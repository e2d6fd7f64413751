//! Decode and encode errors.
//!
//! Both are `Copy` and allocation-free; each variant names the packet and the field that failed
//! and the lengths involved, so that a trace line or a test failure says what to check.

/// A received byte sequence could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet ended before a field was complete.
    #[error("{packet}: truncated at {field}: need {needed} bytes, have {available}")]
    Truncated {
        /// Packet or frame being decoded, in spec words.
        packet: &'static str,
        /// Field that did not fit.
        field: &'static str,
        /// Bytes needed up to the end of that field.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A field holds a value that the protocol does not allow.
    #[error("{packet}: field {field} has invalid value {value:#x}")]
    InvalidField {
        /// Packet or frame being decoded.
        packet: &'static str,
        /// Field that is invalid.
        field: &'static str,
        /// The value found.
        value: u32,
    },
    /// A packet or frame is longer than the negotiated maximum allows.
    #[error("{packet}: length {len} exceeds the maximum of {max}; check MAX_CTO/MAX_DTO")]
    TooLong {
        /// Packet or frame being decoded.
        packet: &'static str,
        /// Length found.
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// An empty packet: every XCP packet has at least a PID byte.
    #[error("empty packet: every XCP packet starts with a PID byte")]
    Empty,
    /// The packet identifier does not belong to the kind of packet expected here.
    #[error("unexpected packet id {pid:#04x}; expected {expected}")]
    UnexpectedPid {
        /// The PID found.
        pid: u8,
        /// What was expected, in spec words.
        expected: &'static str,
    },
    /// A transport-layer checksum did not match.
    #[error("{packet}: checksum mismatch: computed {computed:#x}, received {received:#x}")]
    Checksum {
        /// Frame being decoded.
        packet: &'static str,
        /// Checksum computed over the received bytes.
        computed: u32,
        /// Checksum carried by the frame.
        received: u32,
    },
}

/// A value could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small for the packet.
    #[error("{packet}: output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Packet being encoded.
        packet: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available in the buffer.
        available: usize,
    },
    /// A field value cannot be represented on the wire.
    #[error("{packet}: field {field} value {value:#x} cannot be encoded")]
    InvalidField {
        /// Packet being encoded.
        packet: &'static str,
        /// Field at fault.
        field: &'static str,
        /// The value given.
        value: u64,
    },
    /// The packet would exceed the negotiated maximum (MAX_CTO, MAX_DTO, MAX_DLC, ...).
    #[error("{packet}: length {len} exceeds the maximum of {max}")]
    TooLong {
        /// Packet being encoded.
        packet: &'static str,
        /// Length the packet would have.
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
}
