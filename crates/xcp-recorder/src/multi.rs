//! Several slaves in one recording.
//!
//! The metadata holds `slaves`: one object per slave, each as a recording of one slave
//! describes itself (`slave`, `a2l`, `daq`) plus its `label`. Every frame's first byte says
//! whose it is: a slave's index for its DTOs, [`NOTE_TAG`] for a note, a JSON object
//! `{"slave": INDEX, "kind": …}` the recording driver writes into the same stream:
//!
//! - `clock`: a GET_DAQ_CLOCK reading (`host_ns`, `raw` cut to the timestamp width,
//!   `uncertainty_ns`, and `slave_ns`, the whole reading in nanoseconds), taken before DAQ
//!   starts, at a bounded interval while it runs and after it stops;
//! - `dropped out`: the slave stopped answering (`reason`); its part of the recording ends;
//! - `end`: how many frames the slave handed to the writer (`frames`), so a reader can say how
//!   many the writer dropped.
//!
//! Notes travel with the frames, so a recording that was never closed keeps what it noted.
//! [`Slaves::scan`] reads them in one pass; [`SlaveView`] shows one slave's frames as a
//! recording of its own, its clock readings in its metadata (`daq.clock_points`), so the
//! per-slave exports and the decoder work on it unchanged, every frame's time on the host's
//! axis through its own slave's readings.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value as Json, json};

use crate::error::Error;
use crate::source::{OnFrame, Source};
use crate::writer::{Recorder, Summary, WriterOptions};

/// The tag of a note frame.
pub const NOTE_TAG: u8 = 0xFF;

/// Most slaves in one recording (tags 0 to 254).
pub const MAX_SLAVES: usize = 255;

fn host_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether `meta` describes a recording of several slaves.
pub fn is_multi(meta: &Json) -> bool {
    meta["slaves"].is_array()
}

/// One writer for several slaves: each slave's receive thread pushes its DTOs, the driver
/// its notes; cloned handles share the writer. The file is closed by [`close`](Self::close)
/// or when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct SharedRecorder {
    inner: Arc<Mutex<Option<Recorder>>>,
}

impl SharedRecorder {
    /// Creates `path` for the slaves described by `slaves` (each slave's metadata as a
    /// recording of one slave writes it, with a `label`).
    ///
    /// # Errors
    /// [`Error::Meta`] for no slaves, more than [`MAX_SLAVES`] or a label used twice;
    /// [`Recorder::create`]'s.
    pub fn create(
        path: &std::path::Path,
        slaves: Vec<Json>,
        options: WriterOptions,
    ) -> Result<Self, Error> {
        if slaves.is_empty() || slaves.len() > MAX_SLAVES {
            return Err(Error::Meta(format!(
                "a recording holds 1 to {MAX_SLAVES} slaves, not {}",
                slaves.len()
            )));
        }
        let mut labels: Vec<&str> = slaves
            .iter()
            .map(|s| s["label"].as_str().unwrap_or(""))
            .collect();
        labels.sort_unstable();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Meta(format!(
                "two slaves are labelled `{}`: give each its own",
                w[0]
            )));
        }
        let meta = json!({
            "format": "xcpkit recording 1",
            "created_unix_ns": host_now_ns(),
            "slaves": slaves,
        });
        let rec = Recorder::create(path, &meta, options)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Some(rec))),
        })
    }

    fn with(&self, f: impl FnOnce(&mut Recorder)) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = g.as_mut() {
            f(r);
        }
    }

    /// Records a DTO of slave `slave` received at `host_ns`.
    pub fn push(&self, slave: u8, host_ns: u64, frame: &[u8]) {
        self.with(|r| r.push_tagged(host_ns, Some(slave), frame));
    }

    /// Records DTOs of slave `slave` at once (one lock for all): `frames` lists each one's
    /// arrival time and length, their bytes follow each other in `bytes`.
    pub fn push_many(&self, slave: u8, frames: &[(u64, u32)], bytes: &[u8]) {
        self.with(|r| {
            let mut at = 0usize;
            for &(ns, len) in frames {
                let end = at + len as usize;
                if let Some(f) = bytes.get(at..end) {
                    r.push_tagged(ns, Some(slave), f);
                }
                at = end;
            }
        });
    }

    /// [`Recorder::tick`].
    pub fn tick(&self) {
        self.with(Recorder::tick);
    }

    /// Writes a note about slave `slave` (`kind` and the fields of `fields`, an object).
    pub fn note(&self, slave: u8, host_ns: u64, kind: &str, mut fields: Json) {
        if !fields.is_object() {
            fields = json!({});
        }
        fields["slave"] = json!(slave);
        fields["kind"] = json!(kind);
        let text = fields.to_string();
        self.with(|r| r.push_tagged(host_ns, Some(NOTE_TAG), text.as_bytes()));
    }

    /// Frames dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.as_ref().map_or(0, Recorder::dropped)
    }

    /// Closes the file (once: later calls and pushes do nothing).
    ///
    /// # Errors
    /// [`Recorder::close`]'s; [`Error::Meta`] when it was closed already.
    pub fn close(&self) -> Result<Summary, Error> {
        let rec = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        rec.ok_or_else(|| Error::Meta("the recording was closed already".into()))?
            .close()
    }
}

/// One GET_DAQ_CLOCK reading of a slave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockPoint {
    /// Host Unix nanoseconds of the reading.
    pub host_ns: u64,
    /// The slave clock's ticks cut to the DTO timestamp's width.
    pub raw: u64,
    /// The whole reading in nanoseconds, as GET_DAQ_CLOCK gave it.
    pub slave_ns: Option<f64>,
    /// How far off the reading can be (half its round trip).
    pub uncertainty_ns: u64,
}

/// What a recording says about one of its slaves.
#[derive(Debug, Clone)]
pub struct SlaveInfo {
    /// The slave's tag (its index).
    pub index: u8,
    /// Its label (`ecu1`).
    pub label: String,
    /// Its metadata as a recording of one slave has it, the clock readings in
    /// `daq.clock_points`.
    pub meta: Json,
    /// Frames recorded.
    pub frames: u64,
    /// Frames handed to the writer, when the recording noted them (it was closed).
    pub handed: Option<u64>,
    /// Host times of its first and last frame.
    pub span: Option<(u64, u64)>,
    /// Its clock readings, in time order.
    pub clock: Vec<ClockPoint>,
    /// When and why it dropped out.
    pub dropped_out: Option<(u64, String)>,
}

impl SlaveInfo {
    /// Frames the writer dropped (handed but not recorded), when known.
    pub fn lost(&self) -> Option<u64> {
        self.handed.map(|h| h.saturating_sub(self.frames))
    }

    /// The slave clock's rate against the host's over the readings, in parts per million
    /// (positive: fast), from the first and the last reading.
    #[allow(
        clippy::cast_precision_loss,
        reason = "nanoseconds over a recording's length"
    )]
    pub fn drift_ppm(&self) -> Option<f64> {
        let tick = self.tick_ns()?;
        let period = self.period()?;
        let (a, b) = (self.clock.first()?, self.clock.last()?);
        let host = b.host_ns.checked_sub(a.host_ns).filter(|d| *d > 0)? as f64;
        // Whole periods the host saw pass, plus the step of the raw ticks.
        let step = b.raw.wrapping_sub(a.raw) & (period - 1);
        let wraps = ((host / tick - step as f64) / period as f64)
            .round()
            .max(0.0);
        let slave = (step as f64 + wraps * period as f64) * tick;
        Some((slave / host - 1.0) * 1e6)
    }

    /// The slave clock minus the host clock at the first reading, in nanoseconds, reduced
    /// into the slave clock's range (± half its wrap period) when the reading is cut to it.
    #[allow(
        clippy::cast_precision_loss,
        reason = "an offset in nanoseconds for display"
    )]
    pub fn offset_ns(&self) -> Option<f64> {
        let a = self.clock.first()?;
        let slave = a.slave_ns?;
        let mut off = slave - a.host_ns as f64;
        if let (Some(p), Some(t)) = (self.period(), self.tick_ns()) {
            let range = p as f64 * t;
            if slave < range {
                off = off.rem_euclid(range);
                if off > range / 2.0 {
                    off -= range;
                }
            }
        }
        Some(off)
    }

    /// The wrap period of the slave's timestamps in nanoseconds, when it has them.
    #[allow(clippy::cast_precision_loss, reason = "a period for display")]
    pub fn wrap_ns(&self) -> Option<f64> {
        Some(self.period()? as f64 * self.tick_ns()?)
    }

    fn tick_ns(&self) -> Option<f64> {
        self.meta["daq"]["clock"]["tick_ns"]
            .as_f64()
            .filter(|t| *t > 0.0)
    }

    fn period(&self) -> Option<u64> {
        let bytes = self.meta["daq"]["clock"]["bytes"].as_u64()?;
        1u64.checked_shl(u32::try_from(bytes * 8).ok()?)
    }
}

/// The slaves of a recording of several slaves, from its metadata and one pass over its
/// notes.
#[derive(Debug, Clone)]
pub struct Slaves {
    /// In tag order.
    pub slaves: Vec<SlaveInfo>,
    /// Notes that could not be read (a damaged note, an unknown slave).
    pub bad_notes: u64,
    /// Frames tagged with no slave of the metadata.
    pub stray_frames: u64,
}

impl Slaves {
    /// Reads the slaves of `src`'s metadata and passes once over its frames for the notes
    /// and each slave's frame count.
    ///
    /// # Errors
    /// [`Error::Meta`] when the recording is not one of several slaves; the source's.
    pub fn scan(src: &mut dyn Source) -> Result<Self, Error> {
        let list = src.meta()["slaves"]
            .as_array()
            .ok_or_else(|| Error::Meta("the recording is not one of several slaves".into()))?
            .clone();
        let mut slaves: Vec<SlaveInfo> = list
            .into_iter()
            .enumerate()
            .map(|(i, meta)| {
                // The reading before DAQ started anchors the clock; notes add the others.
                let c = &meta["daq"]["clock"];
                let before = c["host_ns"]
                    .as_u64()
                    .zip(c["raw"].as_u64())
                    .map(|(host_ns, raw)| ClockPoint {
                        host_ns,
                        raw,
                        slave_ns: c["slave_ns"].as_f64(),
                        uncertainty_ns: c["uncertainty_ns"].as_u64().unwrap_or(0),
                    });
                SlaveInfo {
                    index: u8::try_from(i).unwrap_or(u8::MAX),
                    label: meta["label"].as_str().unwrap_or("").to_owned(),
                    meta,
                    frames: 0,
                    handed: None,
                    span: None,
                    clock: before.into_iter().collect(),
                    dropped_out: None,
                }
            })
            .collect();
        let (mut bad_notes, mut stray_frames) = (0, 0);
        src.each_frame(&mut |ns, bytes| {
            let Some((&tag, rest)) = bytes.split_first() else {
                stray_frames += 1;
                return Ok(());
            };
            if tag != NOTE_TAG {
                match slaves.get_mut(usize::from(tag)) {
                    Some(s) => {
                        s.frames += 1;
                        s.span = Some(s.span.map_or((ns, ns), |(a, _)| (a, ns)));
                    }
                    None => stray_frames += 1,
                }
                return Ok(());
            }
            let note: Json = serde_json::from_slice(rest).unwrap_or(Json::Null);
            let Some(s) = note["slave"]
                .as_u64()
                .and_then(|k| slaves.get_mut(usize::try_from(k).ok()?))
            else {
                bad_notes += 1;
                return Ok(());
            };
            match note["kind"].as_str() {
                Some("clock") => match (note["host_ns"].as_u64(), note["raw"].as_u64()) {
                    (Some(host_ns), Some(raw)) => s.clock.push(ClockPoint {
                        host_ns,
                        raw,
                        slave_ns: note["slave_ns"].as_f64(),
                        uncertainty_ns: note["uncertainty_ns"].as_u64().unwrap_or(0),
                    }),
                    _ => bad_notes += 1,
                },
                Some("dropped out") => {
                    let why = note["reason"].as_str().unwrap_or("no reason given");
                    s.dropped_out = Some((ns, why.to_owned()));
                }
                Some("end") => s.handed = note["frames"].as_u64(),
                _ => bad_notes += 1,
            }
            Ok(())
        })?;
        for s in &mut slaves {
            s.clock.sort_by_key(|c| c.host_ns);
            // The metadata's reading anchors the clock; the later ones remove its drift.
            if s.meta["daq"]["clock"].is_object() {
                s.meta["daq"]["clock_points"] =
                    s.clock.iter().map(|c| json!([c.host_ns, c.raw])).collect();
            }
        }
        Ok(Self {
            slaves,
            bad_notes,
            stray_frames,
        })
    }

    /// The slave labelled `label`.
    pub fn find(&self, label: &str) -> Option<&SlaveInfo> {
        self.slaves.iter().find(|s| s.label == label)
    }
}

/// One slave's frames of a recording of several, as a source of its own: its metadata (with
/// its clock readings), its DTOs without their tag; the time axis (the first frame) stays the
/// recording's, so every slave's exports share it.
pub struct SlaveView<'a> {
    inner: &'a mut dyn Source,
    tag: u8,
    meta: Json,
}

impl<'a> SlaveView<'a> {
    /// Slave `info`'s frames of `inner`.
    pub fn new(inner: &'a mut dyn Source, info: &SlaveInfo) -> Self {
        Self {
            inner,
            tag: info.index,
            meta: info.meta.clone(),
        }
    }
}

impl Source for SlaveView<'_> {
    fn meta(&self) -> &Json {
        &self.meta
    }

    fn first_ns(&self) -> Option<u64> {
        self.inner.first_ns()
    }

    fn each_frame(&mut self, each: &mut OnFrame<'_>) -> Result<u64, Error> {
        self.each_frame_between(0, None, each)
    }

    fn each_frame_between(
        &mut self,
        from: u64,
        until: Option<u64>,
        each: &mut OnFrame<'_>,
    ) -> Result<u64, Error> {
        let tag = self.tag;
        self.inner
            .each_frame_between(from, until, &mut |ns, bytes| match bytes.split_first() {
                Some((&t, rest)) if t == tag => each(ns, rest),
                _ => Ok(()),
            })
    }
}

/// Whether `label` can name a slave: 1 to 32 ASCII letters, digits, `_` or `-` (it becomes
/// part of column and file names).
pub fn label_ok(label: &str) -> bool {
    (1..=32).contains(&label.len())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `text` as a CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Appends one CSV cell: an integer without a conversion exactly from its bits (64-bit ones
/// included), else the physical value as the shortest decimal that reads back the same, or
/// the verbal table's text, quoted.
fn cell(line: &mut String, c: &crate::decode::Column, raw: f64, bytes: &[u8]) {
    use std::fmt::Write as _;
    let identical = matches!(c.compu.conversion, xcp_a2l::Conversion::Identical);
    if identical && !c.is_float() {
        let bits = c.raw_bits(bytes);
        let _ = if c.is_signed() {
            // Sign-extended from the element's width.
            let shift = 64 - 8 * u32::try_from(c.size).unwrap_or(8).min(8);
            write!(line, "{}", (bits.cast_signed() << shift) >> shift)
        } else {
            write!(line, "{bits}")
        };
        return;
    }
    if identical && c.size == 4 {
        // A float32 as the shortest decimal of its own width.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the value came from a float32"
        )]
        let _ = write!(line, "{}", raw as f32);
        return;
    }
    match c.compu.to_physical(raw) {
        Ok(xcp_a2l::Value::Number(x)) => {
            let _ = write!(line, "{x}");
        }
        Ok(xcp_a2l::Value::Text(t)) => {
            let _ = write!(line, "\"{}\"", t.replace('"', "\"\""));
        }
        Err(_) => line.push_str("NaN"),
    }
}

/// How long a row waits for rows of other slaves that belong before it (host arrival time):
/// the merged CSV is in time order as long as no slave's frames arrive later than this after
/// their timestamp (and fewer than [`REORDER_ROWS`] rows arrive meanwhile).
const REORDER_NS: u64 = 500_000_000;

/// Most rows the reorder buffer holds (memory: about 100 bytes a row); past it the earliest
/// goes out whatever its age.
const REORDER_ROWS: usize = 250_000;

/// A formatted row waiting in the reorder buffer: ordered by time, then by arrival.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    time: std::cmp::Reverse<(i128, u64)>,
    file: usize,
    line: String,
}

/// CSV export of a recording of several slaves: merged, `time_s,list,` then every slave's
/// columns as `LABEL.NAME [unit]`, rows in time order (`list` is `LABEL/NUMBER`); or one file
/// per slave and list, `<stem>.<label>.<list>.csv`. `time_s` is the slave's timestamp on the
/// host's axis (through its own clock readings) where the list has timestamps, else the
/// host's arrival time, in seconds from the recording's first frame.
pub(crate) fn csv_export(
    r: &mut dyn Source,
    output: &std::path::Path,
    layout: crate::csv::Layout,
) -> Result<crate::csv::CsvSummary, Error> {
    use std::io::Write as _;
    let slaves = Slaves::scan(r)?;
    let first = r.first_ns().unwrap_or(0);
    let mut decs = Vec::new();
    let mut clocks = Vec::new();
    for s in &slaves.slaves {
        let dec = crate::Decoder::new(&s.meta)
            .map_err(|e| Error::Meta(format!("slave {}: {e}", s.label)))?;
        clocks.push(
            dec.lists
                .iter()
                .map(|_| crate::mdf4::SlaveClock::from_meta(&s.meta))
                .collect::<Vec<_>>(),
        );
        decs.push(dec);
    }
    let header_of = |label: &str, c: &crate::decode::Column| {
        csv_cell(&if c.unit.is_empty() {
            format!("{label}.{}", c.name)
        } else {
            format!("{label}.{} [{}]", c.name, c.unit)
        })
    };
    // Per slave and list: the file it goes to and the column its first cell takes there.
    let mut place: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut outputs: Vec<(std::path::PathBuf, String)> = Vec::new();
    let mut columns = 0;
    let mut merged_header = String::from("time_s,list");
    for (s, dec) in slaves.slaves.iter().zip(&decs) {
        let mut own = Vec::new();
        let paths = if layout == crate::csv::Layout::PerList {
            let stem = output
                .file_stem()
                .map_or_else(|| "recording".into(), |x| x.to_string_lossy().into_owned());
            let beside = output.with_file_name(format!("{stem}.{}.csv", s.label));
            crate::outputs::list_files(&s.meta, &beside, dec.lists.len(), "csv")?
        } else {
            Vec::new()
        };
        for (li, l) in dec.lists.iter().enumerate() {
            let heads: Vec<String> = l.columns.iter().map(|c| header_of(&s.label, c)).collect();
            if let Some(path) = paths.get(li) {
                own.push((outputs.len(), 0));
                outputs.push((path.clone(), format!("time_s,{}\n", heads.join(","))));
            } else {
                own.push((0, columns));
                columns += heads.len();
                for h in heads {
                    merged_header.push(',');
                    merged_header.push_str(&h);
                }
            }
        }
        place.push(own);
    }
    if layout != crate::csv::Layout::PerList {
        merged_header.push('\n');
        outputs.push((output.to_owned(), merged_header));
    }
    let io_at = |path: &std::path::Path, what: &'static str| {
        let path = path.to_owned();
        move |source| Error::Io { path, what, source }
    };
    let mut files = Vec::new();
    for (path, header) in &outputs {
        let f = std::fs::File::create(path).map_err(io_at(path, "create"))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(header.as_bytes())
            .map_err(io_at(path, "write"))?;
        files.push(w);
    }
    let mut summary = crate::csv::CsvSummary::default();
    let mut per_file = vec![0u64; files.len()];
    let mut heap = std::collections::BinaryHeap::new();
    let mut seq = 0u64;
    let per_list = layout == crate::csv::Layout::PerList;
    let mut write_out = |p: Pending, files: &mut Vec<std::io::BufWriter<std::fs::File>>| {
        per_file[p.file] += 1;
        files[p.file]
            .write_all(p.line.as_bytes())
            .map_err(io_at(&outputs[p.file].0, "write"))
    };
    summary.damaged = r.each_frame(&mut |ns, bytes| {
        let Some((&tag, frame)) = bytes.split_first() else {
            return Ok(());
        };
        let k = usize::from(tag);
        let (Some(dec), Some(s)) = (decs.get_mut(k), slaves.slaves.get(k)) else {
            return Ok(());
        };
        let Some(row) = dec.frame(ns, frame) else {
            return Ok(());
        };
        let list = &dec.lists[row.list];
        let bytes = dec.row_bytes(row.list);
        let at = match (row.slave_ticks, clocks[k][row.list].as_mut()) {
            (Some(t), Some(c)) => c.host_ns(t, ns),
            _ => ns,
        };
        let (file, col) = place[k][row.list];
        let mut line = format!("{:.6}", crate::mdf4::seconds_since(at, first));
        if !per_list {
            line.push_str(&format!(",{}/{}", s.label, list.number));
            line.extend(std::iter::repeat_n(',', col));
        }
        for ((c, &raw), &at) in list.columns.iter().zip(&row.raw).zip(list.offsets()) {
            line.push(',');
            cell(&mut line, c, raw, bytes.get(at..).unwrap_or_default());
        }
        if !per_list {
            let after = columns - col - list.columns.len();
            line.extend(std::iter::repeat_n(',', after));
        }
        line.push('\n');
        seq += 1;
        heap.push(Pending {
            time: std::cmp::Reverse((i128::from(at), seq)),
            file,
            line,
        });
        // Rows whose time is well behind the latest arrival cannot be passed any more.
        let horizon = i128::from(ns) - i128::from(REORDER_NS);
        while heap
            .peek()
            .is_some_and(|p| p.time.0.0 < horizon || heap.len() > REORDER_ROWS)
        {
            if let Some(p) = heap.pop() {
                write_out(p, &mut files)?;
            }
        }
        Ok(())
    })?;
    while let Some(p) = heap.pop() {
        write_out(p, &mut files)?;
    }
    for (w, (path, _)) in files.into_iter().zip(&outputs) {
        w.into_inner().map_err(|e| Error::Io {
            path: path.clone(),
            what: "flush",
            source: e.into_error(),
        })?;
    }
    for d in &decs {
        summary.incomplete += d.incomplete;
        summary.unknown += d.unknown;
    }
    summary.rows = per_file.iter().sum();
    summary.files = outputs.into_iter().map(|(p, _)| p).zip(per_file).collect();
    Ok(summary)
}
