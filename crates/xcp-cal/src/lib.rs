//! Calibration parameter sets: every CHARACTERISTIC and AXIS_PTS of an A2L (or a subset)
//! with its physical values, axes, units and texts, and the EPK it was taken with.
//!
//! - [`read_params`] takes a set from memory through the A2L ([`Memory`]: a slave, an
//!   [`Image`]); [`plan_load`] checks a set against the A2L and the present values and
//!   works out the fewest writes, before anything is written.
//! - Files: [`dcm`] (DAMOS DCM 2.0), [`cdfx`] (ASAM CDF 2.0), [`json`], and calibration
//!   memory images ([`Image`], Intel HEX or raw); [`Format`] picks one by file name.
//! - [`ParamSet::diff`] lists what differs, value by value.
//!
//! No I/O beyond what the caller hands in: the facade (`xcpkit::cal`) connects it to a slave.
//!
//! ```
//! use xcp_cal::{dcm, json, Kind, Param, ParamSet};
//! use xcp_a2l::Value;
//!
//! let set = ParamSet {
//!     params: vec![Param {
//!         name: "idle_rpm".into(),
//!         kind: Kind::Value,
//!         comment: "idle engine speed".into(),
//!         unit: "rpm".into(),
//!         dims: vec![],
//!         values: vec![Value::Number(800.0)],
//!         text: None,
//!         axes: vec![],
//!     }],
//!     ..ParamSet::default()
//! };
//! let text = dcm::write(&set);
//! assert!(text.contains("FESTWERT idle_rpm"));
//! assert_eq!(dcm::read(&text, "x.dcm").unwrap(), set);
//! assert_eq!(json::read(&json::write(&set), "x.json").unwrap(), set);
//! ```

pub mod cdfx;
pub mod dcm;
mod error;
mod image;
pub mod json;
mod memory;
mod set;

pub use error::{Error, Finding};
pub use image::{Image, regions};
pub use memory::{
    Block, Memory, Plan, address_text, calibration_names, kind_of, plan_load, read_params,
};
pub use set::{
    Axis, AxisSource, Difference, Kind, Origin, Param, ParamSet, TOLERANCE, axis_letter, dims_text,
    same_value,
};

/// A calibration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// DAMOS DCM 2.0 (`.dcm`).
    Dcm,
    /// ASAM CDF 2.0 (`.cdfx`, `.cdf`, `.xml`).
    Cdfx,
    /// JSON (`.json`).
    Json,
    /// Intel HEX memory image (`.hex`, `.ihex`); S-records are read too (`.s19`, `.srec`).
    Hex,
    /// Raw binary memory image (`.bin`), starting at the lowest calibration address.
    Raw,
}

impl Format {
    /// The format a file name's extension says.
    ///
    /// # Errors
    /// [`Error::UnknownFormat`].
    pub fn of(path: &std::path::Path) -> Result<Self, Error> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "dcm" => Self::Dcm,
            "cdfx" | "cdf" | "xml" => Self::Cdfx,
            "json" => Self::Json,
            "hex" | "ihex" | "s19" | "srec" | "mot" => Self::Hex,
            "bin" | "raw" => Self::Raw,
            _ => return Err(Error::UnknownFormat(path.display().to_string())),
        })
    }

    /// Whether the format is a memory image (it needs the A2L to become a parameter set).
    pub const fn is_image(self) -> bool {
        matches!(self, Self::Hex | Self::Raw)
    }

    /// Reads a parameter-set file's text (not an image).
    ///
    /// # Errors
    /// [`Error::Syntax`]; [`Error::NeedsA2l`] for an image.
    pub fn read(self, text: &str, file: &str) -> Result<ParamSet, Error> {
        let mut set = match self {
            Self::Dcm => dcm::read(text, file)?,
            Self::Cdfx => cdfx::read(text, file)?,
            Self::Json => json::read(text, file)?,
            Self::Hex | Self::Raw => return Err(Error::NeedsA2l("a memory image")),
        };
        set.fill_shared_axes();
        Ok(set)
    }

    /// Writes a parameter set as text (not an image).
    ///
    /// # Errors
    /// [`Error::NeedsA2l`] for an image.
    pub fn write(self, set: &ParamSet) -> Result<String, Error> {
        match self {
            Self::Dcm => Ok(dcm::write(set)),
            Self::Cdfx => Ok(cdfx::write(set)),
            Self::Json => Ok(json::write(set)),
            Self::Hex | Self::Raw => Err(Error::NeedsA2l("a memory image")),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Dcm => "DCM",
            Self::Cdfx => "CDFX",
            Self::Json => "JSON",
            Self::Hex => "Intel HEX",
            Self::Raw => "raw binary",
        })
    }
}
