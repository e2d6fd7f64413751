//! Parameter sets against a slave: save every calibration object (or a subset) by name,
//! load a set with every check first and the fewest DOWNLOADs, read back, freeze.
//! The sets and their files are `xcp-cal`'s (re-exported as [`crate::calfile`]); this
//! module is the glue to the master.
//!
//! ```
//! use xcpkit::{LoadOptions, Options, Session, calfile::Format};
//! use xcpkit::a2l::Value;
//!
//! let ecu = xcpkit_ecu::InProcess::start_tcp("127.0.0.1:0".parse()?)?;
//! let mut s = Session::open(&ecu.url(), &Options::default())?;
//! s.load_a2l_from_slave()?;
//! let (set, _passed_over) = s.save_params(&|name: &str| name.ends_with("_rpm"))?;
//! let text = Format::Dcm.write(&set)?; // FESTWERT idle_rpm … WERT 800 …
//! let mut tuned = Format::Dcm.read(&text, "rpm.dcm")?;
//! tuned.params.iter_mut().find(|p| p.name == "idle_rpm").unwrap().values = vec![Value::Number(900.0)];
//! let report = s.load_params(&tuned, LoadOptions::default())?;
//! assert_eq!(report.plan.changes[0].to_string(), "idle_rpm: 800 → 900 rpm");
//! assert_eq!(report.downloads, 1);
//! assert_eq!(s.read("idle_rpm")?.to_string(), "900 rpm");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use xcp_cal::{Finding, Image, Memory, ParamSet, Plan};
use xcp_master::{Master, block_on};
use xcp_proto::Address;
use xcp_proto::bits::{cal_page_mode, pag_properties, segment_mode, session_status, set_request};

use crate::error::Error;
use crate::session::Session;

/// The slave's memory through UPLOAD.
struct SlaveMemory<'a>(&'a mut Master);

impl Memory for SlaveMemory<'_> {
    fn read(&mut self, at: xcp_a2l::Address, len: usize) -> Result<Vec<u8>, xcp_cal::Error> {
        block_on(self.0.upload(Address::new(at.ext, at.addr), len)).map_err(|e| {
            xcp_cal::Error::Memory {
                at: xcp_cal::address_text(at),
                len,
                reason: e.to_string(),
            }
        })
    }
}

/// Options of [`Session::load_params`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Check and plan only; write nothing.
    pub dry_run: bool,
    /// Load a set taken from another EPK (default: refused).
    pub ignore_epk: bool,
}

/// What a load did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The changes and writes.
    pub plan: Plan,
    /// DOWNLOAD sequences made (one per block; none for a dry run).
    pub downloads: usize,
    /// Bytes written.
    pub bytes: usize,
    /// XCP was switched to the working page (page 0) of every segment first.
    pub switched_to_working_page: bool,
}

/// What a freeze did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezeReport {
    /// Segments put in FREEZE mode first (0 when the slave does not offer freezing).
    pub frozen_segments: u8,
    /// How long until the slave reported the store done.
    pub took: Duration,
}

/// The A2L's file name; none for an A2L fetched from the slave.
fn a2l_file_name(a2l: &xcp_a2l::A2l) -> Option<String> {
    let name = a2l.path().file_name()?.to_string_lossy().into_owned();
    (name != "<text>").then_some(name)
}

fn cal_error(e: xcp_cal::Error) -> Error {
    Error::Cal(e)
}

fn refused(name: &str, reason: String) -> Error {
    Error::Cal(xcp_cal::Error::Refused(vec![Finding {
        name: name.to_owned(),
        reason,
    }]))
}

impl Session {
    /// The A2L and the master, borrowed together.
    fn parts(&mut self) -> Result<(&xcp_a2l::A2l, SlaveMemory<'_>), Error> {
        match self.a2l.as_ref() {
            Some(a2l) => Ok((a2l, SlaveMemory(&mut self.master))),
            None => Err(Error::Value {
                name: String::new(),
                reason: "no A2L: give one, or fetch it from the slave".to_owned(),
            }),
        }
    }

    fn origin(&self) -> xcp_cal::Origin {
        let a2l = self.a2l();
        xcp_cal::Origin {
            epk: self
                .slave_epk()
                .map(str::to_owned)
                .or_else(|| a2l.and_then(|a| a.epk()).map(|(e, _)| e)),
            module: a2l.map(|a| a.module_name().to_owned()),
            a2l: a2l.and_then(a2l_file_name),
        }
    }

    /// Reads every calibration object whose name `keep` accepts (CHARACTERISTIC VALUE,
    /// VAL_BLK, CURVE, MAP, ASCII and AXIS_PTS; sorted by name) into a parameter set with
    /// the slave's EPK. Returns the objects passed over (CUBOID, BLOB, …) too.
    ///
    /// # Errors
    /// No A2L, and the uploads' errors.
    pub fn save_params(
        &mut self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(ParamSet, Vec<Finding>), Error> {
        let origin = self.origin();
        let (a2l, mut mem) = self.parts()?;
        let (names, skipped) = xcp_cal::calibration_names(a2l, keep);
        let params = xcp_cal::read_params(a2l, &names, &mut mem).map_err(cal_error)?;
        Ok((ParamSet { origin, params }, skipped))
    }

    /// The calibration memory as an image: the A2L's DATA memory segments (else every
    /// calibration object's bytes) and the EPK.
    ///
    /// # Errors
    /// No A2L, and the uploads' errors.
    pub fn save_image(&mut self) -> Result<Image, Error> {
        let (a2l, mut mem) = self.parts()?;
        Image::read(a2l, &mut mem).map_err(cal_error)
    }

    /// Checks `set` against the slave's EPK; unless `options.dry_run`, switches XCP to the
    /// working page where the slave pages and XCP is elsewhere; checks the set against the
    /// A2L and the present values (all findings at once); then, unless a dry run, writes the
    /// changes in as few DOWNLOADs as the memory layout allows and reads them back.
    ///
    /// # Errors
    /// [`Error::Cal`] with every finding before anything is written; a failure midway says
    /// which objects were written and which not; a read-back that differs names the objects.
    pub fn load_params(
        &mut self,
        set: &ParamSet,
        options: LoadOptions,
    ) -> Result<LoadReport, Error> {
        if !options.ignore_epk
            && let (Some(file), Some(slave)) = (set.origin.epk.as_deref(), self.slave_epk())
        {
            let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_owned();
            if clean(file) != clean(slave) {
                return Err(refused(
                    "",
                    format!(
                        "the set was taken from EPK \"{file}\", the slave runs \"{slave}\": \
                         another software version (load anyway with --ignore-epk)"
                    ),
                ));
            }
        }
        self.parts()?;
        let mut report = LoadReport::default();
        if !options.dry_run {
            report.switched_to_working_page = self.working_page()?;
        }
        let (a2l, mut mem) = self.parts()?;
        report.plan = xcp_cal::plan_load(a2l, set, &mut mem).map_err(cal_error)?;
        if options.dry_run {
            return Ok(report);
        }
        let blocks = report.plan.blocks.clone();
        for (i, b) in blocks.iter().enumerate() {
            let at = Address::new(b.at.ext, b.at.addr);
            if let Err(e) = block_on(self.master().download(at, &b.bytes)) {
                let done: Vec<&str> = blocks[..i]
                    .iter()
                    .flat_map(|b| b.names.iter().map(String::as_str))
                    .collect();
                let rest: Vec<&str> = blocks[i..]
                    .iter()
                    .flat_map(|b| b.names.iter().map(String::as_str))
                    .collect();
                let list = |names: Vec<&str>| {
                    if names.is_empty() {
                        "nothing".to_owned()
                    } else {
                        names.join(", ")
                    }
                };
                return Err(Error::PartialLoad {
                    written: list(done),
                    not_written: list(rest),
                    reason: e.to_string(),
                });
            }
            report.downloads += 1;
            report.bytes += b.bytes.len();
        }
        for b in &blocks {
            let at = Address::new(b.at.ext, b.at.addr);
            let back = block_on(self.master().upload(at, b.bytes.len()))?;
            if back != b.bytes {
                return Err(Error::ReadBack {
                    names: b.names.join(", "),
                    at: xcp_cal::address_text(b.at),
                });
            }
        }
        Ok(report)
    }

    /// Makes XCP access the working page (0) of every segment, when the slave has paging and
    /// XCP is elsewhere. Returns whether it switched.
    fn working_page(&mut self) -> Result<bool, Error> {
        let m = self.master();
        let Ok((segments, _)) = block_on(m.get_pag_processor_info()) else {
            return Ok(false);
        };
        let mut elsewhere = false;
        for s in 0..segments {
            if block_on(m.get_cal_page(cal_page_mode::XCP, s)).is_ok_and(|p| p != 0) {
                elsewhere = true;
            }
        }
        if elsewhere {
            block_on(m.set_cal_page(
                cal_page_mode::ALL | cal_page_mode::ECU | cal_page_mode::XCP,
                0,
                0,
            ))?;
        }
        Ok(elsewhere)
    }

    /// Makes the slave keep its working page across a restart: every segment in FREEZE mode
    /// where the slave offers it, then SET_REQUEST STORE_CAL_REQ, waiting (at most
    /// `timeout`) until GET_STATUS no longer reports the store pending.
    ///
    /// # Errors
    /// The slave refuses (no non-volatile memory), or the store is still pending after
    /// `timeout`.
    pub fn freeze(&mut self, timeout: Duration) -> Result<FreezeReport, Error> {
        let start = Instant::now();
        let m = self.master();
        let mut frozen = 0;
        if let Ok((segments, props)) = block_on(m.get_pag_processor_info())
            && props & pag_properties::FREEZE_SUPPORTED != 0
        {
            // Segments without pages to freeze (an EPK in flash) refuse the mode; the others
            // take it.
            for s in 0..segments {
                match block_on(m.set_segment_mode(segment_mode::FREEZE, s)) {
                    Ok(()) => frozen += 1,
                    Err(xcp_master::Error::Negative { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        block_on(m.set_request(set_request::STORE_CAL_REQ, 0)).map_err(|e| Error::Value {
            name: String::new(),
            reason: format!(
                "SET_REQUEST STORE_CAL_REQ: {e} (the slave cannot store its calibration \
                 pages; the virtual ECU stores them with --persist DIR)"
            ),
        })?;
        loop {
            let st = block_on(m.get_status())?;
            if st.session_status & session_status::STORE_CAL_REQ == 0 {
                break;
            }
            if start.elapsed() > timeout {
                return Err(Error::Value {
                    name: String::new(),
                    reason: format!(
                        "the slave still reports STORE_CAL_REQ pending after {} ms",
                        timeout.as_millis()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(FreezeReport {
            frozen_segments: frozen,
            took: start.elapsed(),
        })
    }
}

/// A parameter set from a calibration memory image, through the A2L: every calibration
/// object `keep` accepts, with the EPK the image holds.
///
/// # Errors
/// The objects' errors; an image that lacks an object's bytes.
pub fn params_from_image(
    a2l: &xcp_a2l::A2l,
    image: &mut Image,
    keep: &dyn Fn(&str) -> bool,
) -> Result<(ParamSet, Vec<Finding>), Error> {
    let (names, skipped) = xcp_cal::calibration_names(a2l, keep);
    let params = xcp_cal::read_params(a2l, &names, image).map_err(cal_error)?;
    let origin = xcp_cal::Origin {
        epk: image.epk(a2l),
        module: Some(a2l.module_name().to_owned()),
        a2l: a2l_file_name(a2l),
    };
    Ok((ParamSet { origin, params }, skipped))
}
