//! The DTO decoder, kept with the receive half and run by whichever thread reads it (the
//! receive thread, or a command polling for its response): DTOs into rows with linearised
//! timestamps, handed to the row stream in batches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use xcp_proto::{ByteOrder, DaqPacket, DtoId, DtoShape, SessionParams};

use super::plan::PlannedList;
use super::signal::{decode_run, runs_of};
use super::stream::*;
use crate::time::Linearizer;
use xcp_proto::ElementType;

pub(super) struct ListState {
    pub(super) odts: Vec<Vec<(usize, usize, usize)>>,
    pub(super) odt_len: Vec<usize>,
    /// Values per row (the list's signals).
    pub(super) width: usize,
    /// Adjacent signals of one type and byte order whose bytes follow each other in `buf`,
    /// decoded in one loop each: (type, order, offset of the first, signals).
    pub(super) runs: Vec<(ElementType, ByteOrder, usize, usize)>,
    pub(super) timestamps: bool,
    pub(super) buf: Vec<u8>,
    pub(super) next_odt: usize,
    pub(super) broken: bool,
    pub(super) slave_ts: Option<u32>,
    pub(super) stats: ListStats,
}

/// The decoder, kept with the receive half (see `link::Core`).
pub(crate) struct DaqState {
    pub(super) lists: Vec<ListState>,
    pub(super) by_pid: Vec<Option<(usize, usize)>>,
    pub(super) list_numbers: Vec<u16>,
    pub(super) relative: bool,
    pub(super) clock: Option<Linearizer>,
    pub(super) anchor: Option<crate::time::ClockCorrelation>,
    pub(super) queue: Arc<RowQueue>,
    pub(super) batch: Batch,
    pub(super) batch_started: Option<Instant>,
    pub(super) options: DaqOptions,
    pub(super) bad: u64,
    pub(super) dropped: u64,
    pub(super) overload_events: u64,
}

impl DaqState {
    /// Decodes one DTO; `false` when it belongs to no configured ODT or does not decode.
    pub(crate) fn decode(&mut self, packet: &[u8], host_ns: u64, params: &SessionParams) -> bool {
        let ok = self.decode_inner(packet, host_ns, params);
        if !ok {
            self.bad += 1;
        }
        // Full batches go at once; the rest at the end of the burst the receive thread is
        // draining (or, at the latest, after `batch_age`).
        if self.batch.len() >= self.options.batch_rows {
            self.publish();
        }
        ok
    }

    fn decode_inner(&mut self, packet: &[u8], host_ns: u64, params: &SessionParams) -> bool {
        let Ok((id, _)) = DtoId::parse(packet, params) else {
            return false;
        };
        let found = if self.relative {
            id.daq
                .and_then(|d| self.list_numbers.iter().position(|n| *n == d))
                .map(|l| (l, usize::from(id.odt)))
        } else {
            self.by_pid.get(usize::from(id.odt)).copied().flatten()
        };
        let Some((li, oi)) = found else {
            return false;
        };
        let Some(list) = self.lists.get_mut(li) else {
            return false;
        };
        if oi >= list.odts.len() {
            // An ODT of a static list the configuration left empty: some slaves send it
            // anyway (header only). It carries nothing to decode.
            list.stats.empty_odts += 1;
            return true;
        }
        let shape = DtoShape {
            pid_off: false,
            ctr: false,
            timestamp: oi == 0 && list.timestamps,
        };
        let Ok(p) = DaqPacket::parse(packet, params, shape) else {
            return false;
        };
        if id.overload {
            list.stats.overloads += 1;
        }
        if p.data.len() < list.odt_len[oi] {
            list.broken = true;
            return false;
        }
        if oi == 0 {
            if list.next_odt != 0 {
                list.stats.incomplete += 1;
            }
            list.broken = false;
            list.slave_ts = p.timestamp;
        } else if oi != list.next_odt {
            list.broken = true;
        }
        let mut pos = 0;
        for &(sig_off, len, _) in &list.odts[oi] {
            if let (Some(dst), Some(src)) = (
                list.buf.get_mut(sig_off..sig_off + len),
                p.data.get(pos..pos + len),
            ) {
                dst.copy_from_slice(src);
            }
            pos += len;
        }
        list.next_odt = oi + 1;
        if list.next_odt < list.odts.len() {
            return true;
        }
        list.next_odt = 0;
        if list.broken {
            list.stats.incomplete += 1;
            list.broken = false;
            return true;
        }
        list.stats.rows += 1;
        let (slave_ns, aligned) = match (list.slave_ts, self.clock.as_mut()) {
            (Some(raw), Some(c)) => {
                let t = c.extend(raw, host_ns);
                (Some(c.to_ns(t)), self.anchor.map(|a| a.host_ns_of(t)))
            }
            _ => (None, None),
        };
        let start = self.batch.values.len();
        self.batch.values.reserve(list.width);
        for &(ty, order, off, n) in &list.runs {
            decode_run(
                ty,
                order,
                n,
                list.buf.get(off..off + n * ty.size()).unwrap_or_default(),
                &mut self.batch.values,
            );
        }
        self.batch.rows.push(RowMeta {
            list: li,
            slave_ns,
            aligned,
            host_ns,
            start,
            len: list.width,
        });
        if self.batch_started.is_none() {
            self.batch_started = Some(Instant::now());
        }
        true
    }

    /// Time until a partly filled batch must be handed over.
    pub(crate) fn flush_in(&self) -> Option<Duration> {
        self.batch_started
            .map(|t| self.options.batch_age.saturating_sub(t.elapsed()))
    }

    pub(crate) fn overload_event(&mut self) {
        self.overload_events += 1;
    }

    /// Hands over a partly filled batch (the end of a burst).
    pub(crate) fn publish_pending(&mut self) {
        if !self.batch.is_empty() {
            self.publish();
        }
    }

    /// Hands the current batch to the consumer (or drops it by the policy).
    pub(crate) fn publish(&mut self) {
        // The next batch starts with room for one like this one, so it never regrows.
        let next = Batch {
            rows: Vec::with_capacity(self.batch.rows.len().max(16)),
            values: Vec::with_capacity(self.batch.values.len().max(64)),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        self.batch_started = None;
        let n = batch.len();
        let mut q = lock(&self.queue);
        if n > 0
            && q.rows + n > self.queue.capacity
            && let SlowConsumer::Block(max) = self.queue.policy
        {
            let deadline = Instant::now() + max;
            while q.rows + n > self.queue.capacity && q.closed.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                q = self
                    .queue
                    .room
                    .wait_timeout(q, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
        }
        if n > 0 {
            if q.rows + n > self.queue.capacity {
                self.dropped += n as u64;
            } else {
                q.rows += n;
                q.batches.push_back(batch);
            }
        }
        q.stats.lists = self.lists.iter().map(|l| l.stats).collect();
        q.stats.dropped_rows = self.dropped;
        q.stats.bad_dtos = self.bad;
        q.stats.overload_events = self.overload_events;
        let waker = q.waker.take();
        drop(q);
        self.queue.ready.notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Ends the stream (after handing over what is decoded).
    pub(crate) fn close(&mut self, reason: &str) {
        self.publish();
        let mut q = lock(&self.queue);
        if q.closed.is_none() {
            q.closed = Some(reason.to_owned());
        }
        let waker = q.waker.take();
        drop(q);
        self.queue.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for DaqState {
    fn drop(&mut self) {
        self.close("the DAQ configuration was replaced or the session ended");
    }
}

/// A configuration written to the slave, waiting for [`Master::start_daq`].
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(super) lists: Vec<PlannedList>,
    /// Nanoseconds per timestamp tick.
    pub(super) tick_ns: Option<f64>,
    /// ODTs each list has in the slave (static lists may have more than the plan uses).
    pub(super) capacity: usize,
    /// Whether the lists were allocated dynamically (exactly as planned).
    pub(super) dynamic: bool,
    pub(super) numbers: Vec<u16>,
    pub(super) state: Option<Box<DaqState>>,
    /// First PID of each list once selected.
    pub(super) firsts: Vec<u8>,
}

impl std::fmt::Debug for DaqState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaqState")
            .field("lists", &self.lists.len())
            .finish_non_exhaustive()
    }
}

pub(super) fn list_state(l: &PlannedList) -> ListState {
    let sizes: Vec<usize> = l.request.signals.iter().map(|s| s.ty.size()).collect();
    let mut offsets = Vec::with_capacity(sizes.len());
    let mut total = 0;
    for s in &sizes {
        offsets.push(total);
        total += s;
    }
    // Entries that belong to no signal (predefined lists) land in a scratch area after them.
    let scratch = total;
    let spare = l
        .odts
        .iter()
        .flatten()
        .filter(|e| e.signal >= offsets.len())
        .map(|e| e.size)
        .max()
        .unwrap_or(0);
    let odts: Vec<Vec<(usize, usize, usize)>> = l
        .odts
        .iter()
        .map(|odt| {
            odt.iter()
                .map(|e| {
                    let at = offsets.get(e.signal).map_or(scratch, |o| o + e.offset);
                    (at, e.size, e.signal)
                })
                .collect()
        })
        .collect();
    let odt_len = odts
        .iter()
        .map(|o| o.iter().map(|(_, n, _)| n).sum())
        .collect();
    let types: Vec<(ElementType, ByteOrder, usize)> = l
        .request
        .signals
        .iter()
        .zip(&offsets)
        .map(|(s, &o)| (s.ty, s.order, o))
        .collect();
    ListState {
        odts,
        odt_len,
        runs: runs_of(&types),
        width: types.len(),
        timestamps: l.request.timestamps,
        buf: vec![0; total + spare],
        next_odt: 0,
        broken: false,
        slave_ts: None,
        stats: ListStats::default(),
    }
}
