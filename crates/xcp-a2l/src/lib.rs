//! # xcp-a2l: names become addresses, layouts and engineering units
//!
//! The A2L layer of xcpkit, on top of [`a2lfile`]. It loads any A2L (ASAP2 1.5x–1.71,
//! `/include` followed, A2ML from the file or, for files without one, the built-in XCP
//! grammar [`xcp_proto::a2ml::XCP_A2ML`]), leniently by default with the warnings kept, or
//! strictly with every warning an error. Then it resolves objects by name in O(1)
//! (MEASUREMENT, CHARACTERISTIC of every kind, AXIS_PTS, BLOB, and INSTANCE paths such as
//! `inst.member[3].x`) into an [`Object`]: address and extension, data type, byte order,
//! dimensions, record layout with axis descriptions, conversion, unit, limits, writability
//! and the events it may be measured on.
//!
//! Conversions ([`Compu`]) go both ways: IDENTICAL, LINEAR, RAT_FUNC (whose coefficients map
//! physical to raw), TAB_INTP, TAB_NOINTP, TAB_VERB with COMPU_VTAB and COMPU_VTAB_RANGE,
//! FORM (our own evaluator, [`formula`], with FORMULA_INV) and STATUS_STRING_REF.
//! [`Object::encode`] checks the limits and the data type's range before it writes.
//! [`A2l::xcp`] reads `IF_DATA XCP` into types: protocol layer, DAQ and events, PAG, and the
//! TCP, UDP, CAN (IDs named by direction), SxI and USB transport blocks. [`A2l::check_epk`]
//! compares the A2L's EPK with the slave's.
//!
//! This crate does no I/O beyond reading the file; it knows nothing of masters or sockets.
//!
//! ```
//! use xcp_a2l::{A2l, LoadOptions, Value};
//!
//! let text = xcp_a2l::synth::Spec { measurements: 2, characteristics: 1, ..Default::default() }.generate();
//! let (a2l, warnings) = A2l::from_text(&text, &LoadOptions::default()).expect("loads");
//! assert!(warnings.is_empty());
//! let m = a2l.object("meas_1").expect("resolves");
//! let raw = m.compu.to_raw(&Value::Number(12.5)).expect("invertible");
//! assert_eq!(m.compu.to_physical(raw).expect("converts"), Value::Number(12.5));
//! ```

mod conversion;
mod datatype;
mod error;
pub mod formula;
pub mod ifdata;
mod include;
mod model;
mod symbols;
pub mod synth;

pub use conversion::{Compu, Conversion, Value, VerbTable};
pub use error::{Error, Warning};
pub use include::includes;
pub use model::{A2l, Address, Axis, Counts, Layout, LayoutItem, LoadOptions, Object, ObjectKind};
pub use symbols::{AddressUpdate, Resolved, Unresolved, update_addresses};
pub use xcp_proto::{ElementOrder, ElementType};
