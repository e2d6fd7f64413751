//! The driver: a receive thread running the command processor and a transmit thread draining
//! the DAQ queue, over any [`Transport`].
//!
//! * Receive thread: waits for commands (at most 10 ms at a time, so it also runs the
//!   housekeeping of [`Core::handle_timeout`] and notices [`Server::stop`]), answers them, and
//!   treats every receive error (a lost link, a malformed frame, a master that vanished) as
//!   the end of that master's session only: DAQ stops, the queue is emptied, and the slave
//!   waits for the next master. The thread ends only on [`Server::stop`] or when the
//!   transport reports itself [closed](xcp_transport::TransportError::is_closed) (its
//!   listening socket failed, the other end of an in-memory pair was dropped); then
//!   [`Server::failure`] says why. Errors that come back at once, again and again, are
//!   paced at one a millisecond so they cannot spin the thread.
//! * Transmit thread: takes DTOs from the queue in batches and hands them to the transport,
//!   which packs them; once the queue has stayed empty through a short sleep (a quarter of
//!   `tx_poll`) it flushes (`send_when_idle`, the default), else the transport flushes at its
//!   flush interval. With nothing queued it sleeps for `tx_poll` while DAQ runs and 10 ms
//!   otherwise; the trigger never wakes it, so triggering stays free of system calls.
//!
//! Responses and DTOs share the transport's send half (one Ethernet CTR for both), behind a
//! mutex that either thread holds only while handing over packets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xcp_transport::{PacketRx, PacketTx, Transport};

use crate::core::Core;
use crate::error::Error;
use crate::shared::Shared;
use crate::slave::Slave;

/// Longest wait of the receive thread before it looks at timers and the stop flag.
const RX_SLICE: Duration = Duration::from_millis(10);
/// The shortest time between two receive errors the receive thread lets pass unpaced.
const PACE: Duration = Duration::from_millis(1);
/// DTOs handed over per lock of the send half.
const BATCH: usize = 256;

/// Counters of a running server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Sessions ended (DISCONNECT, lost link, wrong key, PROGRAM_RESET).
    pub sessions_ended: u64,
    /// Commands received.
    pub commands: u64,
    /// Packets received that were not commands: STIM DTOs (`SlaveStats` counts how many were
    /// stored and how many rejected).
    pub stim: u64,
    /// DTOs handed to the transport.
    pub dtos_sent: u64,
    /// DTOs the transport refused (no master, stalled link); they are lost and counted.
    pub dtos_unsent: u64,
    /// Responses and events the transport refused.
    pub responses_unsent: u64,
    /// Receive errors other than a lost link (malformed frames ending a TCP connection).
    pub receive_errors: u64,
    /// Receive errors of any kind, lost links included: each ended one master's connection
    /// or session, and the server went on.
    pub links_lost: u64,
}

#[derive(Default)]
struct Counters {
    sessions_ended: AtomicU64,
    commands: AtomicU64,
    stim: AtomicU64,
    dtos_sent: AtomicU64,
    dtos_unsent: AtomicU64,
    responses_unsent: AtomicU64,
    receive_errors: AtomicU64,
    links_lost: AtomicU64,
}

struct Control {
    stop: AtomicBool,
    /// Set by the receive thread when a session ends; the transmit thread empties the queue
    /// and clears it.
    discard: AtomicBool,
    counters: Counters,
    /// Why the receive thread ended by itself (the transport closed for good).
    failure: Mutex<Option<String>>,
}

/// A slave being served over a transport. Stops (and joins its threads) when dropped.
pub struct Server {
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("stats", &self.stats())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Server {
    /// Starts serving `slave` over `transport`.
    ///
    /// # Errors
    /// [`Error::Thread`] when a thread cannot be spawned.
    pub fn start<T: Transport>(slave: &Slave, transport: T) -> Result<Self, Error> {
        let (tx, rx) = transport.split();
        let tx = Arc::new(Mutex::new(tx));
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            discard: AtomicBool::new(false),
            counters: Counters::default(),
            failure: Mutex::new(None),
        });
        let core = slave.core();
        let rx_thread = {
            let (tx, control) = (Arc::clone(&tx), Arc::clone(&control));
            std::thread::Builder::new()
                .name("xcp-slave-rx".into())
                .spawn(move || receive_loop(core, rx, &tx, &control))
                .map_err(|e| Error::Thread("receive", e))?
        };
        let tx_thread = {
            let (shared, ctl) = (Arc::clone(&slave.shared), Arc::clone(&control));
            std::thread::Builder::new()
                .name("xcp-slave-tx".into())
                .spawn(move || transmit_loop(&shared, &tx, &ctl))
                .map_err(|e| {
                    control.stop.store(true, Ordering::Relaxed);
                    Error::Thread("transmit", e)
                })?
        };
        Ok(Self {
            control,
            threads: vec![rx_thread, tx_thread],
        })
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        let c = &self.control.counters;
        ServerStats {
            sessions_ended: c.sessions_ended.load(Ordering::Relaxed),
            commands: c.commands.load(Ordering::Relaxed),
            stim: c.stim.load(Ordering::Relaxed),
            dtos_sent: c.dtos_sent.load(Ordering::Relaxed),
            dtos_unsent: c.dtos_unsent.load(Ordering::Relaxed),
            responses_unsent: c.responses_unsent.load(Ordering::Relaxed),
            receive_errors: c.receive_errors.load(Ordering::Relaxed),
            links_lost: c.links_lost.load(Ordering::Relaxed),
        }
    }

    /// Whether both threads still run (false once the transport is closed for good).
    pub fn is_running(&self) -> bool {
        self.threads.iter().all(|t| !t.is_finished())
    }

    /// Why the server stopped by itself: the transport's error, in words, once it reported
    /// itself closed for good (say, its listening socket failed). `None` while it serves and
    /// after [`stop`](Self::stop).
    pub fn failure(&self) -> Option<String> {
        lock(&self.control.failure).clone()
    }

    /// Stops both threads and waits for them (at most about one receive slice).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("an xcp-slave thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn send_all<Tx: PacketTx>(tx: &Mutex<Tx>, out: &crate::core::Out, control: &Control) {
    if out.is_empty() {
        return;
    }
    let mut tx = lock(tx);
    for p in out.packets() {
        if let Err(e) = tx.send(p) {
            control
                .counters
                .responses_unsent
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!("response not sent: {e}");
        }
    }
    if let Err(e) = tx.flush() {
        tracing::debug!("flush of responses failed: {e}");
    }
}

fn receive_loop<Rx: PacketRx, Tx: PacketTx>(
    mut core: Core,
    mut rx: Rx,
    tx: &Mutex<Tx>,
    control: &Control,
) {
    let mut last_error: Option<Instant> = None;
    while !control.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = core
            .poll_timeout()
            .map_or(RX_SLICE, |d| d.saturating_duration_since(now).min(RX_SLICE));
        match rx.recv(wait) {
            Ok(Some(packet)) => {
                if packet.first().is_some_and(|&p| p >= 0xC0) {
                    control.counters.commands.fetch_add(1, Ordering::Relaxed);
                } else {
                    control.counters.stim.fetch_add(1, Ordering::Relaxed);
                }
                let was_connected = core.is_connected();
                let out = core.process(packet, Instant::now());
                send_all(tx, out, control);
                if was_connected && !core.is_connected() {
                    end_session(&mut core, control);
                }
            }
            Ok(None) => {}
            Err(e) => {
                if core.is_connected() {
                    end_session(&mut core, control);
                }
                if e.is_closed() {
                    tracing::error!("the XCP server stops: {e}");
                    *lock(&control.failure) = Some(e.to_string());
                    control.stop.store(true, Ordering::Relaxed);
                    break;
                }
                let c = &control.counters;
                c.links_lost.fetch_add(1, Ordering::Relaxed);
                if !e.is_disconnect() {
                    c.receive_errors.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!("master's connection ended: {e}");
                // One master's errors end its connection; the next wait is for the next
                // master. Errors that return without any wait are paced, not spun on.
                let now = Instant::now();
                if last_error.is_some_and(|t| now.duration_since(t) < PACE) {
                    std::thread::sleep(PACE);
                }
                last_error = Some(now);
            }
        }
        let out = core.handle_timeout(Instant::now());
        send_all(tx, out, control);
    }
}

fn end_session(core: &mut Core, control: &Control) {
    core.end_session();
    control
        .counters
        .sessions_ended
        .fetch_add(1, Ordering::Relaxed);
    // DTOs still queued belong to the old session: have the transmit thread drop them, and
    // wait (boundedly) so the next master never sees them.
    control.discard.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_millis(200);
    while control.discard.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::yield_now();
    }
}

fn transmit_loop<Tx: PacketTx>(shared: &Shared, tx: &Mutex<Tx>, control: &Control) {
    let mut buf = Vec::with_capacity(usize::from(shared.config.max_dto));
    // Since when the queue has been found empty with DTOs still packed and unsent.
    let mut dry_since: Option<Instant> = None;
    while !control.stop.load(Ordering::Relaxed) {
        if control.discard.load(Ordering::Acquire) {
            while shared.queue.pop_into(&mut buf) {}
            control.discard.store(false, Ordering::Release);
        }
        let mut sent = 0;
        {
            let mut tx = lock(tx);
            let mut unsent = 0;
            while sent < BATCH && shared.queue.pop_into(&mut buf) {
                sent += 1;
                unsent += u64::from(tx.send(&buf).is_err());
            }
            // The counters are shared with every reader of the statistics: one update per
            // batch rather than one per DTO.
            if sent > 0 {
                let ok = sent as u64 - unsent;
                control.counters.dtos_sent.fetch_add(ok, Ordering::Relaxed);
                control
                    .counters
                    .dtos_unsent
                    .fetch_add(unsent, Ordering::Relaxed);
            }
            let now = Instant::now();
            if sent > 0 {
                dry_since = None;
            }
            match tx.flush_deadline() {
                None => dry_since = None,
                Some(due) => {
                    // Packed DTOs are sent once the queue has stayed empty through a short
                    // sleep of the transmit thread (a quarter of `tx_poll`), or when the
                    // transport's flush interval is up. A busy queue is never empty that
                    // long, so its packets fill up.
                    let dry = shared.config.send_when_idle
                        && sent == 0
                        && now.saturating_duration_since(*dry_since.get_or_insert(now))
                            >= shared.config.tx_poll / 8;
                    let flushed = if dry {
                        dry_since = None;
                        tx.flush()
                    } else if due <= now {
                        tx.poll_flush(now)
                    } else {
                        Ok(())
                    };
                    if let Err(e) = flushed {
                        tracing::debug!("DAQ flush failed: {e}");
                    }
                }
            }
        }
        if sent == 0 {
            let running = shared.daq.running.load(Ordering::Relaxed);
            std::thread::park_timeout(if dry_since.is_some() {
                // DTOs wait packed: look again soon, to send them if nothing came.
                shared.config.tx_poll / 4
            } else if running {
                shared.config.tx_poll
            } else {
                RX_SLICE
            });
        }
    }
    // Hand over what is left so a clean shutdown loses nothing already sampled.
    let mut tx = lock(tx);
    while shared.queue.pop_into(&mut buf) {
        if tx.send(&buf).is_err() {
            control.counters.dtos_unsent.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = tx.flush();
}
