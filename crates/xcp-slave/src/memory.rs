//! The slave's address space: which (extension, address) pairs reach which registered memory.
//!
//! The slave never dereferences an address. Every address is decoded into a registered region
//! and an offset, bounds-checked, and served from that region's own storage:
//!
//! | ext | mode | address | region |
//! |---|---|---|---|
//! | 0 | segment-relative | `0x8000_0000 \| segment << 16 \| offset` | calibration segment pages (segment 0 is the EPK segment) |
//! | 1 | absolute | `0x0001_0000 + offset` | global measurement variables (atomics) |
//! | 1 | absolute | `FlashConfig::base + offset` | simulated flash (read here, written by PROGRAM) |
//! | 2 | event-relative | `event << 16 \| offset` | the instance the application passes when it triggers `event` (DAQ, and polls carried out by the event's next trigger: `crate::poll`) |
//!
//! Anything else is `ERR_OUT_OF_RANGE`. Event-relative memory exists only while its event
//! fires: SHORT_UPLOAD, UPLOAD and DOWNLOAD reach it through the event's next trigger, and
//! other access (checksums, MODIFY_BITS, block downloads) is `ERR_ACCESS_DENIED`. Writes to
//! reference pages, the EPK segment, measurement variables and flash are
//! `ERR_WRITE_PROTECTED`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::sync::queue::EntryWriter;

/// Address extension of segment-relative addresses (calibration segments, EPK).
pub const EXT_SEGMENT: u8 = 0;
/// Address extension of absolute addresses (global measurement variables, flash).
pub const EXT_ABSOLUTE: u8 = 1;
/// Address extension of event-relative addresses (instances passed to a trigger).
pub const EXT_EVENT: u8 = 2;
/// Bit 31 marks segment-relative addresses.
pub const SEGMENT_BASE: u32 = 0x8000_0000;
/// Absolute address of the first global measurement variable.
pub const GLOBALS_BASE: u32 = 0x0001_0000;
/// Largest segment or instance: offsets are 16 bits.
pub const MAX_REGION: usize = 0x1_0000;

/// The segment-relative address of `offset` in `segment`.
pub const fn segment_address(segment: u8, offset: u16) -> u32 {
    SEGMENT_BASE | (segment as u32) << 16 | offset as u32
}

/// The event-relative address of `offset` in the instance of `event`.
pub const fn event_address(event: u16, offset: u16) -> u32 {
    (event as u32) << 16 | offset as u32
}

/// Memory of global measurement variables: a block of 64-bit atomics.
///
/// Every variable starts on an 8-byte boundary, so a scalar is one atomic store for the
/// application and one atomic load for the slave: a sample is never torn.
pub(crate) struct Globals {
    words: Box<[AtomicU64]>,
}

impl Globals {
    pub(crate) fn new(bytes: usize) -> Self {
        Self {
            words: (0..bytes.div_ceil(8)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.words.len() * 8
    }

    /// Stores `bytes` at `offset`, each word atomically; `false` (nothing written) when out of
    /// range.
    pub(crate) fn store(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.len())
        {
            return false;
        }
        self.store_in_range(offset, bytes);
        true
    }

    /// Sets or clears bit `bit` (0–7) of the byte at `offset`; `false` when out of range.
    pub(crate) fn set_bit(&self, offset: usize, bit: usize, on: bool) -> bool {
        let Some(slot) = self.words.get(offset / 8) else {
            return false;
        };
        let mask = 1u64 << (8 * (offset % 8) + bit % 8);
        if on {
            slot.fetch_or(mask, Ordering::Relaxed);
        } else {
            slot.fetch_and(!mask, Ordering::Relaxed);
        }
        true
    }

    fn store_in_range(&self, offset: usize, bytes: &[u8]) {
        let mut pos = offset;
        for chunk in bytes.chunks(8) {
            let word = pos / 8;
            let shift = pos % 8;
            let Some(slot) = self.words.get(word) else {
                return;
            };
            if shift == 0 && chunk.len() == 8 {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                slot.store(u64::from_le_bytes(w), Ordering::Relaxed);
            } else {
                // Part of a word shared with neighbours: read-modify-write atomically.
                let take = chunk.len().min(8 - shift);
                let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    let mut w = old.to_le_bytes();
                    w[shift..shift + take].copy_from_slice(&chunk[..take]);
                    Some(u64::from_le_bytes(w))
                });
                if take < chunk.len() {
                    self.store_in_range(pos + take, &chunk[take..]);
                }
            }
            pos += chunk.len();
        }
    }

    /// Copies `dst.len()` bytes at `offset`; `false` when out of range.
    pub(crate) fn load(&self, offset: usize, dst: &mut [u8]) -> bool {
        if offset
            .checked_add(dst.len())
            .is_none_or(|end| end > self.len())
        {
            return false;
        }
        let mut pos = offset;
        let mut out = 0;
        while out < dst.len() {
            let word = self.words[pos / 8].load(Ordering::Relaxed).to_le_bytes();
            let shift = pos % 8;
            let take = (8 - shift).min(dst.len() - out);
            dst[out..out + take].copy_from_slice(&word[shift..shift + take]);
            out += take;
            pos += take;
        }
        true
    }

    /// Appends `len` bytes at `offset` to a DTO; `false` (nothing written) when out of range.
    #[inline]
    pub(crate) fn sample(&self, offset: usize, len: usize, w: &mut EntryWriter<'_>) -> bool {
        let shift = offset % 8;
        if len <= 8 - shift {
            // The common case, a scalar in its own slot: one atomic load.
            let Some(word) = self.words.get(offset / 8) else {
                return false;
            };
            let bytes = (word.load(Ordering::Relaxed) >> (8 * shift)).to_le_bytes();
            w.put(&bytes[..len]);
            return true;
        }
        let mut buf = [0u8; 256];
        let Some(dst) = buf.get_mut(..len) else {
            return false;
        };
        if !self.load(offset, dst) {
            return false;
        }
        w.put(dst);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_loads_across_word_boundaries() {
        let g = Globals::new(32);
        assert!(g.store(0, &7u64.to_le_bytes()));
        assert!(g.store(8, &[1, 2, 3]));
        assert!(g.store(13, &[9, 9, 9, 9, 9, 9]));
        assert!(!g.store(30, &[1, 2, 3]), "past the end");
        assert!(g.set_bit(9, 7, true));
        assert!(g.set_bit(8, 0, false));
        let mut b = [0u8; 11];
        assert!(g.load(8, &mut b));
        assert_eq!(b, [0, 0x82, 3, 0, 0, 9, 9, 9, 9, 9, 9]);
        let mut w = [0u8; 8];
        assert!(g.load(0, &mut w));
        assert_eq!(u64::from_le_bytes(w), 7);
        assert!(!g.load(30, &mut [0; 4]), "past the end");
    }

    #[test]
    fn addresses_follow_the_documented_scheme() {
        assert_eq!(segment_address(2, 0x10), 0x8002_0010);
        assert_eq!(event_address(3, 0x20), 0x0003_0020);
    }
}
