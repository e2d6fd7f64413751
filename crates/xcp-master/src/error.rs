//! What can go wrong between a master and a slave, each case saying what to check.

use std::time::Duration;

use xcp_proto::ErrorCode;
use xcp_transport::TransportError;

/// An error of a master operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The slave did not answer in time, after the configured repetitions.
    #[error(
        "{command}: no response after {attempts} attempt(s) of {timeout:?} each; check that \
         the slave runs, the address/port, CAN IDs or serial header and checksum, and the timeouts"
    )]
    Timeout {
        /// The command.
        command: &'static str,
        /// Attempts made (the first try plus repetitions).
        attempts: u32,
        /// The timeout of each attempt.
        timeout: Duration,
    },
    /// The slave answered with an ERR packet the error handling could not resolve.
    #[error("{command}: the slave answered {code}{hint}")]
    Negative {
        /// The command.
        command: &'static str,
        /// The error code.
        code: ErrorCode,
        /// What to check, for the codes where that is known.
        hint: &'static str,
    },
    /// The link failed or the slave went away.
    #[error("{context}: {source}")]
    Transport {
        /// What the master was doing.
        context: &'static str,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// The session ended: the link is down or DISCONNECT was sent.
    #[error("the session has ended: {reason}")]
    Closed {
        /// Why.
        reason: String,
    },
    /// A response that does not decode as the answer to the pending command.
    #[error("{command}: malformed response: {reason}")]
    Malformed {
        /// The command.
        command: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The slave does not offer what was asked (an optional command, a mode, a resource).
    #[error("{0}")]
    Unsupported(String),
    /// An argument the master cannot send (too long, out of range, not aligned).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A resource is protected and no seed & key was given or it was refused.
    #[error("{resource} is protected: {reason}")]
    Locked {
        /// The resource (CAL/PAG, DAQ, STIM, PGM).
        resource: &'static str,
        /// What happened.
        reason: String,
    },
    /// BUILD_CHECKSUM disagrees with the master's own computation.
    #[error(
        "checksum mismatch over {size} bytes at {address}: slave 0x{slave:08X}, master 0x{master:08X}"
    )]
    ChecksumMismatch {
        /// Start address.
        address: String,
        /// Block size in bytes.
        size: u32,
        /// What the slave computed.
        slave: u32,
        /// What the master computed over the uploaded bytes.
        master: u32,
    },
    /// The DAQ configuration cannot be built within the slave's limits.
    #[error("DAQ configuration: {0}")]
    Daq(String),
}

impl Error {
    /// `true` when the slave never answered (as opposed to answering negatively).
    pub const fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// The slave's error code, for a negative response.
    pub const fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Negative { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What to check for an error code (empty when the code says it all).
pub(crate) const fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::CmdUnknown => " (the slave does not implement this command)",
        ErrorCode::OutOfRange => " (check the address, length or parameter range)",
        ErrorCode::WriteProtected => " (the memory is read-only or not the working page)",
        ErrorCode::AccessDenied => " (the memory is not accessible from XCP)",
        ErrorCode::AccessLocked => " (the resource is protected: unlock it with seed & key)",
        ErrorCode::PageNotValid | ErrorCode::SegmentNotValid => {
            " (check the segment and page numbers against GET_PAG_PROCESSOR_INFO)"
        }
        ErrorCode::DaqConfig => " (the DAQ lists do not fit the slave's limits)",
        ErrorCode::MemoryOverflow => " (the slave has no room for this DAQ configuration)",
        ErrorCode::Sequence => " (a command came out of the expected order)",
        ErrorCode::ResourceTemporaryNotAccessible => {
            " (another master is connected, or the slave is busy)"
        }
        _ => "",
    }
}
