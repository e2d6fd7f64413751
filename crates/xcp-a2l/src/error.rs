//! Errors and warnings.

use std::path::PathBuf;

/// A problem the loader reported but could work around (lenient mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The message, with the file and line where `a2lfile` knows them.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read or parsed.
    #[error("cannot load {path}: {reason}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What `a2lfile` said, with the line where known.
        reason: String,
    },
    /// Strict mode: the file loaded, but with warnings.
    #[error("{path} has {} warning(s) in strict mode; the first: {}", warnings.len(), warnings.first().map_or("", |w| w.message.as_str()))]
    Strict {
        /// The file.
        path: PathBuf,
        /// All warnings.
        warnings: Vec<Warning>,
    },
    /// The file has no MODULE.
    #[error("{path} has no MODULE")]
    NoModule {
        /// The file.
        path: PathBuf,
    },
    /// The file has several MODULEs and nothing says which to use.
    #[error("{path} has {} MODULEs ({}); choose one with --module NAME", modules.len(), modules.join(", "))]
    AmbiguousModule {
        /// The file.
        path: PathBuf,
        /// Their names, in file order.
        modules: Vec<String>,
    },
    /// The MODULE asked for is not in the file.
    #[error("{path} has no MODULE \"{name}\"; it has {}", modules.join(", "))]
    UnknownModule {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names it has.
        modules: Vec<String>,
    },
    /// No object of that name.
    #[error("no object named \"{name}\" in the A2L{}", if similar.is_empty() { String::new() } else { format!("; similar: {}", similar.join(", ")) })]
    NotFound {
        /// The name looked up.
        name: String,
        /// Names that contain the looked-up name or share its start.
        similar: Vec<String>,
    },
    /// The object exists but the A2L describing it is broken (dangling reference, missing
    /// record layout, index out of range, …).
    #[error("\"{name}\": {reason}")]
    Invalid {
        /// The object (or path).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A conversion failed or has no inverse.
    #[error("conversion {compu}: {reason}")]
    Conversion {
        /// The COMPU_METHOD.
        compu: String,
        /// What failed.
        reason: String,
    },
    /// A value to write is outside the object's limits or its type's range.
    #[error("\"{name}\": {value} is out of range [{min}, {max}] ({what})")]
    OutOfRange {
        /// The object.
        name: String,
        /// The offending value.
        value: f64,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
        /// Which bound: the object's physical limits or the data type's raw range.
        what: &'static str,
    },
    /// The slave's EPK differs from the A2L's.
    #[error(
        "EPK mismatch: the A2L says {expected:?}, the slave says {actual:?}; the A2L does not describe the software on this ECU"
    )]
    EpkMismatch {
        /// EPK in the A2L.
        expected: String,
        /// EPK from the slave.
        actual: String,
    },
}
