//! Rows from a recording: the raw DTOs decoded with the DAQ layout its metadata describes,
//! converted to physical values with the conversions it stores.

use std::collections::HashMap;

use serde_json::Value as Json;
use xcp_a2l::formula::{Dialect, Formula};
use xcp_a2l::{Compu, Conversion, Value, VerbTable};
use xcp_proto::{ByteOrder, DaqPacket, DtoId, DtoShape, IdField, SessionParams, TimestampSize};

use crate::error::Error;

/// One signal of a list, as the metadata describes it.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Element size in bytes.
    pub size: usize,
    kind: Elem,
    order: ByteOrder,
    /// The conversion to physical values.
    pub compu: Compu,
}

#[derive(Debug, Clone, Copy)]
enum Elem {
    U,
    I(usize),
    F32,
    F64,
}

impl Column {
    /// Whether the element is big-endian in the recording.
    pub fn motorola(&self) -> bool {
        self.order == ByteOrder::Motorola
    }

    /// Whether the element is a float.
    pub const fn is_float(&self) -> bool {
        matches!(self.kind, Elem::F32 | Elem::F64)
    }

    /// Whether the element is a signed integer.
    pub const fn is_signed(&self) -> bool {
        matches!(self.kind, Elem::I(_))
    }

    /// The element's bytes for a raw value, in its byte order (the first `size` bytes).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the raw value came from an element of this type"
    )]
    pub fn encode_raw(&self, raw: f64) -> [u8; 8] {
        let mut b = match self.kind {
            Elem::U => (raw as u64).to_le_bytes(),
            Elem::I(_) => (raw as i64).to_le_bytes(),
            Elem::F32 => {
                let mut x = [0u8; 8];
                x[..4].copy_from_slice(&(raw as f32).to_le_bytes());
                x
            }
            Elem::F64 => raw.to_le_bytes(),
        };
        if self.motorola() {
            b[..self.size.min(8)].reverse();
        }
        b
    }
}

/// One list of the recording.
#[derive(Debug, Clone)]
pub struct List {
    /// The slave's list number.
    pub number: u16,
    /// The event it ran on.
    pub event: u16,
    /// Its columns.
    pub columns: Vec<Column>,
    first_pid: u8,
    timestamps: bool,
    /// Per ODT, the copies from the DTO data into the row buffer, adjacent entries merged:
    /// (position in the data, position in the buffer, length).
    copies: Vec<Vec<(usize, usize, usize)>>,
    offsets: Vec<usize>,
}

/// A decoded row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// List index.
    pub list: usize,
    /// Host time the DTO arrived (Unix ns).
    pub host_ns: u64,
    /// Slave timestamp ticks as received (not linearised), when the list has timestamps.
    pub slave_ticks: Option<u32>,
    /// Raw values, one per column.
    pub raw: Vec<f64>,
}

struct Assembly {
    buf: Vec<u8>,
    next: usize,
    broken: bool,
    ticks: Option<u32>,
}

/// Decodes the frames of one recording.
pub struct Decoder {
    /// The lists.
    pub lists: Vec<List>,
    params: SessionParams,
    by_pid: Vec<Option<(usize, usize)>>,
    by_number: HashMap<u16, usize>,
    state: Vec<Assembly>,
    /// Nanoseconds per slave tick.
    pub tick_ns: Option<f64>,
    /// Rows lost to missing or out-of-order ODTs.
    pub incomplete: u64,
    /// Frames that belong to no list.
    pub unknown: u64,
    /// Decode raw values into rows (off: rows carry only their list and times; the element
    /// bytes are in [`Decoder::row_bytes`]).
    pub values: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("lists", &self.lists.len())
            .finish_non_exhaustive()
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::Meta(what.into())
}

fn compu_of(c: &Json, dialect: Dialect) -> Result<Compu, Error> {
    let f = |k: &str| c[k].as_f64().unwrap_or(0.0);
    let table = |k: &str| -> Vec<(f64, f64)> {
        c[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
            .collect()
    };
    let conversion = match c["kind"].as_str().unwrap_or("IDENTICAL") {
        "IDENTICAL" => Conversion::Identical,
        "LINEAR" => Conversion::Linear {
            a: f("a"),
            b: f("b"),
        },
        "RAT_FUNC" => {
            let mut coeffs = [0.0; 6];
            for (i, v) in c["coeffs"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .take(6)
            {
                coeffs[i] = v.as_f64().unwrap_or(0.0);
            }
            Conversion::RatFunc { coeffs }
        }
        "TAB_INTP" => Conversion::TabIntp {
            table: table("table"),
            default: c["default"].as_f64(),
        },
        "TAB_NOINTP" => Conversion::TabNoIntp {
            table: table("table"),
            default: c["default"].as_f64(),
        },
        "TAB_VERB" => Conversion::TabVerb(VerbTable {
            name: c["name"].as_str().unwrap_or("").to_owned(),
            entries: c["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| Some((e[0].as_f64()?, e[1].as_f64()?, e[2].as_str()?.to_owned())))
                .collect(),
            default: c["default"].as_str().map(str::to_owned),
        }),
        "FORM" => {
            let text = c["formula"].as_str().unwrap_or("X1");
            let formula = Formula::parse(text, dialect, &HashMap::new())
                .map_err(|e| bad(format!("FORM {text:?}: {e}")))?;
            Conversion::Form {
                formula,
                inverse: None,
            }
        }
        other => return Err(bad(format!("conversion kind {other} is not known"))),
    };
    Ok(Compu {
        name: c["name"].as_str().unwrap_or("").to_owned(),
        conversion,
        unit: c["unit"].as_str().unwrap_or("").to_owned(),
        format: String::new(),
        status: None,
    })
}

fn elem(t: &str) -> Result<(Elem, usize), Error> {
    Ok(match t {
        "U8" => (Elem::U, 1),
        "I8" => (Elem::I(1), 1),
        "U16" => (Elem::U, 2),
        "I16" => (Elem::I(2), 2),
        "U32" => (Elem::U, 4),
        "I32" => (Elem::I(4), 4),
        "U64" => (Elem::U, 8),
        "I64" => (Elem::I(8), 8),
        "F32" => (Elem::F32, 4),
        "F64" => (Elem::F64, 8),
        other => return Err(bad(format!("signal type {other} is not known"))),
    })
}

fn order(s: &str) -> ByteOrder {
    if s == "Motorola" {
        ByteOrder::Motorola
    } else {
        ByteOrder::Intel
    }
}

impl Decoder {
    /// Builds the decoder from a recording's metadata.
    ///
    /// # Errors
    /// [`Error::Meta`] when the metadata lacks the DAQ layout or names unknown types.
    pub fn new(meta: &Json) -> Result<Self, Error> {
        let daq = &meta["daq"];
        let id_field = match daq["id_field"].as_str().unwrap_or("") {
            "AbsoluteOdt" => IdField::AbsoluteOdt,
            "RelativeOdtDaqByte" => IdField::RelativeOdtDaqByte,
            "RelativeOdtDaqWord" => IdField::RelativeOdtDaqWord,
            "RelativeOdtDaqWordAligned" => IdField::RelativeOdtDaqWordAligned,
            other => return Err(bad(format!("identification field {other:?} is not known"))),
        };
        let ts = daq["timestamp_bytes"].as_u64().unwrap_or(0);
        let timestamp = TimestampSize::from_code(u8::try_from(ts).unwrap_or(0))
            .ok_or_else(|| bad(format!("timestamp of {ts} bytes")))?;
        let mut params = SessionParams::BEFORE_CONNECT;
        params.byte_order = order(daq["byte_order"].as_str().unwrap_or("Intel"));
        params.daq.id_field = id_field;
        params.daq.timestamp = timestamp;
        params.daq.overload_pid_msb = daq["overload_pid_msb"].as_bool().unwrap_or(false);
        let dialect = if meta["a2l"]["dialect"].as_str() == Some("Legacy") {
            Dialect::Legacy
        } else {
            Dialect::V17
        };
        let mut lists = Vec::new();
        for l in daq["lists"].as_array().ok_or_else(|| bad("no DAQ lists"))? {
            let mut columns = Vec::new();
            let mut offsets = Vec::new();
            let mut total = 0;
            for s in l["signals"].as_array().into_iter().flatten() {
                let (kind, size) = elem(s["type"].as_str().unwrap_or(""))?;
                offsets.push(total);
                total += size;
                columns.push(Column {
                    name: s["name"].as_str().unwrap_or("").to_owned(),
                    unit: s["unit"].as_str().unwrap_or("").to_owned(),
                    size,
                    kind,
                    order: order(s["byte_order"].as_str().unwrap_or("Intel")),
                    compu: compu_of(&s["conversion"], dialect)?,
                });
            }
            let odts: Vec<Vec<(usize, usize, usize)>> = l["odts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    o.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| {
                            Some((
                                usize::try_from(e[0].as_u64()?).ok()?,
                                usize::try_from(e[1].as_u64()?).ok()?,
                                usize::try_from(e[2].as_u64()?).ok()?,
                            ))
                        })
                        .collect()
                })
                .collect();
            let copies = odts
                .iter()
                .map(|odt| {
                    let mut out: Vec<(usize, usize, usize)> = Vec::new();
                    let mut pos = 0;
                    for &(sig, off, n) in odt {
                        // Entries of unknown signals land nowhere (usize::MAX) and are skipped.
                        let Some(at) = offsets.get(sig).map(|o| o + off) else {
                            pos += n;
                            continue;
                        };
                        match out.last_mut() {
                            Some(last) if last.0 + last.2 == pos && last.1 + last.2 == at => {
                                last.2 += n;
                            }
                            _ => out.push((pos, at, n)),
                        }
                        pos += n;
                    }
                    out
                })
                .collect();
            lists.push(List {
                number: u16::try_from(l["number"].as_u64().unwrap_or(0)).unwrap_or(0),
                event: u16::try_from(l["event"].as_u64().unwrap_or(0)).unwrap_or(0),
                first_pid: u8::try_from(l["first_pid"].as_u64().unwrap_or(0)).unwrap_or(0),
                timestamps: l["timestamps"].as_bool().unwrap_or(false),
                columns,
                copies,
                offsets,
            });
        }
        let mut by_pid = vec![None; 256];
        let mut by_number = HashMap::new();
        for (li, l) in lists.iter().enumerate() {
            by_number.insert(l.number, li);
            for oi in 0..l.copies.len() {
                if let Some(slot) = by_pid.get_mut(usize::from(l.first_pid) + oi) {
                    *slot = Some((li, oi));
                }
            }
        }
        let state = lists
            .iter()
            .map(|l| Assembly {
                buf: vec![0; l.columns.iter().map(|c| c.size).sum()],
                next: 0,
                broken: false,
                ticks: None,
            })
            .collect();
        Ok(Self {
            lists,
            params,
            by_pid,
            by_number,
            state,
            tick_ns: daq["tick_ns"].as_f64(),
            incomplete: 0,
            unknown: 0,
            values: true,
        })
    }

    /// Decodes one frame; a row when it completes one.
    pub fn frame(&mut self, host_ns: u64, frame: &[u8]) -> Option<Row> {
        let Ok((id, _)) = DtoId::parse(frame, &self.params) else {
            self.unknown += 1;
            return None;
        };
        let found = match id.daq {
            Some(d) => self.by_number.get(&d).map(|&l| (l, usize::from(id.odt))),
            None => self.by_pid.get(usize::from(id.odt)).copied().flatten(),
        };
        let Some((li, oi)) = found else {
            self.unknown += 1;
            return None;
        };
        let list = &self.lists[li];
        let Some(copies) = list.copies.get(oi) else {
            self.unknown += 1;
            return None;
        };
        let shape = DtoShape {
            pid_off: false,
            ctr: false,
            timestamp: oi == 0 && list.timestamps,
        };
        let Ok(p) = DaqPacket::parse(frame, &self.params, shape) else {
            self.unknown += 1;
            return None;
        };
        let st = &mut self.state[li];
        if oi == 0 {
            if st.next != 0 {
                self.incomplete += 1;
            }
            st.broken = false;
            st.ticks = p.timestamp;
        } else if oi != st.next {
            st.broken = true;
        }
        for &(pos, at, n) in copies {
            match (st.buf.get_mut(at..at + n), p.data.get(pos..pos + n)) {
                (Some(dst), Some(src)) => dst.copy_from_slice(src),
                _ => st.broken = true,
            }
        }
        st.next = oi + 1;
        if st.next < list.copies.len() {
            return None;
        }
        st.next = 0;
        if st.broken {
            self.incomplete += 1;
            return None;
        }
        let raw = if self.values {
            list.columns
                .iter()
                .zip(&list.offsets)
                .map(|(c, &o)| raw_value(c, st.buf.get(o..o + c.size).unwrap_or_default()))
                .collect()
        } else {
            Vec::new()
        };
        Some(Row {
            list: li,
            host_ns,
            slave_ticks: st.ticks,
            raw,
        })
    }

    /// The element bytes of list `list`'s last completed row, signals in order, each in its
    /// own byte order (valid until the next frame of that list).
    pub fn row_bytes(&self, list: usize) -> &[u8] {
        self.state.get(list).map_or(&[][..], |s| &s.buf)
    }

    /// The physical values of a row.
    pub fn physical(&self, row: &Row) -> Vec<Value> {
        self.lists[row.list]
            .columns
            .iter()
            .zip(&row.raw)
            .map(|(c, &r)| c.compu.to_physical(r).unwrap_or(Value::Number(f64::NAN)))
            .collect()
    }
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    reason = "raw values as f64, 64-bit integers beyond 2^53 round"
)]
fn raw_value(c: &Column, bytes: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    let n = c.size.min(bytes.len());
    b[..n].copy_from_slice(&bytes[..n]);
    if c.order == ByteOrder::Motorola {
        b[..n].reverse();
    }
    let u = u64::from_le_bytes(b);
    match c.kind {
        Elem::U => u as f64,
        Elem::I(size) => {
            let shift = 64 - 8 * u32::try_from(size.min(8)).unwrap_or(8);
            ((u << shift) as i64 >> shift) as f64
        }
        Elem::F32 => f64::from(f32::from_bits(u32::try_from(u & 0xFFFF_FFFF).unwrap_or(0))),
        Elem::F64 => f64::from_bits(u),
    }
}
