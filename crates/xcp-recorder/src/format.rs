//! The recording format, version 1. All integers little-endian.
//!
//! ```text
//! file    = header meta block* [footer]
//! header  = "XCPKREC1" version:u16 flags:u16 meta_len:u32 meta_crc:u32 reserved:[u8;12]
//! meta    = meta_len bytes of UTF-8 JSON (slave, EPK, A2L, DAQ layout, start time)
//! block   = "XBLK" codec:u8 reserved:[u8;3] stored_len:u32 raw_len:u32 frames:u32
//!           first_ns:u64 last_ns:u64 payload_crc:u32 header_crc:u32 payload
//! payload = stored_len bytes: the raw frames, compressed by `codec` (0 none, 1 LZ4,
//!           2 zstd)
//! frames  = (delta_ns:varint len:varint bytes)*   delta from the previous frame's time,
//!           the first from first_ns
//! footer  = "XIDX" count:u32 (offset:u64 first_ns:u64 last_ns:u64 frames:u32)*
//!           stats_len:u32 stats JSON  index_offset:u64 "XEND"
//! ```
//!
//! Every block stands alone: its header carries its own checksum and its payload's, so a
//! reader can walk the blocks without the footer (after a crash) and skip a damaged one.

/// File magic.
pub const MAGIC: &[u8; 8] = b"XCPKREC1";
/// Format version.
pub const VERSION: u16 = 1;
/// Fixed part of the file header.
pub const HEADER_LEN: usize = 32;
/// Block magic.
pub const BLOCK_MAGIC: &[u8; 4] = b"XBLK";
/// Block header length.
pub const BLOCK_HEADER_LEN: usize = 44;
/// Footer magics.
pub const INDEX_MAGIC: &[u8; 4] = b"XIDX";
/// Last four bytes of a closed file.
pub const END_MAGIC: &[u8; 4] = b"XEND";
/// One index entry.
pub const INDEX_ENTRY_LEN: usize = 28;
/// Largest block payload accepted (a corrupt length must not make the reader allocate
/// gigabytes).
pub const MAX_BLOCK: u32 = 64 << 20;

/// How a block's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// As is.
    None,
    /// LZ4 block format (the default: fast enough for any DAQ rate).
    Lz4,
    /// Zstandard frames: smaller files for archives, at a fraction of LZ4's speed (the level
    /// is [`crate::WriterOptions::zstd_level`]).
    Zstd,
}

impl Codec {
    /// The codec a name selects: `none`, `lz4` or `zstd`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "lz4" => Some(Self::Lz4),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    pub(crate) const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Lz4 => 1,
            Self::Zstd => 2,
        }
    }

    pub(crate) const fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Self::None),
            1 => Some(Self::Lz4),
            2 => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// A block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Codec.
    pub codec: Codec,
    /// Payload bytes in the file.
    pub stored_len: u32,
    /// Payload bytes after decompression.
    pub raw_len: u32,
    /// Frames in the block.
    pub frames: u32,
    /// Host time of the first frame (Unix ns).
    pub first_ns: u64,
    /// Host time of the last frame.
    pub last_ns: u64,
    /// CRC-32 of the stored payload.
    pub payload_crc: u32,
}

impl BlockHeader {
    /// Encodes the header with its own checksum.
    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(BLOCK_MAGIC);
        b[4] = self.codec.code();
        b[8..12].copy_from_slice(&self.stored_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.frames.to_le_bytes());
        b[20..28].copy_from_slice(&self.first_ns.to_le_bytes());
        b[28..36].copy_from_slice(&self.last_ns.to_le_bytes());
        b[36..40].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..40]);
        b[40..44].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a header; `Err` says what is wrong with it.
    pub fn decode(b: &[u8; BLOCK_HEADER_LEN]) -> Result<Self, &'static str> {
        if &b[0..4] != BLOCK_MAGIC {
            return Err("no block magic");
        }
        if crc32fast::hash(&b[..40]) != u32_at(b, 40) {
            return Err("block header checksum mismatch");
        }
        let codec = Codec::from_code(b[4]).ok_or("unknown codec")?;
        let h = Self {
            codec,
            stored_len: u32_at(b, 8),
            raw_len: u32_at(b, 12),
            frames: u32_at(b, 16),
            first_ns: u64_at(b, 20),
            last_ns: u64_at(b, 28),
            payload_crc: u32_at(b, 36),
        };
        if h.stored_len > MAX_BLOCK || h.raw_len > MAX_BLOCK {
            return Err("block length beyond the format's limit");
        }
        Ok(h)
    }
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        x.copy_from_slice(s);
    }
    u64::from_le_bytes(x)
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v.to_le_bytes()[0] | 0x80);
        v >>= 7;
    }
    out.push(v.to_le_bytes()[0]);
}

/// Reads a varint at `*pos`, advancing it; `None` when truncated or longer than 10 bytes.
pub(crate) fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_refuse_garbage() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(get_varint(&b, &mut pos), Some(v));
            assert_eq!(pos, b.len());
        }
        let mut pos = 0;
        assert_eq!(get_varint(&[0x80, 0x80], &mut pos), None);
        let mut pos = 0;
        assert_eq!(get_varint(&[0xFF; 11], &mut pos), None);
    }

    #[test]
    fn block_headers_check_themselves() {
        let h = BlockHeader {
            codec: Codec::Lz4,
            stored_len: 10,
            raw_len: 20,
            frames: 3,
            first_ns: 5,
            last_ns: 9,
            payload_crc: 0xABCD,
        };
        let mut b = h.encode();
        assert_eq!(BlockHeader::decode(&b), Ok(h));
        b[17] ^= 1;
        assert_eq!(
            BlockHeader::decode(&b),
            Err("block header checksum mismatch")
        );
    }
}
