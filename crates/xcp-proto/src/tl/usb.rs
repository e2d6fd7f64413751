//! XCP on USB framing.
//!
//! USB uses the SxI header formats (without a checksum tail) on bulk or interrupt endpoints.
//! Packing is single (one packet per transfer), multiple (several packets per transfer, each
//! padded to the alignment) or streaming (a byte stream split into transfers at any point,
//! reassembled with [`super::Deframer`]). In multiple mode a LEN of zero ends the packets of a
//! transfer, so fill at its end is not taken for a packet.

use super::{Frame, Framing, HeaderFormat, Tail};
use crate::error::{DecodeError, EncodeError};

/// How packets are put into USB transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Packing {
    /// One packet per transfer.
    #[default]
    Single,
    /// Several packets per transfer, each padded to the alignment.
    Multiple,
    /// A byte stream; transfer boundaries carry no meaning.
    Streaming,
}

/// Alignment of packets within a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Alignment {
    /// 8 bits.
    #[default]
    Bits8,
    /// 16 bits.
    Bits16,
    /// 32 bits.
    Bits32,
    /// 64 bits.
    Bits64,
}

impl Alignment {
    /// Alignment in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Bits8 => 1,
            Self::Bits16 => 2,
            Self::Bits32 => 4,
            Self::Bits64 => 8,
        }
    }
}

/// XCP on USB settings (A2L `XCP_ON_USB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UsbConfig {
    /// Header format.
    pub header: HeaderFormat,
    /// Packing mode.
    pub packing: Packing,
    /// Alignment in multiple-packet mode.
    pub alignment: Alignment,
}

impl UsbConfig {
    /// The header framing (USB has no checksum tail).
    pub const fn framing(&self) -> Framing {
        Framing {
            header: self.header,
            tail: Tail::None,
        }
    }

    /// Bytes a packet of `len` bytes takes in a transfer (with alignment fill in multiple mode).
    pub const fn slot_len(&self, len: usize) -> usize {
        let n = self.framing().frame_len(len);
        match self.packing {
            Packing::Multiple => {
                let a = self.alignment.bytes();
                n.div_ceil(a) * a
            }
            _ => n,
        }
    }

    /// Appends one packet to a transfer being built in `out[..*used]`.
    ///
    /// Returns `Ok(false)` when it does not fit (send the transfer first). In single mode
    /// only one packet goes into a transfer.
    ///
    /// # Errors
    /// As [`Framing::encode`].
    pub fn pack(
        &self,
        ctr: u16,
        packet: &[u8],
        out: &mut [u8],
        used: &mut usize,
    ) -> Result<bool, EncodeError> {
        let slot = self.slot_len(packet.len());
        if self.packing == Packing::Single && *used > 0 {
            return Ok(false);
        }
        if *used + slot > out.len() {
            if *used == 0 {
                return Err(EncodeError::BufferTooSmall {
                    packet: "USB_TRANSFER",
                    needed: slot,
                    available: out.len(),
                });
            }
            return Ok(false);
        }
        let n = self.framing().encode(ctr, packet, &mut out[*used..])?;
        out[*used + n..*used + slot].fill(0);
        *used += slot;
        Ok(true)
    }

    /// Iterates the packets of one transfer in single or multiple mode (streaming transfers
    /// go through a [`super::Deframer`]).
    pub fn unpack<'a>(&self, transfer: &'a [u8], max_len: usize) -> Unpack<'a> {
        Unpack {
            config: *self,
            rest: transfer,
            max_len,
            done: false,
        }
    }
}

/// Iterator over the packets of one USB transfer.
#[derive(Debug, Clone)]
pub struct Unpack<'a> {
    config: UsbConfig,
    rest: &'a [u8],
    max_len: usize,
    done: bool,
}

impl<'a> Iterator for Unpack<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let h = self.config.header.len();
        if self.config.packing == Packing::Multiple
            && self.rest.len() >= h
            && self.config.header.read(self.rest).0 == 0
        {
            // A zero LEN: the rest of the transfer is fill.
            self.done = true;
            return None;
        }
        match self.config.framing().decode(self.rest, self.max_len) {
            Ok((frame, used)) => {
                let slot = self
                    .config
                    .slot_len(frame.packet.len())
                    .min(self.rest.len());
                self.rest = &self.rest[slot.max(used)..];
                if self.config.packing == Packing::Single {
                    self.done = true;
                }
                Some(Ok(frame))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
