//! Seeded, reproducible faults: drop, duplicate, corrupt, delay and reorder.
//!
//! [`FaultInjecting`] applies them to the packets its inner transport *receives*; wrap the end
//! whose incoming traffic should suffer (the master's end for slave→master faults). Sending
//! is passed through untouched. The same seed and the same packet sequence always give the
//! same faults, and [`FaultConfig::at`] scripts a fault for one exact packet, so timeout,
//! retry and SYNCH paths can be tested deterministically.
//!
//! [`FaultPlan`] is the decision engine on its own, for faults injected below the framing
//! (a relay that drops whole datagrams, so counter gaps appear).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::{PacketRx, RxStats, Transport, TransportError};

/// One fault applied to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Delivered unchanged.
    Pass,
    /// Never delivered.
    Drop,
    /// Delivered twice.
    Duplicate,
    /// One byte XORed with a non-zero mask.
    Corrupt {
        /// Byte index (taken modulo the packet length).
        offset: usize,
        /// XOR mask, never zero.
        mask: u8,
    },
    /// Delivered after this long.
    Delay(Duration),
    /// Held back and delivered after the next packet (or when the receiver next times out).
    Reorder,
}

/// Fault probabilities, a seed, and scripted faults.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seed of the random sequence.
    pub seed: u64,
    /// Probability that a packet is dropped.
    pub drop: f64,
    /// Probability that a packet is duplicated.
    pub duplicate: f64,
    /// Probability that a packet has one byte corrupted.
    pub corrupt: f64,
    /// Probability that a packet is delayed by [`delay_by`](Self::delay_by).
    pub delay: f64,
    /// How long a delayed packet waits.
    pub delay_by: Duration,
    /// Probability that a packet is swapped with the next one.
    pub reorder: f64,
    /// Faults for exact packet indices (0 = first packet seen), overriding the random choice.
    pub script: BTreeMap<u64, Fault>,
}

impl FaultConfig {
    /// No random faults, with `seed` for any probabilities set later.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            drop: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            delay: 0.0,
            delay_by: Duration::from_millis(10),
            reorder: 0.0,
            script: BTreeMap::new(),
        }
    }

    /// Applies `fault` to the packet with index `index` (0-based), whatever the dice say.
    #[must_use]
    pub fn at(mut self, index: u64, fault: Fault) -> Self {
        self.script.insert(index, fault);
        self
    }

    /// Sets the drop probability.
    #[must_use]
    pub fn drop(mut self, p: f64) -> Self {
        self.drop = p;
        self
    }

    /// Sets the duplicate probability.
    #[must_use]
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets the corrupt probability.
    #[must_use]
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets the delay probability and duration.
    #[must_use]
    pub fn delay(mut self, p: f64, by: Duration) -> Self {
        self.delay = p;
        self.delay_by = by;
        self
    }

    /// Sets the reorder probability.
    #[must_use]
    pub fn reorder(mut self, p: f64) -> Self {
        self.reorder = p;
        self
    }
}

/// How many faults were injected, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Packets seen.
    pub seen: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// Packets duplicated.
    pub duplicated: u64,
    /// Packets corrupted.
    pub corrupted: u64,
    /// Packets delayed.
    pub delayed: u64,
    /// Packets held back behind the next one.
    pub reordered: u64,
}

/// The seeded decision engine: one [`Fault`] per packet, reproducibly.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    config: FaultConfig,
    rng: SplitMix64,
    index: u64,
    stats: FaultStats,
}

impl FaultPlan {
    /// A plan for `config`.
    pub fn new(config: FaultConfig) -> Self {
        Self {
            rng: SplitMix64(config.seed),
            config,
            index: 0,
            stats: FaultStats::default(),
        }
    }

    /// The fault for the next packet, of `len` bytes.
    pub fn next_fault(&mut self, len: usize) -> Fault {
        let index = self.index;
        self.index += 1;
        // Draw every time, so a scripted fault does not shift the random sequence.
        let roll = self.rng.next_f64();
        let extra = self.rng.next_u64();
        let c = &self.config;
        let fault = if let Some(&f) = c.script.get(&index) {
            f
        } else {
            let mut edge = c.drop;
            if roll < edge {
                Fault::Drop
            } else if roll < {
                edge += c.duplicate;
                edge
            } {
                Fault::Duplicate
            } else if roll < {
                edge += c.corrupt;
                edge
            } {
                Fault::Corrupt {
                    offset: usize::try_from(extra % len.max(1) as u64).unwrap_or(0),
                    mask: u8::try_from((extra >> 32) % 255 + 1).unwrap_or(1),
                }
            } else if roll < {
                edge += c.delay;
                edge
            } {
                Fault::Delay(c.delay_by)
            } else if roll < edge + c.reorder {
                Fault::Reorder
            } else {
                Fault::Pass
            }
        };
        self.stats.seen += 1;
        match fault {
            Fault::Pass => {}
            Fault::Drop => self.stats.dropped += 1,
            Fault::Duplicate => self.stats.duplicated += 1,
            Fault::Corrupt { .. } => self.stats.corrupted += 1,
            Fault::Delay(_) => self.stats.delayed += 1,
            Fault::Reorder => self.stats.reordered += 1,
        }
        fault
    }

    /// What was injected so far.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }
}

/// A small, fast, seedable generator (SplitMix64); good enough for choosing faults.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "53 random bits fit an f64 mantissa exactly"
    )]
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A transport whose received packets suffer seeded faults.
#[derive(Debug)]
pub struct FaultInjecting<T> {
    inner: T,
    config: FaultConfig,
}

impl<T> FaultInjecting<T> {
    /// Wraps `inner`; its receive half applies `config`.
    pub fn new(inner: T, config: FaultConfig) -> Self {
        Self { inner, config }
    }
}

impl<T: Transport> Transport for FaultInjecting<T> {
    type Tx = T::Tx;
    type Rx = FaultRx<T::Rx>;

    fn split(self) -> (T::Tx, FaultRx<T::Rx>) {
        let (tx, rx) = self.inner.split();
        (
            tx,
            FaultRx {
                inner: rx,
                plan: FaultPlan::new(self.config),
                ready: VecDeque::new(),
                delayed: Vec::new(),
                held: None,
                current: Vec::new(),
                delivered: RxStats::default(),
            },
        )
    }
}

/// The receive half of a [`FaultInjecting`] transport.
#[derive(Debug)]
pub struct FaultRx<R> {
    inner: R,
    plan: FaultPlan,
    ready: VecDeque<Vec<u8>>,
    delayed: Vec<(Instant, Vec<u8>)>,
    held: Option<Vec<u8>>,
    current: Vec<u8>,
    delivered: RxStats,
}

impl<R: PacketRx> FaultRx<R> {
    /// What was injected so far.
    pub fn faults(&self) -> FaultStats {
        self.plan.stats()
    }

    fn release_due(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 <= now {
                let (_, p) = self.delayed.remove(i);
                self.ready.push_back(p);
            } else {
                i += 1;
            }
        }
    }

    fn accept(&mut self, mut packet: Vec<u8>, now: Instant) {
        match self.plan.next_fault(packet.len()) {
            Fault::Pass => self.ready.push_back(packet),
            Fault::Drop => {}
            Fault::Duplicate => {
                self.ready.push_back(packet.clone());
                self.ready.push_back(packet);
            }
            Fault::Corrupt { offset, mask } => {
                let len = packet.len().max(1);
                if let Some(b) = packet.get_mut(offset % len) {
                    *b ^= mask;
                }
                self.ready.push_back(packet);
            }
            Fault::Delay(by) => self.delayed.push((now + by, packet)),
            Fault::Reorder => {
                if let Some(h) = self.held.replace(packet) {
                    self.ready.push_back(h);
                }
                return;
            }
        }
        if let Some(h) = self.held.take() {
            self.ready.push_back(h);
        }
    }

    /// The next packet that is due, asking the inner half once without waiting (`poll`:
    /// through its [`PacketRx::poll_recv`], else its buffers only).
    fn next_ready(&mut self, poll: bool) -> Result<Option<&[u8]>, TransportError> {
        self.release_due(Instant::now());
        if self.ready.is_empty() {
            let inner = if poll {
                self.inner.poll_recv()?
            } else {
                self.inner.try_recv()?
            };
            if let Some(p) = inner.map(<[u8]>::to_vec) {
                self.accept(p, Instant::now());
            }
        }
        let Some(p) = self.ready.pop_front() else {
            return Ok(None);
        };
        self.current = p;
        self.delivered.packets += 1;
        self.delivered.bytes += self.current.len() as u64;
        Ok(Some(&self.current))
    }
}

impl<R: PacketRx> PacketRx for FaultRx<R> {
    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        self.next_ready(false)
    }

    fn poll_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        self.next_ready(true)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut polled = false;
        loop {
            let now = Instant::now();
            self.release_due(now);
            if let Some(p) = self.ready.pop_front() {
                self.current = p;
                self.delivered.packets += 1;
                self.delivered.bytes += self.current.len() as u64;
                return Ok(Some(&self.current));
            }
            // A zero timeout still asks the inner transport once.
            if now >= deadline && polled {
                // A packet held for reordering is not lost when nothing follows it.
                if let Some(h) = self.held.take() {
                    self.ready.push_back(h);
                    continue;
                }
                return Ok(None);
            }
            let next_delayed = self.delayed.iter().map(|d| d.0).min();
            let until = next_delayed.map_or(deadline, |t| t.min(deadline));
            let wait = until.saturating_duration_since(now);
            polled = true;
            let got = self.inner.recv(wait)?.map(<[u8]>::to_vec);
            if let Some(p) = got {
                self.accept(p, Instant::now());
            }
        }
    }

    fn max_packet_len(&self) -> usize {
        self.inner.max_packet_len()
    }

    /// The inner transport's counters; `packets` and `bytes` count what this wrapper
    /// delivered (after drops and duplicates).
    fn stats(&self) -> RxStats {
        RxStats {
            packets: self.delivered.packets,
            bytes: self.delivered.bytes,
            ..self.inner.stats()
        }
    }
}
