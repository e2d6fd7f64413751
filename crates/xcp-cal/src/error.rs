//! What can go wrong with parameter sets and their files.

use std::path::PathBuf;

/// An error of this crate; each says what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file's contents are not what its format says.
    #[error("{file}, line {line}: {reason}")]
    Syntax {
        /// The file (or `<text>`).
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file name says no format this crate knows.
    #[error("{0}: unknown calibration file type (use .dcm, .cdfx, .json, .hex or .bin)")]
    UnknownFormat(String),
    /// An image file (HEX, raw) needs the A2L to become a parameter set, or the reverse.
    #[error("{0} needs the A2L (--a2l FILE)")]
    NeedsA2l(&'static str),
    /// Memory could not be read or written.
    #[error("memory at {at}, {len} byte(s): {reason}")]
    Memory {
        /// Where (`0x00012340 ext 0`).
        at: String,
        /// How many bytes.
        len: usize,
        /// Why.
        reason: String,
    },
    /// An object of the A2L cannot be handled.
    #[error(transparent)]
    A2l(#[from] xcp_a2l::Error),
    /// The parameter set does not fit the A2L or the ECU: every finding at once.
    #[error("{}", findings_text(.0))]
    Refused(Vec<Finding>),
}

fn findings_text(f: &[Finding]) -> String {
    let mut s = format!("{} problem(s), nothing was written:", f.len());
    for x in f {
        s.push_str("\n  ");
        s.push_str(&x.to_string());
    }
    s
}

/// One reason a parameter set cannot be loaded or saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The object (empty for the whole set).
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.name, self.reason)
        }
    }
}
