//! Parquet export (the `parquet` feature): one file per DAQ list, one column per signal, so
//! Spark, DataFusion, DuckDB or pandas can query recordings.
//!
//! Columns of a list's file, in order:
//!
//! - `time_ns`: the row's time, Unix nanoseconds (UTC timestamp): the slave's timestamp mapped
//!   onto the host clock when the recording holds a clock correlation, else the host's arrival
//!   time (the same time axis as the MDF4 export's master channel);
//! - `host_ns`: the host's arrival time;
//! - one column per signal: the raw element, with its integer width and signedness, where the
//!   signal has no conversion; the physical value as a double where it has a numeric one; text
//!   where it has a verbal table.
//!
//! The file's key-value metadata holds the recording's metadata (`xcpkit.recording`, JSON) and
//! the units (`xcpkit.units`, a JSON object by column). Row groups hold 64 Ki rows, so memory
//! stays bounded whatever the recording's length. Columns are Snappy-compressed by default
//! (as pyarrow, Spark and DuckDB write them, and every reader reads); [`Compression`] offers ZSTD for
//! smaller files (about 40 % smaller on DAQ data, the export about 1.5 times slower), LZ4_RAW
//! or none.
//!
//! The decoding thread gathers each row group's rows as bytes; a writing thread turns them
//! into columns, encodes and compresses them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{
    Compression as PageCompression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel,
};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};
use xcp_a2l::{Conversion, Value};

use crate::decode::{Column, Decoder, word};
use crate::error::Error;
use crate::mdf4::SlaveClock;
use crate::reader::Reader;
use crate::source::Source;

/// Rows per row group.
const ROW_GROUP: usize = 64 * 1024;

/// How the columns are compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// Snappy: the Parquet ecosystem's usual default, fast, read everywhere.
    #[default]
    Snappy,
    /// ZSTD at this level (1 fastest to 22 smallest): smaller files, a slower export.
    Zstd(i32),
    /// LZ4_RAW: about as fast as Snappy; older readers (Spark before 3.3) lack it.
    Lz4,
    /// Uncompressed.
    None,
}

impl Compression {
    /// `snappy`, `zstd` (level 1), `zstd:LEVEL`, `lz4` or `none`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "snappy" => Some(Self::Snappy),
            "zstd" => Some(Self::Zstd(1)),
            "lz4" => Some(Self::Lz4),
            "none" => Some(Self::None),
            _ => {
                let level = s.strip_prefix("zstd:")?.parse().ok()?;
                (1..=22).contains(&level).then_some(Self::Zstd(level))
            }
        }
    }

    fn codec(self) -> Result<PageCompression, ParquetError> {
        Ok(match self {
            Self::Snappy => PageCompression::SNAPPY,
            Self::Zstd(level) => PageCompression::ZSTD(ZstdLevel::try_new(level)?),
            Self::Lz4 => PageCompression::LZ4_RAW,
            Self::None => PageCompression::UNCOMPRESSED,
        })
    }
}

/// What the export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParquetSummary {
    /// The files, one per list, with their row counts.
    pub files: Vec<(PathBuf, u64)>,
    /// Columns over all files.
    pub columns: usize,
}

/// How one signal is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Raw integer bits in an INT32 (8 to 32-bit elements).
    Int32,
    /// Raw integer bits in an INT64.
    Int64,
    /// Raw float.
    Float,
    /// Raw double.
    Double,
    /// Physical value, double.
    Physical,
    /// Physical value, text (verbal tables).
    Text,
}

enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Text(Vec<ByteArray>),
}

impl Values {
    fn clear(&mut self) {
        match self {
            Self::I32(v) => v.clear(),
            Self::I64(v) => v.clear(),
            Self::F32(v) => v.clear(),
            Self::F64(v) => v.clear(),
            Self::Text(v) => v.clear(),
        }
    }
}

fn kind_of(c: &Column) -> Kind {
    match c.compu.conversion {
        Conversion::Identical => match (c.is_float(), c.size) {
            (true, 4) => Kind::Float,
            (true, _) => Kind::Double,
            (false, 8) => Kind::Int64,
            (false, _) => Kind::Int32,
        },
        Conversion::TabVerb(_) => Kind::Text,
        _ => Kind::Physical,
    }
}

/// One row group as the decoding thread gathers it: per row its time stamps and its element
/// bytes (`stride` bytes, the list's signals in order); the writing thread turns the bytes
/// into columns.
#[derive(Default)]
struct Group {
    time: Vec<i64>,
    host: Vec<i64>,
    bytes: Vec<u8>,
}

impl Group {
    fn new(stride: usize) -> Self {
        Self {
            time: Vec::with_capacity(ROW_GROUP),
            host: Vec::with_capacity(ROW_GROUP),
            bytes: Vec::with_capacity(ROW_GROUP * stride),
        }
    }

    fn clear(&mut self) {
        self.time.clear();
        self.host.clear();
        self.bytes.clear();
    }
}

/// One column's values of a row group, built on the writing thread (they grow with the first
/// group, so a list of a few rows does not reserve a full group).
fn values_of(kind: Kind) -> Values {
    match kind {
        Kind::Int32 => Values::I32(Vec::new()),
        Kind::Int64 => Values::I64(Vec::new()),
        Kind::Float => Values::F32(Vec::new()),
        Kind::Double | Kind::Physical => Values::F64(Vec::new()),
        Kind::Text => Values::Text(Vec::new()),
    }
}

/// One list's file, owned by the writing thread.
struct ListFile {
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    columns: usize,
    /// The list's index in the decoder.
    list: usize,
    kinds: Vec<Kind>,
    /// Each signal's place in a row's bytes.
    offsets: Vec<usize>,
    stride: usize,
    /// The columns of the group being written, reused.
    values: Vec<Values>,
    /// One row's raw values, for conversions.
    raw: Vec<f64>,
}

/// One list's rows being gathered on the decoding thread.
struct ListRows {
    stride: usize,
    group: Group,
    rows: u64,
    clock: Option<SlaveClock>,
}

fn pq(path: &Path) -> impl Fn(ParquetError) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_owned(),
        what: "write Parquet",
        source: std::io::Error::other(e.to_string()),
    }
}

#[allow(
    clippy::cast_possible_wrap,
    reason = "timestamps in i64 nanoseconds reach the year 2262"
)]
fn as_i64(ns: u64) -> i64 {
    ns as i64
}

impl ListFile {
    fn create(
        path: PathBuf,
        decoder: &Decoder,
        list: usize,
        meta: &serde_json::Value,
        compression: Compression,
    ) -> Result<(Self, ListRows), Error> {
        let l = &decoder.lists[list];
        let ts = |name: &str| {
            Type::primitive_type_builder(name, Physical::INT64)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::Timestamp {
                    is_adjusted_to_u_t_c: true,
                    unit: TimeUnit::NANOS,
                }))
                .build()
        };
        let mut fields = vec![
            Arc::new(ts("time_ns").map_err(pq(&path))?),
            Arc::new(ts("host_ns").map_err(pq(&path))?),
        ];
        let mut kinds = Vec::new();
        let mut units = serde_json::Map::new();
        let mut taken: Vec<String> = vec!["time_ns".into(), "host_ns".into()];
        let mut texts = Vec::new();
        for c in &l.columns {
            let kind = kind_of(c);
            let (physical, logical) = match kind {
                Kind::Int32 | Kind::Int64 => (
                    if kind == Kind::Int32 {
                        Physical::INT32
                    } else {
                        Physical::INT64
                    },
                    Some(LogicalType::Integer {
                        bit_width: i8::try_from(c.size * 8).unwrap_or(64),
                        is_signed: c.is_signed(),
                    }),
                ),
                Kind::Float => (Physical::FLOAT, None),
                Kind::Double | Kind::Physical => (Physical::DOUBLE, None),
                Kind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
            };
            // Column names must be unique; a repeated signal name gets its position.
            let mut name = c.name.clone();
            if taken.contains(&name) {
                name = format!("{}#{}", c.name, kinds.len());
            }
            taken.push(name.clone());
            if !c.unit.is_empty() {
                units.insert(name.clone(), c.unit.clone().into());
            }
            if kind == Kind::Text {
                texts.push(name.clone());
            }
            fields.push(Arc::new(
                Type::primitive_type_builder(&name, physical)
                    .with_repetition(Repetition::REQUIRED)
                    .with_logical_type(logical)
                    .build()
                    .map_err(pq(&path))?,
            ));
            kinds.push(kind);
        }
        let offsets = l.offsets().to_vec();
        let at = l.stride();
        let schema = Type::group_type_builder("xcp_daq_list")
            .with_fields(fields)
            .build()
            .map_err(pq(&path))?;
        let mut props = WriterProperties::builder()
            .set_compression(compression.codec().map_err(pq(&path))?)
            // Dictionaries pay only for texts; numbers would spend the export hashing them.
            .set_dictionary_enabled(false)
            .set_max_row_group_size(ROW_GROUP)
            .set_created_by("xcpkit".into())
            .set_key_value_metadata(Some(vec![
                KeyValue::new("xcpkit.recording".into(), meta.to_string()),
                KeyValue::new(
                    "xcpkit.units".into(),
                    serde_json::Value::Object(units).to_string(),
                ),
                KeyValue::new("xcpkit.list".into(), l.number.to_string()),
            ]));
        for t in texts {
            props = props.set_column_dictionary_enabled(ColumnPath::from(t), true);
        }
        let props = props.build();
        let file = File::create(&path).map_err(|source| Error::Io {
            path: path.clone(),
            what: "create",
            source,
        })?;
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props))
            .map_err(pq(&path))?;
        Ok((
            Self {
                path,
                writer,
                columns: 2 + kinds.len(),
                list,
                values: kinds.iter().map(|&k| values_of(k)).collect(),
                kinds,
                offsets,
                stride: at,
                raw: Vec::new(),
            },
            ListRows {
                stride: at,
                // Grows with its rows; a list that fills one gets full-size groups after.
                group: Group::default(),
                rows: 0,
                clock: SlaveClock::from_meta(meta),
            },
        ))
    }

    /// Turns the rows of `g` into this file's columns, one column at a time.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "raw bits into Parquet's signed physical types, as its integer annotation says"
    )]
    fn fill(&mut self, dec: &Decoder, g: &Group) {
        let Some(list) = dec.lists.get(self.list) else {
            return;
        };
        let rows = || g.bytes.chunks_exact(self.stride.max(1));
        let mut converted = false;
        for (i, (kind, v)) in self.kinds.iter().zip(&mut self.values).enumerate() {
            v.clear();
            let (Some(c), Some(&at)) = (list.columns.get(i), self.offsets.get(i)) else {
                continue;
            };
            let elem = |row: &[u8]| c.raw_bits(row.get(at..).unwrap_or_default());
            // Little-endian words of 4 and 8 bytes (most signals) read as such, without the
            // element's size and byte order looked at per value.
            let intel = !c.motorola();
            match (kind, v) {
                (Kind::Int32, Values::I32(v)) if intel && c.size == 4 => {
                    v.extend(rows().map(|r| i32::from_le_bytes(word(r, at))));
                }
                (Kind::Int64, Values::I64(v)) if intel && c.size == 8 => {
                    v.extend(rows().map(|r| i64::from_le_bytes(word(r, at))));
                }
                (Kind::Float, Values::F32(v)) if intel => {
                    v.extend(rows().map(|r| f32::from_le_bytes(word(r, at))));
                }
                (Kind::Double, Values::F64(v)) if intel && c.size == 8 => {
                    v.extend(rows().map(|r| f64::from_le_bytes(word(r, at))));
                }
                (Kind::Int32, Values::I32(v)) if c.is_signed() => {
                    // Sign-extended from the element's width.
                    let shift = 64 - 8 * c.size.clamp(1, 8) as u32;
                    v.extend(rows().map(|r| ((elem(r) << shift) as i64 >> shift) as i32));
                }
                (Kind::Int32, Values::I32(v)) => v.extend(rows().map(|r| elem(r) as u32 as i32)),
                (Kind::Int64, Values::I64(v)) => v.extend(rows().map(|r| elem(r) as i64)),
                (Kind::Float, Values::F32(v)) => {
                    v.extend(rows().map(|r| f32::from_bits(elem(r) as u32)));
                }
                (Kind::Double, Values::F64(v)) => {
                    v.extend(rows().map(|r| f64::from_bits(elem(r))));
                }
                _ => converted = true,
            }
        }
        if !converted {
            return;
        }
        // Conversions: the raw values of each row, then each converted column's value.
        for row in rows() {
            self.raw.clear();
            dec.values_from(self.list, row, &mut self.raw);
            for (i, (kind, v)) in self.kinds.iter().zip(&mut self.values).enumerate() {
                let Some(c) = list.columns.get(i) else {
                    continue;
                };
                let physical = || {
                    c.compu
                        .to_physical(self.raw.get(i).copied().unwrap_or(f64::NAN))
                };
                match (kind, v) {
                    (Kind::Physical, Values::F64(v)) => v.push(match physical() {
                        Ok(Value::Number(x)) => x,
                        _ => f64::NAN,
                    }),
                    (Kind::Text, Values::Text(v)) => {
                        let text = match physical() {
                            Ok(Value::Text(t)) => t,
                            Ok(Value::Number(x)) => x.to_string(),
                            Err(_) => String::new(),
                        };
                        v.push(ByteArray::from(text.into_bytes()));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Writes the rows of `g` as one row group.
    fn write(&mut self, dec: &Decoder, g: &Group) -> Result<(), Error> {
        if g.time.is_empty() {
            return Ok(());
        }
        self.fill(dec, g);
        let e = pq(&self.path);
        let mut rg = self.writer.next_row_group().map_err(&e)?;
        for t in [&g.time, &g.host] {
            let mut col = rg.next_column().map_err(&e)?.ok_or_else(|| e(missing()))?;
            col.typed::<Int64Type>()
                .write_batch(t, None, None)
                .map_err(&e)?;
            col.close().map_err(&e)?;
        }
        for v in &self.values {
            let mut col = rg.next_column().map_err(&e)?.ok_or_else(|| e(missing()))?;
            match v {
                Values::I32(v) => col.typed::<Int32Type>().write_batch(v, None, None),
                Values::I64(v) => col.typed::<Int64Type>().write_batch(v, None, None),
                Values::F32(v) => col.typed::<FloatType>().write_batch(v, None, None),
                Values::F64(v) => col.typed::<DoubleType>().write_batch(v, None, None),
                Values::Text(v) => col.typed::<ByteArrayType>().write_batch(v, None, None),
            }
            .map_err(&e)?;
            col.close().map_err(&e)?;
        }
        rg.close().map_err(&e)?;
        Ok(())
    }
}

impl ListRows {
    /// Adds a row with element bytes `bytes` (as [`Decoder::row_bytes`] lays them out);
    /// whether its group is full.
    fn push(&mut self, bytes: &[u8], host_ns: u64, ticks: Option<u32>) -> bool {
        let at = match (ticks, self.clock.as_mut()) {
            (Some(t), Some(c)) => c.host_ns(t, host_ns),
            _ => host_ns,
        };
        let g = &mut self.group;
        g.time.push(as_i64(at));
        g.host.push(as_i64(host_ns));
        let row = bytes.get(..self.stride).unwrap_or(bytes);
        g.bytes.extend_from_slice(row);
        // A row shorter than the layout (never from the decoder) is padded, keeping the stride.
        g.bytes.resize(g.time.len() * self.stride, 0);
        self.rows += 1;
        g.time.len() >= ROW_GROUP
    }
}

fn missing() -> ParquetError {
    ParquetError::General("the schema has fewer columns than the rows".into())
}

/// Exports the recording at `input` to Parquet: one file per DAQ list beside `output`, named
/// `<output stem>.<list name or list number>.parquet`.
///
/// # Errors
/// The reader's errors; [`Error::Meta`] when the recording has no DAQ layout; [`Error::Io`]
/// when a file cannot be written.
pub fn export(input: &Path, output: &Path) -> Result<ParquetSummary, Error> {
    export_from(&mut Reader::open(input)?, output, Compression::default())
}

/// Exports the frames of `reader` (a recording, or a pyXCP file read in place) to Parquet
/// files beside `output`, compressed with `compression`.
///
/// # Errors
/// As [`export`].
pub fn export_from(
    reader: &mut dyn Source,
    output: &Path,
    compression: Compression,
) -> Result<ParquetSummary, Error> {
    if crate::multi::is_multi(reader.meta()) {
        // One file per slave and list, `<stem>.<label>.<list>.parquet`, each slave's times
        // through its own clock readings.
        let slaves = crate::multi::Slaves::scan(reader)?;
        let stem = output
            .file_stem()
            .map_or_else(|| "recording".into(), |x| x.to_string_lossy().into_owned());
        let mut all = ParquetSummary {
            files: Vec::new(),
            columns: 0,
        };
        for s in &slaves.slaves {
            let beside = output.with_file_name(format!("{stem}.{}.parquet", s.label));
            let mut view = crate::multi::SlaveView::new(reader, s);
            let one = export_from(&mut view, &beside, compression)
                .map_err(|e| Error::Meta(format!("slave {}: {e}", s.label)))?;
            all.files.extend(one.files);
            all.columns += one.columns;
        }
        return Ok(all);
    }
    let meta = reader.meta().clone();
    let mut dec = Decoder::new(&meta)?;
    let paths = crate::outputs::list_files(&meta, output, dec.lists.len(), "parquet")?;
    let mut files = Vec::new();
    let mut lists = Vec::new();
    for (li, path) in paths.into_iter().enumerate() {
        let (file, rows) = ListFile::create(path, &dec, li, &meta, compression)?;
        files.push(file);
        lists.push(rows);
    }
    // Full row groups go to a writing thread (columns, encoding, compression) while the next
    // fill here; at most two wait, and their buffers come back to be filled again.
    let (full, to_write) = std::sync::mpsc::sync_channel::<(usize, Group)>(2);
    let (back, written) = std::sync::mpsc::sync_channel::<(usize, Group)>(4);
    // The writing thread's own decoder, for the conversions.
    let wdec = Decoder::new(&meta)?;
    let outcome = std::thread::scope(|scope| {
        let writing = std::thread::Builder::new()
            .name("parquet-write".into())
            .spawn_scoped(scope, move || -> Result<Vec<(PathBuf, usize)>, Error> {
                for (li, mut g) in to_write {
                    if let Some(f) = files.get_mut(li) {
                        f.write(&wdec, &g)?;
                    }
                    g.clear();
                    let _ = back.try_send((li, g));
                }
                let mut done = Vec::new();
                for f in files {
                    let e = pq(&f.path);
                    f.writer.close().map_err(e)?;
                    done.push((f.path, f.columns));
                }
                Ok(done)
            })
            .map_err(|source| Error::Io {
                path: output.to_owned(),
                what: "start a writing thread for",
                source,
            })?;
        let mut spares: Vec<Vec<Group>> = lists.iter().map(|_| Vec::new()).collect();
        let read = reader.each_frame(&mut |ns, bytes| {
            let Some((row, in_frame)) = dec.row_in_frame(ns, bytes) else {
                return Ok(());
            };
            let Some(l) = lists.get_mut(row.list) else {
                return Ok(());
            };
            let bytes = in_frame.unwrap_or_else(|| dec.row_bytes(row.list));
            if l.push(bytes, ns, row.slave_ticks) {
                while let Ok((li, g)) = written.try_recv() {
                    if let Some(s) = spares.get_mut(li) {
                        s.push(g);
                    }
                }
                let next = spares[row.list]
                    .pop()
                    .unwrap_or_else(|| Group::new(l.stride));
                let g = std::mem::replace(&mut l.group, next);
                if full.send((row.list, g)).is_err() {
                    // The writing thread stopped: its error is the one reported.
                    return Err(Error::Meta("the Parquet writer stopped".into()));
                }
            }
            Ok(())
        });
        if read.is_ok() {
            for (li, l) in lists.iter_mut().enumerate() {
                let g = std::mem::take(&mut l.group);
                if !g.time.is_empty() && full.send((li, g)).is_err() {
                    break;
                }
            }
        }
        drop(full);
        let done = writing.join().map_err(|_| {
            Error::Meta(format!("the thread writing {} panicked", output.display()))
        })?;
        let done = done?;
        read?;
        Ok::<_, Error>(done)
    })?;
    let mut summary = ParquetSummary::default();
    for ((path, columns), l) in outcome.into_iter().zip(&lists) {
        summary.columns += columns;
        summary.files.push((path, l.rows));
    }
    Ok(summary)
}
