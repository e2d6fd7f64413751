//! XCP on Ethernet (TCP and UDP) framing.
//!
//! Every packet is preceded by a 4-byte header, LEN (u16) then CTR (u16), both
//! little-endian whatever the session's byte order. LEN counts the XCP packet only.
//! A UDP datagram or a TCP write may hold several frames; [`Packets`] walks a datagram,
//! [`super::Deframer`] with [`super::Framing::ETH`] reassembles a TCP stream.
//! Each side keeps one CTR for everything it sends; [`CtrTracker`] counts the gaps the
//! receiver sees, so lost packets are visible.

use super::{Frame, Framing};
use crate::error::{DecodeError, EncodeError};

/// Length of the Ethernet transport header.
pub const HEADER_LEN: usize = 4;

/// Default UDP payload limit for packing several packets per datagram (1500 − IP − UDP).
pub const DEFAULT_MAX_DATAGRAM: usize = 1472;

/// Default XCP port.
pub const DEFAULT_PORT: u16 = 5555;

/// Writes one frame (header + packet) into `out`; returns its length.
///
/// # Errors
/// As [`Framing::encode`].
pub fn encode(ctr: u16, packet: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    Framing::ETH.encode(ctr, packet, out)
}

/// Iterates the frames of one datagram.
///
/// Yields an error and stops at the first malformed frame (LEN 0, LEN beyond `max_len`, or a
/// frame cut short by the end of the datagram).
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    rest: &'a [u8],
    max_len: usize,
    done: bool,
}

/// The frames of a datagram whose packets are at most `max_len` bytes.
pub fn packets(datagram: &[u8], max_len: usize) -> Packets<'_> {
    Packets {
        rest: datagram,
        max_len,
        done: false,
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        match Framing::ETH.decode(self.rest, self.max_len) {
            Ok((frame, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(frame))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Packs several frames into one datagram or TCP write, up to a size limit.
#[derive(Debug)]
pub struct Packer<B> {
    buf: B,
    len: usize,
    limit: usize,
    frames: usize,
}

impl<B: AsMut<[u8]>> Packer<B> {
    /// A packer writing into `buf`, never beyond `limit` bytes (nor the buffer's length).
    pub fn new(mut buf: B, limit: usize) -> Self {
        let limit = limit.min(buf.as_mut().len());
        Self {
            buf,
            len: 0,
            limit,
            frames: 0,
        }
    }

    /// Whether a packet of `len` bytes still fits.
    pub fn fits(&self, len: usize) -> bool {
        self.len + HEADER_LEN + len <= self.limit
    }

    /// Appends a frame; returns `Ok(false)` without writing when it does not fit (flush
    /// first), and an error when the packet could never fit.
    ///
    /// # Errors
    /// `TooLong` when the packet is larger than the limit allows on its own; errors of
    /// [`encode`].
    pub fn push(&mut self, ctr: u16, packet: &[u8]) -> Result<bool, EncodeError> {
        if HEADER_LEN + packet.len() > self.limit {
            return Err(EncodeError::TooLong {
                packet: "ETH_FRAME",
                len: HEADER_LEN + packet.len(),
                max: self.limit,
            });
        }
        if !self.fits(packet.len()) {
            return Ok(false);
        }
        let n = encode(ctr, packet, &mut self.buf.as_mut()[self.len..self.limit])?;
        self.len += n;
        self.frames += 1;
        Ok(true)
    }

    /// The packed bytes.
    pub fn bytes(&mut self) -> &[u8] {
        &self.buf.as_mut()[..self.len]
    }

    /// Number of frames packed.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Whether nothing is packed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the packer after its bytes were sent.
    pub fn clear(&mut self) {
        self.len = 0;
        self.frames = 0;
    }
}

/// Counts gaps in a peer's transport-layer counter (a word, as Ethernet's; or a byte, as the
/// `LEN_CTR_BYTE` header of SxI and USB: [`for_header`](Self::for_header)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtrTracker {
    expected: Option<u16>,
    /// The counter is one byte wide.
    byte: bool,
    /// Packets missing according to the counter.
    pub lost: u64,
    /// Packets whose counter went backwards or repeated (duplicates, reordering).
    pub out_of_order: u64,
    /// Packets seen.
    pub received: u64,
}

impl CtrTracker {
    /// A tracker for the counter of `header`'s width (a word unless it is `LEN_CTR_BYTE`).
    pub fn for_header(header: super::HeaderFormat) -> Self {
        Self {
            byte: header == super::HeaderFormat::LenCtrByte,
            ..Self::default()
        }
    }

    /// Records a received counter; returns the number of packets missing right before it.
    pub fn observe(&mut self, ctr: u16) -> u16 {
        self.received += 1;
        let mask = if self.byte { 0xFF } else { 0xFFFF };
        let gap = match self.expected {
            None => 0,
            Some(e) => ctr.wrapping_sub(e) & mask,
        };
        // A jump of more than half the counter range is taken as a step back, not a loss.
        if gap > mask / 2 {
            self.out_of_order += 1;
            return 0;
        }
        self.lost += u64::from(gap);
        self.expected = Some(ctr.wrapping_add(1) & mask);
        gap
    }

    /// Forgets the expected counter (a new connection starts its own sequence).
    pub fn reset(&mut self) {
        self.expected = None;
    }
}

#[cfg(test)]
mod ctr_tests {
    use super::*;
    use crate::tl::HeaderFormat;

    #[test]
    fn counters_of_both_widths_count_gaps_and_steps_back() {
        let mut w = CtrTracker::for_header(HeaderFormat::LenCtrWord);
        assert_eq!(w.observe(0xFFFE), 0);
        assert_eq!(w.observe(0x0001), 2);
        assert_eq!(w.observe(0x0000), 0);
        assert_eq!((w.lost, w.out_of_order), (2, 1));
        let mut b = CtrTracker::for_header(HeaderFormat::LenCtrByte);
        assert_eq!(b.observe(0xFE), 0);
        assert_eq!(b.observe(0x02), 3);
        assert_eq!(b.observe(0x01), 0);
        assert_eq!((b.lost, b.out_of_order), (3, 1));
    }
}
