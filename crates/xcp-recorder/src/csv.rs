//! CSV export: every row of every list in one file, physical values, a header row.
//!
//! ```text
//! time_s,list,<list 0's columns>,<list 1's columns>,…
//! ```
//!
//! `time_s` is the host time in seconds from the recording's first frame (microsecond
//! resolution), `list` the list's index; a row fills its own list's columns and leaves the
//! others empty. A column's header is its name, with ` [unit]` when it has one. Numbers are
//! written as the shortest decimal that reads back as the same double (integers of signals
//! without conversion exactly, 64-bit ones included); verbal tables write their text, quoted.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use xcp_a2l::{Conversion, Value};

use crate::decode::{Column, Decoder};
use crate::error::Error;
use crate::reader::Reader;
use crate::source::Source;

/// What the export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvSummary {
    /// Data rows written.
    pub rows: u64,
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
        let Some(b) = row.get(self.at..self.at + self.size) else {
            return 0;
        };
        let mut x = [0u8; 8];
        x[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        let v = u64::from_le_bytes(x);
        if self.motorola {
            v.swap_bytes() >> (64 - 8 * b.len().min(8))
        } else {
            v
        }
    }
}

fn cell_of(c: &Column, at: usize, index: usize) -> Cell {
    let e = Elem {
        at,
        size: c.size.clamp(1, 8),
        motorola: c.motorola(),
    };
    match (&c.compu.conversion, c.is_float(), c.is_signed()) {
        (Conversion::Identical, true, _) if c.size == 4 => Cell::F32(e),
        (Conversion::Identical, true, _) => Cell::F64(e),
        (Conversion::Identical, false, true) => Cell::Signed(e),
        (Conversion::Identical, false, false) => Cell::Unsigned(e),
        _ => Cell::Converted(index),
    }
}

/// Writes `v` as six digits, zeros in front.
#[allow(clippy::cast_possible_truncation, reason = "a digit")]
fn six_digits(out: &mut Vec<u8>, mut v: u64) {
    let mut d = [b'0'; 6];
    for x in d.iter_mut().rev() {
        *x = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&d);
}

/// Writes `text` as a quoted CSV field (inner quotes doubled).
fn quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
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
fn number(out: &mut Vec<u8>, x: f64, buf: &mut ryu::Buffer, ints: &mut itoa::Buffer) {
    if x.abs() < 9_007_199_254_740_992.0 && (x as i64) as f64 == x {
        // Integral: the digits alone, as `Display` writes them, much faster than ryu.
        if x == 0.0 && x.is_sign_negative() {
            out.push(b'-');
        }
        out.extend_from_slice(ints.format(x as i64).as_bytes());
    } else if x.is_finite() {
        let s = buf.format_finite(x);
        // ryu writes integral values with a ".0"; drop it as Rust's `Display` does.
        out.extend_from_slice(s.strip_suffix(".0").unwrap_or(s).as_bytes());
    } else if x.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if x > 0.0 {
        out.extend_from_slice(b"inf");
    } else {
        out.extend_from_slice(b"-inf");
    }
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

/// Exports the frames of `r` (a recording, or a pyXCP file read in place) to CSV at `output`.
///
/// # Errors
/// As [`export`].
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    reason = "sign-extension of raw integer bits"
)]
pub fn export_from(r: &mut dyn Source, output: &Path) -> Result<CsvSummary, Error> {
    let io = |what: &'static str| {
        move |source| Error::Io {
            path: output.to_owned(),
            what,
            source,
        }
    };
    let mut dec = Decoder::new(r.meta())?;
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
                let mut q = Vec::new();
                quoted(&mut q, &h);
                String::from_utf8_lossy(&q).into_owned()
            } else {
                h
            });
        }
    }
    let cells: Vec<Vec<Cell>> = dec
        .lists
        .iter()
        .map(|l| {
            let mut at = 0;
            l.columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let cell = cell_of(c, at, i);
                    at += c.size;
                    cell
                })
                .collect()
        })
        .collect();
    let values = cells
        .iter()
        .flatten()
        .any(|c| matches!(c, Cell::Converted(_)));
    let mut file = File::create(output).map_err(io("create"))?;
    // Lines go straight into one buffer, written out whenever it passes `FLUSH_AT`.
    const FLUSH_AT: usize = 1 << 20;
    let mut out = Vec::with_capacity(FLUSH_AT + 4096);
    out.extend_from_slice(format!("time_s,list,{}\n", headers.join(",")).as_bytes());
    let first = r.first_ns().unwrap_or(0);
    let total = headers.len();
    let mut summary = CsvSummary::default();
    let mut raw = Vec::new();
    let (mut fbuf, mut ibuf) = (ryu::Buffer::new(), itoa::Buffer::new());
    let mut rows = 0u64;
    summary.damaged = r.each_frame(&mut |ns, bytes| {
        let Some(row) = dec.next_row(ns, bytes) else {
            return Ok(());
        };
        let li = row.list;
        if values {
            dec.values_into(li, &mut raw);
        }
        let d = ns.saturating_sub(first);
        out.extend_from_slice(ibuf.format(d / 1_000_000_000).as_bytes());
        out.push(b'.');
        six_digits(&mut out, (d % 1_000_000_000) / 1_000);
        out.push(b',');
        out.extend_from_slice(ibuf.format(li).as_bytes());
        out.extend(std::iter::repeat_n(b',', before[li]));
        let bytes = dec.row_bytes(li);
        let columns = &dec.lists[li].columns;
        for (cell, c) in cells[li].iter().zip(columns) {
            out.push(b',');
            match *cell {
                Cell::Unsigned(e) => out.extend_from_slice(ibuf.format(e.bits(bytes)).as_bytes()),
                Cell::Signed(e) => {
                    let shift = 64 - 8 * e.size as u32;
                    let v = ((e.bits(bytes) << shift) as i64) >> shift;
                    out.extend_from_slice(ibuf.format(v).as_bytes());
                }
                Cell::F32(e) => {
                    let x = f64::from(f32::from_bits(e.bits(bytes) as u32));
                    number(&mut out, x, &mut fbuf, &mut ibuf);
                }
                Cell::F64(e) => number(
                    &mut out,
                    f64::from_bits(e.bits(bytes)),
                    &mut fbuf,
                    &mut ibuf,
                ),
                Cell::Converted(i) => {
                    match c.compu.to_physical(raw.get(i).copied().unwrap_or(f64::NAN)) {
                        Ok(Value::Number(x)) => number(&mut out, x, &mut fbuf, &mut ibuf),
                        Ok(Value::Text(t)) => quoted(&mut out, &t),
                        Err(_) => out.extend_from_slice(b"NaN"),
                    }
                }
            }
        }
        out.extend(std::iter::repeat_n(
            b',',
            total - before[li] - columns.len(),
        ));
        out.push(b'\n');
        if out.len() >= FLUSH_AT {
            file.write_all(&out).map_err(io("write"))?;
            out.clear();
        }
        rows += 1;
        Ok(())
    })?;
    file.write_all(&out).map_err(io("write"))?;
    summary.rows = rows;
    summary.incomplete = dec.incomplete;
    summary.unknown = dec.unknown;
    Ok(summary)
}
