//! Recording a measurement: every DTO, as received, into an `xcp-recorder` file whose
//! metadata describes the slave, the A2L and the DAQ layout with each signal's conversion.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use xcp_a2l::{Compu, Conversion};
use xcp_master::{DaqLayoutInfo, RawSink, block_on};
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
        let (measurement, correlation) = self.prepare_measure(names, options)?;
        block_on(self.master().select_daq())?;
        let layout = self
            .master()
            .daq_layout()
            .ok_or_else(|| Error::Measure("no DAQ layout after selecting the lists".into()))?;
        let meta = metadata(self, &layout, measurement.columns(), correlation);
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
