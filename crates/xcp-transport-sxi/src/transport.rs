//! The XCP-on-SxI transport over a serial port, for master and slave alike (the framing is
//! the same both ways; each side counts its own frames in CTR).

use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

use serialport::SerialPort;
use xcp_transport::{PacketRx, PacketTx, RxStats, Transport, TransportError, TxStats};

use crate::decode::Decoder;
use crate::url::{Port, SxiSettings, SxiUrl};

/// Bytes queued for one write: DTOs are gathered up to this many (or until flushed).
const WRITE_BATCH: usize = 4096;
/// Queued DTOs leave at the latest this long after the first of them.
const FLUSH_INTERVAL: Duration = Duration::from_micros(500);
/// Bytes read per system call.
const READ_CHUNK: usize = 4096;

/// XCP on a serial line: a port (a device, or one end of a pseudo-terminal) and its framing.
pub struct SxiTransport {
    port: Box<dyn SerialPort>,
    name: String,
    settings: SxiSettings,
    /// The other end of a pseudo-terminal this transport opened, held open so that a master
    /// may close and reopen the path.
    keep: Option<serialport::TTYPort>,
}

impl fmt::Debug for SxiTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XCP on SxI {} ({})", self.name, self.settings)
    }
}

fn serial_error(what: String) -> impl FnOnce(serialport::Error) -> TransportError {
    move |e| TransportError::io(what, std::io::Error::other(e.to_string()))
}

impl SxiTransport {
    /// Opens the line a URL names: its device, or a new pseudo-terminal (see
    /// [`pty`](Self::pty)).
    ///
    /// # Errors
    /// As [`open`](Self::open) and [`pty`](Self::pty).
    pub fn from_url(url: &SxiUrl) -> Result<Self, TransportError> {
        match &url.port {
            Port::Device(path) => Self::open(path, url.settings),
            Port::Pty => Self::pty(url.settings),
        }
    }

    /// Opens the serial device at `path` (8 data bits, no parity, one stop bit, at the
    /// settings' line rate).
    ///
    /// # Errors
    /// [`TransportError::Io`] when the device cannot be opened or set up.
    pub fn open(path: &str, settings: SxiSettings) -> Result<Self, TransportError> {
        let port = serialport::new(path, settings.baud)
            .timeout(settings.write_timeout)
            .open_native()
            .map_err(serial_error(format!("opening the serial device {path}")))?;
        nonblocking(&port, path)?;
        Ok(Self {
            port: Box::new(port),
            name: path.to_owned(),
            settings,
            keep: None,
        })
    }

    /// Opens a new pseudo-terminal (Unix) and serves its master end; a peer opens
    /// [`path`](Self::path) as if it were a serial device.
    ///
    /// # Errors
    /// [`TransportError::Io`] when no pseudo-terminal can be opened.
    pub fn pty(settings: SxiSettings) -> Result<Self, TransportError> {
        let (mut ours, device) = serialport::TTYPort::pair()
            .map_err(serial_error("opening a pseudo-terminal".to_owned()))?;
        let name = device.name().ok_or_else(|| {
            TransportError::Config("the pseudo-terminal has no device path".to_owned())
        })?;
        ours.set_timeout(settings.write_timeout)
            .map_err(serial_error(format!("setting up {name}")))?;
        nonblocking(&ours, &name)?;
        Ok(Self {
            port: Box::new(ours),
            name,
            settings,
            keep: Some(device),
        })
    }

    /// Wraps an open port (any `serialport` implementation). A port in blocking mode may
    /// hold a write past the write timeout when the line takes only part of it; the ports
    /// [`open`](Self::open) and [`pty`](Self::pty) make are non-blocking.
    pub fn from_port(port: Box<dyn SerialPort>, name: &str, settings: SxiSettings) -> Self {
        Self {
            port,
            name: name.to_owned(),
            settings,
            keep: None,
        }
    }

    /// The device path (for a pseudo-terminal, the path its peer opens).
    pub fn path(&self) -> &str {
        &self.name
    }

    /// The settings.
    pub const fn settings(&self) -> &SxiSettings {
        &self.settings
    }
}

/// Puts the port's file in non-blocking mode: `serialport` waits for the line with `poll`
/// (up to the port's timeout), and a write then takes what fits instead of blocking for the
/// rest.
#[cfg(unix)]
fn nonblocking(port: &serialport::TTYPort, name: &str) -> Result<(), TransportError> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::os::unix::io::AsRawFd;
    let fd = port.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL)
        .map_err(|e| TransportError::io(format!("setting up {name}"), e.into()))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| TransportError::io(format!("setting up {name}"), e.into()))?;
    Ok(())
}

#[cfg(not(unix))]
fn nonblocking(_port: &serialport::COMPort, _name: &str) -> Result<(), TransportError> {
    Ok(())
}

/// Writes all of `bytes` within `timeout`, as far as the line takes them.
fn write_within(port: &mut dyn SerialPort, bytes: &[u8], timeout: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut rest = bytes;
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        port.set_timeout(left)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        match port.write(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Transport for SxiTransport {
    type Tx = SxiTx;
    type Rx = SxiRx;

    fn split(self) -> (SxiTx, SxiRx) {
        let writer = self.port.try_clone().map_err(|e| e.to_string());
        let s = self.settings;
        let limit = s.packet_limit();
        (
            SxiTx {
                port: writer,
                name: self.name.clone(),
                settings: s,
                buf: Vec::with_capacity(WRITE_BATCH + s.framing.max_frame_len(limit)),
                frame: vec![0u8; s.framing.max_frame_len(limit)],
                queued: 0,
                since: None,
                ctr: 0,
                line_free_at: None,
                stuck: false,
                stats: TxStats::default(),
                _keep: self.keep,
            },
            SxiRx {
                port: self.port,
                decoder: Decoder::new(&self.name, s),
                name: self.name,
                settings: s,
                current: Vec::new(),
                last_packet: None,
            },
        )
    }
}

/// The sending half of an [`SxiTransport`].
pub struct SxiTx {
    port: Result<Box<dyn SerialPort>, String>,
    name: String,
    settings: SxiSettings,
    buf: Vec<u8>,
    frame: Vec<u8>,
    queued: u64,
    since: Option<Instant>,
    ctr: u16,
    line_free_at: Option<Instant>,
    /// The last write timed out: the next ones do not wait until one goes through, so a
    /// line nobody reads costs one timeout, not one per flush.
    stuck: bool,
    stats: TxStats,
    _keep: Option<serialport::TTYPort>,
}

impl SxiTx {
    /// Waits until the line would have sent what was written before (with `pace`).
    fn pace(&mut self, bytes: usize) {
        if !self.settings.pace {
            return;
        }
        let now = Instant::now();
        let start = self.line_free_at.filter(|&t| t > now).unwrap_or(now);
        // Ten bits per byte: start, eight data bits, stop.
        let nanos = (bytes as u64).saturating_mul(10_000_000_000) / u64::from(self.settings.baud);
        let done = start + Duration::from_nanos(nanos);
        self.line_free_at = Some(done);
        let wait = done.saturating_duration_since(now);
        if wait > Duration::from_micros(200) {
            std::thread::sleep(wait.min(self.settings.write_timeout));
        }
    }
}

impl PacketTx for SxiTx {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let limit = self.settings.packet_limit();
        if packet.len() > limit {
            return Err(TransportError::TooLong {
                len: packet.len(),
                max: limit,
            });
        }
        let n = self
            .settings
            .framing
            .encode(self.ctr, packet, &mut self.frame)
            .map_err(|e| {
                TransportError::Config(format!("framing a packet for {}: {e}", self.name))
            })?;
        self.ctr = self.ctr.wrapping_add(1);
        self.buf.extend_from_slice(&self.frame[..n]);
        self.queued += 1;
        self.stats.bytes += packet.len() as u64;
        self.since.get_or_insert_with(Instant::now);
        if self.buf.len() >= WRITE_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.queued);
        self.since = None;
        let bytes = std::mem::take(&mut self.buf);
        let timeout = if self.stuck {
            Duration::from_micros(1)
        } else {
            self.settings.write_timeout
        };
        let result = match &mut self.port {
            Ok(port) => write_within(port.as_mut(), &bytes, timeout),
            Err(e) => Err(std::io::Error::other(format!(
                "the port could not be shared for writing: {e}"
            ))),
        };
        self.pace(bytes.len());
        self.buf = bytes;
        self.buf.clear();
        self.stuck = result
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
        match result {
            Ok(()) => {
                self.stats.packets += queued;
                self.stats.frames += queued;
                Ok(())
            }
            Err(e) => {
                self.stats.dropped += queued;
                if e.kind() == std::io::ErrorKind::TimedOut {
                    Err(TransportError::Stalled {
                        peer: self.name.clone(),
                        waited: self.settings.write_timeout,
                    })
                } else {
                    Err(TransportError::io(format!("writing to {}", self.name), e))
                }
            }
        }
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + FLUSH_INTERVAL)
    }

    fn max_packet_len(&self) -> usize {
        self.settings.packet_limit()
    }

    fn stats(&self) -> TxStats {
        self.stats
    }
}

/// The receiving half of an [`SxiTransport`].
pub struct SxiRx {
    port: Box<dyn SerialPort>,
    name: String,
    settings: SxiSettings,
    decoder: Decoder,
    current: Vec<u8>,
    last_packet: Option<Instant>,
}

impl SxiRx {
    /// Times the receiver dropped bytes to find the next frame (noise, a lost byte, a bad
    /// checksum, an unfinished frame on a quiet line).
    pub const fn resyncs(&self) -> u64 {
        self.decoder.resyncs()
    }

    /// Reads what the line has within `wait` and decodes it.
    fn fill(&mut self, wait: Duration) -> Result<(), TransportError> {
        let mut chunk = [0u8; READ_CHUNK];
        let wait = wait.max(Duration::from_micros(1));
        let _ = self.port.set_timeout(wait);
        let now = Instant::now();
        match self.port.read(&mut chunk) {
            Ok(0) => Ok(()),
            Ok(n) => {
                self.decoder.push(&chunk[..n], now);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                self.decoder.quiet(Instant::now());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(TransportError::Disconnected {
                peer: self.name.clone(),
                reason: format!("reading failed: {e}"),
            }),
        }
    }

    fn next(&mut self) -> Option<&[u8]> {
        let p = self.decoder.pop()?;
        if !self.settings.spin.is_zero() {
            self.last_packet = Some(Instant::now());
        }
        let old = std::mem::replace(&mut self.current, p);
        self.decoder.recycle(old);
        Some(&self.current)
    }
}

impl PacketRx for SxiRx {
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        let deadline = Instant::now() + timeout;
        // Poll for the packet that follows the last one closely (see `SxiSettings::spin`).
        if let Some(last) = self.last_packet {
            let until = (last + self.settings.spin).min(deadline);
            while self.decoder.is_empty() && Instant::now() < until {
                if self.port.bytes_to_read().unwrap_or(0) > 0 {
                    self.fill(Duration::from_micros(1))?;
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        while self.decoder.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            // A quiet line is looked at again within `quiet`, to drop an unfinished frame.
            self.fill(left.min(self.settings.quiet))?;
            if self.decoder.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
        }
        Ok(self.next())
    }

    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        if self.decoder.is_empty() && self.port.bytes_to_read().unwrap_or(0) > 0 {
            self.fill(Duration::from_micros(1))?;
        }
        Ok(self.next())
    }

    fn max_packet_len(&self) -> usize {
        self.settings.packet_limit()
    }

    fn stats(&self) -> RxStats {
        self.decoder.stats()
    }
}
