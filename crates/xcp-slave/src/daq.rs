//! DAQ tables shared with application threads, and the event trigger.
//!
//! The tables are fixed-size arrays of atomics allocated when the slave is built (their size is
//! the DAQ capacity reported to the master), so reconfiguring DAQ never frees memory a trigger
//! might be reading. The command thread writes them; triggers read them with relaxed or
//! acquire loads. A list runs only after its entries were written and its RUNNING bit set
//! with release ordering, and the command processor refuses to change a running list.
//!
//! The trigger path takes no lock, allocates nothing, makes no system call and does not log.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use xcp_proto::{ByteOrder, IdField};

use crate::sync::queue::{ByteQueue, EntryWriter, PushError};
use crate::sync::rcu::RawPages;

/// SET_DAQ_LIST_MODE / GET_DAQ_LIST_MODE bits.
pub(crate) mod mode {
    pub(crate) const SELECTED: u8 = 0x01;
    pub(crate) const DIRECTION_STIM: u8 = 0x02;
    pub(crate) const DTO_CTR: u8 = 0x08;
    pub(crate) const TIMESTAMP: u8 = 0x10;
    pub(crate) const PID_OFF: u8 = 0x20;
    pub(crate) const RUNNING: u8 = 0x40;
    /// Bits the master may set with SET_DAQ_LIST_MODE.
    pub(crate) const SETTABLE: u8 = DIRECTION_STIM | DTO_CTR | TIMESTAMP | PID_OFF;
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
}

pub(crate) struct EventSlot {
    pub(crate) count: AtomicU8,
    pub(crate) lists: Box<[AtomicU16]>,
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
    /// Entries that could not be sampled (instance too short for the registered offset).
    pub(crate) sample_errors: AtomicU64,
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
                })
                .collect(),
            entries: (0..entries).map(|_| AtomicU64::new(0)).collect(),
            ops: (0..entries).map(|_| AtomicU64::new(0)).collect(),
            events: (0..events)
                .map(|_| EventSlot {
                    count: AtomicU8::new(0),
                    lists: (0..per_event).map(|_| AtomicU16::new(0)).collect(),
                    overloads: AtomicU64::new(0),
                })
                .collect(),
            running: AtomicBool::new(false),
            overload_pending: AtomicBool::new(false),
            sample_errors: AtomicU64::new(0),
        }
    }
}

impl DaqTables {
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
        odt.op_count
            .store(u8::try_from(ops).unwrap_or(u8::MAX), Ordering::Release);
    }
}

/// What a trigger needs besides the tables.
pub(crate) struct TriggerCtx<'a> {
    pub(crate) queue: &'a ByteQueue,
    pub(crate) globals: &'a crate::memory::Globals,
    pub(crate) segments: &'a [Option<std::sync::Arc<RawPages>>],
    pub(crate) id_field: IdField,
    pub(crate) byte_order: ByteOrder,
    pub(crate) timestamp_size: u8,
    pub(crate) overload_pid: bool,
}

impl DaqTables {
    /// Samples every running list of `event` into the transmit queue.
    #[inline]
    pub(crate) fn trigger(&self, ctx: &TriggerCtx<'_>, event: u16, instance: &[u8], ticks: u32) {
        let Some(slot) = self.events.get(usize::from(event)) else {
            return;
        };
        let count = usize::from(slot.count.load(Ordering::Acquire)).min(slot.lists.len());
        for l in &slot.lists[..count] {
            let daq = l.load(Ordering::Relaxed);
            let Some(list) = self.lists.get(usize::from(daq)) else {
                continue;
            };
            let mode = list.mode.load(Ordering::Acquire);
            if mode & mode::RUNNING == 0
                || mode & mode::DIRECTION_STIM != 0
                || list.event.load(Ordering::Relaxed) != event
            {
                continue;
            }
            let prescaler = list.prescaler.load(Ordering::Relaxed);
            if prescaler > 1 {
                let n = list.prescaler_count.load(Ordering::Relaxed);
                let next = if n + 1 >= prescaler { 0 } else { n + 1 };
                list.prescaler_count.store(next, Ordering::Relaxed);
                if n != 0 {
                    continue;
                }
            }
            if !self.sample_list(ctx, daq, list, mode, instance, ticks) {
                slot.overloads.fetch_add(1, Ordering::Relaxed);
                list.overload.store(true, Ordering::Relaxed);
                self.overload_pending.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Queues one sample (all ODTs) of a list; `false` when the queue was full.
    #[inline]
    fn sample_list(
        &self,
        ctx: &TriggerCtx<'_>,
        daq: u16,
        list: &ListSlot,
        mode: u8,
        instance: &[u8],
        ticks: u32,
    ) -> bool {
        let first = usize::from(list.first_odt.load(Ordering::Relaxed));
        let n = usize::from(list.odt_count.load(Ordering::Relaxed));
        let Some(odts) = self.odts.get(first..first + n) else {
            return true;
        };
        let ctr = if mode & mode::DTO_CTR != 0 {
            Some(list.ctr.fetch_add(1, Ordering::Relaxed))
        } else {
            None
        };
        let pid_off = mode & mode::PID_OFF != 0;
        let ts_len = if mode & mode::TIMESTAMP != 0 {
            usize::from(ctx.timestamp_size)
        } else {
            0
        };
        let id_len = if pid_off { 0 } else { ctx.id_field.len() };
        let first_pid = list.first_pid.load(Ordering::Relaxed);
        for (i, odt) in odts.iter().enumerate() {
            let data_len = usize::from(odt.data_len.load(Ordering::Relaxed));
            let ts = if i == 0 { ts_len } else { 0 };
            let len = id_len + usize::from(ctr.is_some()) + ts + data_len;
            #[allow(clippy::cast_possible_truncation, reason = "at most 255 ODTs per list")]
            let rel = i as u8;
            let overload =
                ctx.overload_pid && i == 0 && list.overload.swap(false, Ordering::Relaxed);
            let pushed = ctx.queue.push_with(len, |w| {
                if !pid_off {
                    write_id(w, ctx, first_pid, rel, daq, overload);
                }
                if let Some(c) = ctr {
                    w.put_u8(c);
                }
                if ts > 0 {
                    let b = match ctx.byte_order {
                        ByteOrder::Intel => ticks.to_le_bytes(),
                        ByteOrder::Motorola => ticks.to_be_bytes(),
                    };
                    match (ctx.byte_order, ts) {
                        (ByteOrder::Intel, _) => w.put(&b[..ts]),
                        (ByteOrder::Motorola, _) => w.put(&b[4 - ts..]),
                    }
                }
                self.sample_odt(ctx, odt, instance, w);
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
        odt: &OdtSlot,
        instance: &[u8],
        w: &mut EntryWriter<'_>,
    ) {
        let first = odt.first_entry.load(Ordering::Relaxed) as usize;
        let n = usize::from(odt.op_count.load(Ordering::Relaxed));
        let Some(entries) = self.ops.get(first..first + n) else {
            return;
        };
        for e in entries {
            let e = decode_entry(e.load(Ordering::Relaxed));
            let size = usize::from(e.size);
            let off = e.offset as usize;
            let ok = match e.kind {
                KIND_EVENT => match instance.get(off..off + size) {
                    Some(src) if e.bit == 0xFF => {
                        w.put(src);
                        true
                    }
                    Some(src) => {
                        w.put_u8(bit_of(src, e.bit));
                        true
                    }
                    None => false,
                },
                KIND_GLOBAL if e.bit == 0xFF => ctx.globals.sample(off, size, w),
                KIND_SEGMENT if e.bit == 0xFF => {
                    let mut buf = [0u8; 256];
                    let dst = &mut buf[..size];
                    let ok = ctx
                        .segments
                        .get(usize::from(e.region))
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.ecu_read(off, dst));
                    if ok {
                        w.put(dst);
                    }
                    ok
                }
                KIND_GLOBAL | KIND_SEGMENT => {
                    let mut buf = [0u8; 256];
                    let dst = &mut buf[..size];
                    let ok = if e.kind == KIND_GLOBAL {
                        ctx.globals.load(off, dst)
                    } else {
                        ctx.segments
                            .get(usize::from(e.region))
                            .and_then(Option::as_ref)
                            .is_some_and(|s| s.ecu_read(off, dst))
                    };
                    if ok {
                        w.put_u8(bit_of(dst, e.bit));
                    }
                    ok
                }
                _ => false,
            };
            if !ok {
                // Keep the DTO layout: the master still gets the right number of bytes.
                self.sample_errors.fetch_add(1, Ordering::Relaxed);
                let n = if e.bit == 0xFF { size } else { 1 };
                for _ in 0..n {
                    w.put_u8(0);
                }
            }
        }
    }
}

/// The value (0 or 1) of bit `bit` of a little-endian element.
fn bit_of(src: &[u8], bit: u8) -> u8 {
    let byte = usize::from(bit / 8);
    src.get(byte).map_or(0, |b| (b >> (bit % 8)) & 1)
}

#[inline]
fn write_id(
    w: &mut EntryWriter<'_>,
    ctx: &TriggerCtx<'_>,
    first_pid: u8,
    rel: u8,
    daq: u16,
    ov: bool,
) {
    let msb = if ov { 0x80 } else { 0 };
    let word = match ctx.byte_order {
        ByteOrder::Intel => daq.to_le_bytes(),
        ByteOrder::Motorola => daq.to_be_bytes(),
    };
    match ctx.id_field {
        IdField::AbsoluteOdt => w.put_u8(first_pid.wrapping_add(rel) | msb),
        #[allow(
            clippy::cast_possible_truncation,
            reason = "byte-sized DAQ numbers by type"
        )]
        IdField::RelativeOdtDaqByte => w.put(&[rel | msb, daq as u8]),
        IdField::RelativeOdtDaqWord => w.put(&[rel | msb, word[0], word[1]]),
        IdField::RelativeOdtDaqWordAligned => w.put(&[rel | msb, 0, word[0], word[1]]),
    }
}
