//! An in-process USB device: two bounded pipes of transfers between the host's endpoints and
//! a device function, which is itself an XCP transport, so that `xcp-slave` serves behind
//! bulk endpoints without hardware. [`DeviceControl`] halts an endpoint or unplugs the device.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use xcp_transport::TransportError;

use crate::device::{BulkIn, BulkOut, UsbDevice};
use crate::link::{UsbLink, UsbSettings};

struct PipeState {
    transfers: VecDeque<Vec<u8>>,
    halted: bool,
    unplugged: bool,
    /// The host let go of its end of this pipe: the device's transfers have nowhere to go.
    host_gone: bool,
}

/// One direction: a bounded queue of transfers.
struct Pipe {
    state: Mutex<PipeState>,
    changed: Condvar,
    depth: usize,
    name: &'static str,
}

impl Pipe {
    fn new(depth: usize, name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(PipeState {
                transfers: VecDeque::new(),
                halted: false,
                unplugged: false,
                host_gone: false,
            }),
            changed: Condvar::new(),
            depth: depth.max(1),
            name,
        })
    }

    fn lock(&self) -> MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gone(&self) -> TransportError {
        TransportError::Disconnected {
            peer: "the in-process USB device".to_owned(),
            reason: "it was unplugged".to_owned(),
        }
    }

    fn halted(&self, waited: Duration) -> TransportError {
        TransportError::Stalled {
            peer: format!(
                "the in-process USB device's {} endpoint (halted)",
                self.name
            ),
            waited,
        }
    }

    /// `host`: the host's endpoint, which a halt affects (the device's end never sees it).
    fn write(&self, transfer: &[u8], timeout: Duration, host: bool) -> Result<(), TransportError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if s.unplugged {
                return Err(self.gone());
            }
            if host && s.halted {
                return Err(self.halted(Duration::ZERO));
            }
            if !host && s.host_gone {
                return Err(TransportError::Disconnected {
                    peer: "the in-process USB device's host".to_owned(),
                    reason: "it closed the device".to_owned(),
                });
            }
            if s.transfers.len() < self.depth {
                s.transfers.push_back(transfer.to_vec());
                self.changed.notify_all();
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Stalled {
                    peer: format!("the in-process USB device's {} endpoint", self.name),
                    waited: timeout,
                });
            }
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn read(&self, buf: &mut [u8], timeout: Duration, host: bool) -> Result<usize, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if host && s.halted {
                return Err(self.halted(Duration::ZERO));
            }
            if let Some(t) = s.transfers.pop_front() {
                self.changed.notify_all();
                if t.len() > buf.len() {
                    return Err(TransportError::TooLong {
                        len: t.len(),
                        max: buf.len(),
                    });
                }
                buf[..t.len()].copy_from_slice(&t);
                return Ok(t.len());
            }
            if s.unplugged {
                return Err(self.gone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn set(&self, f: impl FnOnce(&mut PipeState)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// The writing end of a pipe.
pub struct PipeOut {
    pipe: Arc<Pipe>,
    max: usize,
    host: bool,
}

impl BulkOut for PipeOut {
    fn write(&mut self, transfer: &[u8], timeout: Duration) -> Result<(), TransportError> {
        if transfer.len() > self.max {
            return Err(TransportError::TooLong {
                len: transfer.len(),
                max: self.max,
            });
        }
        self.pipe.write(transfer, timeout, self.host)
    }

    fn max_transfer(&self) -> usize {
        self.max
    }
}

/// The reading end of a pipe.
pub struct PipeIn {
    pipe: Arc<Pipe>,
    host: bool,
}

impl Drop for PipeIn {
    fn drop(&mut self) {
        if self.host {
            self.pipe.set(|s| {
                s.host_gone = true;
                s.transfers.clear();
            });
        }
    }
}

impl BulkIn for PipeIn {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        self.pipe.read(buf, timeout, self.host)
    }
}

/// The host's view of the in-process device.
pub struct InProcessDevice {
    to_device: Arc<Pipe>,
    to_host: Arc<Pipe>,
    max: usize,
}

impl UsbDevice for InProcessDevice {
    type Out = PipeOut;
    type In = PipeIn;

    fn split(self) -> (PipeOut, PipeIn) {
        (
            PipeOut {
                pipe: self.to_device,
                max: self.max,
                host: true,
            },
            PipeIn {
                pipe: self.to_host,
                host: true,
            },
        )
    }

    fn describe(&self) -> String {
        "the in-process USB device".to_owned()
    }
}

/// The device's side: an XCP transport a slave's server runs on.
pub type DeviceFunction = UsbLink<PipeOut, PipeIn>;

/// Halts endpoints and unplugs the in-process device.
#[derive(Clone)]
pub struct DeviceControl {
    to_device: Arc<Pipe>,
    to_host: Arc<Pipe>,
}

impl DeviceControl {
    /// Halts (STALL) or clears the host's OUT endpoint.
    pub fn halt_out(&self, halted: bool) {
        self.to_device.set(|s| s.halted = halted);
    }

    /// Halts (STALL) or clears the host's IN endpoint.
    pub fn halt_in(&self, halted: bool) {
        self.to_host.set(|s| s.halted = halted);
    }

    /// Unplugs the device: every transfer after the ones already queued fails.
    pub fn unplug(&self) {
        for p in [&self.to_device, &self.to_host] {
            p.set(|s| s.unplugged = true);
        }
    }
}

/// An in-process device with `depth` transfers of room each way: the host's device, the
/// device function to serve (`xcp_slave::Server::start(&slave, function)`), and its control.
///
/// # Errors
/// As [`UsbLink::new`].
pub fn in_process(
    settings: UsbSettings,
    depth: usize,
) -> Result<(InProcessDevice, DeviceFunction, DeviceControl), TransportError> {
    let to_device = Pipe::new(depth, "OUT");
    let to_host = Pipe::new(depth, "IN");
    let function = UsbLink::new(
        PipeOut {
            pipe: Arc::clone(&to_host),
            max: settings.transfer,
            host: false,
        },
        PipeIn {
            pipe: Arc::clone(&to_device),
            host: false,
        },
        "the in-process USB device's host",
        settings,
    )?;
    Ok((
        InProcessDevice {
            to_device: Arc::clone(&to_device),
            to_host: Arc::clone(&to_host),
            max: settings.transfer,
        },
        function,
        DeviceControl { to_device, to_host },
    ))
}
