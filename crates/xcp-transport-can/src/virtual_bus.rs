//! An in-process CAN bus: any number of nodes, each frame delivered to every other node.
//!
//! Each node has a bounded receive queue; a frame that finds a node's queue full is dropped
//! for that node and counted in its [`CanRx::overruns`], as a controller whose receive
//! buffer overflows. With a bit rate set, [`CanTx::send`] takes as long as the frame would
//! occupy a real bus (one sender at a time), so bus load and latency are realistic.
//!
//! Buses are found by name within the process ([`VirtualBus::named`]), so a slave and a
//! master opened from the same URL meet.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use xcp_transport::TransportError;

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::CanFrame;

/// Settings of a virtual bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualConfig {
    /// Frames each node holds before it drops.
    pub queue: usize,
    /// CAN FD frames allowed.
    pub fd: bool,
    /// Nominal bit rate for pacing (`None`: frames take no bus time).
    pub bitrate: Option<u32>,
    /// CAN FD data-phase bit rate for frames with BRS (pacing only).
    pub data_bitrate: Option<u32>,
}

impl Default for VirtualConfig {
    fn default() -> Self {
        Self {
            queue: 65_536,
            fd: true,
            bitrate: None,
            data_bitrate: None,
        }
    }
}

struct Inbox {
    frames: Mutex<VecDeque<CanFrame>>,
    ready: Condvar,
    overruns: std::sync::atomic::AtomicU64,
}

struct Shared {
    name: String,
    config: VirtualConfig,
    nodes: Mutex<Vec<(u64, Weak<Inbox>)>>,
    next_node: std::sync::atomic::AtomicU64,
    /// When the bus is free again (pacing).
    busy_until: Mutex<Instant>,
    epoch: Instant,
}

/// A virtual bus; [`node`](Self::node) attaches a node to it.
#[derive(Clone)]
pub struct VirtualBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for VirtualBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "virtual bus \"{}\"", self.shared.name)
    }
}

fn registry() -> MutexGuard<'static, HashMap<String, Weak<Shared>>> {
    static BUSES: OnceLock<Mutex<HashMap<String, Weak<Shared>>>> = OnceLock::new();
    let m = BUSES.get_or_init(|| Mutex::new(HashMap::new()));
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl VirtualBus {
    /// A new bus of its own, found by no name.
    pub fn new(config: VirtualConfig) -> Self {
        Self::make("", config)
    }

    fn make(name: &str, config: VirtualConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                name: name.to_owned(),
                config,
                nodes: Mutex::new(Vec::new()),
                next_node: std::sync::atomic::AtomicU64::new(0),
                busy_until: Mutex::new(Instant::now()),
                epoch: Instant::now(),
            }),
        }
    }

    /// The bus of this name in this process, made with `config` if no node holds it yet.
    pub fn named(name: &str, config: VirtualConfig) -> Self {
        let mut buses = registry();
        if let Some(shared) = buses.get(name).and_then(Weak::upgrade) {
            return Self { shared };
        }
        buses.retain(|_, w| w.strong_count() > 0);
        let bus = Self::make(name, config);
        buses.insert(name.to_owned(), Arc::downgrade(&bus.shared));
        bus
    }

    /// Attaches a node: it receives every frame the other nodes send.
    pub fn node(&self) -> VirtualNode {
        use std::sync::atomic::Ordering;
        let inbox = Arc::new(Inbox {
            frames: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            overruns: std::sync::atomic::AtomicU64::new(0),
        });
        let id = self.shared.next_node.fetch_add(1, Ordering::Relaxed);
        let mut nodes = lock(&self.shared.nodes);
        // Nodes that were dropped leave no trace, however many come and go.
        nodes.retain(|(_, w)| w.strong_count() > 0);
        nodes.push((id, Arc::downgrade(&inbox)));
        drop(nodes);
        VirtualNode {
            bus: Arc::clone(&self.shared),
            id,
            inbox,
        }
    }

    /// How many nodes are attached now.
    pub fn nodes(&self) -> usize {
        lock(&self.shared.nodes)
            .iter()
            .filter(|(_, w)| w.strong_count() > 0)
            .count()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One node on a [`VirtualBus`].
pub struct VirtualNode {
    bus: Arc<Shared>,
    id: u64,
    inbox: Arc<Inbox>,
}

impl CanBus for VirtualNode {
    type Tx = VirtualTx;
    type Rx = VirtualRx;

    fn split(self) -> (VirtualTx, VirtualRx) {
        (
            VirtualTx {
                bus: Arc::clone(&self.bus),
                id: self.id,
                _inbox: Arc::clone(&self.inbox),
            },
            VirtualRx {
                bus: self.bus,
                inbox: self.inbox,
            },
        )
    }

    fn describe(&self) -> String {
        describe(&self.bus)
    }
}

fn describe(bus: &Shared) -> String {
    if bus.name.is_empty() {
        "virtual CAN bus".to_owned()
    } else {
        format!("virtual CAN bus \"{}\"", bus.name)
    }
}

/// The send half of a [`VirtualNode`].
pub struct VirtualTx {
    bus: Arc<Shared>,
    id: u64,
    /// Keeps the node attached while either half lives.
    _inbox: Arc<Inbox>,
}

/// Bits a frame occupies on the bus (nominal and data phase), stuffing ignored.
fn frame_time(frame: &CanFrame, c: &VirtualConfig) -> Duration {
    let Some(nominal) = c.bitrate.filter(|&b| b > 0) else {
        return Duration::ZERO;
    };
    let header: u64 = if frame.id.extended { 67 } else { 47 };
    let data_bits = 8 * frame.data().len() as u64;
    let nanos = |bits: u64, rate: u32| bits * 1_000_000_000 / u64::from(rate);
    if frame.fd && frame.brs {
        let fast = c.data_bitrate.filter(|&b| b > 0).unwrap_or(nominal);
        Duration::from_nanos(nanos(header, nominal) + nanos(data_bits + 21, fast))
    } else {
        Duration::from_nanos(nanos(header + data_bits, nominal))
    }
}

impl CanTx for VirtualTx {
    fn send(&mut self, frame: &CanFrame) -> Result<(), TransportError> {
        if frame.fd && !self.bus.config.fd {
            return Err(TransportError::Config(format!(
                "{} carries classic CAN only; a CAN FD frame cannot be sent",
                describe(&self.bus)
            )));
        }
        let took = frame_time(frame, &self.bus.config);
        if !took.is_zero() {
            // One frame on the bus at a time: wait for the bus, then occupy it.
            let done = {
                let mut busy = lock(&self.bus.busy_until);
                let start = (*busy).max(Instant::now());
                *busy = start + took;
                *busy
            };
            while Instant::now() < done {
                std::thread::yield_now();
            }
        }
        let mut f = *frame;
        f.timestamp_ns =
            Some(u64::try_from(self.bus.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX));
        // Delivered under the node list's lock, one frame on the bus at a time, as on a real
        // bus; a receiver holds only its own inbox's lock, so this cannot deadlock.
        let nodes = lock(&self.bus.nodes);
        for inbox in nodes
            .iter()
            .filter(|(id, _)| *id != self.id)
            .filter_map(|(_, w)| w.upgrade())
        {
            let mut q = lock(&inbox.frames);
            if q.len() >= self.bus.config.queue {
                inbox
                    .overruns
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            q.push_back(f);
            drop(q);
            inbox.ready.notify_one();
        }
        Ok(())
    }

    fn fd(&self) -> bool {
        self.bus.config.fd
    }
}

/// The receive half of a [`VirtualNode`].
pub struct VirtualRx {
    bus: Arc<Shared>,
    inbox: Arc<Inbox>,
}

impl CanRx for VirtualRx {
    fn recv(&mut self, timeout: Duration) -> Result<Option<CanFrame>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.inbox.frames);
        loop {
            if let Some(f) = q.pop_front() {
                return Ok(Some(f));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            q = self
                .inbox
                .ready
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn try_recv(&mut self) -> Result<Option<CanFrame>, TransportError> {
        Ok(lock(&self.inbox.frames).pop_front())
    }

    fn overruns(&self) -> u64 {
        self.inbox
            .overruns
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for VirtualRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.bus))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CanId;

    fn frame(id: u32, data: &[u8]) -> CanFrame {
        CanFrame::new(CanId::standard(id).expect("id"), data, false).expect("frame")
    }

    #[test]
    fn every_other_node_receives_a_frame_and_the_sender_does_not() {
        let bus = VirtualBus::new(VirtualConfig::default());
        let (mut a_tx, mut a_rx) = bus.node().split();
        let (_b_tx, mut b_rx) = bus.node().split();
        let (_c_tx, mut c_rx) = bus.node().split();
        a_tx.send(&frame(0x100, &[1, 2])).expect("send");
        for rx in [&mut b_rx, &mut c_rx] {
            let f = rx
                .recv(Duration::from_secs(1))
                .expect("recv")
                .expect("a frame");
            assert_eq!((f.id.id, f.data()), (0x100, &[1u8, 2][..]));
            assert!(f.timestamp_ns.is_some());
        }
        assert_eq!(a_rx.try_recv().expect("recv"), None);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let bus = VirtualBus::new(VirtualConfig {
            queue: 2,
            ..VirtualConfig::default()
        });
        let (mut tx, _rx) = bus.node().split();
        let (_t, mut rx) = bus.node().split();
        for i in 0..5u8 {
            tx.send(&frame(0x1, &[i])).expect("send");
        }
        assert_eq!(rx.overruns(), 3);
        assert_eq!(rx.try_recv().expect("recv").map(|f| f.data()[0]), Some(0));
        assert_eq!(rx.try_recv().expect("recv").map(|f| f.data()[0]), Some(1));
        assert_eq!(rx.try_recv().expect("recv"), None);
    }

    #[test]
    fn named_buses_meet_and_classic_buses_refuse_fd_frames() {
        let a = VirtualBus::named("meet-test", VirtualConfig::default());
        let b = VirtualBus::named("meet-test", VirtualConfig::default());
        let _n = a.node();
        assert_eq!(b.nodes(), 1);
        let classic = VirtualBus::new(VirtualConfig {
            fd: false,
            ..VirtualConfig::default()
        });
        let (mut tx, _rx) = classic.node().split();
        let fd = CanFrame::new(CanId::standard(1).expect("id"), &[0; 12], true).expect("fd");
        let err = tx.send(&fd).expect_err("refused");
        assert!(err.to_string().contains("classic CAN only"), "{err}");
    }

    #[test]
    fn pacing_takes_the_frames_bus_time() {
        // 125 kbit/s: a classic 8-byte frame of 111 bits takes 888 µs; ten take about 9 ms.
        let bus = VirtualBus::new(VirtualConfig {
            bitrate: Some(125_000),
            ..VirtualConfig::default()
        });
        let (mut tx, _rx) = bus.node().split();
        let start = Instant::now();
        for _ in 0..10 {
            tx.send(&frame(0x1, &[0; 8])).expect("send");
        }
        assert!(start.elapsed() >= Duration::from_micros(8_880));
    }
}
