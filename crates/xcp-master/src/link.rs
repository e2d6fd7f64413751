//! The receive side of a session: one receive thread per master owns the transport's receive
//! half, hands each response to the command waiting for it, queues events and service
//! requests, feeds DAQ packets to the decoder, and enforces every command's deadline.
//!
//! A command is a [`Slot`] the master arms before sending; the receive thread completes it with the
//! response, with a timeout when its deadline passes, or with the reason the link died.
//! A response that arrives while no slot is armed (late, duplicated or foreign) is discarded
//! and counted, never kept for the next command.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use xcp_proto::codes::pid;
use xcp_proto::{ErrorCode, EventCode, Pending, SessionParams};
use xcp_transport::{PacketRx, TransportError};

use crate::daq::{DaqState, RawSink};

/// How long the receive thread waits in one receive when no deadline is nearer.
const POLL: Duration = Duration::from_millis(10);

/// What the receive thread should do with the next response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The response to `pending`: `packets` RES packets (slave block mode), or one ERR.
    Response {
        /// The command.
        pending: Pending,
        /// Number of positive packets that make up the answer.
        packets: usize,
    },
    /// The SYNCH fence after a timeout: everything before ERR_CMD_SYNCH is late and discarded.
    Synch,
    /// Nothing: the master waits out a delay (T7); anything arriving is unsolicited.
    Sleep,
}

/// How a command ended, from the receive thread's side.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The response packets (one ERR, or `packets` RES).
    Packets(Vec<Vec<u8>>),
    /// The deadline passed (EV_CMD_PENDING extensions included).
    TimedOut,
    /// The link is down.
    Closed(String),
}

#[derive(Debug)]
enum Slot {
    Idle,
    Armed {
        expect: Expect,
        deadline: Instant,
        timeout: Duration,
        extensions_left: u32,
        got: Vec<Vec<u8>>,
        waker: Option<Waker>,
    },
    /// Completed by a response; the receive thread still drains what arrived behind it.
    Finishing {
        outcome: Outcome,
        waker: Option<Waker>,
    },
    Done(Outcome),
}

/// A service request or event from the slave, as delivered to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaveEvent {
    /// An EV packet: its code and the bytes after the code.
    Event {
        /// Event code.
        code: EventCode,
        /// Event-specific bytes.
        data: Vec<u8>,
    },
    /// A SERV packet: its request code and the bytes after it (SERV_TEXT: the text).
    Service {
        /// Service request code (0 reset, 1 text).
        code: u8,
        /// Request-specific bytes.
        data: Vec<u8>,
    },
}

/// Counters of a session, all monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Commands sent (repetitions and SYNCH included).
    pub commands: u64,
    /// Responses that arrived with no command waiting (late, duplicated, foreign): discarded.
    pub unsolicited: u64,
    /// Responses discarded by a SYNCH fence (answers to a command that had timed out).
    pub late: u64,
    /// Commands whose deadline passed.
    pub timeouts: u64,
    /// Repetitions made by the error handling.
    pub retries: u64,
    /// EV_CMD_PENDING (and ERR_CMD_PENDING) received while a command waited.
    pub pending_extensions: u64,
    /// EV and SERV packets received.
    pub events: u64,
    /// EV and SERV packets dropped because the event queue was full.
    pub events_dropped: u64,
    /// EV_DAQ_OVERLOAD received.
    pub overload_events: u64,
    /// DTOs received.
    pub dtos: u64,
    /// DTOs that arrived with no DAQ configuration to decode them (or did not decode).
    pub dtos_unknown: u64,
    /// Packets that were empty or did not decode.
    pub malformed: u64,
    /// Commands whose response they read from the transport themselves while polling (see
    /// `Config::spin`); the receive thread delivered the others.
    pub polled: u64,
}

#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    unsolicited: AtomicU64,
    late: AtomicU64,
    timeouts: AtomicU64,
    retries: AtomicU64,
    pending_extensions: AtomicU64,
    events: AtomicU64,
    events_dropped: AtomicU64,
    overload_events: AtomicU64,
    dtos: AtomicU64,
    dtos_unknown: AtomicU64,
    malformed: AtomicU64,
    polled: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Control messages from the master to its receive thread.
pub(crate) enum Control {
    /// Decode DTOs with this state from now on (`None`: count them as unknown).
    Daq(Option<Box<DaqState>>),
    /// Hand every DTO to this sink before decoding (`None`: no sink).
    Raw(Option<Box<dyn RawSink>>),
    /// The session parameters changed (CONNECT).
    Params(SessionParams),
}

/// State shared by the master and its receive thread.
pub(crate) struct Shared {
    slot: Mutex<Slot>,
    events: Mutex<EventQueue>,
    counters: Counters,
    closed: Mutex<Option<String>>,
    stop: AtomicBool,
    /// The receive half: the receive thread reads it, or a command polling for its own
    /// response (see [`Shared::lead`]).
    core: Mutex<Core>,
    /// A command wants the receive half: the receive thread lets go of it at its next poll and waits
    /// until this is clear again.
    lead: AtomicBool,
    /// When the last command that led let go, in nanoseconds after `epoch` (0: never).
    /// The receive thread stays away for a spin's length after it, so that back-to-back commands keep
    /// the receive half without a third thread polling beside them.
    lead_end: AtomicU64,
    epoch: Instant,
    /// The receive thread, to wake when a command gives up leading without its response.
    receive_thread: std::sync::OnceLock<std::thread::Thread>,
}

/// The receive half and everything only its reader touches.
struct Core {
    rx: Box<dyn PacketRx>,
    st: ReceiveState,
    control: mpsc::Receiver<Control>,
}

/// How one turn of reading ended.
enum Turn {
    /// Go on.
    Again,
    /// A command asked for the receive half (the receive thread's turns only).
    Yield,
    /// The link is down; the session is closed.
    Ended,
}

struct EventQueue {
    queue: VecDeque<SlaveEvent>,
    capacity: usize,
    waker: Option<Waker>,
}

/// Locks, recovering the data if another thread panicked while holding it (every critical
/// section here leaves the state consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        event_capacity: usize,
        rx: Box<dyn PacketRx>,
        control: mpsc::Receiver<Control>,
        params: SessionParams,
    ) -> Arc<Self> {
        Arc::new(Self {
            slot: Mutex::new(Slot::Idle),
            events: Mutex::new(EventQueue {
                queue: VecDeque::new(),
                capacity: event_capacity.max(1),
                waker: None,
            }),
            counters: Counters::default(),
            closed: Mutex::new(None),
            stop: AtomicBool::new(false),
            core: Mutex::new(Core {
                rx,
                st: ReceiveState {
                    daq: None,
                    raw: None,
                    params,
                    host_ns: 0,
                    dtos: 0,
                    unknown: 0,
                },
                control,
            }),
            lead: AtomicBool::new(false),
            lead_end: AtomicU64::new(0),
            epoch: Instant::now(),
            receive_thread: std::sync::OnceLock::new(),
        })
    }

    /// Polls the receive half itself for up to `spin` while a command waits, instead of
    /// letting the receive thread receive the response and wake the command's thread: that
    /// wake costs tens of microseconds on a virtual machine. Returns the outcome if it came
    /// in time; afterwards the receive thread has the receive half again.
    pub(crate) fn lead(&self, spin: Duration) -> Option<Outcome> {
        let until = Instant::now() + spin;
        self.lead.store(true, Ordering::Release);
        let mut outcome = None;
        loop {
            if let Some(o) = self.try_outcome() {
                outcome = Some(o);
                break;
            }
            // The receive thread lets go at its next poll; while it blocks in a receive, its own
            // completion of the slot is what this loop sees.
            if let Ok(mut core) = self.core.try_lock() {
                // The receive thread may have completed the slot just before it let go.
                outcome = self.try_outcome();
                while outcome.is_none() {
                    if !matches!(core.turn(self, false), Turn::Again) {
                        outcome = self.try_outcome();
                        break;
                    }
                    outcome = self.try_outcome();
                    if let Some(Outcome::Packets(_)) = outcome {
                        bump(&self.counters.polled);
                    }
                    if Instant::now() >= until {
                        break;
                    }
                    std::hint::spin_loop();
                }
                break;
            }
            if Instant::now() >= until {
                break;
            }
            std::hint::spin_loop();
        }
        let end = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.lead_end.store(end.max(1), Ordering::Release);
        self.lead.store(false, Ordering::Release);
        if outcome.is_none()
            && let Some(t) = self.receive_thread.get()
        {
            // The response is late: the receive thread receives it (and everything else) from now on.
            self.lead_end.store(0, Ordering::Release);
            t.unpark();
        }
        outcome
    }

    /// How long the receive thread should stay away from the receive half: while a command leads,
    /// and for `spin` after the last one let go.
    fn receive_pause(&self, spin: Duration) -> Option<Duration> {
        if spin.is_zero() {
            return None;
        }
        if self.lead.load(Ordering::Acquire) {
            return Some(spin);
        }
        let end = self.lead_end.load(Ordering::Acquire);
        if end == 0 {
            return None;
        }
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let since = Duration::from_nanos(now.saturating_sub(end));
        (since < spin).then(|| spin - since)
    }

    /// Arms the slot before a command is sent. Any earlier outcome is discarded.
    pub(crate) fn arm(&self, expect: Expect, timeout: Duration, extensions: u32) {
        bump(&self.counters.commands);
        *lock(&self.slot) = Slot::Armed {
            expect,
            deadline: Instant::now() + timeout,
            timeout,
            extensions_left: extensions,
            got: Vec::new(),
            waker: None,
        };
    }

    /// Disarms the slot (a send failed after arming).
    pub(crate) fn disarm(&self) {
        *lock(&self.slot) = Slot::Idle;
    }

    /// Takes the outcome if there is one (without registering a waker).
    pub(crate) fn try_outcome(&self) -> Option<Outcome> {
        let mut slot = self.slot.try_lock().ok()?;
        if !matches!(*slot, Slot::Done(_)) {
            return None;
        }
        match std::mem::replace(&mut *slot, Slot::Idle) {
            Slot::Done(o) => Some(o),
            _ => None,
        }
    }

    /// Takes the outcome if there is one, else registers `waker`.
    pub(crate) fn poll_outcome(&self, waker: &Waker) -> Option<Outcome> {
        let mut slot = lock(&self.slot);
        match &mut *slot {
            Slot::Done(_) => match std::mem::replace(&mut *slot, Slot::Idle) {
                Slot::Done(o) => Some(o),
                _ => None,
            },
            Slot::Armed { waker: w, .. } | Slot::Finishing { waker: w, .. } => {
                if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    *w = Some(waker.clone());
                }
                None
            }
            Slot::Idle => Some(Outcome::Closed(
                "internal: a response was awaited without a command".to_owned(),
            )),
        }
    }

    pub(crate) fn closed(&self) -> Option<String> {
        lock(&self.closed).clone()
    }

    pub(crate) fn count_retry(&self) {
        bump(&self.counters.retries);
    }

    pub(crate) fn stats(&self) -> LinkStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LinkStats {
            commands: l(&c.commands),
            unsolicited: l(&c.unsolicited),
            late: l(&c.late),
            timeouts: l(&c.timeouts),
            retries: l(&c.retries),
            pending_extensions: l(&c.pending_extensions),
            events: l(&c.events),
            events_dropped: l(&c.events_dropped),
            overload_events: l(&c.overload_events),
            dtos: l(&c.dtos),
            dtos_unknown: l(&c.dtos_unknown),
            malformed: l(&c.malformed),
            polled: l(&c.polled),
        }
    }

    pub(crate) fn next_event(&self) -> Option<SlaveEvent> {
        lock(&self.events).queue.pop_front()
    }

    pub(crate) fn poll_event(&self, waker: &Waker) -> Option<SlaveEvent> {
        let mut q = lock(&self.events);
        let e = q.queue.pop_front();
        if e.is_none() {
            q.waker = Some(waker.clone());
        }
        e
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    fn push_event(&self, e: SlaveEvent) {
        bump(&self.counters.events);
        let mut q = lock(&self.events);
        if q.queue.len() >= q.capacity {
            bump(&self.counters.events_dropped);
            return;
        }
        q.queue.push_back(e);
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    /// Hands a finished command to its waiter (after the drain).
    fn release(&self) {
        let mut slot = lock(&self.slot);
        if let Slot::Finishing { .. } = &*slot
            && let Slot::Finishing { outcome, waker } = std::mem::replace(&mut *slot, Slot::Idle)
        {
            *slot = Slot::Done(outcome);
            drop(slot);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// A RES or ERR packet arrived; `true` when it completed the waiting command (which
    /// [`release`](Self::release) then hands over, once the packets already received are
    /// drained).
    fn response(&self, packet: &[u8]) -> bool {
        let mut slot = lock(&self.slot);
        let Slot::Armed {
            expect,
            got,
            deadline,
            timeout,
            extensions_left,
            ..
        } = &mut *slot
        else {
            bump(&self.counters.unsolicited);
            return false;
        };
        let is_err = packet.first() == Some(&pid::ERR);
        let code = packet.get(1).copied().map(ErrorCode::from_u8);
        match *expect {
            Expect::Sleep => bump(&self.counters.unsolicited),
            Expect::Synch => {
                if is_err && code == Some(ErrorCode::CmdSynch) {
                    got.push(packet.to_vec());
                    return complete(&mut slot);
                }
                bump(&self.counters.late);
            }
            Expect::Response { packets, .. } => {
                if is_err && code == Some(ErrorCode::CmdPending) {
                    // The older way of saying "wait": same rule as EV_CMD_PENDING.
                    if *extensions_left > 0 {
                        *extensions_left -= 1;
                        *deadline = Instant::now() + *timeout;
                        bump(&self.counters.pending_extensions);
                    }
                    return false;
                }
                if is_err && code == Some(ErrorCode::CmdSynch) {
                    // An answer to a SYNCH whose fence already ended: late.
                    bump(&self.counters.late);
                    return false;
                }
                got.push(packet.to_vec());
                if is_err || got.len() >= packets {
                    return complete(&mut slot);
                }
            }
        }
        false
    }

    /// EV_CMD_PENDING: the waiting command's timer restarts, a bounded number of times.
    fn cmd_pending(&self) {
        let mut slot = lock(&self.slot);
        if let Slot::Armed {
            deadline,
            timeout,
            extensions_left,
            expect: Expect::Response { .. },
            ..
        } = &mut *slot
            && *extensions_left > 0
        {
            *extensions_left -= 1;
            *deadline = Instant::now() + *timeout;
            bump(&self.counters.pending_extensions);
        }
    }

    /// Completes the slot with a timeout when its deadline passed; returns the time left.
    fn check_deadline(&self, now: Instant) -> Option<Duration> {
        let mut slot = lock(&self.slot);
        if let Slot::Armed {
            deadline, expect, ..
        } = &*slot
        {
            if *deadline <= now {
                if *expect != Expect::Sleep {
                    bump(&self.counters.timeouts);
                }
                complete_with(&mut slot, Outcome::TimedOut);
                return None;
            }
            return Some(*deadline - now);
        }
        None
    }

    fn close(&self, reason: String) {
        let mut closed = lock(&self.closed);
        if closed.is_none() {
            *closed = Some(reason.clone());
        }
        drop(closed);
        self.release();
        let mut slot = lock(&self.slot);
        if matches!(*slot, Slot::Armed { .. }) {
            complete_with(&mut slot, Outcome::Closed(reason));
        }
        drop(slot);
        if let Some(w) = lock(&self.events).waker.take() {
            w.wake();
        }
    }
}

/// Completes the slot with the packets collected, pending [`Shared::release`]. Returns
/// whether it did.
fn complete(slot: &mut Slot) -> bool {
    if let Slot::Armed { got, waker, .. } = slot {
        let outcome = Outcome::Packets(std::mem::take(got));
        let waker = waker.take();
        *slot = Slot::Finishing { outcome, waker };
        return true;
    }
    false
}

fn complete_with(slot: &mut Slot, outcome: Outcome) {
    if let Slot::Armed { waker, .. } = slot {
        let waker = waker.take();
        *slot = Slot::Done(outcome);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// What the reader of the receive half keeps besides the transport.
struct ReceiveState {
    daq: Option<Box<DaqState>>,
    raw: Option<Box<dyn RawSink>>,
    params: SessionParams,
    /// Host time of the current receive: the packets drained behind it arrived with it.
    host_ns: u64,
    /// DTOs and undecodable DTOs of the current burst, added to the shared counters after it.
    dtos: u64,
    unknown: u64,
}

/// Most packets drained from the transport's buffers after one receive.
const DRAIN: usize = 4096;

impl ReceiveState {
    /// Applies the master's control messages (a new decoder, sink or parameters).
    fn apply(&mut self, control: &mpsc::Receiver<Control>) {
        while let Ok(c) = control.try_recv() {
            match c {
                Control::Daq(d) => self.daq = d,
                Control::Raw(r) => self.raw = r,
                Control::Params(p) => self.params = p,
            }
        }
    }

    /// Handles one packet; `true` when it completed the waiting command.
    fn dispatch(&mut self, shared: &Shared, packet: &[u8]) -> bool {
        let Some(&first) = packet.first() else {
            bump(&shared.counters.malformed);
            return false;
        };
        match first {
            pid::RES | pid::ERR => return shared.response(packet),
            pid::EV => {
                let code = EventCode::from_u8(packet.get(1).copied().unwrap_or(0xFF));
                match code {
                    EventCode::CmdPending => shared.cmd_pending(),
                    EventCode::DaqOverload => {
                        bump(&shared.counters.overload_events);
                        if let Some(d) = self.daq.as_mut() {
                            d.overload_event();
                        }
                    }
                    _ => {}
                }
                shared.push_event(SlaveEvent::Event {
                    code,
                    data: packet.get(2..).unwrap_or_default().to_vec(),
                });
            }
            pid::SERV => shared.push_event(SlaveEvent::Service {
                code: packet.get(1).copied().unwrap_or(0),
                data: packet.get(2..).unwrap_or_default().to_vec(),
            }),
            _ => {
                self.dtos += 1;
                let host_ns = self.host_ns;
                if let Some(r) = self.raw.as_mut() {
                    r.frame(host_ns, packet);
                }
                let params = self.params;
                let decoded = self
                    .daq
                    .as_mut()
                    .is_some_and(|d| d.decode(packet, host_ns, &params));
                if !decoded {
                    self.unknown += 1;
                }
            }
        }
        false
    }
}

/// The receive thread's loop: blocks in the receive half and handles what arrives; stays away
/// from it while commands poll it themselves (see [`Shared::lead`]; `spin` is
/// `Config::spin`). Ends when the master asks it to, or when the link dies.
pub(crate) fn receive_loop(shared: &Shared, spin: Duration) {
    let _ = shared.receive_thread.set(std::thread::current());
    loop {
        if shared.stop.load(Ordering::Acquire) {
            shared.close("the master ended the session".to_owned());
            return;
        }
        if let Some(pause) = shared.receive_pause(spin) {
            std::thread::park_timeout(pause);
            continue;
        }
        let mut core = lock(&shared.core);
        if let Turn::Ended = core.turn(shared, true) {
            return;
        }
    }
}

impl Core {
    /// One turn of reading: the control messages, the command's deadline, DAQ publishing,
    /// then the receive half: the receive thread (`block`) waits in it until something arrives or a
    /// deadline comes, a leading command polls it once. What arrived is handled.
    fn turn(&mut self, shared: &Shared, block: bool) -> Turn {
        let st = &mut self.st;
        st.apply(&self.control);
        let now = Instant::now();
        let mut wait = shared
            .check_deadline(now)
            .map_or(POLL, |left| left.min(POLL));
        if let Some(d) = st.daq.as_mut() {
            match d.flush_in() {
                Some(left) if left.is_zero() => d.publish(),
                Some(left) => wait = wait.min(left),
                None => {}
            }
        }
        if block && shared.lead.load(Ordering::Acquire) {
            return Turn::Yield;
        }
        let mut completed = false;
        let mut failure = None;
        let received = if block {
            self.rx.recv(wait)
        } else {
            self.rx.poll_recv()
        };
        let got = match received {
            Ok(Some(packet)) => {
                st.host_ns = crate::time::host_now_ns();
                // A decoder installed while this thread waited applies to what just arrived.
                st.apply(&self.control);
                completed = st.dispatch(shared, packet);
                true
            }
            Ok(None) => false,
            Err(e) => {
                failure = Some(e);
                false
            }
        };
        if got {
            // Everything already buffered behind it is handled before a completed command
            // is released (so a duplicate cannot answer the next command) and before the
            // decoded rows are handed over (so a burst becomes one batch).
            for _ in 0..DRAIN {
                match self.rx.try_recv() {
                    Ok(Some(p)) => completed |= st.dispatch(shared, p),
                    Ok(None) => break,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if st.dtos > 0 {
            shared.counters.dtos.fetch_add(st.dtos, Ordering::Relaxed);
            st.dtos = 0;
        }
        if st.unknown > 0 {
            shared
                .counters
                .dtos_unknown
                .fetch_add(st.unknown, Ordering::Relaxed);
            st.unknown = 0;
        }
        if completed {
            shared.release();
        }
        if let Some(d) = st.daq.as_mut() {
            d.publish_pending();
        }
        if let Some(r) = st.raw.as_mut() {
            r.tick();
        }
        if let Some(e) = failure {
            let reason = match e {
                TransportError::Disconnected { reason, .. } => {
                    format!("the slave closed the link ({reason})")
                }
                other => format!("the link failed: {other}"),
            };
            if let Some(d) = st.daq.as_mut() {
                d.close(&reason);
            }
            shared.close(reason);
            return Turn::Ended;
        }
        Turn::Again
    }
}
