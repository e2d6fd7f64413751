//! Serial-line CAN adapters (the Lawicel "slcan" ASCII protocol of CANable, USBtin and
//! similar), with the CAN FD extensions such adapters use, and an emulated adapter on a
//! pseudo-terminal for tests without hardware.
//!
//! | line | meaning |
//! |---|---|
//! | `tIIILDD…` / `TIIIIIIIILDD…` | classic frame, 11-bit / 29-bit identifier, DLC 0–8, data in hex |
//! | `dIIIL…` / `DIIIIIIIIL…` | CAN FD frame without bit-rate switch (L: DLC 0–F) |
//! | `bIIIL…` / `BIIIIIIIIL…` | CAN FD frame with bit-rate switch |
//! | `Sn`, `Yn`, `O`, `C` | nominal bit rate (S0 10k … S8 1M), data bit rate (Y2 2M, Y5 5M), open, close |
//!
//! Lines end in CR; an adapter answers CR for done and BEL for an error, `z`/`Z` after a
//! transmitted frame on some adapters. Received frames may carry four hex digits of
//! millisecond timestamp after their data.

use std::fmt;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use xcp_proto::tl::can::FD_LENGTHS;
use xcp_transport::TransportError;

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::{CanFrame, CanId};

#[cfg(unix)]
mod emulator;
#[cfg(unix)]
pub use emulator::Emulator;

/// The `Sn` command of a nominal bit rate.
pub fn bitrate_command(bitrate: u32) -> Option<&'static str> {
    Some(match bitrate {
        10_000 => "S0",
        20_000 => "S1",
        50_000 => "S2",
        100_000 => "S3",
        125_000 => "S4",
        250_000 => "S5",
        500_000 => "S6",
        750_000 | 800_000 => "S7",
        1_000_000 => "S8",
        83_300 => "S9",
        _ => return None,
    })
}

/// The `Yn` command of a CAN FD data bit rate.
pub fn data_bitrate_command(bitrate: u32) -> Option<&'static str> {
    Some(match bitrate {
        2_000_000 => "Y2",
        5_000_000 => "Y5",
        _ => return None,
    })
}

/// Writes `frame` as an slcan line, CR included.
pub fn encode(frame: &CanFrame, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let kind = match (frame.fd, frame.brs, frame.id.extended) {
        (false, _, false) => 't',
        (false, _, true) => 'T',
        (true, false, false) => 'd',
        (true, false, true) => 'D',
        (true, true, false) => 'b',
        (true, true, true) => 'B',
    };
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = if frame.id.extended {
        write!(out, "{kind}{:08X}{:X}", frame.id.id, frame.dlc())
    } else {
        write!(out, "{kind}{:03X}{:X}", frame.id.id, frame.dlc())
    };
    for b in frame.data() {
        let _ = write!(out, "{b:02X}");
    }
    out.push(b'\r');
}

/// What an adapter's line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A received frame.
    Frame(CanFrame),
    /// CR alone: the last command was done.
    Ok,
    /// BEL: the last command failed.
    Error,
    /// `z`/`Z`: a frame was transmitted.
    Sent,
    /// A remote frame, or a line of another command (`V…`, `N…`).
    Other,
}

/// Why a line is not slcan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlcanError(String);

impl fmt::Display for SlcanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an slcan line: {}", self.0)
    }
}

impl std::error::Error for SlcanError {}

fn hex(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
}

/// Reads one line (without its CR or BEL; `bell` says which ended it).
///
/// # Errors
/// [`SlcanError`] naming what is wrong: a bad hex digit, a DLC the frame kind cannot have,
/// data of the wrong length.
pub fn parse(line: &[u8], bell: bool) -> Result<Line, SlcanError> {
    if bell {
        return Ok(Line::Error);
    }
    let Some((&kind, rest)) = line.split_first() else {
        return Ok(Line::Ok);
    };
    let bad = |what: &str| SlcanError(format!("{what} in {:?}", String::from_utf8_lossy(line)));
    let (extended, fd, brs) = match kind {
        b't' => (false, false, false),
        b'T' => (true, false, false),
        b'd' => (false, true, false),
        b'D' => (true, true, false),
        b'b' => (false, true, true),
        b'B' => (true, true, true),
        b'z' | b'Z' if rest.is_empty() => return Ok(Line::Sent),
        _ => return Ok(Line::Other),
    };
    let id_len = if extended { 8 } else { 3 };
    let id = rest
        .get(..id_len)
        .and_then(hex)
        .ok_or_else(|| bad("a bad identifier"))?;
    let id = if extended {
        CanId::extended(id)
    } else {
        CanId::standard(id)
    }
    .map_err(|_| bad("an identifier too wide"))?;
    let dlc = rest
        .get(id_len..=id_len)
        .and_then(hex)
        .ok_or_else(|| bad("a bad DLC"))?;
    let len = match (fd, dlc) {
        (false, 0..=8) | (true, 0..=15) => {
            usize::from(FD_LENGTHS[usize::try_from(dlc).unwrap_or(0)])
        }
        _ => return Err(bad("a DLC above 8 on classic CAN")),
    };
    let data_hex = &rest[id_len + 1..];
    // Data, then perhaps four digits of timestamp.
    if data_hex.len() != 2 * len && data_hex.len() != 2 * len + 4 {
        return Err(bad(&format!(
            "{} hex digits for {len} data bytes",
            data_hex.len()
        )));
    }
    let mut data = [0u8; 64];
    for (i, d) in data.iter_mut().take(len).enumerate() {
        *d = data_hex
            .get(2 * i..2 * i + 2)
            .and_then(hex)
            .and_then(|v| u8::try_from(v).ok())
            .ok_or_else(|| bad("a bad data byte"))?;
    }
    let mut frame = CanFrame::new(id, &data[..len], fd).map_err(|e| bad(&e.to_string()))?;
    frame.brs = brs;
    Ok(Line::Frame(frame))
}

/// Collects bytes into lines ended by CR or BEL; a line longer than any slcan line is cut
/// off and reported.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    buf: Vec<u8>,
    overlong: bool,
}

/// The longest slcan line: `B`, 8 + 1 digits, 128 of data, 4 of timestamp.
const MAX_LINE: usize = 1 + 9 + 128 + 4;

impl Lines {
    /// Feeds one byte; a finished line comes back with whether BEL ended it.
    pub(crate) fn push(&mut self, b: u8) -> Option<(Vec<u8>, bool, bool)> {
        match b {
            b'\r' | 0x07 => {
                let line = std::mem::take(&mut self.buf);
                let overlong = std::mem::take(&mut self.overlong);
                Some((line, b == 0x07, overlong))
            }
            b'\n' => None,
            _ if self.buf.len() >= MAX_LINE => {
                self.overlong = true;
                None
            }
            _ => {
                self.buf.push(b);
                None
            }
        }
    }
}

/// An slcan adapter on a serial device.
pub struct SlcanBus {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    fd: bool,
}

impl fmt::Debug for SlcanBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slcan {}", self.path)
    }
}

impl SlcanBus {
    /// Opens the adapter at `path`, sets its bit rates and opens the channel (`C`, `Sn`,
    /// `Yn` for CAN FD, `O`).
    ///
    /// # Errors
    /// [`TransportError::Io`] when the device cannot be opened or written;
    /// [`TransportError::Config`] for a bit rate the protocol has no command for.
    pub fn open(
        path: &str,
        bitrate: u32,
        data_bitrate: Option<u32>,
        fd: bool,
    ) -> Result<Self, TransportError> {
        let io = |what: &str| {
            let what = format!("slcan {path}: {what}");
            move |e: serialport::Error| {
                TransportError::io(what, std::io::Error::other(e.to_string()))
            }
        };
        let s = bitrate_command(bitrate).ok_or_else(|| {
            TransportError::Config(format!(
                "slcan has no command for {bitrate} bit/s (10k, 20k, 50k, 83.3k, 100k, 125k, 250k, 500k, 750k, 1M)"
            ))
        })?;
        let y = match data_bitrate {
            Some(r) => Some(data_bitrate_command(r).ok_or_else(|| {
                TransportError::Config(format!(
                    "slcan has no command for a data bit rate of {r} bit/s (2M, 5M)"
                ))
            })?),
            None => None,
        };
        let mut port = serialport::new(path, 115_200)
            .timeout(Duration::from_millis(50))
            .open()
            .map_err(io("opening the device"))?;
        let mut setup = vec!["C", s];
        setup.extend(y);
        setup.push("O");
        for cmd in setup {
            port.write_all(format!("{cmd}\r").as_bytes())
                .map_err(|e| TransportError::io(format!("slcan {path}: writing {cmd}"), e))?;
        }
        port.flush()
            .map_err(|e| TransportError::io(format!("slcan {path}: flushing"), e))?;
        Ok(Self {
            port,
            path: path.to_owned(),
            fd,
        })
    }
}

impl CanBus for SlcanBus {
    type Tx = SlcanTx;
    type Rx = SlcanRx;

    fn split(self) -> (SlcanTx, SlcanRx) {
        let tx = self.port.try_clone().ok();
        (
            SlcanTx {
                port: tx,
                path: self.path.clone(),
                fd: self.fd,
                buf: Vec::with_capacity(MAX_LINE + 1),
            },
            SlcanRx {
                port: self.port,
                path: self.path,
                lines: Lines::default(),
                frames: std::collections::VecDeque::new(),
                errors: 0,
                malformed: 0,
            },
        )
    }

    fn describe(&self) -> String {
        format!("slcan {}", self.path)
    }
}

/// The send half of an [`SlcanBus`].
pub struct SlcanTx {
    port: Option<Box<dyn serialport::SerialPort>>,
    path: String,
    fd: bool,
    buf: Vec<u8>,
}

impl CanTx for SlcanTx {
    fn send(&mut self, frame: &CanFrame) -> Result<(), TransportError> {
        let Some(port) = self.port.as_mut() else {
            return Err(TransportError::Closed {
                transport: format!("slcan {}", self.path),
                reason: "the device could not be shared for sending".to_owned(),
            });
        };
        encode(frame, &mut self.buf);
        port.write_all(&self.buf)
            .and_then(|()| port.flush())
            .map_err(|e| TransportError::io(format!("slcan {}: sending {frame}", self.path), e))
    }

    fn fd(&self) -> bool {
        self.fd
    }
}

/// The receive half of an [`SlcanBus`].
pub struct SlcanRx {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    lines: Lines,
    frames: std::collections::VecDeque<CanFrame>,
    errors: u64,
    malformed: u64,
}

impl SlcanRx {
    /// BEL answers the adapter sent (a command or frame it refused).
    pub const fn errors(&self) -> u64 {
        self.errors
    }

    /// Lines that were not slcan.
    pub const fn malformed(&self) -> u64 {
        self.malformed
    }
}

impl SlcanRx {
    /// Parses the lines in `bytes`; frames go to the queue, the rest is counted.
    fn take(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let Some((line, bell, overlong)) = self.lines.push(b) else {
                continue;
            };
            if overlong {
                self.malformed += 1;
                continue;
            }
            match parse(&line, bell) {
                Ok(Line::Frame(f)) => self.frames.push_back(f),
                Ok(Line::Error) => self.errors += 1,
                Ok(_) => {}
                Err(e) => {
                    self.malformed += 1;
                    tracing::debug!("slcan {}: {e}", self.path);
                }
            }
        }
    }
}

impl CanRx for SlcanRx {
    fn recv(&mut self, timeout: Duration) -> Result<Option<CanFrame>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut bytes = [0u8; 256];
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Ok(Some(f));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.clamp(Duration::from_millis(1), Duration::from_millis(50));
            let _ = self.port.set_timeout(wait);
            match self.port.read(&mut bytes) {
                Ok(n) => {
                    let got = bytes[..n].to_vec();
                    self.take(&got);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    return Err(TransportError::io(
                        format!("slcan {}: reading", self.path),
                        e,
                    ));
                }
            }
            if self.frames.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    fn overruns(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: CanId, data: &[u8], fd: bool, brs: bool) -> CanFrame {
        let mut f = CanFrame::new(id, data, fd).expect("frame");
        f.brs = brs;
        f
    }

    #[test]
    fn every_frame_kind_reads_back() {
        let std_id = CanId::standard(0x7E1).expect("id");
        let ext_id = CanId::extended(0x18DA_F101).expect("id");
        let mut line = Vec::new();
        for (f, text) in [
            (frame(std_id, &[0xFF, 0x00], false, false), "t7E12FF00\r"),
            (frame(ext_id, &[], false, false), "T18DAF1010\r"),
            (
                frame(std_id, &[1; 12], true, false),
                "d7E19010101010101010101010101\r",
            ),
            (
                frame(ext_id, &[2; 8], true, true),
                "B18DAF10180202020202020202\r",
            ),
        ] {
            encode(&f, &mut line);
            assert_eq!(String::from_utf8_lossy(&line), text);
            let Line::Frame(back) = parse(&line[..line.len() - 1], false).expect("parses") else {
                panic!("{text} is a frame")
            };
            assert_eq!(
                (back.id, back.data(), back.fd, back.brs),
                (f.id, f.data(), f.fd, f.brs)
            );
        }
        // Four digits of timestamp after the data.
        assert!(matches!(parse(b"t7E12FF001A2B", false), Ok(Line::Frame(_))));
        assert_eq!(parse(b"", false), Ok(Line::Ok));
        assert_eq!(parse(b"", true), Ok(Line::Error));
        assert_eq!(parse(b"z", false), Ok(Line::Sent));
        assert_eq!(parse(b"V1010", false), Ok(Line::Other));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let err = |l: &[u8]| parse(l, false).expect_err("refused").to_string();
        assert!(err(b"t7E19").contains("DLC above 8"));
        assert!(err(b"t7E1").contains("bad DLC"));
        assert!(err(b"tXYZ0").contains("bad identifier"));
        assert!(err(b"t8001").contains("too wide"));
        assert!(err(b"t7E12FF").contains("2 hex digits for 2 data bytes"));
        assert!(err(b"t7E12GG00").contains("bad data byte"));
        // Every prefix of a good line is a frame or an error, never a panic.
        let good = b"B18DAF10180202020202020202";
        for n in 0..good.len() {
            let _ = parse(&good[..n], false);
        }
    }

    #[test]
    fn an_overlong_line_is_cut_off_and_reported() {
        let mut lines = Lines::default();
        for _ in 0..1000 {
            assert_eq!(lines.push(b'A'), None);
        }
        let (line, bell, overlong) = lines.push(b'\r').expect("a line");
        assert!(overlong && !bell && line.len() == MAX_LINE);
    }

    #[cfg(unix)]
    #[test]
    fn slcan_bus_and_the_emulator_carry_frames_both_ways() {
        let bus = crate::VirtualBus::new(crate::VirtualConfig::default());
        let emu = Emulator::start(bus.node()).expect("emulator");
        let adapter = SlcanBus::open(emu.path(), 500_000, Some(2_000_000), true).expect("open");
        let (mut tx, mut rx) = adapter.split();
        let (mut peer_tx, mut peer_rx) = bus.node().split();
        let id = CanId::standard(0x7E0).expect("id");
        let out = frame(id, &[0xFF, 0x00], false, false);
        tx.send(&out).expect("send");
        let got = peer_rx
            .recv(Duration::from_secs(5))
            .expect("recv")
            .expect("the frame reached the bus");
        assert_eq!(got.data(), out.data());
        let back = frame(CanId::standard(0x7E1).expect("id"), &[7; 48], true, true);
        peer_tx.send(&back).expect("send");
        let got = rx
            .recv(Duration::from_secs(5))
            .expect("recv")
            .expect("the frame reached the adapter's host");
        assert_eq!(
            (got.id, got.data(), got.fd, got.brs),
            (back.id, back.data(), true, true)
        );
        assert_eq!(rx.errors(), 0);
        assert_eq!(rx.malformed(), 0);
    }
}
