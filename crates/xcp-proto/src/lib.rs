//! # xcp-proto: XCP packets and frames, decoded and encoded, with no I/O
//!
//! This is the bottom layer of xcpkit (ASAM MCD-1 XCP 1.5). It turns bytes into typed
//! packets and back, and frames packets for Ethernet, SxI, CAN and USB. It deliberately does
//! **not** open sockets, spawn threads, read clocks or log: transports, the master and the
//! slave do that on top of it, so the codecs run unchanged on a microcontroller, in a fuzzer
//! and in a 3-million-frames-per-second DAQ decoder.
//!
//! ## The contract
//!
//! * Every `parse` takes the bytes of one packet and the [`SessionParams`] (byte order,
//!   address granularity, MAX_CTO/MAX_DTO, DTO layout) and never panics: malformed input is a
//!   [`DecodeError`] naming the field and the lengths involved.
//! * Every `emit` writes into a caller buffer and returns the bytes written, or an
//!   [`EncodeError`] (buffer too small, beyond MAX_CTO, a value the wire cannot carry).
//! * A positive response does not say which command it answers: [`Response::parse`] takes the
//!   [`Pending`] command.
//! * Codes ([`CommandCode`], [`ErrorCode`], [`EventCode`], ...) decode from any byte; unknown
//!   values are kept as `Unknown(u8)`.
//! * Every packet implements `Display` in spec words, e.g.
//!   `SHORT_UPLOAD n=4 addr=0x00012340 ext=0`.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `alloc` | yes | conveniences that need a heap (a `Vec`-backed [`tl::Deframer`]) |
//! | `arbitrary` | no | `arbitrary::Arbitrary` for packet types (fuzzing, property tests) |
//!
//! ## Example
//!
//! ```
//! use xcp_proto::{Address, ByteOrder, Command, Pending, Response, SessionParams};
//!
//! let params = SessionParams { byte_order: ByteOrder::Motorola, ..SessionParams::default() };
//! let cmd = Command::ShortUpload { count: 4, addr: Address::new(0, 0x1234_0) };
//! let mut buf = [0u8; 8];
//! let n = cmd.emit(&mut buf, &params)?;
//! assert_eq!(&buf[..n], &[0xF4, 4, 0, 0, 0x00, 0x01, 0x23, 0x40]);
//! assert_eq!(Command::parse(&buf[..n], &params)?, cmd);
//! assert_eq!(cmd.to_string(), "SHORT_UPLOAD n=4 addr=0x00012340 ext=0");
//!
//! // The slave's answer is decoded against the pending command.
//! let res = Response::parse(&[0xFF, 1, 2, 3, 4], Pending::from(&cmd), &params)?;
//! assert_eq!(res, Response::Upload { data: &[1, 2, 3, 4] });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
// The `Arbitrary` derive names `::std`; fuzzing and property tests run hosted anyway.
#[cfg(feature = "arbitrary")]
extern crate std;

pub mod a2ml;
pub mod bits;
pub mod checksum;
pub mod codes;
pub mod command;
pub mod dto;
pub mod element;
pub mod error;
pub mod event;
#[cfg(feature = "arbitrary")]
#[doc(hidden)]
pub mod fuzzing;
pub mod params;
pub mod response;
pub mod tl;
mod wire;

pub use checksum::{Checksum, ChecksumError, checksum};
pub use codes::{
    ChecksumType, CommandCode, ErrorCode, EventCode, IdType, Level1Code, Resources, ServCode,
};
pub use command::{Command, MAX_WRITE_DAQ_MULTIPLE, OdtEntry, OdtEntryList, Pending};
pub use dto::{DaqPacket, DtoId, DtoShape};
pub use element::{ElementOrder, ElementType, Nanos, TimeUnit};
pub use error::{DecodeError, EncodeError};
pub use event::{Event, Serv};
pub use params::{
    Address, AddressGranularity, ByteOrder, DaqLayout, DaqListNumber, EventChannel, IdField,
    OdtNumber, SessionParams, TimestampSize,
};
pub use response::{
    ChecksumResult, CommModeInfo, ConnectInfo, DaqClock, DaqEventInfo, DaqListInfo,
    DaqListModeInfo, DaqProcessorInfo, DaqResolutionInfo, DtoCtrInfo, ErrPacket, IdInfo,
    PackedModeInfo, PgmProcessorInfo, ProgramStartInfo, Response, SectorInfo, Seed, SegmentInfo,
    SlaveCto, Status, TimeCorrelationInfo, Version,
};
pub use tl::{Deframer, Frame, Framing, HeaderFormat, Tail};

/// A [`Deframer`] that owns a heap buffer sized for `max_len`.
#[cfg(feature = "alloc")]
pub type VecDeframer = Deframer<alloc::vec::Vec<u8>>;

#[cfg(feature = "alloc")]
impl Deframer<alloc::vec::Vec<u8>> {
    /// A deframer with a heap buffer large enough for packets of `max_len` bytes.
    pub fn with_capacity(framing: Framing, max_len: usize) -> Self {
        let max_len = max_len.min(framing.header.max_packet_len());
        let buf = alloc::vec![0u8; framing.frame_len(max_len) + 1];
        match Self::new(framing, max_len, buf) {
            Ok(d) => d,
            // The buffer above is exactly the size `new` asks for.
            Err(_) => unreachable!("buffer sized by frame_len"),
        }
    }
}
