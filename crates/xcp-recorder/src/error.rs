//! Errors of the recorder, naming the file, block and offset involved.

use std::path::PathBuf;

/// A recorder error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("{}: cannot {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was attempted.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a recording, or its header is damaged.
    #[error("{} is not a readable recording: {reason}", path.display())]
    NotARecording {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A block is damaged; the blocks around it are still readable.
    #[error("block {block} at byte offset {offset} is damaged: {reason}")]
    Corrupt {
        /// Block number.
        block: usize,
        /// Its offset in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The metadata cannot be written or read.
    #[error("metadata: {0}")]
    Meta(String),
}
