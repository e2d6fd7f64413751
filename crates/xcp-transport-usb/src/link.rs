//! XCP packets in bulk transfers: the transport on top of a pair of endpoints, the same for
//! the host (master) and for a device (the in-process one serving a slave).

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use xcp_proto::tl::Deframer;
use xcp_proto::tl::eth::CtrTracker;
use xcp_proto::tl::usb::{Packing, UsbConfig};
use xcp_transport::{PacketRx, PacketTx, RxStats, Transport, TransportError, TxStats};

use crate::device::{BulkIn, BulkOut, UsbDevice};

/// How XCP packets travel in transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbSettings {
    /// Header, packing and alignment (A2L `XCP_ON_USB`).
    pub config: UsbConfig,
    /// The longest transfer either side writes (and reads).
    pub transfer: usize,
    /// The largest XCP packet (MAX_CTO and MAX_DTO must not exceed
    /// [`packet_limit`](Self::packet_limit)).
    pub max_packet: usize,
    /// How long a transfer may wait for the endpoint.
    pub timeout: Duration,
    /// Queued DTOs leave at the latest this long after the first of them.
    pub flush_interval: Duration,
}

impl Default for UsbSettings {
    fn default() -> Self {
        Self {
            config: UsbConfig::default(),
            transfer: 512,
            max_packet: 255,
            timeout: Duration::from_millis(500),
            flush_interval: Duration::from_micros(500),
        }
    }
}

impl UsbSettings {
    /// The largest packet: within `max_packet`, the header's LEN field and (unless
    /// streaming) one transfer.
    pub fn packet_limit(&self) -> usize {
        let mut limit = self
            .max_packet
            .min(self.config.header.max_packet_len())
            .max(1);
        if self.config.packing != Packing::Streaming {
            while limit > 1 && self.config.slot_len(limit) > self.transfer {
                limit -= 1;
            }
        }
        limit
    }
}

impl fmt::Display for UsbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let packing = match self.config.packing {
            Packing::Single => "one packet per transfer".to_owned(),
            Packing::Multiple => format!(
                "several packets per transfer, {}-bit aligned",
                self.config.alignment.bytes() * 8
            ),
            Packing::Streaming => "streaming".to_owned(),
        };
        write!(
            f,
            "{}, {packing}, transfers of up to {} bytes",
            self.config.header, self.transfer
        )
    }
}

/// XCP on a pair of bulk endpoints.
pub struct UsbLink<O: BulkOut, I: BulkIn> {
    out: O,
    inp: I,
    name: String,
    settings: UsbSettings,
}

impl<O: BulkOut, I: BulkIn> UsbLink<O, I> {
    /// The transport over `out` and `inp`, `name` saying what they are.
    ///
    /// # Errors
    /// [`TransportError::Config`] when a transfer cannot carry one packet of eight bytes.
    pub fn new(out: O, inp: I, name: &str, settings: UsbSettings) -> Result<Self, TransportError> {
        if settings.packet_limit() < 8 || settings.transfer > out.max_transfer() {
            return Err(TransportError::Config(format!(
                "{name}: transfers of {} bytes ({} the endpoint takes) carry packets of at most {} bytes; XCP needs 8",
                settings.transfer,
                out.max_transfer(),
                settings.packet_limit()
            )));
        }
        Ok(Self {
            out,
            inp,
            name: name.to_owned(),
            settings,
        })
    }
}

/// The master's end of XCP on USB: a [`UsbDevice`] and how its transfers carry packets.
pub type UsbTransport<D> = UsbLink<<D as UsbDevice>::Out, <D as UsbDevice>::In>;

/// The master's end on `device`.
///
/// # Errors
/// As [`UsbLink::new`].
pub fn master<D: UsbDevice>(
    device: D,
    settings: UsbSettings,
) -> Result<UsbTransport<D>, TransportError> {
    let name = device.describe();
    let (out, inp) = device.split();
    UsbLink::new(out, inp, &name, settings)
}

impl<O: BulkOut, I: BulkIn> Transport for UsbLink<O, I> {
    type Tx = UsbTx<O>;
    type Rx = UsbRx<I>;

    fn split(self) -> (UsbTx<O>, UsbRx<I>) {
        let s = self.settings;
        let limit = s.packet_limit();
        let deframer = (s.config.packing == Packing::Streaming)
            .then(|| {
                Deframer::new(
                    s.config.framing(),
                    limit,
                    vec![0u8; s.config.framing().frame_len(limit) + 1],
                )
                .ok()
            })
            .flatten();
        (
            UsbTx {
                out: self.out,
                name: self.name.clone(),
                settings: s,
                buf: vec![0u8; s.transfer],
                used: 0,
                stream: Vec::new(),
                ctr: 0,
                queued: 0,
                since: None,
                stuck: false,
                stats: TxStats::default(),
            },
            UsbRx {
                inp: self.inp,
                name: self.name,
                settings: s,
                buf: vec![0u8; s.transfer],
                deframer,
                ready: VecDeque::new(),
                spare: Vec::new(),
                current: Vec::new(),
                ctr: CtrTracker::for_header(s.config.header),
                stats: RxStats::default(),
            },
        )
    }
}

/// The sending half of a [`UsbLink`].
pub struct UsbTx<O: BulkOut> {
    out: O,
    name: String,
    settings: UsbSettings,
    /// The transfer being packed (single and multiple packing).
    buf: Vec<u8>,
    used: usize,
    /// Frames not yet written (streaming).
    stream: Vec<u8>,
    ctr: u16,
    queued: u64,
    since: Option<Instant>,
    /// The last write timed out: the next ones do not wait until one goes through, so a
    /// stuck endpoint costs one timeout, not one per transfer.
    stuck: bool,
    stats: TxStats,
}

impl<O: BulkOut> UsbTx<O> {
    fn write(&mut self, transfer_len: usize, from_stream: bool) -> Result<(), TransportError> {
        let timeout = if self.stuck {
            Duration::ZERO
        } else {
            self.settings.timeout
        };
        let data = if from_stream {
            &self.stream[..transfer_len]
        } else {
            &self.buf[..transfer_len]
        };
        match self.out.write(data, timeout) {
            Ok(()) => {
                self.stuck = false;
                self.stats.frames += 1;
                Ok(())
            }
            Err(e) => {
                self.stuck = matches!(e, TransportError::Stalled { .. });
                Err(e)
            }
        }
    }
}

impl<O: BulkOut> PacketTx for UsbTx<O> {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let limit = self.settings.packet_limit();
        if packet.len() > limit {
            return Err(TransportError::TooLong {
                len: packet.len(),
                max: limit,
            });
        }
        let config = self.settings.config;
        let bad = |e: xcp_proto::EncodeError| {
            TransportError::Config(format!("packing a packet for {}: {e}", self.name))
        };
        if config.packing == Packing::Streaming {
            let at = self.stream.len();
            self.stream
                .resize(at + config.framing().frame_len(packet.len()), 0);
            config
                .framing()
                .encode(self.ctr, packet, &mut self.stream[at..])
                .map_err(bad)?;
        } else {
            let transfer = self.settings.transfer;
            let packed = config
                .pack(self.ctr, packet, &mut self.buf[..transfer], &mut self.used)
                .map_err(bad)?;
            if !packed {
                self.flush()?;
                let mut used = 0;
                config
                    .pack(self.ctr, packet, &mut self.buf[..transfer], &mut used)
                    .map_err(|e| {
                        TransportError::Config(format!("packing a packet for {}: {e}", self.name))
                    })?;
                self.used = used;
            }
        }
        self.ctr = self.ctr.wrapping_add(1);
        self.queued += 1;
        self.stats.bytes += packet.len() as u64;
        self.since.get_or_insert_with(Instant::now);
        // Full transfers leave at once; a single-packet transfer is full with its packet.
        let full = match config.packing {
            Packing::Streaming => self.stream.len() >= self.settings.transfer,
            Packing::Single => true,
            Packing::Multiple => self.used + config.slot_len(8) > self.settings.transfer,
        };
        if full { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        let queued = std::mem::take(&mut self.queued);
        self.since = None;
        let result = if self.settings.config.packing == Packing::Streaming {
            // The byte stream is cut into transfers anywhere, frames included.
            let mut r = Ok(());
            while !self.stream.is_empty() && r.is_ok() {
                let n = self.stream.len().min(self.settings.transfer);
                r = self.write(n, true);
                self.stream.drain(..n);
            }
            if r.is_err() {
                self.stream.clear();
            }
            r
        } else if self.used > 0 {
            let n = std::mem::take(&mut self.used);
            self.write(n, false)
        } else {
            Ok(())
        };
        match result {
            Ok(()) => {
                self.stats.packets += queued;
                Ok(())
            }
            Err(e) => {
                self.stats.dropped += queued;
                Err(e)
            }
        }
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + self.settings.flush_interval)
    }

    fn max_packet_len(&self) -> usize {
        self.settings.packet_limit()
    }

    fn stats(&self) -> TxStats {
        self.stats
    }
}

/// The receiving half of a [`UsbLink`].
pub struct UsbRx<I: BulkIn> {
    inp: I,
    name: String,
    settings: UsbSettings,
    buf: Vec<u8>,
    deframer: Option<Deframer<Vec<u8>>>,
    ready: VecDeque<Vec<u8>>,
    /// Buffers of packets already read, reused for the next ones.
    spare: Vec<Vec<u8>>,
    current: Vec<u8>,
    ctr: CtrTracker,
    stats: RxStats,
}

impl<I: BulkIn> UsbRx<I> {
    /// Reads one transfer within `wait` and unpacks its packets, each copied once, straight
    /// from the transfer into a reused buffer.
    fn fill(&mut self, wait: Duration) -> Result<(), TransportError> {
        let n = self.inp.read(&mut self.buf, wait)?;
        if n == 0 {
            return Ok(());
        }
        let limit = self.settings.packet_limit();
        let Self {
            buf,
            deframer,
            ready,
            spare,
            ctr,
            stats,
            name,
            settings,
            ..
        } = self;
        let mut take = |packet: &[u8], c: Option<u16>| {
            if let Some(c) = c {
                ctr.observe(c);
                stats.lost = ctr.lost;
                stats.out_of_order = ctr.out_of_order;
            }
            stats.packets += 1;
            stats.bytes += packet.len() as u64;
            let mut v = spare.pop().unwrap_or_default();
            v.clear();
            v.extend_from_slice(packet);
            ready.push_back(v);
        };
        let mut bad = 0u64;
        if let Some(d) = deframer.as_mut() {
            let pushed = d.push(&buf[..n], |f| match f {
                Ok(f) => take(f.packet, f.ctr),
                Err(_) => bad += 1,
            });
            if let Err(source) = pushed {
                return Err(TransportError::Malformed {
                    peer: name.clone(),
                    source,
                });
            }
        } else {
            for f in settings.config.unpack(&buf[..n], limit) {
                match f {
                    Ok(f) => take(f.packet, f.ctr),
                    Err(e) => {
                        tracing::debug!("{name}: a transfer that does not unpack: {e}");
                        bad += 1;
                    }
                }
            }
        }
        stats.malformed += bad;
        Ok(())
    }

    fn next(&mut self) -> Option<&[u8]> {
        let p = self.ready.pop_front()?;
        let old = std::mem::replace(&mut self.current, p);
        if self.spare.len() < 64 {
            self.spare.push(old);
        }
        Some(&self.current)
    }
}

impl<I: BulkIn> PacketRx for UsbRx<I> {
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        let deadline = Instant::now() + timeout;
        while self.ready.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            self.fill(left)?;
            if self.ready.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
        }
        Ok(self.next())
    }

    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        if self.ready.is_empty() {
            self.fill(Duration::ZERO)?;
        }
        Ok(self.next())
    }

    fn max_packet_len(&self) -> usize {
        self.settings.packet_limit()
    }

    fn stats(&self) -> RxStats {
        self.stats
    }
}
