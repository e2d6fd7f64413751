//! BUILD_CHECKSUM algorithms as pure functions.
//!
//! | type | algorithm |
//! |---|---|
//! | ADD_11, ADD_12, ADD_14 | sum of bytes, truncated to 8, 16 or 32 bits |
//! | ADD_22, ADD_24 | sum of 16-bit words (session byte order), truncated to 16 or 32 bits |
//! | ADD_44 | sum of 32-bit words (session byte order), truncated to 32 bits |
//! | CRC_16 | CRC-16/ARC: polynomial 0x8005 reflected, init 0, no final XOR |
//! | CRC_16_CITT | CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, no final XOR |
//! | CRC_32 | CRC-32/ISO-HDLC: polynomial 0x04C11DB7 reflected, init and final XOR 0xFFFFFFFF |
//!
//! [`Checksum`] computes incrementally over chunks of any size (a slave walks its memory
//! regions, a master its uploaded packets); [`checksum`] does one block at once.

// CRC arithmetic truncates on purpose: table indices and register halves.
#![allow(clippy::cast_possible_truncation)]

use crate::codes::ChecksumType;
use crate::params::ByteOrder;

/// Why a checksum cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    /// Word-wise algorithms need a block that is a whole number of words.
    #[error("{kind} needs a block size that is a multiple of {multiple} bytes, got {len}")]
    BlockSize {
        /// Algorithm.
        kind: ChecksumType,
        /// Block length in bytes.
        len: usize,
        /// Required multiple.
        multiple: usize,
    },
    /// The algorithm is user defined or unknown.
    #[error("checksum type {0} cannot be computed here")]
    Unsupported(ChecksumType),
}

const fn crc16_arc_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

const fn crc16_ccitt_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

const fn crc32_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC16_ARC: [u16; 256] = crc16_arc_table();
static CRC16_CCITT: [u16; 256] = crc16_ccitt_table();
static CRC32: [u32; 256] = crc32_table();

/// Incremental BUILD_CHECKSUM computation.
#[derive(Debug, Clone)]
pub struct Checksum {
    kind: ChecksumType,
    order: ByteOrder,
    acc: u32,
    /// Bytes of an incomplete word carried over between chunks.
    carry: [u8; 4],
    carry_len: usize,
    total: usize,
}

impl Checksum {
    /// Starts a checksum of type `kind`; word-wise sums read words in `order`.
    ///
    /// # Errors
    /// `Unsupported` for USER_DEFINED and unknown types.
    pub fn new(kind: ChecksumType, order: ByteOrder) -> Result<Self, ChecksumError> {
        let acc = match kind {
            ChecksumType::Add11
            | ChecksumType::Add12
            | ChecksumType::Add14
            | ChecksumType::Add22
            | ChecksumType::Add24
            | ChecksumType::Add44
            | ChecksumType::Crc16 => 0,
            ChecksumType::Crc16Citt => 0xFFFF,
            ChecksumType::Crc32 => 0xFFFF_FFFF,
            other => return Err(ChecksumError::Unsupported(other)),
        };
        Ok(Self {
            kind,
            order,
            acc,
            carry: [0; 4],
            carry_len: 0,
            total: 0,
        })
    }

    fn word_size(&self) -> usize {
        match self.kind {
            ChecksumType::Add22 | ChecksumType::Add24 => 2,
            ChecksumType::Add44 => 4,
            _ => 1,
        }
    }

    fn add_word(&mut self, w: &[u8]) {
        let v = match (w.len(), self.order) {
            (2, ByteOrder::Intel) => u32::from(u16::from_le_bytes([w[0], w[1]])),
            (2, ByteOrder::Motorola) => u32::from(u16::from_be_bytes([w[0], w[1]])),
            (_, ByteOrder::Intel) => u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
            (_, ByteOrder::Motorola) => u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
        };
        self.acc = self.acc.wrapping_add(v);
    }

    /// Feeds the next bytes of the block.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len();
        match self.kind {
            ChecksumType::Add11 | ChecksumType::Add12 | ChecksumType::Add14 => {
                for &b in data {
                    self.acc = self.acc.wrapping_add(u32::from(b));
                }
            }
            ChecksumType::Add22 | ChecksumType::Add24 | ChecksumType::Add44 => {
                let ws = self.word_size();
                if self.carry_len > 0 {
                    let take = (ws - self.carry_len).min(data.len());
                    self.carry[self.carry_len..self.carry_len + take]
                        .copy_from_slice(&data[..take]);
                    self.carry_len += take;
                    data = &data[take..];
                    if self.carry_len == ws {
                        let w = self.carry;
                        self.add_word(&w[..ws]);
                        self.carry_len = 0;
                    }
                }
                let mut chunks = data.chunks_exact(ws);
                for w in &mut chunks {
                    self.add_word(w);
                }
                let rest = chunks.remainder();
                self.carry[..rest.len()].copy_from_slice(rest);
                self.carry_len = rest.len();
            }
            ChecksumType::Crc16 => {
                let mut c = self.acc as u16;
                for &b in data {
                    c = (c >> 8) ^ CRC16_ARC[usize::from((c as u8) ^ b)];
                }
                self.acc = u32::from(c);
            }
            ChecksumType::Crc16Citt => {
                let mut c = self.acc as u16;
                for &b in data {
                    c = (c << 8) ^ CRC16_CCITT[usize::from(((c >> 8) as u8) ^ b)];
                }
                self.acc = u32::from(c);
            }
            ChecksumType::Crc32 => {
                let mut c = self.acc;
                for &b in data {
                    c = (c >> 8) ^ CRC32[usize::from((c as u8) ^ b)];
                }
                self.acc = c;
            }
            // `new` admits only the types above.
            _ => {}
        }
    }

    /// The checksum of everything fed so far.
    ///
    /// # Errors
    /// `BlockSize` when a word-wise algorithm was fed a partial word.
    pub fn finish(&self) -> Result<u32, ChecksumError> {
        if self.carry_len != 0 {
            return Err(ChecksumError::BlockSize {
                kind: self.kind,
                len: self.total,
                multiple: self.word_size(),
            });
        }
        Ok(match self.kind {
            ChecksumType::Add11 => self.acc & 0xFF,
            ChecksumType::Add12 | ChecksumType::Add22 | ChecksumType::Crc16 => self.acc & 0xFFFF,
            ChecksumType::Crc16Citt => self.acc & 0xFFFF,
            ChecksumType::Crc32 => self.acc ^ 0xFFFF_FFFF,
            _ => self.acc,
        })
    }
}

/// Checksum of one block.
///
/// # Errors
/// `Unsupported` for USER_DEFINED and unknown types; `BlockSize` when a word-wise algorithm
/// gets a block that is not a whole number of words.
pub fn checksum(kind: ChecksumType, data: &[u8], order: ByteOrder) -> Result<u32, ChecksumError> {
    let mut c = Checksum::new(kind, order)?;
    c.update(data);
    c.finish()
}
