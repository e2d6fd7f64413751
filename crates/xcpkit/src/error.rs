//! Errors of the facade, each saying what to check, sorted into kinds a command line maps to
//! exit codes.

/// What kind of failure, for exit codes and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The slave did not answer or could not be reached.
    NoAnswer,
    /// The slave answered with an error.
    Negative,
    /// The input was wrong: a URL, a name, a value, an A2L, an EPK that does not match.
    BadInput,
}

/// A facade error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the master.
    #[error(transparent)]
    Master(#[from] xcp_master::Error),
    /// From the A2L.
    #[error(transparent)]
    A2l(#[from] xcp_a2l::Error),
    /// The link could not be opened.
    #[error("cannot reach {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: xcp_transport::TransportError,
    },
    /// A URL that is not `tcp://host:port`, `udp://host:port` or a CAN URL.
    #[error(
        "bad URL {url:?}: {reason} (use tcp://HOST:PORT, udp://HOST:PORT, can://BACKEND/CHANNEL?master=ID&slave=ID, sxi:///dev/DEVICE?baud=N or usb://VID:PID)"
    )]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The A2L does not describe this slave.
    #[error(
        "the A2L's EPK {a2l:?} does not match the slave's {slave:?}: the A2L belongs to \
         another software version; use the matching A2L or fetch it from the slave"
    )]
    EpkMismatch {
        /// EPK in the A2L.
        a2l: String,
        /// EPK the slave reports.
        slave: String,
    },
    /// A value that cannot be written to this object.
    #[error("{name}: {reason}")]
    Value {
        /// The object.
        name: String,
        /// Why.
        reason: String,
    },
    /// A measurement request that cannot be set up.
    #[error("{0}")]
    Measure(String),
    /// A parameter set that cannot be saved or loaded (every finding at once).
    #[error(transparent)]
    Cal(xcp_cal::Error),
    /// A load failed midway.
    #[error(
        "the load stopped: {reason}; written: {written}; not written: {not_written} \
         (the ECU now holds a mix; load the set again, or the one saved before)"
    )]
    PartialLoad {
        /// The objects written.
        written: String,
        /// The objects not (or not wholly) written.
        not_written: String,
        /// Why.
        reason: String,
    },
    /// What was written does not read back.
    #[error(
        "{names} at {at}: the slave holds other bytes than were written (is the page \
         writable, does the ECU overwrite it?)"
    )]
    ReadBack {
        /// The objects.
        names: String,
        /// Where.
        at: String,
    },
}

/// The kind of a master error.
pub fn master_kind(e: &xcp_master::Error) -> Kind {
    use xcp_master::Error as M;
    match e {
        M::Timeout { .. } | M::Transport { .. } | M::Closed { .. } => Kind::NoAnswer,
        M::Negative { .. } | M::Locked { .. } | M::ChecksumMismatch { .. } => Kind::Negative,
        _ => Kind::BadInput,
    }
}

impl Error {
    /// The kind, for exit codes.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Master(e) => master_kind(e),
            Self::Connect { .. } => Kind::NoAnswer,
            Self::PartialLoad { .. } | Self::ReadBack { .. } => Kind::Negative,
            _ => Kind::BadInput,
        }
    }
}
