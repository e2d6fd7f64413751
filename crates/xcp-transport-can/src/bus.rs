//! The [`CanBus`] trait every backend implements, split into a send and a receive half.

use std::time::Duration;

use xcp_transport::TransportError;

use crate::frame::CanFrame;

/// A connection to a CAN bus, split before use so sending and receiving run on different
/// threads.
pub trait CanBus: Send + 'static {
    /// The send half.
    type Tx: CanTx;
    /// The receive half.
    type Rx: CanRx;

    /// Splits the connection.
    fn split(self) -> (Self::Tx, Self::Rx);

    /// What this is, in words: `virtual bus "demo"`, `udp_multicast 239.74.163.2:43113`.
    fn describe(&self) -> String;
}

/// The sending half of a bus connection.
pub trait CanTx: Send + 'static {
    /// Puts one frame on the bus, waiting at most the backend's send timeout for room.
    ///
    /// # Errors
    /// [`TransportError::Stalled`] when the bus took nothing within the timeout; link errors.
    fn send(&mut self, frame: &CanFrame) -> Result<(), TransportError>;

    /// Whether the bus carries CAN FD frames.
    fn fd(&self) -> bool;
}

/// The receiving half of a bus connection.
pub trait CanRx: Send + 'static {
    /// Waits at most `timeout` for the next frame; `Ok(None)` when the time ran out.
    ///
    /// # Errors
    /// [`TransportError::Closed`] when the bus is gone; link errors.
    fn recv(&mut self, timeout: Duration) -> Result<Option<CanFrame>, TransportError>;

    /// The next frame if one has arrived, without waiting.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    fn try_recv(&mut self) -> Result<Option<CanFrame>, TransportError> {
        self.recv(Duration::ZERO)
    }

    /// Frames the backend dropped before they were read (its receive queue was full).
    fn overruns(&self) -> u64;
}
