//! Recording a measurement: every DTO, as received, into an `xcp-recorder` file whose
//! metadata describes the slave, the A2L and the DAQ layout with each signal's conversion.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde_json::{Value as Json, json};
use xcp_a2l::{Compu, Conversion};
use xcp_master::{DaqLayoutInfo, RawSink, block_on};
use xcp_recorder::multi::SharedRecorder;
use xcp_recorder::{Recorder, Summary, WriterOptions};

use crate::error::Error;
use crate::session::{Column, MeasureOptions, Measurement, Session};

/// A conversion as JSON, for readers of the recording that have no A2L.
pub(crate) fn conversion_json(c: &Compu) -> Json {
    let mut v = match &c.conversion {
        Conversion::Identical => json!({ "kind": "IDENTICAL" }),
        Conversion::Linear { a, b } => json!({ "kind": "LINEAR", "a": a, "b": b }),
        Conversion::RatFunc { coeffs } => json!({ "kind": "RAT_FUNC", "coeffs": coeffs }),
        Conversion::TabIntp { table, default } => {
            json!({ "kind": "TAB_INTP", "table": table, "default": default })
        }
        Conversion::TabNoIntp { table, default } => {
            json!({ "kind": "TAB_NOINTP", "table": table, "default": default })
        }
        Conversion::TabVerb(t) => json!({
            "kind": "TAB_VERB",
            "entries": t.entries.iter().map(|(lo, hi, s)| json!([lo, hi, s])).collect::<Vec<_>>(),
            "default": t.default,
        }),
        Conversion::Form { formula, inverse } => json!({
            "kind": "FORM",
            "formula": formula.to_string(),
            "inverse": inverse.as_ref().map(ToString::to_string),
        }),
        _ => json!({ "kind": c.kind() }),
    };
    v["name"] = json!(c.name);
    v["unit"] = json!(c.unit);
    v
}

/// The metadata of a recording.
pub(crate) fn metadata(
    session: &Session,
    layout: &DaqLayoutInfo,
    columns: &[Vec<Column>],
    correlation: Option<xcp_master::ClockCorrelation>,
) -> Json {
    let a2l = session.a2l().map(|a| {
        let crc = session.a2l_crc().map(|c| format!("{c:08x}"));
        json!({
            "module": a.module_name(),
            "file": a.path().display().to_string(),
            "crc32": crc,
            "epk": a.epk().map(|(e, _)| e),
            "dialect": format!("{:?}", a.dialect()),
        })
    });
    let lists: Vec<Json> = layout
        .lists
        .iter()
        .zip(columns)
        .map(|(l, cols)| {
            json!({
                "number": l.number,
                "first_pid": l.first_pid,
                "event": l.request.event,
                "timestamps": l.request.timestamps,
                "odts": l.odts.iter().map(|o| o.iter().map(|(s, off, n)| json!([s, off, n])).collect::<Vec<_>>()).collect::<Vec<_>>(),
                "signals": l.request.signals.iter().zip(cols).map(|(s, c)| json!({
                    "name": s.name,
                    "type": s.ty.name(),
                    "byte_order": format!("{:?}", s.order),
                    "ext": s.addr.ext,
                    "address": s.addr.addr,
                    "unit": c.unit,
                    "conversion": conversion_json(c.compu()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "format": "xcpkit recording 1",
        "created_unix_ns": xcp_master::time::host_now_ns(),
        "slave": {
            "transport": session.target().to_string(),
            "epk": session.slave_epk(),
        },
        "a2l": a2l,
        "daq": {
            "byte_order": format!("{:?}", layout.params.byte_order),
            "id_field": format!("{:?}", layout.params.daq.id_field),
            "timestamp_bytes": layout.params.daq.timestamp.len(),
            "overload_pid_msb": layout.params.daq.overload_pid_msb,
            "tick_ns": layout.tick_ns,
            "clock": correlation.map(|c| json!({
                "host_ns": c.host_ns, "raw": c.raw, "tick_ns": c.tick_ns, "bytes": c.size,
                "uncertainty_ns": c.uncertainty_ns,
            })),
            "lists": lists,
        },
    })
}

/// Hands every DTO to the recorder on the master's receive thread; closing happens when the
/// sink is dropped (the master removes it), and the summary travels back.
struct RecSink {
    rec: Option<Recorder>,
    done: mpsc::Sender<Result<Summary, xcp_recorder::Error>>,
}

impl RawSink for RecSink {
    fn frame(&mut self, host_ns: u64, packet: &[u8]) {
        if let Some(r) = self.rec.as_mut() {
            r.push(host_ns, packet);
        }
    }

    fn tick(&mut self) {
        if let Some(r) = self.rec.as_mut() {
            r.tick();
        }
    }
}

impl Drop for RecSink {
    fn drop(&mut self) {
        if let Some(r) = self.rec.take() {
            let _ = self.done.send(r.close());
        }
    }
}

/// A measurement being recorded.
#[derive(Debug)]
pub struct Recording {
    measurement: Measurement,
    done: mpsc::Receiver<Result<Summary, xcp_recorder::Error>>,
    path: PathBuf,
}

impl Recording {
    /// The live measurement (rows in physical units while recording).
    pub const fn measurement(&self) -> &Measurement {
        &self.measurement
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops DAQ, lets the recorder drain and close the file, and returns what it wrote.
    ///
    /// # Errors
    /// The master's errors; the recorder's I/O errors.
    pub fn finish(self, session: &mut Session) -> Result<Summary, Error> {
        let stopped = session.stop();
        session.master().set_raw_sink(None);
        let summary = self
            .done
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| Error::Measure("the recorder did not close within 60 s".into()))?
            .map_err(|e| Error::Measure(format!("recording: {e}")))?;
        stopped?;
        Ok(summary)
    }
}

impl Session {
    /// The lists of `names` written to the slave and selected (so every PID is known), and the
    /// recording's metadata for them; the clock correlation, if one was made.
    fn prepare_recording(
        &mut self,
        names: &[&str],
        options: MeasureOptions,
    ) -> Result<(Measurement, Json, Option<xcp_master::ClockCorrelation>), Error> {
        let (measurement, correlation) = self.prepare_measure(names, options)?;
        block_on(self.master().select_daq())?;
        let layout = self
            .master()
            .daq_layout()
            .ok_or_else(|| Error::Measure("no DAQ layout after selecting the lists".into()))?;
        let meta = metadata(self, &layout, measurement.columns(), correlation);
        Ok((measurement, meta, correlation))
    }

    /// Measures `names` like [`Session::measure`] and records every DTO into `path`.
    ///
    /// # Errors
    /// As [`Session::measure`]; the file cannot be created.
    pub fn record(
        &mut self,
        names: &[&str],
        path: &Path,
        options: MeasureOptions,
        writer: WriterOptions,
    ) -> Result<Recording, Error> {
        let (measurement, meta, _) = self.prepare_recording(names, options)?;
        let rec = Recorder::create(path, &meta, writer)
            .map_err(|e| Error::Measure(format!("recording: {e}")))?;
        let (done_tx, done) = mpsc::channel();
        self.master().set_raw_sink(Some(Box::new(RecSink {
            rec: Some(rec),
            done: done_tx,
        })));
        block_on(self.master().start_stop_synch(1))?;
        Ok(Recording {
            measurement,
            done,
            path: path.to_owned(),
        })
    }
}

/// Hands one slave's DTOs to a recording of several slaves, tagged with the slave's index;
/// when the master drops it (the sink removed, or the link's reader ended) it notes how many
/// frames it handed over, so a reader can tell what the writer dropped.
struct TaggedSink {
    shared: SharedRecorder,
    tag: u8,
    end: Arc<End>,
    /// The DTOs of the current read of the link (arrival, length; bytes), handed to the
    /// shared writer at once after it, so two slaves' readers seldom wait for each other.
    frames: Vec<(u64, u32)>,
    bytes: Vec<u8>,
}

/// Bytes a sink gathers before it hands them on even within one read.
const SINK_BATCH: usize = 64 << 10;

impl TaggedSink {
    fn hand_on(&mut self) {
        if !self.frames.is_empty() {
            let n = self.frames.len() as u64;
            self.end.handed.fetch_add(n, Ordering::Release);
            self.shared.push_many(self.tag, &self.frames, &self.bytes);
            self.frames.clear();
            self.bytes.clear();
        }
    }
}

/// How a slave's part ends: the frames its sink handed over, noted once (by the sink when the
/// master drops it, or by [`SlaveRecording::drop_out`] for a slave whose link's reader may
/// never drop it).
#[derive(Debug)]
struct End {
    handed: AtomicU64,
    noted: AtomicBool,
    live: Arc<AtomicUsize>,
}

impl End {
    /// Writes the `end` note of slave `tag`, once.
    fn note(&self, shared: &SharedRecorder, tag: u8) {
        if self.noted.swap(true, Ordering::AcqRel) {
            return;
        }
        shared.note(
            tag,
            xcp_master::time::host_now_ns(),
            "end",
            json!({ "frames": self.handed.load(Ordering::Acquire) }),
        );
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RawSink for TaggedSink {
    fn frame(&mut self, host_ns: u64, packet: &[u8]) {
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        self.frames.push((host_ns, len));
        self.bytes.extend_from_slice(packet);
        if self.bytes.len() >= SINK_BATCH {
            self.hand_on();
        }
    }

    /// After every read of the link: what it brought goes to the writer.
    fn tick(&mut self) {
        self.hand_on();
        self.shared.tick();
    }
}

impl Drop for TaggedSink {
    fn drop(&mut self) {
        self.hand_on();
        self.end.note(&self.shared, self.tag);
    }
}

/// One slave's part of a recording of several slaves, before it starts: the lists are on the
/// slave, the clock read ([`Session::record_part`]).
#[derive(Debug)]
pub struct RecordPart {
    label: String,
    measurement: Measurement,
    meta: Json,
    /// Whether the slave's clock is read (it has one, and its lists carry timestamps).
    clocked: bool,
}

impl RecordPart {
    /// The slave's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The live measurement.
    pub const fn measurement(&self) -> &Measurement {
        &self.measurement
    }
}

impl Session {
    /// Prepares this slave's part of a recording of several slaves (see [`RecordGroup`]):
    /// `names` measured as [`Session::measure`] does, the lists written to the slave, its
    /// clock read (GET_DAQ_CLOCK); DAQ starts with [`RecordGroup::start`].
    ///
    /// # Errors
    /// As [`Session::measure`]; [`Error::Value`] for a label that cannot name a slave (1 to
    /// 32 letters, digits, `_` or `-`).
    pub fn record_part(
        &mut self,
        label: &str,
        names: &[&str],
        options: MeasureOptions,
    ) -> Result<RecordPart, Error> {
        if !xcp_recorder::multi::label_ok(label) {
            return Err(Error::Value {
                name: label.to_owned(),
                reason: "a slave's label is 1 to 32 letters, digits, `_` or `-`".into(),
            });
        }
        let (measurement, mut meta, correlation) = self.prepare_recording(names, options)?;
        meta["label"] = json!(label);
        if correlation.is_some() {
            // The reading before DAQ starts, with the whole slave clock (its offset from the
            // host's), anchors the slave's clock in the recording.
            let mut clock = read_clock(self, 16)?;
            clock["tick_ns"] = json!(correlation.map(|c| c.tick_ns));
            clock["bytes"] = json!(correlation.map(|c| c.size));
            meta["daq"]["clock"] = clock;
        }
        if let Some(o) = meta.as_object_mut() {
            o.remove("format");
            o.remove("created_unix_ns");
        }
        Ok(RecordPart {
            label: label.to_owned(),
            measurement,
            meta,
            clocked: correlation.is_some(),
        })
    }
}

/// A recording of several slaves in one file, one writer for all: each slave's DTOs tagged
/// with its index, its clock read before, during ([`SlaveRecording::read_clock`]) and after,
/// so every frame maps onto the host's time axis through its own slave's clock, drift
/// removed. The parts are sessions of their own (any transports), each driven from wherever
/// the caller likes (a thread each): nothing is global.
///
/// ```
/// use std::time::Duration;
/// use xcpkit::recorder::multi::Slaves;
/// use xcpkit::recorder::{Reader, WriterOptions};
/// use xcpkit::{MeasureOptions, Options, RecordGroup, Session};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Two virtual ECUs in this process; any URLs do (tcp://, udp://, can://, …).
/// let front = xcpkit_ecu::InProcess::start_tcp("127.0.0.1:0".parse()?)?;
/// let rear = xcpkit_ecu::InProcess::start_tcp("127.0.0.1:0".parse()?)?;
/// let mut a = Session::open(&front.url(), &Options::default())?;
/// let mut b = Session::open(&rear.url(), &Options::default())?;
/// a.load_a2l_from_slave()?;
/// b.load_a2l_from_slave()?;
/// let pa = a.record_part("front", &["counter_1ms"], MeasureOptions::default())?;
/// let pb = b.record_part("rear", &["counter_1ms", "engine_speed"], MeasureOptions::default())?;
/// let path = std::env::temp_dir().join(format!("group-{}.xcprec", std::process::id()));
/// let (group, mut parts) =
///     RecordGroup::start(&path, vec![(&mut a, pa), (&mut b, pb)], WriterOptions::default())?;
/// std::thread::sleep(Duration::from_millis(300));
/// // While recording: each slave's clock at a bounded interval (a thread per slave will do).
/// parts[0].read_clock(&mut a)?;
/// parts[1].read_clock(&mut b)?;
/// std::thread::sleep(Duration::from_millis(300));
/// parts[0].finish(&mut a)?;
/// parts[1].finish(&mut b)?;
/// group.close()?;
///
/// let mut r = Reader::open(&path)?;
/// let slaves = Slaves::scan(&mut r)?;
/// let rear = slaves.find("rear").expect("the rear slave");
/// assert!(rear.frames > 400);
/// assert_eq!(rear.lost(), Some(0));
/// assert_eq!(rear.clock.len(), 3); // before, during, after
/// # std::fs::remove_file(&path).ok();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RecordGroup {
    shared: SharedRecorder,
    live: Arc<AtomicUsize>,
    path: PathBuf,
}

/// One slave of a [`RecordGroup`] while it records.
#[derive(Debug)]
pub struct SlaveRecording {
    index: u8,
    label: String,
    shared: SharedRecorder,
    measurement: Measurement,
    ended: bool,
    end: Arc<End>,
    clocked: bool,
}

/// Writes a GET_DAQ_CLOCK reading of `session` (the best of `samples`) as a clock note of
/// slave `tag`.
fn note_clock(
    shared: &SharedRecorder,
    tag: u8,
    session: &mut Session,
    samples: usize,
) -> Result<(), Error> {
    let clock = read_clock(session, samples)?;
    let host_ns = clock["host_ns"].as_u64().unwrap_or(0);
    shared.note(tag, host_ns, "clock", clock);
    Ok(())
}

/// A GET_DAQ_CLOCK reading of `session` (the best of `samples`) as a recording stores it:
/// host time, ticks cut to the timestamp width, the whole reading in nanoseconds, and how far
/// off it can be.
fn read_clock(session: &mut Session, samples: usize) -> Result<Json, Error> {
    let (c, whole) = block_on(session.master().read_clock(samples))?;
    #[allow(
        clippy::cast_precision_loss,
        reason = "the whole reading in nanoseconds, for display"
    )]
    let slave_ns = whole as f64 * c.tick_ns;
    Ok(json!({
        "host_ns": c.host_ns, "raw": c.raw, "slave_ns": slave_ns,
        "uncertainty_ns": c.uncertainty_ns,
    }))
}

impl RecordGroup {
    /// Creates `path` with every part's metadata, installs each session's sink and starts
    /// DAQ on each, in order. The group (to close the file) and each slave's recording.
    ///
    /// # Errors
    /// Two parts with one label; the file cannot be created; a slave refuses to start (DAQ is
    /// stopped again on those that started, and the file closed).
    pub fn start(
        path: &Path,
        parts: Vec<(&mut Session, RecordPart)>,
        writer: WriterOptions,
    ) -> Result<(Self, Vec<SlaveRecording>), Error> {
        let metas: Vec<Json> = parts.iter().map(|(_, p)| p.meta.clone()).collect();
        let shared = SharedRecorder::create(path, metas, writer)
            .map_err(|e| Error::Measure(format!("recording: {e}")))?;
        let group = Self {
            shared,
            live: Arc::new(AtomicUsize::new(0)),
            path: path.to_owned(),
        };
        let mut started: Vec<(&mut Session, SlaveRecording)> = Vec::new();
        for (i, (session, part)) in parts.into_iter().enumerate() {
            let tag = u8::try_from(i).unwrap_or(u8::MAX);
            group.live.fetch_add(1, Ordering::AcqRel);
            let end = Arc::new(End {
                handed: AtomicU64::new(0),
                noted: AtomicBool::new(false),
                live: Arc::clone(&group.live),
            });
            session.master().set_raw_sink(Some(Box::new(TaggedSink {
                shared: group.shared.clone(),
                tag,
                end: Arc::clone(&end),
                frames: Vec::new(),
                bytes: Vec::new(),
            })));
            let rec = SlaveRecording {
                index: tag,
                label: part.label,
                shared: group.shared.clone(),
                measurement: part.measurement,
                ended: false,
                end,
                clocked: part.clocked,
            };
            if let Err(e) = block_on(session.master().start_stop_synch(1)) {
                session.master().set_raw_sink(None);
                for (s, mut r) in started {
                    let _ = r.finish(s);
                }
                let _ = group.close();
                return Err(e.into());
            }
            started.push((session, rec));
        }
        Ok((group, started.into_iter().map(|(_, r)| r).collect()))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames the writer dropped so far because it fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped()
    }

    /// Closes the file once every slave's sink is gone (waiting up to 2 s for the masters to
    /// drop them) and returns what it holds.
    ///
    /// # Errors
    /// The recorder's I/O errors.
    pub fn close(self) -> Result<Summary, Error> {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.live.load(Ordering::Acquire) > 0 && std::time::Instant::now() < deadline {
            std::thread::park_timeout(Duration::from_millis(5));
        }
        self.shared
            .close()
            .map_err(|e| Error::Measure(format!("recording: {e}")))
    }
}

impl SlaveRecording {
    /// The slave's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The live measurement (rows in physical units while recording).
    pub const fn measurement(&self) -> &Measurement {
        &self.measurement
    }

    /// Reads the slave's clock (GET_DAQ_CLOCK, the best of 4 round trips) into the recording;
    /// call it at a bounded interval while recording (the command line: every second), so
    /// drift is removed. A slave without a clock (or whose lists carry no timestamps) is
    /// asked GET_STATUS instead, which only says it still answers. An error means the slave
    /// did not answer: note it with [`drop_out`](Self::drop_out).
    ///
    /// # Errors
    /// The master's.
    pub fn read_clock(&self, session: &mut Session) -> Result<(), Error> {
        if self.clocked {
            note_clock(&self.shared, self.index, session, 4)
        } else {
            block_on(session.master().get_status())?;
            Ok(())
        }
    }

    /// Ends this slave's part with a note saying why (it stopped answering); the others go on.
    /// DAQ is not stopped (the slave is gone); the sink is removed.
    pub fn drop_out(&mut self, session: &mut Session, reason: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.shared.note(
            self.index,
            xcp_master::time::host_now_ns(),
            "dropped out",
            json!({ "reason": reason }),
        );
        session.master().set_raw_sink(None);
        // The link's reader may be gone with its sink still held: nothing more arrives.
        self.end.note(&self.shared, self.index);
    }

    /// Stops DAQ, removes the sink and reads the clock once more (the last reading of the
    /// drift). Does nothing after [`drop_out`](Self::drop_out).
    ///
    /// # Errors
    /// The master's (the slave's part is complete all the same).
    pub fn finish(&mut self, session: &mut Session) -> Result<(), Error> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        let stopped = session.stop();
        session.master().set_raw_sink(None);
        let clock = if self.clocked {
            note_clock(&self.shared, self.index, session, 8)
        } else {
            Ok(())
        };
        stopped?;
        clock
    }

    /// Whether the slave's clock is read (else its rows are timed by their arrival).
    pub const fn clocked(&self) -> bool {
        self.clocked
    }

    /// Whether this slave's part has ended.
    pub const fn ended(&self) -> bool {
        self.ended
    }
}
