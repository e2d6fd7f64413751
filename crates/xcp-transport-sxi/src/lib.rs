//! XCP on serial lines (SxI): the transport for master and slave on a serial port or a
//! pseudo-terminal.
//!
//! A frame is `header | packet | fill | checksum`: any of the six header formats, a tail of
//! none, a byte or a word checksum, optionally SYNC/ESC framing (the codec is
//! `xcp_proto::tl::sxi`). Every read and write is bounded; a receiver that meets noise, a
//! lost byte or a bad checksum passes over bytes until a frame decodes again and counts it
//! ([`SxiRx::resyncs`], `RxStats::malformed`), and drops an unfinished frame once the line
//! has been quiet for [`SxiSettings::quiet`]. Writes that the line does not take within
//! [`SxiSettings::write_timeout`] fail as `Stalled`, so a slave's DAQ queue fills and counts
//! what it drops instead of blocking the application.
//!
//! ```no_run
//! use xcp_transport_sxi::{SxiTransport, SxiUrl};
//! let url: SxiUrl = "sxi:///dev/ttyUSB0?baud=921600&header=len_ctr_word&checksum=byte"
//!     .parse()?;
//! let link = SxiTransport::from_url(&url)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod transport;
pub mod url;

pub use decode::Decoder;
pub use transport::{SxiRx, SxiTransport, SxiTx};
pub use url::{Port, SxiSettings, SxiUrl, UrlError};
