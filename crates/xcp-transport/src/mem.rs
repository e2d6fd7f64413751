//! An in-memory master/slave pair, for tests and for running a slave in the master's process.
//!
//! Each direction is a bounded queue of packets. A full queue makes `send` wait up to the
//! configured send timeout and then fail with [`TransportError::Stalled`]; nothing is dropped
//! silently. Dropping both halves of one end disconnects the other end once it has drained
//! what was already queued.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{PacketRx, PacketTx, RxStats, Transport, TransportError, TxStats};

/// Settings of an in-memory pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemConfig {
    /// Packets each direction holds before `send` waits.
    pub capacity: usize,
    /// Largest packet accepted.
    pub max_packet_len: usize,
    /// How long `send` waits for room before failing.
    pub send_timeout: Duration,
}

impl Default for MemConfig {
    fn default() -> Self {
        Self {
            capacity: 4096,
            max_packet_len: usize::from(u16::MAX),
            send_timeout: Duration::from_secs(2),
        }
    }
}

/// One end of an in-memory pair.
#[derive(Debug)]
pub struct MemTransport {
    tx: MemTx,
    rx: MemRx,
}

/// Two connected ends with default settings: `(master, slave)`.
pub fn pair() -> (MemTransport, MemTransport) {
    pair_with(MemConfig::default())
}

/// Two connected ends: `(master, slave)`.
pub fn pair_with(config: MemConfig) -> (MemTransport, MemTransport) {
    let to_slave = Arc::new(Channel::new(config.capacity));
    let to_master = Arc::new(Channel::new(config.capacity));
    let end = |peer: &'static str, out: &Arc<Channel>, inp: &Arc<Channel>| MemTransport {
        tx: MemTx {
            chan: Arc::clone(out),
            config,
            peer,
            stats: TxStats::default(),
        },
        rx: MemRx {
            chan: Arc::clone(inp),
            config,
            peer,
            current: Vec::new(),
            stats: RxStats::default(),
        },
    };
    (
        end("in-memory slave", &to_slave, &to_master),
        end("in-memory master", &to_master, &to_slave),
    )
}

impl Transport for MemTransport {
    type Tx = MemTx;
    type Rx = MemRx;

    fn split(self) -> (MemTx, MemRx) {
        (self.tx, self.rx)
    }
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Vec<u8>>,
    sender_alive: bool,
    receiver_alive: bool,
}

#[derive(Debug)]
struct Channel {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl Channel {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(capacity.min(1024)),
                sender_alive: true,
                receiver_alive: true,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent (every update
        // is a single push or pop), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The send half of an in-memory end.
#[derive(Debug)]
pub struct MemTx {
    chan: Arc<Channel>,
    config: MemConfig,
    peer: &'static str,
    stats: TxStats,
}

impl PacketTx for MemTx {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        if packet.len() > self.config.max_packet_len {
            return Err(TransportError::TooLong {
                len: packet.len(),
                max: self.config.max_packet_len,
            });
        }
        let deadline = Instant::now() + self.config.send_timeout;
        let mut state = self.chan.lock();
        loop {
            if !state.receiver_alive {
                return Err(TransportError::Disconnected {
                    peer: self.peer.into(),
                    reason: "the other end was dropped".into(),
                });
            }
            if state.queue.len() < self.chan.capacity {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TransportError::Stalled {
                    peer: self.peer.into(),
                    waited: self.config.send_timeout,
                });
            }
            state = self
                .chan
                .not_full
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.queue.push_back(packet.to_vec());
        drop(state);
        self.chan.not_empty.notify_one();
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        self.stats.frames += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    fn max_packet_len(&self) -> usize {
        self.config.max_packet_len
    }

    fn stats(&self) -> TxStats {
        self.stats
    }
}

impl Drop for MemTx {
    fn drop(&mut self) {
        self.chan.lock().sender_alive = false;
        self.chan.not_empty.notify_all();
    }
}

/// The receive half of an in-memory end.
#[derive(Debug)]
pub struct MemRx {
    chan: Arc<Channel>,
    config: MemConfig,
    peer: &'static str,
    current: Vec<u8>,
    stats: RxStats,
}

impl PacketRx for MemRx {
    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        let mut state = self.chan.lock();
        let Some(packet) = state.queue.pop_front() else {
            return Ok(None);
        };
        drop(state);
        self.chan.not_full.notify_one();
        self.current = packet;
        self.stats.packets += 1;
        self.stats.bytes += self.current.len() as u64;
        Ok(Some(&self.current))
    }

    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.chan.lock();
        loop {
            if let Some(packet) = state.queue.pop_front() {
                drop(state);
                self.chan.not_full.notify_one();
                self.current = packet;
                self.stats.packets += 1;
                self.stats.bytes += self.current.len() as u64;
                return Ok(Some(&self.current));
            }
            if !state.sender_alive {
                // An in-memory end serves one peer: with it gone, nothing can ever arrive.
                return Err(TransportError::Closed {
                    transport: "the in-memory link".into(),
                    reason: format!("the {} was dropped", self.peer),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            state = self
                .chan
                .not_empty
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn max_packet_len(&self) -> usize {
        self.config.max_packet_len
    }

    fn stats(&self) -> RxStats {
        self.stats
    }
}

impl Drop for MemRx {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receiver_alive = false;
        state.queue.clear();
        drop(state);
        self.chan.not_full.notify_all();
    }
}
