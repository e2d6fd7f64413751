//! CSV export: physical values, a header row; every list's rows in one file, or one file per
//! list ([`Layout`]).
//!
//! ```text
//! time_s,list,<list 0's columns>,<list 1's columns>,…     (merged, the default)
//! time_s,<the list's columns>                             (one file per list)
//! ```
//!
//! `time_s` is the host time in seconds from the recording's first frame (microsecond
//! resolution), `list` the list's index; in the merged file a row fills its own list's columns
//! and leaves the others empty. Files per list are named `<stem>.<list name>.csv` beside the
//! output path. A column's header is its name, with ` [unit]` when it has one. Numbers are
//! written as the shortest decimal that reads back as the same double (integers of signals
//! without conversion exactly, 64-bit ones included); verbal tables write their text, quoted.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use xcp_a2l::{Conversion, Value};

use crate::decode::{Column, Decoder, element_bits, word};
use crate::error::Error;
use crate::reader::Reader;
use crate::source::{Chunk, ChunkOut, ChunkWorker, Source};

/// Where the rows go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// One file: `time_s`, `list`, then every list's columns.
    #[default]
    Merged,
    /// One file per DAQ list, `<stem>.<list name>.csv` beside the output path: `time_s`, then
    /// the list's columns.
    PerList,
}

/// What the export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvSummary {
    /// Data rows written.
    pub rows: u64,
    /// The files written and the rows in each (one, or one per list).
    pub files: Vec<(PathBuf, u64)>,
    /// Rows lost to missing or out-of-order ODTs.
    pub incomplete: u64,
    /// Frames of no list.
    pub unknown: u64,
    /// Damaged blocks skipped.
    pub damaged: u64,
}

/// How one column is written, and where its bytes are in the row.
#[derive(Debug, Clone, Copy)]
enum Cell {
    /// A little-endian `u32` at this byte of the row (the common cases, read without the
    /// element's size and byte order looked at per value).
    U32(usize),
    /// A little-endian `u64` at this byte.
    U64(usize),
    /// A little-endian `f32` at this byte.
    Float(usize),
    Unsigned(Elem),
    Signed(Elem),
    F32(Elem),
    F64(Elem),
    /// Through the conversion, from the raw value at this index of the row's values.
    Converted(usize),
}

/// An element's place in a row's bytes.
#[derive(Debug, Clone, Copy)]
struct Elem {
    at: usize,
    size: usize,
    motorola: bool,
}

impl Elem {
    /// The element's bits, zero-extended (0 when the row is shorter than the layout says).
    fn bits(self, row: &[u8]) -> u64 {
        element_bits(
            row.get(self.at..).unwrap_or_default(),
            self.size,
            self.motorola,
        )
    }
}

fn cell_of(c: &Column, at: usize, index: usize) -> Cell {
    let e = Elem {
        at,
        size: c.size.clamp(1, 8),
        motorola: c.motorola(),
    };
    let intel = !e.motorola;
    match (&c.compu.conversion, c.is_float(), c.is_signed()) {
        (Conversion::Identical, true, _) if c.size == 4 && intel => Cell::Float(at),
        (Conversion::Identical, false, false) if c.size == 4 && intel => Cell::U32(at),
        (Conversion::Identical, false, false) if c.size == 8 && intel => Cell::U64(at),
        (Conversion::Identical, true, _) if c.size == 4 => Cell::F32(e),
        (Conversion::Identical, true, _) => Cell::F64(e),
        (Conversion::Identical, false, true) => Cell::Signed(e),
        (Conversion::Identical, false, false) => Cell::Unsigned(e),
        _ => Cell::Converted(index),
    }
}

/// "00" to "99", two bytes each.
#[allow(clippy::cast_possible_truncation, reason = "digits")]
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Room a CSV line takes besides its columns: the time (27 bytes), the list, the newline.
const LINE_ROOM: usize = 64;

/// Room a number column takes at most, comma included.
const CELL_ROOM: usize = 32;

/// Text being built: `buf[..at]` is written, the rest is room already zeroed, which a
/// [`Cells`] writes into.
#[derive(Default)]
struct Text {
    buf: Vec<u8>,
    at: usize,
}

impl Text {
    /// Makes sure `n` more bytes fit.
    #[inline]
    fn room(&mut self, n: usize) {
        if self.buf.len() < self.at + n {
            self.grow(n);
        }
    }

    /// Makes room for `n` more bytes (at least double, at least 4 KiB): rare, kept out of line.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let want = (self.at + n).max(2 * self.buf.len()).max(4096);
        // A new zeroed buffer with the text copied over: the allocator hands out zeroed pages
        // as they are, where growing in place would copy the whole room and zero it again.
        let mut buf = vec![0; want];
        buf[..self.at].copy_from_slice(&self.buf[..self.at]);
        self.buf = buf;
    }

    /// Forgets the text, keeping the room.
    fn clear(&mut self) {
        self.at = 0;
    }

    /// What was written.
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.at]
    }

    /// A writer of `n` bytes at most after the text; [`Cells::end`] says where it ended.
    fn cells(&mut self, n: usize) -> Cells<'_> {
        self.room(n);
        Cells {
            buf: &mut self.buf,
            at: self.at,
        }
    }

    /// Writes `text` as a quoted CSV field (inner quotes doubled).
    fn quoted(&mut self, text: &str) {
        let mut c = self.cells(2 + 2 * text.len());
        c.byte(b'"');
        for b in text.bytes() {
            if b == b'"' {
                c.byte(b'"');
            }
            c.byte(b);
        }
        c.byte(b'"');
        self.at = c.at;
    }
}

/// Writes into room a [`Text`] made before (bounds-checked, never growing): the position is
/// a local of the line being written, so that it stays in a register while digits are
/// stored, where a `Text`'s own would be read back after every byte.
struct Cells<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Cells<'_> {
    /// Where the writing ended, for [`Text::at`].
    const fn end(&self) -> usize {
        self.at
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.at] = b;
        self.at += 1;
    }

    #[inline]
    fn bytes(&mut self, s: &[u8]) {
        self.buf[self.at..self.at + s.len()].copy_from_slice(s);
        self.at += s.len();
    }

    #[inline]
    fn repeat(&mut self, b: u8, n: usize) {
        // Mostly none (a single list): no call to fill nothing.
        if n == 0 {
            return;
        }
        self.buf[self.at..self.at + n].fill(b);
        self.at += n;
    }

    /// Writes the decimal digits of `v` (below 10^8): up to four, or the digits of `v / 10^4`
    /// then four more. Branches on the size, which a column mostly keeps from row to row.
    #[inline]
    fn small(&mut self, v: u32) {
        debug_assert!(v < 100_000_000, "{v} has more than eight digits");
        if v < 10_000 {
            self.four_at_most(v);
        } else {
            self.four_at_most(v / 10_000);
            self.four(v % 10_000);
        }
    }

    /// Writes the digits of `v` (below 10^4).
    #[allow(clippy::cast_possible_truncation, reason = "digits")]
    #[inline(always)]
    fn four_at_most(&mut self, v: u32) {
        let at = self.at;
        if v < 10 {
            self.buf[at] = b'0' + v as u8;
            self.at = at + 1;
        } else if v < 100 {
            let r = v as usize * 2;
            self.buf[at..at + 2].copy_from_slice(&PAIRS[r..r + 2]);
            self.at = at + 2;
        } else {
            let (hi, lo) = (v / 100, (v % 100) as usize * 2);
            let n = if hi < 10 {
                self.buf[at] = b'0' + hi as u8;
                1
            } else {
                let r = hi as usize * 2;
                self.buf[at..at + 2].copy_from_slice(&PAIRS[r..r + 2]);
                2
            };
            self.buf[at + n..at + n + 2].copy_from_slice(&PAIRS[lo..lo + 2]);
            self.at = at + n + 2;
        }
    }

    /// Writes `v` (below 10^4) as exactly four digits, zeros in front.
    #[inline(always)]
    fn four(&mut self, v: u32) {
        let (hi, lo) = ((v / 100) as usize * 2, (v % 100) as usize * 2);
        let d = &mut self.buf[self.at..self.at + 4];
        d[..2].copy_from_slice(&PAIRS[hi..hi + 2]);
        d[2..].copy_from_slice(&PAIRS[lo..lo + 2]);
        self.at += 4;
    }

    /// Writes `v` (below 10^8) as exactly eight digits, zeros in front.
    #[inline]
    fn eight(&mut self, v: u32) {
        let (hi, lo) = (v / 10_000, v % 10_000);
        let d = &mut self.buf[self.at..self.at + 8];
        for (k, part) in [hi / 100, hi % 100, lo / 100, lo % 100]
            .into_iter()
            .enumerate()
        {
            let r = part as usize * 2;
            d[2 * k..2 * k + 2].copy_from_slice(&PAIRS[r..r + 2]);
        }
        self.at += 8;
    }

    /// Writes the decimal digits of `v`: eight-digit groups in 32-bit arithmetic.
    #[allow(clippy::cast_possible_truncation, reason = "remainders below 10^8")]
    #[inline]
    fn u64(&mut self, v: u64) {
        const E8: u64 = 100_000_000;
        if v < E8 {
            return self.small(v as u32);
        }
        let (hi, lo) = (v / E8, (v % E8) as u32);
        if hi < E8 {
            self.small(hi as u32);
        } else {
            self.small((hi / E8) as u32);
            self.eight((hi % E8) as u32);
        }
        self.eight(lo);
    }

    /// Writes the decimal digits of `v`.
    #[inline]
    fn u32(&mut self, v: u32) {
        const E8: u32 = 100_000_000;
        if v < E8 {
            self.small(v);
        } else {
            self.small(v / E8);
            self.eight(v % E8);
        }
    }

    /// Writes the decimal digits of `v`, a value mostly below 10^8 (a time in seconds, a list
    /// number, an integral part): then without the call [`Cells::u64`] is.
    #[allow(clippy::cast_possible_truncation, reason = "below 10^8")]
    #[inline(always)]
    fn unsigned(&mut self, v: u64) {
        if v < 100_000_000 {
            self.small(v as u32);
        } else {
            self.u64(v);
        }
    }

    /// Writes `x` as [`Cells::number`] writes it as a double, integral values (all below
    /// 2^24 are exact in a `f32`) without the double.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "integral values below 2^24 convert exactly"
    )]
    #[inline(always)]
    fn float(&mut self, x: f32, floats: &mut zmij::Buffer) {
        if x.abs() < 16_777_216.0 && (x as i32) as f32 == x {
            if x.is_sign_negative() {
                self.byte(b'-');
            }
            self.small((x as i32).unsigned_abs());
        } else if let Some((m, k)) = float_decimals(x) {
            self.decimals(m, k);
        } else {
            self.number(f64::from(x), floats);
        }
    }

    /// Writes `m / 10^k` (`k` from 1 to 3) in decimal.
    #[inline]
    fn decimals(&mut self, m: i64, k: u32) {
        if m < 0 {
            self.byte(b'-');
        }
        let (p, m) = (10u64.pow(k), m.unsigned_abs());
        self.unsigned(m / p);
        self.byte(b'.');
        self.fraction(m % p, k);
    }

    /// Writes `v` in decimal, `-` first when negative.
    #[inline]
    fn i64(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.u64(v.unsigned_abs());
    }

    /// Writes `v` (below 10^6) as six digits, zeros in front.
    #[allow(clippy::cast_possible_truncation, reason = "values below 10^6")]
    #[inline]
    fn six(&mut self, v: u64) {
        let v = (v % 1_000_000) as u32;
        let (hi, lo) = (v / 10_000, v % 10_000);
        let d = &mut self.buf[self.at..self.at + 6];
        for (k, part) in [hi, lo / 100, lo % 100].into_iter().enumerate() {
            let r = part as usize * 2;
            d[2 * k..2 * k + 2].copy_from_slice(&PAIRS[r..r + 2]);
        }
        self.at += 6;
    }

    /// Writes `v` (below 10^`k`) as exactly `k` digits (1 to 3), zeros in front.
    #[allow(clippy::cast_possible_truncation, reason = "digits")]
    #[inline]
    fn fraction(&mut self, v: u64, k: u32) {
        let k = k.clamp(1, 3) as usize;
        let d = &mut self.buf[self.at..self.at + 3];
        let mut v = v;
        for i in (0..k).rev() {
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.at += k;
    }

    /// Writes `x` as the shortest decimal that reads back as `x` (`NaN`, `inf`, `-inf` as such).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "integral values below 2^53 convert exactly"
    )]
    #[allow(
        clippy::cast_precision_loss,
        reason = "the round trip is the integrality test"
    )]
    #[inline(always)]
    fn number(&mut self, x: f64, floats: &mut zmij::Buffer) {
        if x.abs() < 9_007_199_254_740_992.0 && (x as i64) as f64 == x {
            // Integral: the digits alone, as `Display` writes them, much faster than a float
            // formatter.
            if x == 0.0 && x.is_sign_negative() {
                self.byte(b'-');
            }
            self.i64(x as i64);
        } else {
            self.fractional(x, floats);
        }
    }

    /// [`Cells::number`] for values that are not integral (nor -0).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "integral values below 2^53 convert exactly"
    )]
    #[inline(never)]
    fn fractional(&mut self, x: f64, floats: &mut zmij::Buffer) {
        if let Some((m, k)) = few_decimals(x) {
            // One to three decimals (a value scaled by 0.1, a half): the digits alone.
            self.decimals(m, k);
        } else if x.is_finite() {
            let s = floats.format_finite(x);
            // zmij writes integral values with a ".0"; drop it as Rust's `Display` does.
            self.bytes(s.strip_suffix(".0").unwrap_or(s).as_bytes());
        } else if x.is_nan() {
            self.bytes(b"NaN");
        } else if x > 0.0 {
            self.bytes(b"inf");
        } else {
            self.bytes(b"-inf");
        }
    }
}

/// [`few_decimals`] of the double `x` widens to, without its division: a `f32` has 24
/// significant bits and 1000 has 7, so `x * 1000` is exact in a double, and when it is
/// integral `m / 1000` is `x` itself.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "the round trip through i64 is the integrality test; |x| < 2^30"
)]
#[inline]
fn float_decimals(x: f32) -> Option<(i64, u32)> {
    let y = f64::from(x) * 1000.0;
    if x.is_nan() || x.abs() >= 1_073_741_824.0 {
        return None;
    }
    let m = y as i64;
    if m as f64 != y {
        return None;
    }
    thousandths(m)
}

/// `m / 1000` as `m' / 10^k` with `m'` not a multiple of 10 (`k` from 1 to 3); `None` when it
/// is integral.
fn thousandths(mut m: i64) -> Option<(i64, u32)> {
    if m % 1000 == 0 {
        return None;
    }
    let mut k = 3;
    while m % 10 == 0 {
        m /= 10;
        k -= 1;
    }
    Some((m, k))
}

/// `x` as `m / 10^k` with `k` from 1 to 3 and `m` not a multiple of 10, where that decimal is
/// the shortest that reads back as `x` (the one a shortest-float formatter writes); `None`
/// for other values, integral ones among them.
///
/// Below 2^30 a double's spacing is under 2^-22, far finer than 0.001, so at most one decimal
/// of three places lies within half a spacing of `x`: if `m / 1000` rounds to `x`, no decimal
/// with fewer places does, save `m` with its trailing zeros dropped. `m / 1000` in doubles is
/// the correctly rounded quotient, which is what reading the decimal gives.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "the round trip through i64 is the integrality test; |x| < 2^30"
)]
fn few_decimals(x: f64) -> Option<(i64, u32)> {
    const LIMIT: f64 = (1u64 << 30) as f64;
    if x.is_nan() || x.abs() >= LIMIT {
        return None;
    }
    let y = x * 1000.0;
    let m = y as i64;
    if m as f64 != y || m as f64 / 1000.0 != x {
        return None;
    }
    thousandths(m)
}

/// Exports the recording at `input` to one CSV file at `output`.
///
/// # Errors
/// The reader's errors; [`Error::Meta`] without a DAQ layout; [`Error::Io`] when `output`
/// cannot be written. Damaged blocks are skipped and counted.
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    reason = "sign-extension of raw integer bits"
)]
pub fn export(input: &Path, output: &Path) -> Result<CsvSummary, Error> {
    export_from(&mut Reader::open(input)?, output)
}

/// Exports the frames of `r` (a recording, or a pyXCP file read in place) to one merged CSV
/// file at `output`; [`export_with`] with [`Layout::Merged`].
///
/// # Errors
/// As [`export`].
pub fn export_from(r: &mut dyn Source, output: &Path) -> Result<CsvSummary, Error> {
    export_with(r, output, Layout::Merged)
}

/// Rows per batch handed to a formatting thread.
const BATCH_ROWS: usize = 4096;

/// Decoded rows on their way to text: per row its host time, list and the end of its element
/// bytes in `bytes`; then the text they make and the rows in it, per output file.
#[derive(Default)]
struct Batch {
    rows: Vec<(u64, usize, usize)>,
    bytes: Vec<u8>,
    texts: Vec<Text>,
    counts: Vec<u64>,
}

/// A chunk of frames as text: per output file the text and its rows, and what the decoder
/// counted in the chunk.
struct ChunkText {
    texts: Vec<Text>,
    counts: Vec<u64>,
    incomplete: u64,
    unknown: u64,
}

/// Decodes and formats chunks of stand-alone rows on a thread of its own
/// ([`Source::map_chunks`]).
struct Formatter<'a> {
    plan: &'a Plan,
    dec: Decoder,
    s: Scratch,
    /// Text buffers written out, to reuse.
    spare: &'a std::sync::Mutex<std::sync::mpsc::Receiver<Vec<Text>>>,
}

impl ChunkWorker for Formatter<'_> {
    fn run(&mut self, chunk: &Chunk) -> ChunkOut {
        let plan = self.plan;
        let files = if plan.per_list { plan.cells.len() } else { 1 };
        let mut texts = (self.spare.lock().ok())
            .and_then(|r| r.try_recv().ok())
            .unwrap_or_default();
        texts.resize_with(files, Text::default);
        for t in &mut texts {
            t.clear();
            // A new text starts with room for its share of a chunk's lines (twice the chunk's
            // bytes, about the text of small frames), not grown step by step.
            t.room((2 * chunk.len()).div_ceil(files));
        }
        let mut counts = vec![0u64; files];
        let dec = &mut self.dec;
        let s = &mut self.s;
        chunk.frames(|ns, frame| {
            let Some((row, in_frame)) = dec.row_in_frame(ns, frame) else {
                return;
            };
            let f = if plan.per_list { row.list } else { 0 };
            if let (Some(out), Some(n)) = (texts.get_mut(f), counts.get_mut(f)) {
                let bytes = in_frame.unwrap_or_else(|| dec.row_bytes(row.list));
                plan.line(dec, ns, row.list, bytes, s, out);
                *n += 1;
            }
        });
        let out = ChunkText {
            texts,
            counts,
            // Counted per chunk: the decoder's counts start again at zero.
            incomplete: std::mem::take(&mut dec.incomplete),
            unknown: std::mem::take(&mut dec.unknown),
        };
        Box::new(out)
    }
}

/// How rows become lines: the columns before each list's own, every list's cells, the column
/// count, the time the `time_s` column counts from, and whether each list has a file of its
/// own.
struct Plan {
    before: Vec<usize>,
    cells: Vec<Vec<Cell>>,
    total: usize,
    first: u64,
    values: bool,
    per_list: bool,
}

/// A formatting thread's buffers: raw values for conversions and the number formatters.
#[derive(Default)]
struct Scratch {
    raw: Vec<f64>,
    floats: zmij::Buffer,
}

impl Plan {
    /// Appends the line of the row of list `li` that arrived at `ns` with element bytes `bytes`.
    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        reason = "sign-extension of raw integer bits"
    )]
    fn line(
        &self,
        dec: &Decoder,
        ns: u64,
        li: usize,
        bytes: &[u8],
        s: &mut Scratch,
        out: &mut Text,
    ) {
        let (Some(cells), Some(list)) = (self.cells.get(li), dec.lists.get(li)) else {
            return;
        };
        if self.values {
            s.raw.clear();
            dec.values_from(li, bytes, &mut s.raw);
        }
        // Room for the line but for texts: each number takes at most 24 bytes (the
        // shortest-float form of a double, a 64-bit integer with its sign is 20), the time 27.
        let room = LINE_ROOM + self.total + CELL_ROOM * cells.len();
        out.room(room);
        let mut w = Cells {
            buf: &mut out.buf,
            at: out.at,
        };
        let d = ns.saturating_sub(self.first);
        w.unsigned(d / 1_000_000_000);
        w.byte(b'.');
        w.six((d % 1_000_000_000) / 1_000);
        if !self.per_list {
            w.byte(b',');
            w.unsigned(li as u64);
            w.repeat(b',', self.before[li]);
        }
        for (cell, c) in cells.iter().zip(&list.columns) {
            w.byte(b',');
            match *cell {
                Cell::U32(at) => w.u32(u32::from_le_bytes(word(bytes, at))),
                Cell::U64(at) => w.u64(u64::from_le_bytes(word(bytes, at))),
                Cell::Float(at) => w.float(f32::from_le_bytes(word(bytes, at)), &mut s.floats),
                Cell::Unsigned(e) => w.u64(e.bits(bytes)),
                Cell::Signed(e) => {
                    let shift = 64 - 8 * e.size as u32;
                    w.i64(((e.bits(bytes) << shift) as i64) >> shift);
                }
                Cell::F32(e) => {
                    let x = f64::from(f32::from_bits(e.bits(bytes) as u32));
                    w.number(x, &mut s.floats);
                }
                Cell::F64(e) => w.number(f64::from_bits(e.bits(bytes)), &mut s.floats),
                Cell::Converted(i) => {
                    match c
                        .compu
                        .to_physical(s.raw.get(i).copied().unwrap_or(f64::NAN))
                    {
                        Ok(Value::Number(x)) => w.number(x, &mut s.floats),
                        Ok(Value::Text(t)) => {
                            // A text of any length: written by the text, which grows, and the
                            // room for the rest of the line made again.
                            out.at = w.end();
                            out.quoted(&t);
                            out.room(room);
                            w = Cells {
                                buf: &mut out.buf,
                                at: out.at,
                            };
                        }
                        Err(_) => w.bytes(b"NaN"),
                    }
                }
            }
        }
        if !self.per_list {
            w.repeat(b',', self.total - self.before[li] - cells.len());
        }
        w.byte(b'\n');
        out.at = w.end();
    }

    /// The text of every row of `batch`, into its `texts`: the one file's, or each list's.
    fn format(&self, dec: &Decoder, batch: &mut Batch, s: &mut Scratch) {
        let files = if self.per_list { self.cells.len() } else { 1 };
        batch.texts.resize_with(files, Text::default);
        batch.counts.clear();
        batch.counts.resize(files, 0);
        for t in &mut batch.texts {
            t.clear();
        }
        let file = |li: usize| if self.per_list { li } else { 0 };
        let mut start = 0;
        for &(ns, li, end) in &batch.rows {
            let bytes = batch.bytes.get(start..end).unwrap_or_default();
            let f = file(li);
            if let (Some(out), Some(n)) = (batch.texts.get_mut(f), batch.counts.get_mut(f)) {
                self.line(dec, ns, li, bytes, s, out);
                *n += 1;
            }
            start = end;
        }
    }
}

/// Exports the frames of `r` (a recording, or a pyXCP file read in place) to CSV at `output`,
/// in one file or one per list as `layout` says.
///
/// Where every list has one ODT (so each frame is a row of its own), the export runs through
/// [`Source::map_chunks`]: chunks of frames (a pyXCP container, or about 256 KiB of a
/// recording's frames) go whole to one formatting thread per core (up to four), which decodes
/// and formats them, and the text is written in the source's order as the results come back.
/// Otherwise the rows are decoded in order on the calling thread and handed out in batches of
/// 4096 to the formatting threads, and a writing thread writes the text in the order it was
/// handed out. Either way a bounded number of chunks or batches is in flight.
///
/// # Errors
/// As [`export`]; [`Error::Meta`] when two lists' names would give the same file.
pub fn export_with(r: &mut dyn Source, output: &Path, layout: Layout) -> Result<CsvSummary, Error> {
    export_in(r, output, layout, true)
}

/// [`export_with`]; `chunks` false decodes every frame on the calling thread even where rows
/// stand alone (the tests compare both ways).
fn export_in(
    r: &mut dyn Source,
    output: &Path,
    layout: Layout,
    chunks: bool,
) -> Result<CsvSummary, Error> {
    let io_at = |path: &Path, what: &'static str| {
        let path = path.to_owned();
        move |source| Error::Io { path, what, source }
    };
    if crate::multi::is_multi(r.meta()) {
        return crate::multi::csv_export(r, output, layout);
    }
    let io = |what: &'static str| io_at(output, what);
    let mut dec = Decoder::new(r.meta())?;
    let per_list = layout == Layout::PerList;
    let mut headers = Vec::new();
    let mut before = Vec::new();
    for l in &dec.lists {
        before.push(headers.len());
        for c in &l.columns {
            let h = if c.unit.is_empty() {
                c.name.clone()
            } else {
                format!("{} [{}]", c.name, c.unit)
            };
            headers.push(if h.contains([',', '"', '\n']) {
                let mut q = Text::default();
                q.quoted(&h);
                String::from_utf8_lossy(q.as_bytes()).into_owned()
            } else {
                h
            });
        }
    }
    let cells: Vec<Vec<Cell>> = dec
        .lists
        .iter()
        .map(|l| {
            (l.columns.iter().zip(l.offsets()).enumerate())
                .map(|(i, (c, &at))| cell_of(c, at, i))
                .collect()
        })
        .collect();
    let plan = Plan {
        values: cells
            .iter()
            .flatten()
            .any(|c| matches!(c, Cell::Converted(_))),
        before,
        cells,
        total: headers.len(),
        first: r.first_ns().unwrap_or(0),
        per_list,
    };
    // The files and their header lines.
    let outputs: Vec<(PathBuf, String)> = if per_list {
        let paths = crate::outputs::list_files(r.meta(), output, dec.lists.len(), "csv")?;
        paths
            .into_iter()
            .enumerate()
            .map(|(li, path)| {
                let own = &headers[plan.before[li]..plan.before[li] + plan.cells[li].len()];
                (path, format!("time_s,{}\n", own.join(",")))
            })
            .collect()
    } else {
        vec![(
            output.to_owned(),
            format!("time_s,list,{}\n", headers.join(",")),
        )]
    };
    let mut files = Vec::with_capacity(outputs.len());
    for (path, header) in &outputs {
        let mut f = File::create(path).map_err(io_at(path, "create"))?;
        f.write_all(header.as_bytes())
            .map_err(io_at(path, "write"))?;
        files.push((f, path.as_path()));
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
    // Each formatting thread builds its own decoder for the conversions.
    let decoders = (0..workers)
        .map(|_| Decoder::new(r.meta()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = CsvSummary::default();
    let mut per_file = vec![0u64; outputs.len()];
    let mut counted = (0u64, 0u64);
    // Rows that stand alone (one ODT per list) decode in any order: the source's chunks go
    // whole to the formatting threads, which decode them too, and the text is written in
    // order here. Otherwise this thread decodes every frame in order and hands out the rows.
    if chunks && dec.rows_stand_alone() {
        let (back, spare) = std::sync::mpsc::sync_channel::<Vec<Text>>(4 * workers);
        let spare = std::sync::Mutex::new(spare);
        let formatters: Vec<Box<dyn ChunkWorker + '_>> = decoders
            .into_iter()
            .map(|dec| {
                Box::new(Formatter {
                    plan: &plan,
                    dec,
                    s: Scratch::default(),
                    spare: &spare,
                }) as Box<dyn ChunkWorker + '_>
            })
            .collect();
        summary.damaged = r.map_chunks(formatters, &mut |out| {
            let out = out
                .downcast::<ChunkText>()
                .map_err(|_| Error::Meta("a chunk came back as something else".into()))?;
            for ((f, path), text) in files.iter_mut().zip(&out.texts) {
                f.write_all(text.as_bytes()).map_err(io_at(path, "write"))?;
            }
            for (total, n) in per_file.iter_mut().zip(&out.counts) {
                *total += n;
            }
            counted.0 += out.incomplete;
            counted.1 += out.unknown;
            // Full only when the formatters stopped taking spares: then dropped.
            let _ = back.try_send(out.texts);
            Ok(true)
        })?;
    } else {
        let (spare_tx, spare) = std::sync::mpsc::sync_channel::<Batch>(5 * workers + 2);
        std::thread::scope(|scope| -> Result<(), Error> {
            let mut to_workers = Vec::new();
            let mut from_workers = Vec::new();
            let mut formatters = Vec::new();
            for wdec in decoders {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
                let (done_tx, done) = std::sync::mpsc::sync_channel::<Batch>(2);
                let plan = &plan;
                let h = std::thread::Builder::new()
                    .name("csv-format".into())
                    .spawn_scoped(scope, move || {
                        let mut s = Scratch::default();
                        for mut b in rx {
                            plan.format(&wdec, &mut b, &mut s);
                            if done_tx.send(b).is_err() {
                                break;
                            }
                        }
                        (wdec.incomplete, wdec.unknown)
                    })
                    .map_err(io("start a formatting thread for"))?;
                formatters.push(h);
                to_workers.push(tx);
                from_workers.push(done);
            }
            let per_file = &mut per_file;
            // The writer takes the batches back in the order they were handed out.
            let writer = std::thread::Builder::new()
                .name("csv-write".into())
                .spawn_scoped(scope, move || -> Result<(), Error> {
                    for k in 0.. {
                        let Ok(mut b) = from_workers[k % from_workers.len()].recv() else {
                            break;
                        };
                        for ((f, path), text) in files.iter_mut().zip(&b.texts) {
                            f.write_all(text.as_bytes()).map_err(io_at(path, "write"))?;
                        }
                        for (total, n) in per_file.iter_mut().zip(&b.counts) {
                            *total += n;
                        }
                        b.rows.clear();
                        b.bytes.clear();
                        let _ = spare_tx.try_send(b);
                    }
                    Ok(())
                })
                .map_err(io("start a writing thread for"))?;
            let mut batch = Batch::default();
            let mut sent = 0usize;
            let stopped = || Error::Meta("the CSV writer stopped".into());
            let decoded = r.each_frame(&mut |ns, bytes| {
                let Some(row) = dec.next_row(ns, bytes) else {
                    return Ok(());
                };
                batch.bytes.extend_from_slice(dec.row_bytes(row.list));
                batch.rows.push((ns, row.list, batch.bytes.len()));
                if batch.rows.len() >= BATCH_ROWS {
                    let next = spare.try_recv().unwrap_or_default();
                    let full = std::mem::replace(&mut batch, next);
                    // A closed channel: the writing thread stopped, its error is reported below.
                    to_workers[sent % workers]
                        .send(full)
                        .map_err(|_| stopped())?;
                    sent += 1;
                }
                Ok(())
            });
            if decoded.is_ok() && !batch.rows.is_empty() {
                let _ = to_workers[sent % workers].send(batch);
            }
            drop(to_workers);
            let written = writer.join().map_err(|_| {
                Error::Meta(format!("the thread writing {} panicked", output.display()))
            })?;
            written?;
            for h in formatters {
                let (incomplete, unknown) = h.join().map_err(|_| {
                    Error::Meta(format!("a thread formatting {} panicked", output.display()))
                })?;
                counted.0 += incomplete;
                counted.1 += unknown;
            }
            summary.damaged = decoded?;
            Ok(())
        })?;
    }
    summary.rows = per_file.iter().sum();
    summary.files = outputs.into_iter().map(|o| o.0).zip(per_file).collect();
    summary.incomplete = dec.incomplete + counted.0;
    summary.unknown = dec.unknown + counted.1;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::cast_possible_truncation, reason = "test values")]
    fn rows_decoded_in_chunks_make_the_same_csv_as_rows_decoded_in_order() {
        let dir = std::env::temp_dir().join(format!("xcp-csv-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let signal = |name: &str, ty: &str| {
            serde_json::json!({"name": name, "type": ty, "byte_order": "Intel", "unit": "",
                "conversion": {"kind": "IDENTICAL", "name": "", "unit": ""}})
        };
        let meta = serde_json::json!({"slave": "chunk test", "daq": {
        "byte_order": "Intel", "id_field": "AbsoluteOdt", "timestamp_bytes": 0,
        "overload_pid_msb": false,
        "lists": [
            {"number": 0, "first_pid": 0, "event": 0, "timestamps": false, "name": "fast",
             "odts": [[[0, 0, 2], [1, 0, 4]]],
             "signals": [signal("a", "U16"), signal("b", "F32")]},
            {"number": 1, "first_pid": 1, "event": 1, "timestamps": false, "name": "slow",
             "odts": [[[0, 0, 4]]], "signals": [signal("c", "I32")]},
        ]}});
        let rec = dir.join("chunks.xcprec");
        let mut w =
            crate::Recorder::create(&rec, &meta, crate::WriterOptions::default()).expect("create");
        let rows = 60_000u64;
        for i in 0..rows {
            let ns = 1_000_000 + i * 1_000;
            let mut f = vec![0u8];
            f.extend_from_slice(&(i as u16).to_le_bytes());
            f.extend_from_slice(&(i as f32 * 0.25 - 7.5).to_le_bytes());
            w.push(ns, &f);
            if i % 3 == 0 {
                let mut g = vec![1u8];
                g.extend_from_slice(&(-(i as i32)).to_le_bytes());
                w.push(ns + 1, &g);
            }
            // A frame of no list and a frame too short for its list: counted either way.
            if i % 1000 == 7 {
                w.push(ns + 2, &[9, 1, 2]);
                w.push(ns + 3, &[0, 1]);
            }
        }
        w.close().expect("close");
        for layout in [Layout::Merged, Layout::PerList] {
            let (a, b) = (dir.join("in-chunks.csv"), dir.join("in-order.csv"));
            let mut r = Reader::open(&rec).expect("open");
            let chunked = export_in(&mut r, &a, layout, true).expect("in chunks");
            let mut r = Reader::open(&rec).expect("open");
            let ordered = export_in(&mut r, &b, layout, false).expect("in order");
            assert_eq!(chunked.rows, rows + rows.div_ceil(3));
            assert_eq!((chunked.unknown, chunked.incomplete), (60, 60));
            assert_eq!(
                (chunked.rows, chunked.unknown, chunked.incomplete),
                (ordered.rows, ordered.unknown, ordered.incomplete)
            );
            assert_eq!(chunked.files.len(), ordered.files.len());
            for ((fa, na), (fb, nb)) in chunked.files.iter().zip(&ordered.files) {
                assert_eq!(na, nb, "{layout:?}");
                let (ta, tb) = (
                    std::fs::read(fa).expect("chunked CSV"),
                    std::fs::read(fb).expect("ordered CSV"),
                );
                assert!(
                    ta == tb && ta.len() > 100_000,
                    "{layout:?}: {} vs {}",
                    fa.display(),
                    fb.display()
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The fields of a CSV line (quoted fields unquoted, their doubled quotes single).
    fn fields(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quoted, mut chars) =
            (Vec::new(), String::new(), false, line.chars().peekable());
        while let Some(ch) = chars.next() {
            match (ch, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(std::mem::take(&mut cur)),
                _ => cur.push(ch),
            }
        }
        out.push(cur);
        out
    }

    #[test]
    #[allow(clippy::cast_possible_truncation, reason = "test values")]
    fn texts_of_any_length_are_quoted_between_numbers() {
        let dir = std::env::temp_dir().join(format!("xcp-csv-texts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // A text far longer than the room a line is given, with quotes and commas in it.
        let long = format!("{}\"quoted\", and more", "x".repeat(700));
        let verbal = serde_json::json!({"kind": "TAB_VERB", "name": "state", "unit": "",
            "entries": [[0, 0, "off"], [1, 1, long.clone()], [2, 2, "say \"hi\""]],
            "default": "other"});
        let linear = serde_json::json!({"kind": "LINEAR", "name": "lin", "unit": "",
            "a": 0.1, "b": -40.0});
        let identical = serde_json::json!({"kind": "IDENTICAL", "name": "", "unit": ""});
        let signal = |name: &str, ty: &str, conversion: &serde_json::Value| {
            serde_json::json!({"name": name, "type": ty, "byte_order": "Intel", "unit": "",
                "conversion": conversion})
        };
        let meta = serde_json::json!({"slave": "text test", "daq": {
        "byte_order": "Intel", "id_field": "AbsoluteOdt", "timestamp_bytes": 0,
        "overload_pid_msb": false,
        "lists": [{"number": 0, "first_pid": 0, "event": 0, "timestamps": false,
            "odts": [[[0, 0, 1], [1, 0, 2], [2, 0, 1], [3, 0, 4]]],
            "signals": [signal("state", "U8", &verbal), signal("temp", "U16", &linear),
                        signal("again", "U8", &verbal), signal("n", "U32", &identical)]}]}});
        let rec = dir.join("texts.xcprec");
        let mut w =
            crate::Recorder::create(&rec, &meta, crate::WriterOptions::default()).expect("create");
        let rows = 5_000u32;
        for i in 0..rows {
            let mut f = vec![0u8, (i % 4) as u8];
            f.extend_from_slice(&(i as u16).to_le_bytes());
            f.push(((i + 1) % 4) as u8);
            f.extend_from_slice(&(i * 7).to_le_bytes());
            w.push(1_000_000 + u64::from(i), &f);
        }
        w.close().expect("close");
        let text_of = |k: u32| match k % 4 {
            0 => "off".to_owned(),
            1 => long.clone(),
            2 => "say \"hi\"".to_owned(),
            _ => "other".to_owned(),
        };
        for chunks in [true, false] {
            let out = dir.join(format!("texts-{chunks}.csv"));
            let mut r = Reader::open(&rec).expect("open");
            let s = export_in(&mut r, &out, Layout::Merged, chunks).expect("export");
            assert_eq!(s.rows, u64::from(rows));
            let text = std::fs::read_to_string(&out).expect("read");
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("time_s,list,state,temp,again,n"));
            let mut n = 0;
            for (i, line) in (0u32..).zip(lines) {
                let got = fields(line);
                let want = [
                    text_of(i),
                    (f64::from(i as u16) * 0.1 - 40.0).to_string(),
                    text_of(i + 1),
                    (i * 7).to_string(),
                ];
                assert_eq!(got[2..], want, "row {i}, chunks {chunks}");
                n += 1;
            }
            assert_eq!(n, rows);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What `write` puts into a fresh text.
    fn text(write: impl FnOnce(&mut Cells<'_>)) -> String {
        let mut t = Text::default();
        let mut c = t.cells(4096);
        write(&mut c);
        t.at = c.end();
        String::from_utf8(t.as_bytes().to_vec()).expect("UTF-8")
    }

    #[test]
    fn integers_are_written_as_rust_writes_them() {
        let mut cases: Vec<u64> = vec![0, 1, 9, 10, 99, 100, 12_345, 99_999_999, 100_000_000];
        cases.extend([
            10u64.pow(16) - 1,
            10u64.pow(16),
            1_796_397_922_619_900_888,
            u64::MAX,
        ]);
        // Every digit count on both sides of its bounds, and a sweep through the small ones.
        for k in 0..19 {
            let p = 10u64.pow(k);
            cases.extend([p - 1, p, p + 1, 3 * p, 7 * p + 13]);
        }
        cases.extend([10u64.pow(19) - 1, 10u64.pow(19)]);
        cases.extend((0..120_000).map(|v| v * 37));
        for v in cases {
            assert_eq!(text(|t| t.u64(v)), v.to_string());
        }
        for v in [i64::MIN, -1, 0, 55_201, -55_201, i64::MAX] {
            assert_eq!(text(|t| t.i64(v)), v.to_string());
        }
        for v in [0u32, 7, 99_999_999, 100_000_000, 123_456_789, u32::MAX] {
            assert_eq!(text(|t| t.u32(v)), v.to_string());
        }
        assert_eq!(text(|t| t.six(42)), "000042");
        assert_eq!(text(|t| t.six(999_999)), "999999");
        // Many numbers in a row, room made for each: the text grows past its first 4096 bytes
        // without a gap.
        let want: String = (0..2000u64).map(|v| format!("{},", v * 7919)).collect();
        let mut t = Text::default();
        for v in 0..2000u64 {
            let mut c = t.cells(CELL_ROOM);
            c.u64(v * 7919);
            c.byte(b',');
            t.at = c.end();
        }
        assert!(t.buf.len() > 4096);
        assert_eq!(t.as_bytes(), want.as_bytes());
        let mut t = Text::default();
        t.quoted("a \"b\"");
        assert_eq!(t.as_bytes(), b"\"a \"\"b\"\"\"");
    }

    #[test]
    fn numbers_read_back_as_the_same_double() {
        let mut buf = zmij::Buffer::new();
        for x in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            27_600.5,
            0.1,
            1e300,
            -2.5e-7,
            9.007_199_254_740_993e15,
            f64::from(0.1f32),
            f64::MIN_POSITIVE,
        ] {
            let t = text(|t| t.number(x, &mut buf));
            assert_eq!(
                t.parse::<f64>().expect("a number").to_bits(),
                x.to_bits(),
                "{t}"
            );
        }
        for (x, want) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (-f64::INFINITY, "-inf"),
            (27_600.5, "27600.5"),
            (-0.0, "-0"),
        ] {
            assert_eq!(text(|t| t.number(x, &mut buf)), want);
        }
    }

    #[test]
    #[allow(clippy::cast_precision_loss, reason = "test values")]
    fn decimals_are_written_as_a_shortest_float_formatter_writes_them() {
        let mut buf = zmij::Buffer::new();
        let mut shortest = zmij::Buffer::new();
        let mut check = |x: f64| {
            let want = shortest.format_finite(x);
            let want = want.strip_suffix(".0").unwrap_or(want).to_owned();
            assert_eq!(text(|t| t.number(x, &mut buf)), want, "{x:e}");
        };
        // Every decimal of one to three places up to ±30, then spread up to 2^30 and past it.
        for m in -30_000i64..=30_000 {
            check(m as f64 / 1000.0);
            check(m as f64 / 100.0);
            check(m as f64 / 10.0);
        }
        for m in [
            1i64,
            7,
            999,
            123_456_789,
            1_073_741_823_999,
            1_073_741_824_001,
        ] {
            for p in [10.0, 100.0, 1000.0] {
                check(m as f64 / p);
                check(-(m as f64) / p);
            }
        }
        // Doubles of every magnitude, most with no short decimal.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..40_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            if x.is_finite() {
                check(x);
                check(x * 1e-300 * 1e290);
            }
        }
        for x in [
            0.001,
            0.005,
            0.1 + 0.2,
            1.0 / 3.0,
            27_600.5,
            1e-3 * 3.0,
            0.125,
        ] {
            check(x);
        }
        // The short path takes what it should.
        assert_eq!(few_decimals(27_600.5), Some((276_005, 1)));
        assert_eq!(few_decimals(-0.125), Some((-125, 3)));
        assert_eq!(few_decimals(0.1), Some((1, 1)));
        assert_eq!(few_decimals(3.0), None);
        assert_eq!(few_decimals(1.0 / 3.0), None);
    }

    #[test]
    fn a_float_is_written_as_the_double_it_widens_to() {
        let mut buf = zmij::Buffer::new();
        let mut wide = zmij::Buffer::new();
        let mut check = |x: f32| {
            assert_eq!(
                text(|t| t.float(x, &mut buf)),
                text(|t| t.number(f64::from(x), &mut wide)),
                "{x:e}"
            );
        };
        let edge = 16_777_216.0f32;
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -27_302.5,
            54_604.0,
            -54_604.0,
            edge - 1.0,
            edge,
            edge + 2.0,
            -(edge - 1.0),
            -edge,
            f32::MIN,
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::EPSILON,
            1e-45,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            check(x);
        }
        // Values of one to three decimals, as scaled signals give them.
        for m in -40_000i32..=40_000 {
            #[allow(clippy::cast_precision_loss, reason = "test values below 2^24")]
            let m = m as f32;
            check(m / 10.0);
            check(m / 100.0);
            check(m / 1000.0);
            check(m * 7.5);
            check(m * 1024.0 + 0.5);
        }
        let mut state = 0x2545_F491u32;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            check(f32::from_bits(state));
            // Integral values of every size up to 2^26.
            check(f32::from_bits(state).trunc() % 67_108_864.0);
        }
    }

    #[test]
    fn little_endian_words_past_the_row_read_as_zero() {
        let row = [1, 2, 3, 4, 5];
        assert_eq!(u32::from_le_bytes(word(&row, 1)), 0x0504_0302);
        assert_eq!(word::<4>(&row, 2), [0; 4]);
        assert_eq!(word::<8>(&row, 9), [0; 8]);
    }

    #[test]
    fn motorola_elements_read_in_their_byte_order() {
        let row = [0x12, 0x34, 0x56, 0x78, 0x9a];
        let e = |at, size, motorola| Elem { at, size, motorola };
        assert_eq!(e(0, 2, true).bits(&row), 0x1234);
        assert_eq!(e(0, 2, false).bits(&row), 0x3412);
        assert_eq!(e(1, 4, true).bits(&row), 0x3456_789a);
        assert_eq!(e(0, 1, true).bits(&row), 0x12);
        // Past the row's end: zero, never a panic.
        assert_eq!(e(4, 4, false).bits(&row), 0);
    }
}
