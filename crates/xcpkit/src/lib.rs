//! # xcpkit: XCP by name and in physical units
//!
//! The facade over the xcpkit crates. A [`Session`] opens a slave by URL
//! (`tcp://127.0.0.1:5555`, `udp://…`), takes an A2L from a file or from the slave itself
//! (GET_ID 4) and checks its EPK, then reads and writes parameters by name in physical units
//! and measures signals by name over DAQ. Everything by address stays available through
//! [`Session::master`] (the `xcp-master` crate), and the layers are re-exported.
//!
//! ```
//! use xcpkit::{MeasureOptions, Options, Session};
//!
//! // A slave to talk to: the virtual ECU, served in this process (`xcpkit-ecu`).
//! let ecu = xcpkit_ecu::InProcess::start_tcp("127.0.0.1:0".parse()?)?;
//! let mut s = Session::open(&ecu.url(), &Options::default())?; // tcp://127.0.0.1:PORT
//! s.load_a2l_from_slave()?;
//! println!("engine speed {}", s.read("engine_speed")?);
//! s.write_str("idle_rpm", "900")?;
//! assert_eq!(s.read("idle_rpm")?.to_string(), "900 rpm");
//! let m = s.measure(&["engine_speed", "throttle"], MeasureOptions::default())?;
//! if let Some(rows) = m.recv(std::time::Duration::from_secs(1))? {
//!     println!("{} rows", rows.len());
//! }
//! s.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/` holds the same against the in-process ECU at more length: `measure`,
//! `calibrate`, `record`, and `two_slaves_tokio` (the master's `async` methods on a tokio
//! runtime, two slaves at once).

pub mod cal;
mod error;
mod record;
mod session;

pub use cal::{FreezeReport, LoadOptions, LoadReport};
pub use error::{Error, Kind, master_kind};
pub use record::{RecordGroup, RecordPart, Recording, SlaveRecording};
pub use session::{
    Column, MeasureOptions, Measurement, Options, PhysRow, Reading, Session, Target,
};
pub use {
    xcp_a2l as a2l, xcp_cal as calfile, xcp_master as master, xcp_proto as proto,
    xcp_recorder as recorder,
};
