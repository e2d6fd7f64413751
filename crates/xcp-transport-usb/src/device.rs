//! The [`UsbDevice`] trait below the transport: a bulk OUT endpoint the host writes transfers
//! to and bulk IN endpoints it reads them from, each with a bounded wait.

use std::time::Duration;

use xcp_transport::TransportError;

/// A device's XCP interface as the host sees it, split so that sending and receiving run on
/// different threads.
pub trait UsbDevice: Send + 'static {
    /// The host's OUT endpoint (commands and STIM).
    type Out: BulkOut;
    /// The host's IN endpoints (responses, events, DAQ).
    type In: BulkIn;

    /// Splits the device.
    fn split(self) -> (Self::Out, Self::In);

    /// What this is, in words: `USB 1234:5678 (interface 0)`.
    fn describe(&self) -> String;
}

/// Where transfers go out.
pub trait BulkOut: Send + 'static {
    /// Writes one transfer, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`TransportError::Stalled`] when the endpoint took nothing in time or is halted;
    /// [`TransportError::Disconnected`] when the device is gone.
    fn write(&mut self, transfer: &[u8], timeout: Duration) -> Result<(), TransportError>;

    /// The largest transfer the endpoint takes at once.
    fn max_transfer(&self) -> usize;
}

/// Where transfers come in.
pub trait BulkIn: Send + 'static {
    /// Reads one transfer into `buf`, waiting at most `timeout`; `Ok(0)` when none came.
    ///
    /// # Errors
    /// [`TransportError::Stalled`] for a halted endpoint, [`TransportError::Disconnected`]
    /// when the device is gone, [`TransportError::TooLong`] for a transfer longer than `buf`.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError>;
}
