//! One slave served on two transports at once (say XCP on TCP and on UDP), one master at a time.
//!
//! [`Either`] joins two server-side transports. Each receive half gets a thread that waits on
//! it and hands packets over a bounded channel; the joined receive half delivers them in
//! arrival order. The first packet from a side *latches* that side: until its master leaves,
//! the other side's CONNECT is answered with ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE and its
//! other packets are discarded and counted as foreign. The latch is released when the
//! latched side reports a lost link, after a DISCONNECT passed through, or when a CONNECT
//! arrives on the other side after the latched master has been silent for
//! [`EitherConfig::takeover_after`] (a UDP master that vanished cannot say so); the slave
//! then sees the old session end (`Disconnected`) before it gets the new CONNECT.
//!
//! Responses and DTOs go to the side the last delivered packet came from.
//!
//! A lost master, a malformed frame or any other error of one side ends that side's session
//! at most. When one side is [closed](TransportError::is_closed) for good (its listening
//! socket failed), the joined half reports that error, so the server stops and says which
//! listener failed instead of serving on half of them.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{PacketRx, PacketTx, RxStats, Transport, TransportError, TxStats};

/// CONNECT command code.
const CONNECT: u8 = 0xFF;
/// DISCONNECT command code.
const DISCONNECT: u8 = 0xFE;
/// The answer to a master that finds the slave taken.
const BUSY: [u8; 2] = [0xFE, 0x33];
/// Packets the reader threads may have waiting.
const CHANNEL_DEPTH: usize = 2;
/// How long a reader thread waits before it looks at the stop flag.
const READER_SLICE: Duration = Duration::from_millis(10);

/// Settings of [`Either`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EitherConfig {
    /// A CONNECT on the other side takes the slave over once the latched master has sent
    /// nothing for this long (5 s by default, like the UDP server's own takeover).
    pub takeover_after: Duration,
}

impl Default for EitherConfig {
    fn default() -> Self {
        Self {
            takeover_after: Duration::from_secs(5),
        }
    }
}

/// Two server-side transports as one; see the [module documentation](self).
#[derive(Debug)]
pub struct Either<A, B> {
    a: A,
    b: B,
    config: EitherConfig,
}

impl<A: Transport, B: Transport> Either<A, B> {
    /// Joins `a` and `b` with the default settings.
    pub fn new(a: A, b: B) -> Self {
        Self::with_config(a, b, EitherConfig::default())
    }

    /// Joins `a` and `b`.
    pub fn with_config(a: A, b: B, config: EitherConfig) -> Self {
        Self { a, b, config }
    }
}

/// Which of the two transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A = 1,
    B = 2,
}

impl Side {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::A),
            2 => Some(Self::B),
            _ => None,
        }
    }
}

struct Halves<TA, TB> {
    a: TA,
    b: TB,
}

impl<TA: PacketTx, TB: PacketTx> Halves<TA, TB> {
    fn send(&mut self, side: Side, packet: &[u8]) -> Result<(), TransportError> {
        match side {
            Side::A => self.a.send(packet),
            Side::B => self.b.send(packet),
        }
    }

    fn flush(&mut self, side: Side) -> Result<(), TransportError> {
        match side {
            Side::A => self.a.flush(),
            Side::B => self.b.flush(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

type Item = (Side, Result<Vec<u8>, TransportError>);

impl<A: Transport, B: Transport> Transport for Either<A, B> {
    type Tx = EitherTx<A::Tx, B::Tx>;
    type Rx = EitherRx<A::Tx, B::Tx>;

    fn split(self) -> (Self::Tx, Self::Rx) {
        let (a_tx, a_rx) = self.a.split();
        let (b_tx, b_rx) = self.b.split();
        let max_rx = a_rx.max_packet_len().min(b_rx.max_packet_len());
        let halves = Arc::new(Mutex::new(Halves { a: a_tx, b: b_tx }));
        let target = Arc::new(AtomicU8::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, receiver) = sync_channel(CHANNEL_DEPTH);
        let (credit_a, a_credit) = sync_channel(1);
        let (credit_b, b_credit) = sync_channel(1);
        let readers = [
            spawn_reader(Side::A, a_rx, sender.clone(), a_credit, Arc::clone(&stop)),
            spawn_reader(Side::B, b_rx, sender, b_credit, Arc::clone(&stop)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let tx = EitherTx {
            halves: Arc::clone(&halves),
            target: Arc::clone(&target),
        };
        let rx = EitherRx {
            receiver,
            halves,
            target,
            stop,
            readers,
            credits: [credit_a, credit_b],
            config: self.config,
            latched: None,
            last_heard: Instant::now(),
            pending: None,
            buf: Vec::new(),
            max_rx,
            stats: RxStats::default(),
            refused: Arc::new(AtomicU64::new(0)),
        };
        (tx, rx)
    }
}

/// Waits on one receive half and forwards what it gets; ends when told to stop, when the
/// joined half is gone, or when its transport is [closed](TransportError::is_closed). Any
/// other error ends one master's session and the reader goes on.
///
/// It reads one packet per credit, and the joined half hands out a credit only when the
/// slave asks for its next packet, so a reader never reads ahead of the slave: reading is
/// where a server follows a new master (a UDP CONNECT from a new address), and answers to
/// the packets before it must still go to the old one.
fn spawn_reader<R: PacketRx>(
    side: Side,
    mut rx: R,
    sender: SyncSender<Item>,
    credit: Receiver<()>,
    stop: Arc<AtomicBool>,
) -> Option<JoinHandle<()>> {
    let run = move || {
        let mut have_credit = false;
        while !stop.load(Ordering::Relaxed) {
            if !have_credit {
                match credit.recv_timeout(READER_SLICE) {
                    Ok(()) => have_credit = true,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let (item, closed) = match rx.recv(READER_SLICE) {
                Ok(Some(packet)) => (Ok(packet.to_vec()), false),
                Ok(None) => continue,
                Err(e) => {
                    let closed = e.is_closed();
                    (Err(e), closed)
                }
            };
            have_credit = false;
            if sender.send((side, item)).is_err() || closed {
                return;
            }
        }
    };
    match std::thread::Builder::new()
        .name(format!("xcp-either-{side:?}"))
        .spawn(run)
    {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!("no reader thread for transport {side:?}: {e}");
            None
        }
    }
}

/// The send half of [`Either`]: sends to the side the last delivered packet came from.
pub struct EitherTx<TA, TB> {
    halves: Arc<Mutex<Halves<TA, TB>>>,
    target: Arc<AtomicU8>,
}

impl<TA: PacketTx, TB: PacketTx> EitherTx<TA, TB> {
    fn target(&self) -> Result<Side, TransportError> {
        Side::from_u8(self.target.load(Ordering::Acquire)).ok_or(TransportError::NoPeer)
    }
}

impl<TA: PacketTx, TB: PacketTx> PacketTx for EitherTx<TA, TB> {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let side = self.target()?;
        lock(&self.halves).send(side, packet)
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        let side = self.target()?;
        lock(&self.halves).flush(side)
    }

    fn flush_deadline(&self) -> Option<Instant> {
        let h = lock(&self.halves);
        match (h.a.flush_deadline(), h.b.flush_deadline()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    fn poll_flush(&mut self, now: Instant) -> Result<(), TransportError> {
        let mut h = lock(&self.halves);
        let a = h.a.poll_flush(now);
        let b = h.b.poll_flush(now);
        a.and(b)
    }

    fn max_packet_len(&self) -> usize {
        let h = lock(&self.halves);
        h.a.max_packet_len().min(h.b.max_packet_len())
    }

    fn stats(&self) -> TxStats {
        let h = lock(&self.halves);
        let (a, b) = (h.a.stats(), h.b.stats());
        TxStats {
            packets: a.packets + b.packets,
            bytes: a.bytes + b.bytes,
            frames: a.frames + b.frames,
            dropped: a.dropped + b.dropped,
        }
    }
}

/// The receive half of [`Either`]. Dropping it stops and joins the reader threads.
pub struct EitherRx<TA: PacketTx, TB: PacketTx> {
    receiver: Receiver<Item>,
    halves: Arc<Mutex<Halves<TA, TB>>>,
    target: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    readers: Vec<JoinHandle<()>>,
    /// One credit a reader: leave to read one more packet.
    credits: [SyncSender<()>; 2],
    config: EitherConfig,
    /// The side whose master holds the slave.
    latched: Option<Side>,
    /// When the latched side last sent something.
    last_heard: Instant,
    /// A CONNECT that took the slave over, delivered after the old session's end.
    pending: Option<(Side, Vec<u8>)>,
    buf: Vec<u8>,
    max_rx: usize,
    stats: RxStats,
    refused: Arc<AtomicU64>,
}

impl<TA: PacketTx, TB: PacketTx> EitherRx<TA, TB> {
    /// CONNECTs refused because the other side's master held the slave.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn deliver(&mut self, side: Side, packet: Vec<u8>) -> &[u8] {
        self.latched = if packet.first() == Some(&DISCONNECT) {
            None
        } else {
            Some(side)
        };
        self.last_heard = Instant::now();
        self.target.store(side as u8, Ordering::Release);
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        self.buf = packet;
        &self.buf
    }

    fn refuse(&self, side: Side) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut h = lock(&self.halves);
        if h.send(side, &BUSY).and_then(|()| h.flush(side)).is_err() {
            tracing::debug!("refusal to the master on {side:?} not sent");
        }
    }
}

impl<TA: PacketTx, TB: PacketTx> PacketRx for EitherRx<TA, TB> {
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        if let Some((side, packet)) = self.pending.take() {
            return Ok(Some(self.deliver(side, packet)));
        }
        let deadline = Instant::now() + timeout;
        loop {
            // Everything delivered so far has been handled: each reader may read one more
            // (a reader that still holds its credit keeps it; a full slot says so).
            for credit in &self.credits {
                let _ = credit.try_send(());
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let (side, item) = match self.receiver.recv_timeout(wait) {
                Ok(x) => x,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(TransportError::Closed {
                        transport: "both transports".into(),
                        reason: "their receive halves have ended".into(),
                    });
                }
            };
            // One side closed for good: say so rather than serve on half the listeners.
            let item = match item {
                Err(e) if e.is_closed() => {
                    self.latched = None;
                    return Err(e);
                }
                other => other,
            };
            match (self.latched, item) {
                (None, Ok(packet)) => return Ok(Some(self.deliver(side, packet))),
                (Some(l), Ok(packet)) if l == side => return Ok(Some(self.deliver(side, packet))),
                (Some(l), Ok(packet)) => {
                    if packet.first() != Some(&CONNECT) {
                        self.stats.foreign += 1;
                    } else if self.last_heard.elapsed() >= self.config.takeover_after {
                        self.latched = None;
                        self.pending = Some((side, packet));
                        return Err(TransportError::Disconnected {
                            peer: format!("the master on transport {l:?}"),
                            reason: format!(
                                "silent for {:?}; a master on transport {side:?} took over",
                                self.config.takeover_after
                            ),
                        });
                    } else {
                        self.refuse(side);
                    }
                }
                (latched, Err(e)) => {
                    if latched == Some(side) {
                        self.latched = None;
                        return Err(e);
                    }
                    tracing::debug!("transport {side:?} without a session: {e}");
                }
            }
        }
    }

    fn max_packet_len(&self) -> usize {
        self.max_rx
    }

    fn stats(&self) -> RxStats {
        self.stats
    }
}

impl<TA: PacketTx, TB: PacketTx> Drop for EitherRx<TA, TB> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A reader blocked on a full channel wakes up when the receiver goes.
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, dead));
        for r in self.readers.drain(..) {
            if r.join().is_err() {
                tracing::error!("an xcp-either reader thread panicked");
            }
        }
    }
}
