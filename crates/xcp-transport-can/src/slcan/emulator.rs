//! An slcan adapter emulated on a pseudo-terminal.

use std::fmt;
use std::io::{Read, Write};
use std::time::Duration;

use xcp_transport::TransportError;

use super::{Line, Lines, MAX_LINE, encode, parse};
use crate::bus::{CanBus, CanRx, CanTx};

/// An slcan adapter emulated on a pseudo-terminal (Unix), bridging to any [`CanBus`] (the
/// in-process [`VirtualBus`], python-can's `udp_multicast`, …): [`SlcanBus`](super::SlcanBus), python-can's
/// `slcan` interface or any program that opens [`Emulator::path`] sees an adapter, and its
/// frames reach the other nodes of the bus.
///
/// It answers `Sn`, `Yn`, `O`, `L`, `C`, `Zn` and `F` with CR, `V` and `N` with a version and
/// a serial number, a transmitted frame with `z`/`Z`, and anything else with BEL. Frames
/// reach the bus only while the channel is open (`O`), and bus frames reach the host then.
///
/// [`VirtualBus`]: crate::VirtualBus
pub struct Emulator {
    path: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Keeps the device's other end open while the emulator runs, so a host that closes
    /// and reopens it finds it there.
    _device: serialport::TTYPort,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "emulated slcan adapter on {}", self.path)
    }
}

impl Emulator {
    /// Opens a pseudo-terminal and starts answering on it, bridged to `bus`.
    ///
    /// # Errors
    /// [`TransportError::Io`] when no pseudo-terminal can be opened.
    pub fn start<B: CanBus>(bus: B) -> Result<Self, TransportError> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        use serialport::SerialPort as _;
        let io = |what: &str| {
            let what = format!("emulated slcan adapter: {what}");
            move |e: serialport::Error| {
                TransportError::io(what, std::io::Error::other(e.to_string()))
            }
        };
        let (mut host_side, device) = serialport::TTYPort::pair().map_err(io("opening a pty"))?;
        let path = device
            .name()
            .ok_or_else(|| TransportError::Config("the pty has no name".to_owned()))?;
        host_side
            .set_timeout(Duration::from_millis(20))
            .map_err(io("setting a timeout"))?;
        let (mut bus_tx, mut bus_rx) = bus.split();
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicBool::new(false));
        let answers: Arc<std::sync::Mutex<serialport::TTYPort>> = Arc::new(std::sync::Mutex::new(
            host_side
                .try_clone_native()
                .map_err(io("sharing the pty"))?,
        ));
        let commands = {
            let (stop, open, answers) =
                (Arc::clone(&stop), Arc::clone(&open), Arc::clone(&answers));
            std::thread::Builder::new()
                .name("slcan-emulator-host".into())
                .spawn(move || {
                    let mut lines = Lines::default();
                    let mut bytes = [0u8; 256];
                    while !stop.load(Ordering::Relaxed) {
                        let n = match host_side.read(&mut bytes) {
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                            Err(_) => {
                                // The host closed the device; wait for it to come back.
                                std::thread::sleep(Duration::from_millis(10));
                                continue;
                            }
                        };
                        for &b in &bytes[..n] {
                            let Some((line, _, overlong)) = lines.push(b) else {
                                continue;
                            };
                            let answer: &[u8] = if overlong {
                                b"\x07"
                            } else {
                                match line.first() {
                                    Some(b'S' | b'Y' | b'Z' | b'F') => b"\r",
                                    Some(b'O' | b'L') => {
                                        open.store(true, Ordering::Relaxed);
                                        b"\r"
                                    }
                                    Some(b'C') => {
                                        open.store(false, Ordering::Relaxed);
                                        b"\r"
                                    }
                                    Some(b'V') => b"V1010\r",
                                    Some(b'N') => b"NXK01\r",
                                    Some(_) => match parse(&line, false) {
                                        Ok(Line::Frame(f)) if open.load(Ordering::Relaxed) => {
                                            if bus_tx.send(&f).is_ok() {
                                                if f.id.extended { b"Z\r" } else { b"z\r" }
                                            } else {
                                                b"\x07"
                                            }
                                        }
                                        _ => b"\x07",
                                    },
                                    None => b"\r",
                                }
                            };
                            if let Ok(mut w) = answers.lock() {
                                let _ = w.write_all(answer);
                            }
                        }
                    }
                })
                .map_err(|e| TransportError::io("starting the emulated adapter", e))?
        };
        let frames = {
            let (stop, open) = (Arc::clone(&stop), Arc::clone(&open));
            std::thread::Builder::new()
                .name("slcan-emulator-bus".into())
                .spawn(move || {
                    let mut line = Vec::with_capacity(MAX_LINE + 1);
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(Some(f)) = bus_rx.recv(Duration::from_millis(20)) else {
                            continue;
                        };
                        if !open.load(Ordering::Relaxed) {
                            continue;
                        }
                        encode(&f, &mut line);
                        if let Ok(mut w) = answers.lock() {
                            let _ = w.write_all(&line);
                        }
                    }
                })
                .map_err(|e| TransportError::io("starting the emulated adapter", e))?
        };
        Ok(Self {
            path,
            stop,
            threads: vec![commands, frames],
            _device: device,
        })
    }

    /// The device to open (`/dev/pts/N`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
