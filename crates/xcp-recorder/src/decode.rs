//! Rows from a recording: the raw DTOs decoded with the DAQ layout its metadata describes,
//! converted to physical values with the conversions it stores.

use std::collections::HashMap;

use serde_json::Value as Json;
use xcp_a2l::formula::{Dialect, Formula};
use xcp_a2l::{Compu, Conversion, Value, VerbTable};
use xcp_proto::{
    ByteOrder, DtoId, ElementOrder, ElementType, IdField, SessionParams, TimestampSize,
};

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
    kind: ElementType,
    order: ByteOrder,
    /// The conversion to physical values.
    pub compu: Compu,
}

impl Column {
    /// Whether the element is big-endian in the recording.
    pub fn motorola(&self) -> bool {
        self.order == ByteOrder::Motorola
    }

    /// Whether the element is a float.
    pub const fn is_float(&self) -> bool {
        self.kind.is_float()
    }

    /// Whether the element is a signed integer.
    pub const fn is_signed(&self) -> bool {
        self.kind.is_signed()
    }

    /// The element type's name: `U8` … `I64`, `F32`, `F64`.
    pub const fn type_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The element type.
    pub const fn element_type(&self) -> ElementType {
        self.kind
    }

    /// The element's bits from its bytes in a row (the first `size` bytes, in the element's
    /// byte order), zero-extended: exact where an `f64` is not, for 64-bit integers.
    pub fn raw_bits(&self, bytes: &[u8]) -> u64 {
        element_bits(bytes, self.size, self.motorola())
    }

    /// The element's bytes for a raw value, in its byte order (the first `size` bytes).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the raw value came from an element of this type"
    )]
    pub fn encode_raw(&self, raw: f64) -> [u8; 8] {
        self.kind.encode(raw, ElementOrder::from(self.order)).0
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
    /// Runs of adjacent columns of one element type and byte order, decoded in one loop each:
    /// (first column's offset in the row buffer, element, size, order, columns).
    runs: Vec<(usize, ElementType, usize, ByteOrder, usize)>,
    /// Where the list has one ODT whose data hold the whole row buffer as it stands: the
    /// position and length of the row's bytes in the DTO data.
    whole: Option<(usize, usize)>,
    /// Each column's place in the row's bytes.
    offsets: Vec<usize>,
}

impl List {
    /// Where each column's element lies in the row's bytes ([`Decoder::row_bytes`]): in
    /// column order, or, for a list of one ODT carrying each signal whole, in the order the
    /// ODT sends them.
    #[must_use]
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// The bytes of a row: the columns' element sizes added up.
    #[must_use]
    pub fn stride(&self) -> usize {
        self.columns.iter().map(|c| c.size).sum()
    }
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

/// A completed row without its values: which list, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowHead {
    /// List index.
    pub list: usize,
    /// Host time the DTO arrived (Unix ns).
    pub host_ns: u64,
    /// Slave timestamp ticks as received (not linearised), when the list has timestamps.
    pub slave_ticks: Option<u32>,
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
    /// List index by the slave's list number (a vector: looked up for every frame).
    by_number: Vec<Option<usize>>,
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

fn elem(t: &str) -> Result<(ElementType, usize), Error> {
    match ElementType::from_name(t) {
        // Half floats are not measured by DAQ: no recording of ours holds one.
        Some(ElementType::F16) | None => Err(bad(format!("signal type {t} is not known"))),
        Some(ty) => Ok((ty, ty.size())),
    }
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
            if l["packed_mode"].as_u64().unwrap_or(0) != 0 {
                return Err(bad(format!(
                    "DAQ list {} is in packed mode, which the decoder does not read yet",
                    l["number"]
                )));
            }
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
            // A list of one ODT that carries each signal whole, once: the row's bytes are laid
            // out as the ODT sends them, so that a DTO's data are the row as they stand.
            if let [odt] = odts.as_slice() {
                let mut seen = vec![false; columns.len()];
                let whole = odt.iter().all(|&(sig, off, n)| {
                    let fits = off == 0
                        && columns.get(sig).is_some_and(|c| c.size == n)
                        && !seen.get(sig).copied().unwrap_or(true);
                    if fits {
                        seen[sig] = true;
                    }
                    fits
                });
                if whole && seen.iter().all(|&s| s) {
                    let mut pos = 0;
                    for &(sig, _, n) in odt {
                        offsets[sig] = pos;
                        pos += n;
                    }
                }
            }
            let copies: Vec<Vec<(usize, usize, usize)>> = odts
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
            let runs = runs_of(&columns, &offsets);
            let stride: usize = columns.iter().map(|c| c.size).sum();
            let whole = match copies.as_slice() {
                [odt] => match odt.as_slice() {
                    &[(pos, 0, n)] if n == stride => Some((pos, n)),
                    _ => None,
                },
                _ => None,
            };
            lists.push(List {
                runs,
                whole,
                offsets,
                number: u16::try_from(l["number"].as_u64().unwrap_or(0)).unwrap_or(0),
                event: u16::try_from(l["event"].as_u64().unwrap_or(0)).unwrap_or(0),
                first_pid: u8::try_from(l["first_pid"].as_u64().unwrap_or(0)).unwrap_or(0),
                timestamps: l["timestamps"].as_bool().unwrap_or(false),
                columns,
                copies,
            });
        }
        let mut by_pid = vec![None; 256];
        let top = lists
            .iter()
            .map(|l| usize::from(l.number) + 1)
            .max()
            .unwrap_or(0);
        let mut by_number = vec![None; top];
        for (li, l) in lists.iter().enumerate() {
            by_number[usize::from(l.number)] = Some(li);
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

    /// Decodes one frame; a row when it completes one (its values in a new vector; see
    /// [`Decoder::next_row`] for the allocation-free path).
    pub fn frame(&mut self, host_ns: u64, frame: &[u8]) -> Option<Row> {
        let head = self.next_row(host_ns, frame)?;
        let mut raw = Vec::new();
        if self.values {
            self.values_into(head.list, &mut raw);
        }
        Some(Row {
            list: head.list,
            host_ns,
            slave_ticks: head.slave_ticks,
            raw,
        })
    }

    /// Decodes one frame; when it completes a row, which list and when. The row's raw values
    /// are then in [`Decoder::values_into`] and its bytes in [`Decoder::row_bytes`], until the
    /// next frame of that list.
    pub fn next_row(&mut self, host_ns: u64, frame: &[u8]) -> Option<RowHead> {
        let (li, oi, data, ticks) = self.locate(frame)?;
        self.assemble(li, oi, data, ticks, host_ns)
    }

    /// Copies the data of ODT `oi` of list `li` into the list's row buffer; the row when the
    /// ODT completes one.
    fn assemble(
        &mut self,
        li: usize,
        oi: usize,
        data: &[u8],
        ticks: Option<u32>,
        host_ns: u64,
    ) -> Option<RowHead> {
        let list = &self.lists[li];
        let st = &mut self.state[li];
        if oi == 0 {
            if st.next != 0 {
                self.incomplete += 1;
            }
            st.broken = false;
            st.ticks = ticks;
        } else if oi != st.next {
            st.broken = true;
        }
        for &(pos, at, n) in &list.copies[oi] {
            match (st.buf.get_mut(at..at + n), data.get(pos..pos + n)) {
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
        Some(RowHead {
            list: li,
            host_ns,
            slave_ticks: st.ticks,
        })
    }

    /// As [`Decoder::next_row`], without copying where it need not: when the row's list has
    /// one ODT whose data are the row's element bytes as they stand, those bytes are returned
    /// as a slice of `frame` (and [`Decoder::row_bytes`] is left as it was); otherwise the row
    /// is assembled as `next_row` does and the slice is `None` (the bytes are in
    /// [`Decoder::row_bytes`]).
    pub fn row_in_frame<'f>(
        &mut self,
        host_ns: u64,
        frame: &'f [u8],
    ) -> Option<(RowHead, Option<&'f [u8]>)> {
        let (li, oi, data, ticks) = self.locate(frame)?;
        let Some((pos, n)) = self.lists[li].whole else {
            return self
                .assemble(li, oi, data, ticks, host_ns)
                .map(|h| (h, None));
        };
        let Some(bytes) = data.get(pos..pos + n) else {
            self.incomplete += 1;
            return None;
        };
        let head = RowHead {
            list: li,
            host_ns,
            slave_ticks: ticks,
        };
        Some((head, Some(bytes)))
    }

    /// The list, ODT, data (after the identification field and timestamp) and slave ticks of
    /// `frame`; `None`, counted as unknown, when no list of the layout sent it.
    fn locate<'f>(&mut self, frame: &'f [u8]) -> Option<(usize, usize, &'f [u8], Option<u32>)> {
        let Ok((id, id_len)) = DtoId::parse(frame, &self.params) else {
            self.unknown += 1;
            return None;
        };
        let found = match id.daq {
            Some(d) => self
                .by_number
                .get(usize::from(d))
                .copied()
                .flatten()
                .map(|l| (l, usize::from(id.odt))),
            None => self.by_pid.get(usize::from(id.odt)).copied().flatten(),
        };
        let Some((li, oi)) = found else {
            self.unknown += 1;
            return None;
        };
        let list = &self.lists[li];
        if oi >= list.copies.len() {
            self.unknown += 1;
            return None;
        }
        // The identification field is parsed; the rest of the DTO (the timestamp in the first
        // ODT when the list has them, then the data) is read here rather than by parsing the
        // whole packet again.
        let mut data = frame.get(id_len..).unwrap_or_default();
        let mut ticks = None;
        if oi == 0 && list.timestamps {
            let size = self.params.daq.timestamp;
            let Some(t) = size.read(data, self.params.byte_order) else {
                self.unknown += 1;
                return None;
            };
            ticks = Some(t);
            data = &data[size.len()..];
        }
        Some((li, oi, data, ticks))
    }

    /// The raw values of list `list`'s last completed row, one per column, into `out`
    /// (cleared first; reuse it across rows and nothing is allocated).
    pub fn values_into(&self, list: usize, out: &mut Vec<f64>) {
        out.clear();
        if let Some(st) = self.state.get(list) {
            self.values_from(list, &st.buf, out);
        }
    }

    /// The raw values of a row of list `list` whose element bytes (as
    /// [`Decoder::row_bytes`] gives them) are `row`, appended to `out`; `NaN` for values
    /// `row` is too short to hold.
    pub fn values_from(&self, list: usize, row: &[u8], out: &mut Vec<f64>) {
        let Some(l) = self.lists.get(list) else {
            return;
        };
        for &(at, kind, size, order, n) in &l.runs {
            let Some(bytes) = row.get(at..at + size * n) else {
                out.extend(std::iter::repeat_n(f64::NAN, n));
                continue;
            };
            decode_run(kind, order == ByteOrder::Motorola, bytes, out);
        }
    }

    /// Whether every row stands alone: each list has one ODT, so a frame decodes without the
    /// frames before it, and frames can be decoded in pieces, each by a decoder of its own.
    #[must_use]
    pub fn rows_stand_alone(&self) -> bool {
        self.lists.iter().all(|l| l.copies.len() == 1)
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

/// The little-endian word of `N` bytes at `at` of `row` (0 when the row is shorter).
#[inline(always)]
pub(crate) fn word<const N: usize>(row: &[u8], at: usize) -> [u8; N] {
    row.get(at..)
        .and_then(|b| b.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

/// The bits of an element of `size` bytes (1, 2, 4 or 8) at the start of `bytes`, in its byte
/// order, zero-extended; 0 when `bytes` is shorter. Fixed-size reads: this runs for every
/// value of every exported row.
pub(crate) fn element_bits(bytes: &[u8], size: usize, motorola: bool) -> u64 {
    let Some(b) = bytes.get(..size) else {
        return 0;
    };
    let v = match *b {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => return 0,
    };
    if motorola {
        v.swap_bytes() >> (64 - 8 * b.len())
    } else {
        v
    }
}

/// Groups adjacent columns of one element type and byte order whose bytes follow each other.
fn runs_of(
    columns: &[Column],
    offsets: &[usize],
) -> Vec<(usize, ElementType, usize, ByteOrder, usize)> {
    let mut runs: Vec<(usize, ElementType, usize, ByteOrder, usize)> = Vec::new();
    for (c, &o) in columns.iter().zip(offsets) {
        match runs.last_mut() {
            Some((at, kind, size, order, n))
                if *kind == c.kind
                    && *size == c.size
                    && *order == c.order
                    && *at + *size * *n == o =>
            {
                *n += 1;
            }
            _ => runs.push((o, c.kind, c.size, c.order, 1)),
        }
    }
    runs
}

/// Appends the values of a run of elements of one type: `bytes` holds them back to back.
#[allow(
    clippy::cast_precision_loss,
    reason = "raw values as f64, 64-bit integers beyond 2^53 round"
)]
fn decode_run(kind: ElementType, motorola: bool, bytes: &[u8], out: &mut Vec<f64>) {
    let size = kind.size();
    // The values are written into place, the byte order decided once per run rather than per
    // element: the loops are branch-free and vectorise.
    let start = out.len();
    out.resize(start + bytes.len() / size.max(1), 0.0);
    let dst = &mut out[start..];
    macro_rules! run {
        ($n:literal, $conv:expr) => {{
            let elems = bytes.chunks_exact($n).map(|c| {
                let mut b = [0u8; $n];
                b.copy_from_slice(c);
                b
            });
            if motorola {
                for (o, mut b) in dst.iter_mut().zip(elems) {
                    b.reverse();
                    *o = $conv(b);
                }
            } else {
                for (o, b) in dst.iter_mut().zip(elems) {
                    *o = $conv(b);
                }
            }
        }};
    }
    match kind {
        ElementType::U8 => {
            for (o, &b) in dst.iter_mut().zip(bytes) {
                *o = f64::from(b);
            }
        }
        ElementType::I8 => {
            for (o, &b) in dst.iter_mut().zip(bytes) {
                *o = f64::from(b.cast_signed());
            }
        }
        ElementType::U16 => run!(2, |b| f64::from(u16::from_le_bytes(b))),
        ElementType::I16 => run!(2, |b| f64::from(i16::from_le_bytes(b))),
        ElementType::U32 => run!(4, |b| f64::from(u32::from_le_bytes(b))),
        ElementType::I32 => run!(4, |b| f64::from(i32::from_le_bytes(b))),
        ElementType::U64 => run!(8, |b| u64::from_le_bytes(b) as f64),
        ElementType::I64 => run!(8, |b| i64::from_le_bytes(b) as f64),
        ElementType::F16 => run!(2, |b: [u8; 2]| ElementType::F16
            .decode(&b, ElementOrder::MsbLast)
            .unwrap_or(0.0)),
        ElementType::F32 => run!(4, |b| f64::from(f32::from_le_bytes(b))),
        ElementType::F64 => run!(8, f64::from_le_bytes),
    }
}
