//! The bounded multi-producer, single-consumer DAQ transmit queue.
//!
//! Entries are variable-size byte strings (one XCP packet each) in a ring of 64-bit words.
//! The ring is made of atomics, so the queue needs no `unsafe`: producers store payload words
//! with relaxed stores and publish an entry with a release store of its header word; the
//! consumer acquires the header, copies the payload out, zeroes the words and releases the
//! space by advancing the tail.
//!
//! * A producer reserves space with one compare-and-swap on the head position; an entry never
//!   straddles the end of the ring (the rest of the ring becomes a padding entry instead).
//! * A full queue rejects the entry and counts it; nothing ever blocks or allocates.
//! * The consumer takes entries in reservation order; an entry reserved but not yet committed
//!   stops it until the producer commits (a producer commits right after copying its data).

use core::sync::atomic::{AtomicU64, Ordering};

/// Header bit: the entry is committed.
const COMMITTED: u64 = 1 << 63;
/// Header bit: the entry is padding up to the end of the ring.
const PADDING: u64 = 1 << 62;
/// Header bits holding the payload length in bytes (or the padding length in words).
const LEN_MASK: u64 = (1 << 32) - 1;

/// Pads cache lines apart so producers and the consumer do not share one.
#[repr(align(64))]
struct Padded(AtomicU64);

/// The queue. Capacity is a number of 8-byte words; one entry costs one header word plus its
/// payload rounded up to whole words.
pub struct ByteQueue {
    ring: Box<[AtomicU64]>,
    head: Padded,
    tail: Padded,
    dropped: Padded,
    popped: Padded,
}

/// Why a push failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// Not enough free space now; the entry was dropped and counted.
    Full,
    /// The entry can never fit (longer than half the ring or than a header can describe).
    TooLarge,
}

impl ByteQueue {
    /// A queue of at least `bytes` bytes (rounded up to a power of two, at least 1 KiB).
    pub fn with_capacity(bytes: usize) -> Self {
        let words = bytes.div_ceil(8).max(128).next_power_of_two();
        Self {
            ring: (0..words).map(|_| AtomicU64::new(0)).collect(),
            head: Padded(AtomicU64::new(0)),
            tail: Padded(AtomicU64::new(0)),
            dropped: Padded(AtomicU64::new(0)),
            popped: Padded(AtomicU64::new(0)),
        }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.len() * 8
    }

    /// The largest entry the queue accepts.
    pub fn max_entry(&self) -> usize {
        (self.ring.len() / 2 - 1) * 8
    }

    fn words(&self) -> u64 {
        self.ring.len() as u64
    }

    fn slot(&self, pos: u64) -> &AtomicU64 {
        // The ring length is a power of two and fits a usize, so the masked position does.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "masked by the ring length, which is a usize"
        )]
        let i = (pos & (self.words() - 1)) as usize;
        &self.ring[i]
    }

    /// Reserves room for `payload_len` bytes and lets `fill` write them, then commits.
    ///
    /// `fill` gets the payload as words to write through [`EntryWriter`]. Returns the result of
    /// `fill` or why nothing was queued.
    ///
    /// # Errors
    /// [`PushError::Full`] when the consumer is behind (the drop is counted),
    /// [`PushError::TooLarge`] when `payload_len` exceeds [`Self::max_entry`].
    #[inline(always)]
    pub fn push_with<R>(
        &self,
        payload_len: usize,
        fill: impl FnOnce(&mut EntryWriter<'_>) -> R,
    ) -> Result<R, PushError> {
        if payload_len > self.max_entry() {
            self.dropped.0.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::TooLarge);
        }
        let words = self.words();
        let need = 1 + payload_len.div_ceil(8) as u64;
        let mut head = self.head.0.load(Ordering::Relaxed);
        let (start, pad) = loop {
            let index = head & (words - 1);
            let to_end = words - index;
            let (pad, total) = if need <= to_end {
                (0, need)
            } else {
                (to_end, to_end + need)
            };
            let tail = self.tail.0.load(Ordering::Acquire);
            // `head` may be stale: the consumer can pass it between the two loads. Then the
            // space check would underflow and report a full queue that is not; reload.
            let Some(used) = (head + total).checked_sub(tail) else {
                head = self.head.0.load(Ordering::Relaxed);
                continue;
            };
            if used > words {
                self.dropped.0.fetch_add(1, Ordering::Relaxed);
                return Err(PushError::Full);
            }
            match self.head.0.compare_exchange_weak(
                head,
                head + total,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break (head + pad, pad),
                Err(current) => head = current,
            }
        };
        if pad > 0 {
            self.slot(head)
                .store(COMMITTED | PADDING | pad, Ordering::Release);
        }
        // An entry never straddles the end of the ring, so its payload is one slice.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "masked by the ring length, which is a usize"
        )]
        let first = ((start + 1) & (words - 1)) as usize;
        #[allow(
            clippy::cast_possible_truncation,
            reason = "need is at most half the ring"
        )]
        let dst = self
            .ring
            .get(first..first + (need - 1) as usize)
            .unwrap_or_default();
        let mut writer = EntryWriter {
            dst,
            pos: 0,
            word: 0,
            fill: 0,
        };
        let result = fill(&mut writer);
        writer.finish();
        debug_assert_eq!(
            writer.pos * 8,
            payload_len.next_multiple_of(8),
            "fill wrote the announced length"
        );
        self.slot(start)
            .store(COMMITTED | payload_len as u64, Ordering::Release);
        Ok(result)
    }

    /// Copies the next committed entry into `out` (cleared first) and frees its space.
    /// Returns `false` when no committed entry is waiting.
    pub fn pop_into(&self, out: &mut Vec<u8>) -> bool {
        loop {
            let tail = self.tail.0.load(Ordering::Relaxed);
            if tail == self.head.0.load(Ordering::Acquire) {
                return false;
            }
            let header = self.slot(tail).load(Ordering::Acquire);
            if header & COMMITTED == 0 {
                return false;
            }
            if header & PADDING != 0 {
                let pad = header & LEN_MASK;
                self.slot(tail).store(0, Ordering::Relaxed);
                self.tail.0.store(tail + pad, Ordering::Release);
                continue;
            }
            #[allow(
                clippy::cast_possible_truncation,
                reason = "LEN_MASK keeps 32 bits, and entries are at most half the ring"
            )]
            let len = (header & LEN_MASK) as usize;
            let words = len.div_ceil(8);
            // An entry never straddles the end of the ring: its payload words are one slice,
            // copied whole words at a time (the last word's padding is cut off after).
            #[allow(
                clippy::cast_possible_truncation,
                reason = "masked by the ring length, which is a usize"
            )]
            let first = ((tail + 1) & (self.words() - 1)) as usize;
            let src = self.ring.get(first..first + words).unwrap_or_default();
            out.clear();
            out.resize(words * 8, 0);
            for (dst, slot) in out.chunks_exact_mut(8).zip(src) {
                dst.copy_from_slice(&slot.load(Ordering::Relaxed).to_le_bytes());
                slot.store(0, Ordering::Relaxed);
            }
            out.truncate(len);
            self.slot(tail).store(0, Ordering::Relaxed);
            self.tail
                .0
                .store(tail + 1 + words as u64, Ordering::Release);
            // Only the consumer writes this counter: a plain add, no read-modify-write race.
            let popped = self.popped.0.load(Ordering::Relaxed);
            self.popped.0.store(popped + 1, Ordering::Relaxed);
            return true;
        }
    }

    /// Bytes reserved and not yet consumed (including headers and padding).
    pub fn used_bytes(&self) -> usize {
        let head = self.head.0.load(Ordering::Acquire);
        let tail = self.tail.0.load(Ordering::Acquire);
        usize::try_from(head.saturating_sub(tail)).unwrap_or(usize::MAX) * 8
    }

    /// Entries rejected because the queue was full or the entry too large, since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped.0.load(Ordering::Relaxed)
    }

    /// Entries taken out by the consumer since creation.
    pub fn popped(&self) -> u64 {
        self.popped.0.load(Ordering::Relaxed)
    }
}

/// Writes one entry's payload into its reserved words.
///
/// The writer holds only the entry's own words, so a writer that writes more than it
/// announced cannot touch a neighbouring entry (the excess is dropped; debug builds assert).
pub struct EntryWriter<'a> {
    dst: &'a [AtomicU64],
    /// Index of the next word to store.
    pos: usize,
    /// Bytes collected for the next word, least significant first.
    word: u64,
    /// Number of bytes in `word`.
    fill: u32,
}

impl EntryWriter<'_> {
    /// Appends bytes.
    #[inline(always)]
    pub fn put(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if self.fill == 0 {
            // Fast path: whole words straight from the input.
            while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
                self.store(u64::from_le_bytes(*chunk));
                rest = tail;
            }
        }
        for chunk in rest.chunks(8) {
            self.put_small(chunk);
        }
    }

    /// Appends up to 8 bytes in constant time.
    #[inline(always)]
    fn put_small(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(8);
        // At most two loads whatever the length: sizes 3, 5, 6 and 7 combine two overlapping
        // loads (the overlapping bytes are equal, so OR-ing them is harmless).
        let v = match *bytes {
            [] => 0,
            [a] => u64::from(a),
            [a, b] => u64::from(u16::from_le_bytes([a, b])),
            [a, b, c] => u64::from(u16::from_le_bytes([a, b])) | u64::from(c) << 16,
            [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h, ..] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            [a, b, c, d, ref rest @ ..] => {
                let k = rest.len();
                let lo = u64::from(u32::from_le_bytes([a, b, c, d]));
                let hi = match *bytes.get(n - 4..n).unwrap_or(&[]) {
                    [e, f, g, h] => u64::from(u32::from_le_bytes([e, f, g, h])),
                    _ => 0,
                };
                lo | hi << (8 * k)
            }
        };
        #[allow(clippy::cast_possible_truncation, reason = "n <= 8")]
        self.put_word(v, n as u32);
    }

    /// Appends the `n` (at most 8) low-order bytes of `v`, least significant first, in
    /// constant time. The bytes of `v` above `n` must be zero.
    #[inline(always)]
    pub fn put_word(&mut self, v: u64, n: u32) {
        debug_assert!(
            n <= 8 && (n == 8 || v >> (8 * n) == 0),
            "put_word({v:#x}, {n})"
        );
        let fill = self.fill;
        self.word |= v << (8 * fill);
        let total = fill + n;
        if total >= 8 {
            self.store(self.word);
            // The bytes that did not fit start the next word.
            self.word = if fill == 0 { 0 } else { v >> (8 * (8 - fill)) };
            self.fill = total - 8;
        } else {
            self.fill = total;
        }
    }

    /// Stores the next whole word.
    #[inline(always)]
    fn store(&mut self, v: u64) {
        if let Some(slot) = self.dst.get(self.pos) {
            slot.store(v, Ordering::Relaxed);
        }
        debug_assert!(self.pos < self.dst.len(), "wrote past the announced length");
        self.pos += 1;
    }

    /// Appends one byte.
    #[inline]
    pub fn put_u8(&mut self, b: u8) {
        self.put(&[b]);
    }

    #[inline(always)]
    fn finish(&mut self) {
        if self.fill > 0 {
            self.store(self.word);
            self.word = 0;
            self.fill = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn entries_come_out_in_order_across_the_wrap() {
        let q = ByteQueue::with_capacity(1024);
        let mut out = Vec::new();
        for round in 0..500u32 {
            let len = usize::try_from(round % 37).expect("small");
            let data: Vec<u8> = (0..len)
                .map(|i| i.to_le_bytes()[0].wrapping_add(round.to_le_bytes()[0]))
                .collect();
            q.push_with(len, |w| w.put(&data))
                .expect("room after every pop");
            assert!(q.pop_into(&mut out));
            assert_eq!(out, data, "round {round}");
        }
        assert!(!q.pop_into(&mut out));
        assert_eq!(q.dropped(), 0);
        assert_eq!(q.used_bytes(), 0);
    }

    #[test]
    fn a_full_queue_rejects_and_counts() {
        let q = ByteQueue::with_capacity(1024);
        let mut accepted = 0;
        while q.push_with(100, |w| w.put(&[7; 100])).is_ok() {
            accepted += 1;
        }
        // 128 words, 14 words per entry.
        assert_eq!(accepted, 9);
        assert_eq!(q.dropped(), 1);
        assert_eq!(
            q.push_with(q.max_entry() + 1, |_| ()),
            Err(PushError::TooLarge)
        );
        assert_eq!(q.dropped(), 2);
        let mut out = Vec::new();
        assert!(q.pop_into(&mut out));
        assert_eq!(out, [7; 100]);
        assert!(q.push_with(100, |w| w.put(&[8; 100])).is_ok());
    }

    #[test]
    fn split_puts_assemble_like_one() {
        let q = ByteQueue::with_capacity(1024);
        q.push_with(13, |w| {
            w.put_u8(1);
            w.put(&[2, 3, 4]);
            w.put(&[5, 6, 7, 8, 9, 10, 11, 12, 13]);
        })
        .expect("room");
        let mut out = Vec::new();
        assert!(q.pop_into(&mut out));
        assert_eq!(out, (1..=13).collect::<Vec<u8>>());
    }

    #[test]
    fn every_length_at_every_word_offset_comes_out_intact() {
        let q = ByteQueue::with_capacity(4096);
        let mut out = Vec::new();
        for prefix in 0..9usize {
            for len in 0..=25usize {
                let data: Vec<u8> = (0..prefix + len)
                    .map(|i| u8::try_from(i * 7 + 3).unwrap_or(0))
                    .collect();
                let (head, body) = data.split_at(prefix);
                q.push_with(data.len(), |w| {
                    // The prefix as one word, the body through the sized paths.
                    let word = head
                        .iter()
                        .rev()
                        .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
                    w.put_word(word, u32::try_from(prefix).unwrap_or(0));
                    w.put(body);
                })
                .expect("room");
                assert!(q.pop_into(&mut out));
                assert_eq!(out, data, "prefix {prefix}, body {len}");
            }
        }
    }

    #[test]
    fn many_producers_lose_nothing_they_were_not_told_about() {
        let q = Arc::new(ByteQueue::with_capacity(4096));
        let producers = 3;
        let per = 20_000u32;
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    let mut ok = 0u32;
                    for i in 0..per {
                        let mut payload = [0u8; 9];
                        payload[0] = u8::try_from(p).expect("few producers");
                        payload[1..5].copy_from_slice(&i.to_le_bytes());
                        payload[5..9].copy_from_slice(&(i ^ 0xA5A5_A5A5).to_le_bytes());
                        if q.push_with(9, |w| w.put(&payload)).is_ok() {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut last = vec![None::<u32>; producers];
        let mut received = 0u64;
        let mut out = Vec::new();
        let mut done = false;
        while !done {
            done = handles.iter().all(std::thread::JoinHandle::is_finished);
            while q.pop_into(&mut out) {
                assert_eq!(out.len(), 9);
                let p = usize::from(out[0]);
                let i = u32::from_le_bytes(out[1..5].try_into().expect("4 bytes"));
                let check = u32::from_le_bytes(out[5..9].try_into().expect("4 bytes"));
                assert_eq!(check, i ^ 0xA5A5_A5A5, "torn entry");
                assert!(last[p].is_none_or(|l| l < i), "order per producer");
                last[p] = Some(i);
                received += 1;
            }
            std::thread::yield_now();
        }
        let accepted: u32 = handles
            .into_iter()
            .map(|h| h.join().expect("producer"))
            .sum();
        assert_eq!(received, u64::from(accepted));
        assert_eq!(
            q.dropped() + u64::from(accepted),
            u64::from(per) * producers as u64
        );
    }
}
