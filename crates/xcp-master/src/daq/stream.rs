//! The row stream: batches of decoded rows on a bounded queue that counts what it drops, the
//! slow-consumer policy, and the raw-frame sink for recorders.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::signal::{Signal, Value};
use crate::error::Error;

/// What to do when the consumer of the DAQ stream falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Drop new rows and count them (the receive thread never waits): the default.
    DropNewest,
    /// Make the receive thread wait up to this long for room (back-pressure to the slave
    /// over TCP), then drop and count.
    Block(Duration),
}

/// Options of the DAQ stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaqOptions {
    /// Most rows held for the consumer.
    pub queue_rows: usize,
    /// Rows per batch.
    pub batch_rows: usize,
    /// A partly filled batch is handed over after this long.
    pub batch_age: Duration,
    /// Policy when the queue is full.
    pub slow_consumer: SlowConsumer,
}

impl Default for DaqOptions {
    fn default() -> Self {
        Self {
            queue_rows: 1 << 20,
            batch_rows: 512,
            batch_age: Duration::from_micros(200),
            slow_consumer: SlowConsumer::DropNewest,
        }
    }
}

/// Receives every DTO as it arrived, before decoding (a recorder's input). Called by the
/// reader of the receive half: the receive thread, or a command's thread while it polls for its
/// response (`Config::spin`), one at a time and in arrival order.
pub trait RawSink: Send {
    /// One DTO and the host time it arrived at (Unix ns).
    fn frame(&mut self, host_ns: u64, packet: &[u8]);

    /// Called by the same reader after every wait on the receive half, DTOs or not: at least
    /// every 10 ms while the link lives. A sink that buffers hands on what has waited too
    /// long here (a recorder at a low rate). The default does nothing.
    fn tick(&mut self) {}
}

/// One decoded row, borrowed from its batch.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Index of the list in the request.
    pub list: usize,
    /// Slave timestamp in ns, linearised (lists with timestamps).
    pub slave_ns: Option<u64>,
    /// Host time the last ODT arrived at (Unix ns).
    pub host_ns: u64,
    /// The slave timestamp on the host clock (Unix ns), when the clock was correlated
    /// ([`Master::correlate_clock`](crate::Master::correlate_clock)) before the set-up.
    pub host_aligned_ns: Option<u64>,
    /// Values in the order of the list's signals.
    pub values: &'a [Value],
}

#[derive(Debug, Clone, Copy)]
pub(super) struct RowMeta {
    pub(super) list: usize,
    pub(super) slave_ns: Option<u64>,
    pub(super) aligned: Option<u64>,
    pub(super) host_ns: u64,
    pub(super) start: usize,
    pub(super) len: usize,
}

/// Rows handed over together.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(super) rows: Vec<RowMeta>,
    pub(super) values: Vec<Value>,
}

impl Batch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        self.rows.iter().map(|m| Row {
            list: m.list,
            slave_ns: m.slave_ns,
            host_ns: m.host_ns,
            host_aligned_ns: m.aligned,
            values: self
                .values
                .get(m.start..m.start + m.len)
                .unwrap_or_default(),
        })
    }
}

/// Per-list counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListStats {
    /// Rows decoded.
    pub rows: u64,
    /// Rows lost because an ODT was missing or out of order.
    pub incomplete: u64,
    /// DTOs with the overload bit set in their PID.
    pub overloads: u64,
    /// DTOs of ODTs the configuration left empty (static lists), ignored.
    pub empty_odts: u64,
}

/// Counts of a DAQ stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaqStats {
    /// Per list, in request order.
    pub lists: Vec<ListStats>,
    /// Rows dropped because the consumer fell behind.
    pub dropped_rows: u64,
    /// DTOs that did not decode (short, unknown PID).
    pub bad_dtos: u64,
    /// EV_DAQ_OVERLOAD received.
    pub overload_events: u64,
}

pub(super) struct QueueInner {
    pub(super) batches: VecDeque<Batch>,
    pub(super) rows: usize,
    pub(super) closed: Option<String>,
    pub(super) waker: Option<Waker>,
    pub(super) stats: DaqStats,
}

pub(super) struct RowQueue {
    pub(super) inner: Mutex<QueueInner>,
    pub(super) room: Condvar,
    pub(super) ready: Condvar,
    pub(super) capacity: usize,
    pub(super) policy: SlowConsumer,
}

pub(super) fn lock(q: &RowQueue) -> MutexGuard<'_, QueueInner> {
    q.inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The consumer end of a DAQ configuration: batches of decoded rows.
pub struct DaqStream {
    pub(super) queue: Arc<RowQueue>,
    pub(super) signals: Vec<Vec<Signal>>,
}

impl std::fmt::Debug for DaqStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaqStream")
            .field("lists", &self.signals.len())
            .finish_non_exhaustive()
    }
}

impl DaqStream {
    /// The signals of each list, in the order rows carry them.
    pub fn signals(&self) -> &[Vec<Signal>] {
        &self.signals
    }

    /// A batch if one is ready.
    pub fn try_next(&self) -> Option<Batch> {
        let mut q = lock(&self.queue);
        let b = q.batches.pop_front()?;
        q.rows -= b.len();
        drop(q);
        self.queue.room.notify_one();
        Some(b)
    }

    /// Waits up to `timeout` for a batch; `Ok(None)` when the time ran out.
    ///
    /// # Errors
    /// [`Error::Closed`] once the stream has ended (session closed, or DAQ reconfigured)
    /// and every batch was taken.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Batch>, Error> {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.queue);
        loop {
            if let Some(b) = q.batches.pop_front() {
                q.rows -= b.len();
                drop(q);
                self.queue.room.notify_one();
                return Ok(Some(b));
            }
            if let Some(reason) = &q.closed {
                return Err(Error::Closed {
                    reason: reason.clone(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            q = self
                .queue
                .ready
                .wait_timeout(q, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// The next batch; `None` once the stream has ended and is drained.
    pub fn next(&self) -> impl Future<Output = Option<Batch>> + '_ {
        NextBatch { stream: self }
    }

    /// Counts so far.
    pub fn stats(&self) -> DaqStats {
        lock(&self.queue).stats.clone()
    }
}

pub(super) struct NextBatch<'a> {
    pub(super) stream: &'a DaqStream,
}

impl Future for NextBatch<'_> {
    type Output = Option<Batch>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Batch>> {
        let queue = &self.stream.queue;
        let mut q = lock(queue);
        if let Some(b) = q.batches.pop_front() {
            q.rows -= b.len();
            drop(q);
            queue.room.notify_one();
            return Poll::Ready(Some(b));
        }
        if q.closed.is_some() {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
