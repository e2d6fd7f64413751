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
use std::io::{BufWriter, Write};
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

/// How one column is written.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Unsigned,
    Signed,
    Float,
    Converted,
}

fn cell_of(c: &Column) -> Cell {
    match (&c.compu.conversion, c.is_float(), c.is_signed()) {
        (Conversion::Identical, true, _) => Cell::Float,
        (Conversion::Identical, false, true) => Cell::Signed,
        (Conversion::Identical, false, false) => Cell::Unsigned,
        _ => Cell::Converted,
    }
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
fn number(out: &mut Vec<u8>, x: f64, buf: &mut ryu::Buffer, ints: &mut itoa::Buffer) {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
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
        .map(|l| l.columns.iter().map(cell_of).collect())
        .collect();
    let offsets: Vec<Vec<usize>> = dec
        .lists
        .iter()
        .map(|l| {
            l.columns
                .iter()
                .scan(0, |at, c| {
                    let o = *at;
                    *at += c.size;
                    Some(o)
                })
                .collect()
        })
        .collect();
    dec.values = cells.iter().flatten().any(|c| matches!(c, Cell::Converted));
    let file = File::create(output).map_err(io("create"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    writeln!(w, "time_s,list,{}", headers.join(",")).map_err(io("write"))?;
    let first = r.first_ns().unwrap_or(0);
    let total = headers.len();
    let mut summary = CsvSummary::default();
    let (mut line, mut raw) = (Vec::with_capacity(1024), Vec::new());
    let (mut fbuf, mut ibuf) = (ryu::Buffer::new(), itoa::Buffer::new());
    let mut rows = 0u64;
    summary.damaged = r.each_frame(&mut |ns, bytes| {
        let Some(row) = dec.next_row(ns, bytes) else {
            return Ok(());
        };
        let li = row.list;
        if dec.values {
            dec.values_into(li, &mut raw);
        }
        line.clear();
        let d = ns.saturating_sub(first);
        line.extend_from_slice(ibuf.format(d / 1_000_000_000).as_bytes());
        line.push(b'.');
        let micros = (d % 1_000_000_000) / 1_000;
        let m = ibuf.format(micros);
        line.extend(std::iter::repeat_n(b'0', 6 - m.len()));
        line.extend_from_slice(m.as_bytes());
        line.push(b',');
        line.extend_from_slice(ibuf.format(li).as_bytes());
        line.extend(std::iter::repeat_n(b',', before[li]));
        let bytes = dec.row_bytes(li);
        let columns = &dec.lists[li].columns;
        for (i, c) in columns.iter().enumerate() {
            line.push(b',');
            let elem = bytes.get(offsets[li][i]..).unwrap_or_default();
            match cells[li][i] {
                Cell::Unsigned => line.extend_from_slice(ibuf.format(c.raw_bits(elem)).as_bytes()),
                Cell::Signed => {
                    let shift = 64 - 8 * u32::try_from(c.size.min(8)).unwrap_or(8);
                    let v = ((c.raw_bits(elem) << shift) as i64) >> shift;
                    line.extend_from_slice(ibuf.format(v).as_bytes());
                }
                Cell::Float => {
                    let bits = c.raw_bits(elem);
                    let x = if c.size == 4 {
                        f64::from(f32::from_bits(bits as u32))
                    } else {
                        f64::from_bits(bits)
                    };
                    number(&mut line, x, &mut fbuf, &mut ibuf);
                }
                Cell::Converted => {
                    match c.compu.to_physical(raw.get(i).copied().unwrap_or(f64::NAN)) {
                        Ok(Value::Number(x)) => number(&mut line, x, &mut fbuf, &mut ibuf),
                        Ok(Value::Text(t)) => quoted(&mut line, &t),
                        Err(_) => line.extend_from_slice(b"NaN"),
                    }
                }
            }
        }
        line.extend(std::iter::repeat_n(
            b',',
            total - before[li] - columns.len(),
        ));
        line.push(b'\n');
        w.write_all(&line).map_err(io("write"))?;
        rows += 1;
        Ok(())
    })?;
    summary.rows = rows;
    w.flush().map_err(io("write"))?;
    summary.incomplete = dec.incomplete;
    summary.unknown = dec.unknown;
    Ok(summary)
}
