//! Setup errors. Protocol errors never appear here: they are `ERR` packets on the wire.

use std::path::PathBuf;

/// Why the slave could not be set up or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two objects (events, segments, measurements, characteristics) share a name.
    #[error("duplicate name {0:?}: names of events, segments and A2L objects must be unique")]
    Duplicate(String),
    /// A name is empty or is not an A2L identifier.
    #[error("invalid name {0:?}: use letters, digits, '_' and '.', starting with a letter or '_'")]
    InvalidName(String),
    /// Something is larger than the address scheme or the configuration allows.
    #[error("{what} is {size} bytes, the limit is {max}")]
    TooLarge {
        /// What was too large.
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More objects than the address scheme can number.
    #[error("too many {what}: at most {max}")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A calibration type needs an alignment above 8 bytes.
    #[error("calibration segment {0:?}: the type needs an alignment above 8 bytes")]
    Alignment(String),
    /// A reference to an object that was not registered (an axis, a segment, an event).
    #[error("{what} {name:?} is not registered")]
    Unknown {
        /// Kind of object.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// An object lies outside its segment or instance.
    #[error("{name:?}: offset {offset} + {size} bytes lies outside {region} ({len} bytes)")]
    OutOfRegion {
        /// Object name.
        name: String,
        /// Offset.
        offset: usize,
        /// Size.
        size: usize,
        /// Region name.
        region: String,
        /// Region length.
        len: usize,
    },
    /// The configuration contradicts itself.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing a persistence file failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("could not start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}
