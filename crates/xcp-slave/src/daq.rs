//! DAQ tables shared with application threads, and the event trigger.
//!
//! The tables are fixed-size arrays of atomics allocated when the slave is built (their size is
//! the DAQ capacity reported to the master), so reconfiguring DAQ never frees memory a trigger
//! might be reading. The command thread writes them; triggers read them with relaxed or
//! acquire loads. A list runs only after its entries were written and its RUNNING bit set
//! with release ordering, and the command processor refuses to change a running list.
//!
//! The trigger path takes no lock, allocates nothing, makes no system call and does not log.
//!
//! Each event keeps its running lists as *run words*: one 64-bit atomic per list holding
//! everything the trigger needs (list number, ODT range, first PID, mode flags), written at
//! START and cleared at STOP in a fixed slot, so a trigger reads one word per list and a list
//! that starts or stops never moves another one. Each ODT keeps its compiled copy operations'
//! range and its data length in one word as well. An event whose only running list is a
//! plain one-ODT DAQ list (the common case) also keeps that list's run word in
//! `EventSlot::single`, and the trigger then goes straight to it.
//!
//! STIM: the receive thread stores each STIM DTO in its ODT's buffer under a sequence lock
//! (odd while writing); at the event the trigger copies the buffer, checks the sequence did
//! not change, and writes the data into the registered memory of the ODT's entries: global
//! variables (atomics), or the instance passed to `Event::trigger_with_mut`. STIM lists of
//! an event run before its DAQ lists, so a DAQ list on the same event measures the
//! stimulated values.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering, fence};
use std::sync::OnceLock;

use xcp_proto::{ByteOrder, IdField};

use crate::sync::queue::{ByteQueue, EntryWriter, PushError};
use crate::sync::rcu::RawPages;

/// SET_DAQ_LIST_MODE / GET_DAQ_LIST_MODE bits, and which of them the master may set.
pub(crate) mod mode {
    pub(crate) use xcp_proto::bits::daq_list_mode::*;
    /// Bits the master may set with SET_DAQ_LIST_MODE.
    pub(crate) const SETTABLE: u8 = DIRECTION_STIM | DTO_CTR | TIMESTAMP | PID_OFF;
    /// Bits SET_DAQ_LIST_MODE accepts and ignores: ALTERNATING, and the reserved bit 2.
    pub(crate) const IGNORED: u8 = ALTERNATING | 0x04;
}

/// Kind of memory an entry reads (bits 62–63 of an encoded entry).
pub(crate) const KIND_NONE: u64 = 0;
pub(crate) const KIND_SEGMENT: u64 = 1;
pub(crate) const KIND_GLOBAL: u64 = 2;
pub(crate) const KIND_EVENT: u64 = 3;

/// An ODT entry resolved to a region: `kind | region | bit offset | size | offset`.
pub(crate) const fn encode_entry(kind: u64, region: u16, bit: u8, size: u8, offset: u32) -> u64 {
    kind << 62
        | ((region as u64) & 0x3FFF) << 48
        | (bit as u64) << 40
        | (size as u64) << 32
        | offset as u64
}

#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) kind: u64,
    pub(crate) region: u16,
    pub(crate) bit: u8,
    pub(crate) size: u8,
    pub(crate) offset: u32,
}

#[inline]
#[allow(
    clippy::cast_possible_truncation,
    reason = "each field is masked to its width first"
)]
pub(crate) const fn decode_entry(e: u64) -> Entry {
    Entry {
        kind: e >> 62,
        region: ((e >> 48) & 0x3FFF) as u16,
        bit: (e >> 40) as u8,
        size: (e >> 32) as u8,
        offset: e as u32,
    }
}

/// Flag in a run word: the list has a prescaler above 1.
pub(crate) const RUN_PRESCALED: u8 = 0x01;
/// A run word with this bit is a running list; 0 is an empty slot.
const RUN_VALID: u64 = 1 << 63;

/// A running list as its event sees it.
#[derive(Clone, Copy)]
pub(crate) struct Run {
    pub(crate) daq: u16,
    pub(crate) first_odt: u16,
    pub(crate) odt_count: u8,
    pub(crate) first_pid: u8,
    /// `mode` bits (DIRECTION_STIM, DTO_CTR, TIMESTAMP, PID_OFF) and [`RUN_PRESCALED`].
    pub(crate) flags: u8,
}

impl Run {
    pub(crate) const fn encode(self) -> u64 {
        RUN_VALID
            | (self.flags as u64) << 48
            | (self.first_pid as u64) << 40
            | (self.odt_count as u64) << 32
            | (self.first_odt as u64) << 16
            | self.daq as u64
    }

    /// The list number of a non-empty run word.
    #[allow(clippy::cast_possible_truncation, reason = "the low 16 bits")]
    pub(crate) const fn daq_of(w: u64) -> u16 {
        w as u16
    }

    #[allow(
        clippy::cast_possible_truncation,
        reason = "each field is shifted down to its width"
    )]
    const fn decode(w: u64) -> Option<Self> {
        if w & RUN_VALID == 0 {
            return None;
        }
        Some(Self {
            daq: w as u16,
            first_odt: (w >> 16) as u16,
            odt_count: (w >> 32) as u8,
            first_pid: (w >> 40) as u8,
            flags: (w >> 48) as u8,
        })
    }
}

/// Largest STIM ODT payload (the trigger copies it to the stack before applying it).
pub(crate) const STIM_MAX_ODT_BYTES: usize = 2048;

pub(crate) struct ListSlot {
    pub(crate) mode: AtomicU8,
    pub(crate) event: AtomicU16,
    pub(crate) prescaler: AtomicU8,
    pub(crate) prescaler_count: AtomicU8,
    pub(crate) first_odt: AtomicU16,
    pub(crate) odt_count: AtomicU8,
    pub(crate) first_pid: AtomicU8,
    pub(crate) ctr: AtomicU8,
    pub(crate) overload: AtomicBool,
}

pub(crate) struct OdtSlot {
    pub(crate) first_entry: AtomicU32,
    pub(crate) entry_count: AtomicU8,
    /// Copy operations the trigger runs, in `ops[first_entry..]`: the entries with
    /// neighbouring byte ranges of the same memory merged (computed when the list starts).
    pub(crate) op_count: AtomicU8,
    /// Sum of the entry sizes (data bytes of the DTO).
    pub(crate) data_len: AtomicU16,
    /// What the trigger reads: `first_entry | op_count << 32 | data_len << 40`, written when
    /// the list starts.
    pub(crate) hot: AtomicU64,
    /// The DTO identification field of this ODT in its running list, as the low bytes of a
    /// word (without the overload bit), written when the list starts.
    pub(crate) id: AtomicU64,
    /// STIM data: word 0 is the sequence (0 = nothing received, odd = being written), then
    /// the payload. Allocated once, the first time a STIM list uses this ODT.
    pub(crate) stim: OnceLock<Box<[AtomicU64]>>,
}

impl OdtSlot {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "each field is shifted down to its width"
    )]
    #[inline]
    fn hot(&self) -> (usize, usize, usize) {
        let w = self.hot.load(Ordering::Relaxed);
        (
            w as u32 as usize,
            (w >> 32) as u8 as usize,
            (w >> 40) as u16 as usize,
        )
    }

    /// Stores one STIM payload; `false` when another writer holds the buffer or it has none.
    pub(crate) fn store_stim(&self, data: &[u8]) -> bool {
        let Some(buf) = self.stim.get() else {
            return false;
        };
        let Some((seq, words)) = buf.split_first() else {
            return false;
        };
        if data.len() > words.len() * 8 {
            return false;
        }
        let s = seq.load(Ordering::Relaxed);
        if s % 2 == 1
            || seq
                .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        for (w, chunk) in words.iter().zip(data.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            w.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        seq.store(s + 2, Ordering::Release);
        true
    }

    /// Copies the latest complete STIM payload into `out`; `false` when none arrived yet or
    /// the receive thread was writing it (the next event applies it).
    fn load_stim(&self, out: &mut [u8]) -> bool {
        let Some(buf) = self.stim.get() else {
            return false;
        };
        let Some((seq, words)) = buf.split_first() else {
            return false;
        };
        let s1 = seq.load(Ordering::Acquire);
        if s1 == 0 || s1 % 2 == 1 {
            return false;
        }
        for (w, chunk) in words.iter().zip(out.chunks_mut(8)) {
            let b = w.load(Ordering::Relaxed).to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        fence(Ordering::Acquire);
        seq.load(Ordering::Relaxed) == s1
    }
}

pub(crate) struct EventSlot {
    /// Slots of `runs` in use: one past the highest non-empty slot.
    pub(crate) count: AtomicU8,
    /// Run words of the running lists (see [`Run`]); 0 marks a free slot.
    pub(crate) runs: Box<[AtomicU64]>,
    /// Running STIM lists of this event (0 skips the STIM pass).
    pub(crate) stim_runs: AtomicU8,
    /// The run word of the event's only running list when that list is a plain DAQ list of
    /// one ODT (no STIM, prescaler or DTO_CTR, no overload PID bit); 0 otherwise. The common
    /// case then costs one load instead of the walk over the run slots.
    pub(crate) single: AtomicU64,
    /// Samples of this event that found the queue full.
    pub(crate) overloads: AtomicU64,
}

/// The DAQ tables.
pub(crate) struct DaqTables {
    pub(crate) lists: Box<[ListSlot]>,
    pub(crate) odts: Box<[OdtSlot]>,
    pub(crate) entries: Box<[AtomicU64]>,
    /// Merged copy operations, indexed like `entries`.
    pub(crate) ops: Box<[AtomicU64]>,
    pub(crate) events: Box<[EventSlot]>,
    /// Some list is running (GET_STATUS DAQ_RUNNING; cheap idle check).
    pub(crate) running: AtomicBool,
    /// Overload episodes not yet reported by EV_DAQ_OVERLOAD.
    pub(crate) overload_pending: AtomicBool,
    /// Entries that could not be sampled (instance too short for the registered offset), or
    /// STIM entries that could not be written (no mutable instance, or too short).
    pub(crate) sample_errors: AtomicU64,
    /// STIM ODT payloads written into memory at their event.
    pub(crate) stim_applied: AtomicU64,
    /// STIM DTOs stored for their event.
    pub(crate) stim_received: AtomicU64,
    /// STIM DTOs dropped: no running STIM list or ODT of that number, too short, STIM
    /// locked, or not connected.
    pub(crate) stim_rejected: AtomicU64,
}

impl DaqTables {
    pub(crate) fn new(lists: u16, odts: u16, entries: u32, events: u16, per_event: u8) -> Self {
        Self {
            lists: (0..lists)
                .map(|_| ListSlot {
                    mode: AtomicU8::new(0),
                    event: AtomicU16::new(0),
                    prescaler: AtomicU8::new(1),
                    prescaler_count: AtomicU8::new(0),
                    first_odt: AtomicU16::new(0),
                    odt_count: AtomicU8::new(0),
                    first_pid: AtomicU8::new(0),
                    ctr: AtomicU8::new(0),
                    overload: AtomicBool::new(false),
                })
                .collect(),
            odts: (0..odts)
                .map(|_| OdtSlot {
                    first_entry: AtomicU32::new(0),
                    entry_count: AtomicU8::new(0),
                    op_count: AtomicU8::new(0),
                    data_len: AtomicU16::new(0),
                    hot: AtomicU64::new(0),
                    id: AtomicU64::new(0),
                    stim: OnceLock::new(),
                })
                .collect(),
            entries: (0..entries).map(|_| AtomicU64::new(0)).collect(),
            ops: (0..entries).map(|_| AtomicU64::new(0)).collect(),
            events: (0..events)
                .map(|_| EventSlot {
                    count: AtomicU8::new(0),
                    runs: (0..per_event).map(|_| AtomicU64::new(0)).collect(),
                    stim_runs: AtomicU8::new(0),
                    single: AtomicU64::new(0),
                    overloads: AtomicU64::new(0),
                })
                .collect(),
            running: AtomicBool::new(false),
            overload_pending: AtomicBool::new(false),
            sample_errors: AtomicU64::new(0),
            stim_applied: AtomicU64::new(0),
            stim_received: AtomicU64::new(0),
            stim_rejected: AtomicU64::new(0),
        }
    }
}

impl DaqTables {
    /// Recomputes [`EventSlot::single`] after the running lists of `event` changed (called by
    /// the command thread after it wrote the run words).
    pub(crate) fn refresh_single(&self, event: u16, overload_pid: bool) {
        let Some(slot) = self.events.get(usize::from(event)) else {
            return;
        };
        let mut running = slot
            .runs
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .filter(|&w| w != 0);
        let single = match (running.next(), running.next()) {
            (Some(w), None) if !overload_pid => Run::decode(w).filter(|run| {
                run.odt_count == 1
                    && run.flags & (mode::DIRECTION_STIM | mode::DTO_CTR | RUN_PRESCALED) == 0
            }),
            _ => None,
        };
        slot.single
            .store(single.map_or(0, Run::encode), Ordering::Release);
    }

    /// Compiles the entries of an ODT into copy operations: consecutive whole-element entries
    /// that read adjacent bytes of the same region become one copy (up to 255 bytes), and
    /// empty entries vanish. Called by the command thread before the list runs.
    pub(crate) fn compile_odt(&self, odt: &OdtSlot) {
        let first = odt.first_entry.load(Ordering::Relaxed) as usize;
        let n = usize::from(odt.entry_count.load(Ordering::Relaxed));
        let mut ops = 0usize;
        let mut current: Option<Entry> = None;
        for e in self.entries.iter().skip(first).take(n) {
            let e = decode_entry(e.load(Ordering::Relaxed));
            if e.kind == KIND_NONE {
                continue;
            }
            if let Some(c) = current.as_mut()
                && c.bit == 0xFF
                && e.bit == 0xFF
                && c.kind == e.kind
                && c.region == e.region
                && u64::from(c.offset) + u64::from(c.size) == u64::from(e.offset)
                && usize::from(c.size) + usize::from(e.size) <= 255
            {
                c.size += e.size;
                continue;
            }
            if let Some(c) = current.take() {
                self.ops[first + ops].store(
                    encode_entry(c.kind, c.region, c.bit, c.size, c.offset),
                    Ordering::Relaxed,
                );
                ops += 1;
            }
            current = Some(e);
        }
        if let Some(c) = current {
            self.ops[first + ops].store(
                encode_entry(c.kind, c.region, c.bit, c.size, c.offset),
                Ordering::Relaxed,
            );
            ops += 1;
        }
        let ops = u8::try_from(ops).unwrap_or(u8::MAX);
        odt.op_count.store(ops, Ordering::Relaxed);
        let data = odt.data_len.load(Ordering::Relaxed);
        odt.hot.store(
            u64::from(u32::try_from(first).unwrap_or(0))
                | u64::from(ops) << 32
                | u64::from(data) << 40,
            Ordering::Release,
        );
    }
}

/// What a trigger needs besides the tables.
pub(crate) struct TriggerCtx<'a> {
    pub(crate) queue: &'a ByteQueue,
    pub(crate) globals: &'a crate::memory::Globals,
    /// Mirrored regions: `KIND_GLOBAL` entries of region `i + 1` read `mirrors[i]`.
    pub(crate) mirrors: &'a [crate::mirror::MirrorDef],
    pub(crate) segments: &'a [Option<std::sync::Arc<RawPages>>],
    pub(crate) id_field: IdField,
    pub(crate) byte_order: ByteOrder,
    pub(crate) timestamp_size: u8,
    pub(crate) overload_pid: bool,
}

impl TriggerCtx<'_> {
    /// The word image of a `KIND_GLOBAL` entry's region: the global variables (0) or a
    /// mirrored region (1 and up).
    #[inline]
    pub(crate) fn image(&self, region: u16) -> Option<&crate::memory::Globals> {
        match region {
            0 => Some(self.globals),
            r => self.mirrors.get(usize::from(r) - 1).map(|m| &m.image),
        }
    }
}

impl DaqTables {
    /// Runs `event`: applies the STIM data of its STIM lists, then samples every running DAQ
    /// list into the transmit queue.
    #[inline]
    pub(crate) fn trigger(
        &self,
        ctx: &TriggerCtx<'_>,
        event: u16,
        mut instance: Instance<'_>,
        ticks: u32,
    ) {
        let Some(slot) = self.events.get(usize::from(event)) else {
            return;
        };
        if let Some(run) = Run::decode(slot.single.load(Ordering::Acquire)) {
            if !self.sample_single(ctx, run, instance.bytes(), ticks) {
                self.overloaded(slot, run);
            }
            return;
        }
        let count = usize::from(slot.count.load(Ordering::Acquire)).min(slot.runs.len());
        let runs = &slot.runs[..count];
        if slot.stim_runs.load(Ordering::Relaxed) != 0 {
            self.stim_pass(ctx, runs, &mut instance);
        }
        let data = instance.bytes();
        for r in runs {
            let Some(run) = Run::decode(r.load(Ordering::Acquire)) else {
                continue;
            };
            if run.flags & mode::DIRECTION_STIM != 0 || !self.prescaler_due(run) {
                continue;
            }
            if !self.sample_list(ctx, run, data, ticks) {
                self.overloaded(slot, run);
            }
        }
    }

    /// Records a sample of `run` that found the queue full.
    #[cold]
    fn overloaded(&self, slot: &EventSlot, run: Run) {
        slot.overloads.fetch_add(1, Ordering::Relaxed);
        if let Some(list) = self.lists.get(usize::from(run.daq)) {
            list.overload.store(true, Ordering::Relaxed);
        }
        self.overload_pending.store(true, Ordering::Relaxed);
    }

    /// Queues the one DTO of a plain one-ODT list (see [`EventSlot::single`]): the
    /// identification field and the timestamp go out as one header word.
    #[inline]
    fn sample_single(&self, ctx: &TriggerCtx<'_>, run: Run, instance: &[u8], ticks: u32) -> bool {
        let Some(odt) = self.odts.get(usize::from(run.first_odt)) else {
            return true;
        };
        let (first_op, op_count, data_len) = odt.hot();
        let id_n = if run.flags & mode::PID_OFF != 0 {
            0
        } else {
            ctx.id_field.len()
        };
        let ts_n = if run.flags & mode::TIMESTAMP != 0 {
            usize::from(ctx.timestamp_size)
        } else {
            0
        };
        // At most 4 + 4 bytes, so the header fits one word.
        let id = if id_n == 0 {
            0
        } else {
            odt.id.load(Ordering::Relaxed)
        };
        let head = id | ts_word(ctx.byte_order, ticks, ts_n) << (8 * id_n);
        #[allow(clippy::cast_possible_truncation, reason = "at most 8 header bytes")]
        let head_n = (id_n + ts_n) as u32;
        ctx.queue
            .push_with(id_n + ts_n + data_len, |w| {
                w.put_word(head, head_n);
                self.sample_odt(ctx, first_op, op_count, instance, w);
            })
            .is_ok()
    }

    /// Whether a list with a prescaler samples at this event (it counts the events).
    #[inline]
    fn prescaler_due(&self, run: Run) -> bool {
        if run.flags & RUN_PRESCALED == 0 {
            return true;
        }
        let Some(list) = self.lists.get(usize::from(run.daq)) else {
            return false;
        };
        let prescaler = list.prescaler.load(Ordering::Relaxed);
        let n = list.prescaler_count.load(Ordering::Relaxed);
        let next = if n + 1 >= prescaler { 0 } else { n + 1 };
        list.prescaler_count.store(next, Ordering::Relaxed);
        n == 0
    }

    /// Writes the latest STIM data of every running STIM list of the event into memory.
    #[inline(never)]
    fn stim_pass(&self, ctx: &TriggerCtx<'_>, runs: &[AtomicU64], instance: &mut Instance<'_>) {
        let mut buf = [0u8; STIM_MAX_ODT_BYTES];
        for r in runs {
            let Some(run) = Run::decode(r.load(Ordering::Acquire)) else {
                continue;
            };
            if run.flags & mode::DIRECTION_STIM == 0 || !self.prescaler_due(run) {
                continue;
            }
            let first = usize::from(run.first_odt);
            let Some(odts) = self.odts.get(first..first + usize::from(run.odt_count)) else {
                continue;
            };
            for odt in odts {
                let (first_op, ops, data_len) = odt.hot();
                let Some(data) = buf.get_mut(..data_len) else {
                    continue;
                };
                if !odt.load_stim(data) {
                    continue;
                }
                let Some(ops) = self.ops.get(first_op..first_op + ops) else {
                    continue;
                };
                let mut pos = 0;
                for op in ops {
                    let e = decode_entry(op.load(Ordering::Relaxed));
                    let n = if e.bit == 0xFF {
                        usize::from(e.size)
                    } else {
                        1
                    };
                    let Some(src) = data.get(pos..pos + n) else {
                        break;
                    };
                    pos += n;
                    if !write_stim(ctx, e, src, instance) {
                        self.sample_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.stim_applied.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues one sample (all ODTs) of a list; `false` when the queue was full.
    #[inline]
    fn sample_list(&self, ctx: &TriggerCtx<'_>, run: Run, instance: &[u8], ticks: u32) -> bool {
        let first = usize::from(run.first_odt);
        let Some(odts) = self.odts.get(first..first + usize::from(run.odt_count)) else {
            return true;
        };
        let list = self.lists.get(usize::from(run.daq));
        let ctr = match list {
            Some(l) if run.flags & mode::DTO_CTR != 0 => {
                Some(l.ctr.fetch_add(1, Ordering::Relaxed))
            }
            _ => None,
        };
        let pid_off = run.flags & mode::PID_OFF != 0;
        let ts_len = if run.flags & mode::TIMESTAMP != 0 {
            usize::from(ctx.timestamp_size)
        } else {
            0
        };
        let id_len = if pid_off { 0 } else { ctx.id_field.len() };
        #[allow(clippy::cast_possible_truncation, reason = "at most 4 timestamp bytes")]
        let ts_n = ts_len as u32;
        let ts_word = ts_word(ctx.byte_order, ticks, ts_len);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "at most 4 identification bytes"
        )]
        let id_n = id_len as u32;
        for (i, odt) in odts.iter().enumerate() {
            let (first_op, op_count, data_len) = odt.hot();
            let ts = if i == 0 { ts_len } else { 0 };
            let len = id_len + usize::from(ctr.is_some()) + ts + data_len;
            let overload = ctx.overload_pid
                && i == 0
                && list.is_some_and(|l| l.overload.swap(false, Ordering::Relaxed));
            let pushed = ctx.queue.push_with(len, |w| {
                if !pid_off {
                    let id = odt.id.load(Ordering::Relaxed) | if overload { 0x80 } else { 0 };
                    w.put_word(id, id_n);
                }
                if let Some(c) = ctr {
                    w.put_word(u64::from(c), 1);
                }
                if ts > 0 {
                    w.put_word(ts_word, ts_n);
                }
                self.sample_odt(ctx, first_op, op_count, instance, w);
            });
            match pushed {
                Ok(()) => {}
                Err(PushError::Full | PushError::TooLarge) => return false,
            }
        }
        true
    }

    #[inline]
    fn sample_odt(
        &self,
        ctx: &TriggerCtx<'_>,
        first: usize,
        n: usize,
        instance: &[u8],
        w: &mut EntryWriter<'_>,
    ) {
        let Some(entries) = self.ops.get(first..first + n) else {
            return;
        };
        for e in entries {
            let e = decode_entry(e.load(Ordering::Relaxed));
            let size = usize::from(e.size);
            let off = e.offset as usize;
            // The common cases inline: whole elements of an instance or of a global. The rare
            // ones run out of line and never see the writer, so it can stay in registers.
            let ok = match e.kind {
                KIND_EVENT if e.bit == 0xFF => match instance.get(off..off + size) {
                    Some(src) => {
                        w.put(src);
                        true
                    }
                    None => false,
                },
                KIND_GLOBAL if e.bit == 0xFF => {
                    ctx.image(e.region).is_some_and(|g| g.sample(off, size, w))
                }
                _ => match Self::sample_other(ctx, e, instance) {
                    Some((buf, n)) => {
                        w.put(buf.get(..n).unwrap_or_default());
                        true
                    }
                    None => false,
                },
            };
            if !ok {
                let n = self.sample_failed(e);
                w.put(ZEROS.get(..n).unwrap_or_default());
            }
        }
    }

    /// Calibration memory and single bits, out of line to keep the hot loop small: the
    /// sampled bytes and their number, or `None` when the entry cannot be read.
    #[inline(never)]
    fn sample_other(ctx: &TriggerCtx<'_>, e: Entry, instance: &[u8]) -> Option<([u8; 256], usize)> {
        let size = usize::from(e.size);
        let off = e.offset as usize;
        let mut buf = [0u8; 256];
        let dst = &mut buf[..size];
        let ok = match e.kind {
            KIND_EVENT => match instance.get(off..off + size) {
                Some(src) => {
                    dst.copy_from_slice(src);
                    true
                }
                None => false,
            },
            KIND_GLOBAL => ctx.image(e.region).is_some_and(|g| g.load(off, dst)),
            KIND_SEGMENT => ctx
                .segments
                .get(usize::from(e.region))
                .and_then(Option::as_ref)
                .is_some_and(|s| s.ecu_read(off, dst)),
            _ => false,
        };
        if !ok {
            return None;
        }
        if e.bit == 0xFF {
            return Some((buf, size));
        }
        let bit = bit_of(dst, e.bit);
        buf[0] = bit;
        Some((buf, 1))
    }

    /// Counts an entry that cannot be sampled and returns how many zero bytes keep the DTO
    /// layout (the master still gets the right number of bytes).
    #[cold]
    #[inline(never)]
    fn sample_failed(&self, e: Entry) -> usize {
        self.sample_errors.fetch_add(1, Ordering::Relaxed);
        if e.bit == 0xFF {
            usize::from(e.size)
        } else {
            1
        }
    }
}

/// Stands in for an entry that could not be sampled.
static ZEROS: [u8; 256] = [0; 256];

/// The instance an event is triggered with: read-only for DAQ, or writable so STIM data can
/// be written into its event-relative entries.
pub(crate) enum Instance<'a> {
    Shared(&'a [u8]),
    Exclusive(&'a mut [u8]),
}

impl Instance<'_> {
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Instance::Shared(b) => b,
            Instance::Exclusive(b) => b,
        }
    }
}

/// Writes one STIM entry (`src` is its element, or one byte whose bit 0 is the bit value);
/// `false` when its memory is not writable here.
fn write_stim(ctx: &TriggerCtx<'_>, e: Entry, src: &[u8], instance: &mut Instance<'_>) -> bool {
    let off = e.offset as usize;
    match e.kind {
        // STIM writes global variables, not the application's mirrored memory.
        KIND_GLOBAL if e.region != 0 => false,
        KIND_GLOBAL if e.bit == 0xFF => ctx.globals.store(off, src),
        KIND_GLOBAL => {
            let bit = usize::from(e.bit);
            ctx.globals.set_bit(
                off + bit / 8,
                bit % 8,
                src.first().is_some_and(|b| b & 1 != 0),
            )
        }
        KIND_EVENT => {
            let Instance::Exclusive(buf) = instance else {
                return false;
            };
            if e.bit == 0xFF {
                match buf.get_mut(off..off + src.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(src);
                        true
                    }
                    None => false,
                }
            } else {
                let bit = usize::from(e.bit);
                match buf.get_mut(off + bit / 8) {
                    Some(b) => {
                        let mask = 1u8 << (bit % 8);
                        if src.first().is_some_and(|v| v & 1 != 0) {
                            *b |= mask;
                        } else {
                            *b &= !mask;
                        }
                        true
                    }
                    None => false,
                }
            }
        }
        // Calibration memory changes only through the calibration pages (refused at START).
        _ => false,
    }
}

/// The value (0 or 1) of bit `bit` of a little-endian element.
fn bit_of(src: &[u8], bit: u8) -> u8 {
    let byte = usize::from(bit / 8);
    src.get(byte).map_or(0, |b| (b >> (bit % 8)) & 1)
}

/// The `len` low-order bytes of a timestamp in transmission order, as the low bytes of a word.
#[inline]
fn ts_word(order: ByteOrder, ticks: u32, len: usize) -> u64 {
    match order {
        ByteOrder::Intel => u64::from(ticks) & ((1u64 << (8 * len)) - 1),
        ByteOrder::Motorola => {
            u64::from(u32::from_le_bytes(ticks.to_be_bytes())) >> (8 * (4 - len))
        }
    }
}

/// The identification field of ODT `rel` of list `daq` as the low bytes of a word (the
/// overload bit clear).
pub(crate) fn id_word(
    id_field: IdField,
    order: ByteOrder,
    first_pid: u8,
    rel: u8,
    daq: u16,
) -> u64 {
    let daq_word = u64::from(match order {
        ByteOrder::Intel => daq,
        ByteOrder::Motorola => daq.swap_bytes(),
    });
    match id_field {
        IdField::AbsoluteOdt => u64::from(first_pid.wrapping_add(rel)),
        IdField::RelativeOdtDaqByte => u64::from(rel) | (u64::from(daq) & 0xFF) << 8,
        IdField::RelativeOdtDaqWord => u64::from(rel) | daq_word << 8,
        IdField::RelativeOdtDaqWordAligned => u64::from(rel) | daq_word << 16,
    }
}
