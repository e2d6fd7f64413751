//! Transport-layer framing as pure code: headers, tails, packing and stream reassembly.
//!
//! | module | bus | what it frames |
//! |---|---|---|
//! | [`eth`] | Ethernet (TCP, UDP) | LEN/CTR header, several packets per datagram, CTR gap counting |
//! | [`sxi`] | serial (SCI, SPI) | six header formats, byte/word checksum tail, SYNC/ESC framing |
//! | [`can`] | CAN, CAN FD | DLC rules, MAX_DLC_REQUIRED padding, FD length rounding, identifiers |
//! | [`usb`] | USB | header formats, single/multiple packing with alignment, streaming |
//!
//! The header formats are shared by SxI, USB and Ethernet (whose header is `LEN_CTR_WORD`);
//! [`Deframer`] reassembles packets from a byte stream for any of them.

pub mod can;
pub mod eth;
pub mod sxi;
pub mod usb;

use crate::error::{DecodeError, EncodeError};

/// Transport-layer header formats (XCP on SxI/USB; Ethernet uses `LenCtrWord`).
/// Multi-byte header fields are little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum HeaderFormat {
    /// LEN_BYTE: one length byte.
    LenByte,
    /// LEN_CTR_BYTE: length byte, counter byte.
    LenCtrByte,
    /// LEN_FILL_BYTE: length byte, fill byte.
    LenFillByte,
    /// LEN_WORD: length word.
    LenWord,
    /// LEN_CTR_WORD: length word, counter word (the Ethernet header).
    #[default]
    LenCtrWord,
    /// LEN_FILL_WORD: length word, fill word.
    LenFillWord,
}

impl HeaderFormat {
    /// Header length in bytes.
    #[allow(
        clippy::len_without_is_empty,
        reason = "a field size, not a collection"
    )]
    pub const fn len(self) -> usize {
        match self {
            Self::LenByte => 1,
            Self::LenCtrByte | Self::LenFillByte | Self::LenWord => 2,
            Self::LenCtrWord | Self::LenFillWord => 4,
        }
    }

    /// Largest packet length the LEN field can express.
    pub const fn max_packet_len(self) -> usize {
        match self {
            Self::LenByte | Self::LenCtrByte | Self::LenFillByte => 0xFF,
            _ => 0xFFFF,
        }
    }

    /// Whether the header carries a counter.
    pub const fn has_ctr(self) -> bool {
        matches!(self, Self::LenCtrByte | Self::LenCtrWord)
    }

    /// Reads `(LEN, CTR)` from the start of `b`, which must hold [`len`](Self::len) bytes.
    fn read(self, b: &[u8]) -> (usize, Option<u16>) {
        match self {
            Self::LenByte | Self::LenFillByte => (usize::from(b[0]), None),
            Self::LenCtrByte => (usize::from(b[0]), Some(u16::from(b[1]))),
            Self::LenWord | Self::LenFillWord => {
                (usize::from(u16::from_le_bytes([b[0], b[1]])), None)
            }
            Self::LenCtrWord => (
                usize::from(u16::from_le_bytes([b[0], b[1]])),
                Some(u16::from_le_bytes([b[2], b[3]])),
            ),
        }
    }

    /// Writes the header for a packet of `len` bytes; `len` must fit the LEN field.
    fn write(self, out: &mut [u8], len: usize, ctr: u16) {
        let [c0, c1] = ctr.to_le_bytes();
        #[allow(
            clippy::cast_possible_truncation,
            reason = "callers check len <= max_packet_len"
        )]
        let [l0, l1] = (len as u16).to_le_bytes();
        match self {
            Self::LenByte => out[0] = l0,
            Self::LenCtrByte => out[..2].copy_from_slice(&[l0, c0]),
            Self::LenFillByte => out[..2].copy_from_slice(&[l0, 0]),
            Self::LenWord => out[..2].copy_from_slice(&[l0, l1]),
            Self::LenCtrWord => out[..4].copy_from_slice(&[l0, l1, c0, c1]),
            Self::LenFillWord => out[..4].copy_from_slice(&[l0, l1, 0, 0]),
        }
    }
}

impl HeaderFormat {
    /// The six formats.
    pub const ALL: [Self; 6] = [
        Self::LenByte,
        Self::LenCtrByte,
        Self::LenFillByte,
        Self::LenWord,
        Self::LenCtrWord,
        Self::LenFillWord,
    ];

    /// The A2L name (`HEADER_LEN_CTR_WORD`).
    pub const fn a2l_name(self) -> &'static str {
        match self {
            Self::LenByte => "HEADER_LEN_BYTE",
            Self::LenCtrByte => "HEADER_LEN_CTR_BYTE",
            Self::LenFillByte => "HEADER_LEN_FILL_BYTE",
            Self::LenWord => "HEADER_LEN_WORD",
            Self::LenCtrWord => "HEADER_LEN_CTR_WORD",
            Self::LenFillWord => "HEADER_LEN_FILL_WORD",
        }
    }

    /// The format of an A2L name, with or without `HEADER_`, in any case (`len_ctr_word`).
    pub fn from_name(name: &str) -> Option<Self> {
        let bare = match name.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("HEADER_") => &name[7..],
            _ => name,
        };
        Self::ALL
            .into_iter()
            .find(|h| h.a2l_name()[7..].eq_ignore_ascii_case(bare))
    }
}

impl core::fmt::Display for HeaderFormat {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.a2l_name())
    }
}

impl Tail {
    /// The three tails.
    pub const ALL: [Self; 3] = [Self::None, Self::Byte, Self::Word];

    /// The A2L name (`NO_CHECKSUM`, `CHECKSUM_BYTE`, `CHECKSUM_WORD`).
    pub const fn a2l_name(self) -> &'static str {
        match self {
            Self::None => "NO_CHECKSUM",
            Self::Byte => "CHECKSUM_BYTE",
            Self::Word => "CHECKSUM_WORD",
        }
    }

    /// The tail of an A2L name, or of `none`, `byte`, `word` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let is = |a: &str| name.eq_ignore_ascii_case(a);
        if is("none") || is("NO_CHECKSUM") {
            Some(Self::None)
        } else if is("byte") || is("CHECKSUM_BYTE") {
            Some(Self::Byte)
        } else if is("word") || is("CHECKSUM_WORD") {
            Some(Self::Word)
        } else {
            None
        }
    }
}

impl core::fmt::Display for Tail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.a2l_name())
    }
}

/// Checksum tail of a frame (XCP on SxI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Tail {
    /// No checksum.
    #[default]
    None,
    /// One byte: the sum of header and packet bytes, modulo 256.
    Byte,
    /// One little-endian word: the sum of little-endian words over header and packet (with a
    /// zero fill byte first when their length is odd), modulo 65536.
    Word,
}

/// How packets are framed on a byte-oriented transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Framing {
    /// Header format.
    pub header: HeaderFormat,
    /// Checksum tail.
    pub tail: Tail,
}

/// One packet taken out of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Transport-layer counter, when the header has one.
    pub ctr: Option<u16>,
    /// The XCP packet.
    pub packet: &'a [u8],
}

impl Framing {
    /// The Ethernet framing: `LEN_CTR_WORD`, no tail.
    pub const ETH: Self = Self {
        header: HeaderFormat::LenCtrWord,
        tail: Tail::None,
    };

    /// Fill bytes before a word checksum.
    const fn fill(self, len: usize) -> usize {
        match self.tail {
            Tail::Word => (self.header.len() + len) % 2,
            _ => 0,
        }
    }

    const fn tail_len(self) -> usize {
        match self.tail {
            Tail::None => 0,
            Tail::Byte => 1,
            Tail::Word => 2,
        }
    }

    /// Length of the frame that carries a packet of `len` bytes.
    pub const fn frame_len(self, len: usize) -> usize {
        self.header.len() + len + self.fill(len) + self.tail_len()
    }

    /// Most bytes a frame adds to its packet.
    pub const fn max_overhead(self) -> usize {
        self.header.len() + 1 + self.tail_len()
    }

    fn tail_value(self, body: &[u8]) -> u16 {
        match self.tail {
            Tail::None => 0,
            Tail::Byte => u16::from(body.iter().fold(0u8, |a, &b| a.wrapping_add(b))),
            Tail::Word => {
                let mut sum = 0u16;
                let mut chunks = body.chunks_exact(2);
                for w in &mut chunks {
                    sum = sum.wrapping_add(u16::from_le_bytes([w[0], w[1]]));
                }
                if let [last] = chunks.remainder() {
                    sum = sum.wrapping_add(u16::from(*last));
                }
                sum
            }
        }
    }

    /// Writes one frame carrying `packet` into `out`; returns the frame length.
    ///
    /// # Errors
    /// `InvalidField` for an empty packet, `TooLong` when the packet exceeds what the LEN
    /// field can express, `BufferTooSmall` when `out` is too short.
    pub fn encode(self, ctr: u16, packet: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        if packet.is_empty() {
            return Err(EncodeError::InvalidField {
                packet: "FRAME",
                field: "LEN",
                value: 0,
            });
        }
        let max = self.header.max_packet_len();
        if packet.len() > max {
            return Err(EncodeError::TooLong {
                packet: "FRAME",
                len: packet.len(),
                max,
            });
        }
        let total = self.frame_len(packet.len());
        if out.len() < total {
            return Err(EncodeError::BufferTooSmall {
                packet: "FRAME",
                needed: total,
                available: out.len(),
            });
        }
        let h = self.header.len();
        self.header.write(out, packet.len(), ctr);
        out[h..h + packet.len()].copy_from_slice(packet);
        let mut end = h + packet.len();
        if self.fill(packet.len()) == 1 {
            out[end] = 0;
            end += 1;
        }
        let sum = self.tail_value(&out[..end]);
        match self.tail {
            Tail::None => {}
            #[allow(
                clippy::cast_possible_truncation,
                reason = "byte checksum is below 256"
            )]
            Tail::Byte => out[end] = sum as u8,
            Tail::Word => out[end..end + 2].copy_from_slice(&sum.to_le_bytes()),
        }
        Ok(total)
    }

    /// Validates the header at the start of `b` and returns the whole frame's length.
    fn check_header(self, b: &[u8], max_len: usize) -> Result<usize, DecodeError> {
        let (len, _) = self.header.read(b);
        if len == 0 {
            return Err(DecodeError::InvalidField {
                packet: "FRAME",
                field: "LEN",
                value: 0,
            });
        }
        if len > max_len {
            return Err(DecodeError::TooLong {
                packet: "FRAME",
                len,
                max: max_len,
            });
        }
        Ok(self.frame_len(len))
    }

    /// Decodes the frame at the start of `bytes`; returns it and the bytes it took.
    ///
    /// # Errors
    /// `Truncated` when the frame is incomplete, `InvalidField` for LEN 0, `TooLong` when LEN
    /// exceeds `max_len`, `Checksum` when the tail does not match.
    pub fn decode(self, bytes: &[u8], max_len: usize) -> Result<(Frame<'_>, usize), DecodeError> {
        let h = self.header.len();
        if bytes.len() < h {
            return Err(DecodeError::Truncated {
                packet: "FRAME",
                field: "HEADER",
                needed: h,
                available: bytes.len(),
            });
        }
        let total = self.check_header(bytes, max_len)?;
        if bytes.len() < total {
            return Err(DecodeError::Truncated {
                packet: "FRAME",
                field: "PACKET",
                needed: total,
                available: bytes.len(),
            });
        }
        Ok((self.decode_complete(&bytes[..total])?, total))
    }

    /// Decodes a frame whose length was already checked.
    fn decode_complete(self, frame: &[u8]) -> Result<Frame<'_>, DecodeError> {
        let h = self.header.len();
        let (len, ctr) = self.header.read(frame);
        if self.tail != Tail::None {
            let body_end = frame.len() - self.tail_len();
            let computed = self.tail_value(&frame[..body_end]);
            let received = match self.tail {
                Tail::Byte => u16::from(frame[body_end]),
                _ => u16::from_le_bytes([frame[body_end], frame[body_end + 1]]),
            };
            if computed != received && !cfg!(fuzzing) {
                return Err(DecodeError::Checksum {
                    packet: "FRAME",
                    computed: u32::from(computed),
                    received: u32::from(received),
                });
            }
        }
        Ok(Frame {
            ctr,
            packet: &frame[h..h + len],
        })
    }
}

/// Reassembles framed packets from a byte stream split at arbitrary points (TCP, a serial
/// line, USB streaming).
///
/// Complete frames are handed out straight from the pushed bytes; only a frame split across
/// two pushes is copied, into a buffer of `framing.max_overhead() + max_len` bytes that the
/// caller provides. A LEN of zero or above `max_len` means the stream lost sync: the deframer
/// then stays failed and every push returns that error, because nothing after it can be
/// trusted.
#[derive(Debug)]
pub struct Deframer<B> {
    framing: Framing,
    max_len: usize,
    buf: B,
    held: usize,
    failed: Option<DecodeError>,
}

impl<B: AsMut<[u8]>> Deframer<B> {
    /// A deframer for packets of at most `max_len` bytes, buffering partial frames in `buf`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buf` cannot hold the largest frame.
    pub fn new(framing: Framing, max_len: usize, mut buf: B) -> Result<Self, EncodeError> {
        let max_len = max_len.min(framing.header.max_packet_len());
        let needed = framing.frame_len(max_len) + 1;
        let available = buf.as_mut().len();
        if available < needed {
            return Err(EncodeError::BufferTooSmall {
                packet: "DEFRAMER",
                needed,
                available,
            });
        }
        Ok(Self {
            framing,
            max_len,
            buf,
            held: 0,
            failed: None,
        })
    }

    /// Bytes of an incomplete frame held back for the next push.
    pub fn pending(&self) -> usize {
        self.held
    }

    /// Feeds bytes; calls `on_frame` for every complete frame (with an error for a frame whose
    /// checksum fails, after which decoding goes on with the next frame).
    ///
    /// # Errors
    /// The stream lost sync (LEN 0 or above the maximum); the deframer stays failed.
    pub fn push<F>(&mut self, mut data: &[u8], mut on_frame: F) -> Result<(), DecodeError>
    where
        F: FnMut(Result<Frame<'_>, DecodeError>),
    {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let framing = self.framing;
        let h = framing.header.len();
        if self.held > 0 {
            let buf = self.buf.as_mut();
            if self.held < h {
                let take = (h - self.held).min(data.len());
                buf[self.held..self.held + take].copy_from_slice(&data[..take]);
                self.held += take;
                data = &data[take..];
                if self.held < h {
                    return Ok(());
                }
            }
            let total = match framing.check_header(&buf[..h], self.max_len) {
                Ok(t) => t,
                Err(e) => return Err(self.fail(e)),
            };
            let take = (total - self.held).min(data.len());
            buf[self.held..self.held + take].copy_from_slice(&data[..take]);
            self.held += take;
            data = &data[take..];
            if self.held < total {
                return Ok(());
            }
            self.held = 0;
            on_frame(framing.decode_complete(&buf[..total]));
        }
        while data.len() >= h {
            let total = match framing.check_header(data, self.max_len) {
                Ok(t) => t,
                Err(e) => return Err(self.fail(e)),
            };
            if data.len() < total {
                break;
            }
            on_frame(framing.decode_complete(&data[..total]));
            data = &data[total..];
        }
        let buf = self.buf.as_mut();
        buf[..data.len()].copy_from_slice(data);
        self.held = data.len();
        Ok(())
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e);
        self.held = 0;
        e
    }

    /// Forgets any partial frame and a lost sync, e.g. after a reconnect.
    pub fn reset(&mut self) {
        self.held = 0;
        self.failed = None;
    }
}

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn header_and_tail_names_read_back() {
        for h in HeaderFormat::ALL {
            assert_eq!(HeaderFormat::from_name(h.a2l_name()), Some(h));
        }
        assert_eq!(
            HeaderFormat::from_name("len_ctr_byte"),
            Some(HeaderFormat::LenCtrByte)
        );
        assert_eq!(HeaderFormat::from_name("HEADER_"), None);
        assert_eq!(HeaderFormat::from_name("len"), None);
        for t in Tail::ALL {
            assert_eq!(Tail::from_name(t.a2l_name()), Some(t));
        }
        assert_eq!(Tail::from_name("word"), Some(Tail::Word));
        assert_eq!(Tail::from_name("crc"), None);
    }
}
