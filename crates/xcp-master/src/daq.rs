//! DAQ: measurement requests packed into ODTs within the slave's limits, written as a
//! dynamic or static configuration, started and stopped; DTOs decoded by the reader of the
//! receive half (the receive thread, or a command polling for its response) into typed rows with linearised timestamps, delivered in batches through a bounded stream
//! that counts what it drops; a raw-frame sink for recorders.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use xcp_proto::{
    Address, ByteOrder, DaqPacket, DaqProcessorInfo, DaqResolutionInfo, DtoId, DtoShape, ErrorCode,
    IdField, OdtEntry, SessionParams, TimestampSize,
};

use crate::error::Error;
use crate::session::Master;
use crate::time::Linearizer;

/// Element type of a measured signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalType {
    /// u8.
    U8,
    /// i8.
    I8,
    /// u16.
    U16,
    /// i16.
    I16,
    /// u32.
    U32,
    /// i32.
    I32,
    /// u64.
    U64,
    /// i64.
    I64,
    /// f32.
    F32,
    /// f64.
    F64,
}

impl SignalType {
    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// Decodes one element (`bytes` holds exactly [`size`](Self::size) bytes; missing
    /// bytes read as zero).
    #[inline]
    pub fn decode(self, bytes: &[u8], order: ByteOrder) -> Value {
        let m = order == ByteOrder::Motorola;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_possible_wrap,
            reason = "reinterpreting the element's own bits"
        )]
        match self {
            Self::U8 => Value::Uint(u64::from(bytes.first().copied().unwrap_or(0))),
            Self::I8 => Value::Int(i64::from(bytes.first().copied().unwrap_or(0) as i8)),
            Self::U16 => Value::Uint(u64::from(u16::from_ne_bytes(fixed::<2>(bytes, m)))),
            Self::I16 => Value::Int(i64::from(i16::from_ne_bytes(fixed::<2>(bytes, m)))),
            Self::U32 => Value::Uint(u64::from(u32::from_ne_bytes(fixed::<4>(bytes, m)))),
            Self::I32 => Value::Int(i64::from(i32::from_ne_bytes(fixed::<4>(bytes, m)))),
            Self::U64 => Value::Uint(u64::from_ne_bytes(fixed::<8>(bytes, m))),
            Self::I64 => Value::Int(i64::from_ne_bytes(fixed::<8>(bytes, m))),
            Self::F32 => Value::Float(f64::from(f32::from_ne_bytes(fixed::<4>(bytes, m)))),
            Self::F64 => Value::Float(f64::from_ne_bytes(fixed::<8>(bytes, m))),
        }
    }
}

/// Groups adjacent signals of one type and byte order whose bytes follow each other.
fn runs_of(types: &[(SignalType, ByteOrder, usize)]) -> Vec<(SignalType, ByteOrder, usize, usize)> {
    let mut runs: Vec<(SignalType, ByteOrder, usize, usize)> = Vec::new();
    for &(ty, order, off) in types {
        match runs.last_mut() {
            Some((t, o, at, n)) if *t == ty && *o == order && *at + *n * ty.size() == off => {
                *n += 1;
            }
            _ => runs.push((ty, order, off, 1)),
        }
    }
    runs
}

/// Appends `n` values of type `ty` stored back to back in `bytes` (in `order`). The type and
/// byte order are matched once per run, so each loop is straight-line code; values `bytes`
/// is too short to hold decode as zero, as [`SignalType::decode`] does.
fn decode_run(ty: SignalType, order: ByteOrder, n: usize, bytes: &[u8], out: &mut Vec<Value>) {
    let size = ty.size();
    if bytes.len() < n * size {
        out.extend((0..n).map(|i| ty.decode(bytes.get(i * size..).unwrap_or_default(), order)));
        return;
    }
    let motorola = order == ByteOrder::Motorola;
    macro_rules! run {
        ($n:literal, $make:expr) => {{
            let elems = bytes.chunks_exact($n).take(n).map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                a
            });
            if motorola {
                out.extend(elems.map(|mut a| {
                    a.reverse();
                    $make(a)
                }));
            } else {
                out.extend(elems.map($make));
            }
        }};
    }
    match ty {
        SignalType::U8 => out.extend(bytes.iter().take(n).map(|&b| Value::Uint(u64::from(b)))),
        SignalType::I8 => out.extend(
            bytes
                .iter()
                .take(n)
                .map(|&b| Value::Int(i64::from(b.cast_signed()))),
        ),
        SignalType::U16 => run!(2, |a| Value::Uint(u64::from(u16::from_le_bytes(a)))),
        SignalType::I16 => run!(2, |a| Value::Int(i64::from(i16::from_le_bytes(a)))),
        SignalType::U32 => run!(4, |a| Value::Uint(u64::from(u32::from_le_bytes(a)))),
        SignalType::I32 => run!(4, |a| Value::Int(i64::from(i32::from_le_bytes(a)))),
        SignalType::U64 => run!(8, |a| Value::Uint(u64::from_le_bytes(a))),
        SignalType::I64 => run!(8, |a| Value::Int(i64::from_le_bytes(a))),
        SignalType::F32 => run!(4, |a| Value::Float(f64::from(f32::from_le_bytes(a)))),
        SignalType::F64 => run!(8, |a| Value::Float(f64::from_le_bytes(a))),
    }
}

/// The first `N` bytes of `bytes` (zero-padded when shorter) in this machine's byte order,
/// from the slave's (`motorola`: big-endian): fixed-size copies the compiler turns into one
/// load, where a copy of a run-time length calls `memcpy` per value.
#[inline]
fn fixed<const N: usize>(bytes: &[u8], motorola: bool) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(b) = bytes.get(..N) {
        a.copy_from_slice(b);
    } else {
        a[..bytes.len()].copy_from_slice(bytes);
    }
    // `a` holds the slave's bytes; turn them into native order.
    let slave_is_le = !motorola;
    if slave_is_le != cfg!(target_endian = "little") {
        a.reverse();
    }
    a
}

impl SignalType {
    /// Encodes `v` as this type in `order` (integers saturate, floats convert).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        reason = "conversion into the element type, documented as saturating"
    )]
    pub fn encode(self, v: Value, order: ByteOrder) -> Vec<u8> {
        let (u, i, f) = match v {
            Value::Uint(u) => (u, i64::try_from(u).unwrap_or(i64::MAX), u as f64),
            Value::Int(i) => (u64::try_from(i).unwrap_or(0), i, i as f64),
            Value::Float(f) => (f as u64, f as i64, f),
        };
        let le: Vec<u8> = match self {
            Self::U8 => vec![u.min(0xFF) as u8],
            Self::I8 => vec![i.clamp(-128, 127) as i8 as u8],
            Self::U16 => (u.min(0xFFFF) as u16).to_le_bytes().to_vec(),
            Self::I16 => (i.clamp(-32768, 32767) as i16).to_le_bytes().to_vec(),
            Self::U32 => (u.min(0xFFFF_FFFF) as u32).to_le_bytes().to_vec(),
            Self::I32 => (i.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
                .to_le_bytes()
                .to_vec(),
            Self::U64 => u.to_le_bytes().to_vec(),
            Self::I64 => i.to_le_bytes().to_vec(),
            Self::F32 => (f as f32).to_le_bytes().to_vec(),
            Self::F64 => f.to_le_bytes().to_vec(),
        };
        let mut b = le;
        if order == ByteOrder::Motorola {
            b.reverse();
        }
        b
    }
}

/// A decoded raw value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A float.
    Float(f64),
}

impl Value {
    /// The value as f64 (64-bit integers beyond 2^53 round).
    #[allow(clippy::cast_precision_loss, reason = "documented rounding")]
    pub const fn as_f64(self) -> f64 {
        match self {
            Self::Int(v) => v as f64,
            Self::Uint(v) => v as f64,
            Self::Float(v) => v,
        }
    }
}

/// One signal to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Name, for the user's reference.
    pub name: String,
    /// Address and extension.
    pub addr: Address,
    /// Element type.
    pub ty: SignalType,
    /// Byte order of the element in the ECU's memory (the A2L object's BYTE_ORDER; not
    /// necessarily the protocol's).
    pub order: ByteOrder,
}

/// One DAQ list to set up: signals sampled on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Event channel.
    pub event: u16,
    /// Prescaler (1: every event).
    pub prescaler: u8,
    /// Priority (0 lowest).
    pub priority: u8,
    /// Ask for a slave timestamp in the first ODT.
    pub timestamps: bool,
    /// A STIM list: the master sends the values ([`Master::stim`]) and the slave writes them
    /// at the event; no rows arrive for it.
    pub stim: bool,
    /// The signals, in the order rows carry their values.
    pub signals: Vec<Signal>,
}

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

/// The DAQ capabilities a configuration has to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaqLimits {
    /// GET_DAQ_PROCESSOR_INFO.
    pub processor: DaqProcessorInfo,
    /// GET_DAQ_RESOLUTION_INFO.
    pub resolution: DaqResolutionInfo,
    /// MAX_DTO.
    pub max_dto: u16,
    /// Address granularity in bytes.
    pub ag: usize,
    /// Entries per ODT and ODTs per list the slave allows (dynamic: 255 each).
    pub max_odt_entries: u8,
    /// ODTs per list.
    pub max_odt: u8,
}

impl DaqLimits {
    fn ts_len(&self) -> usize {
        self.resolution
            .timestamp_size()
            .map_or(0, TimestampSize::len)
    }

    /// Bytes of one ODT entry at most.
    fn max_entry_bytes(&self) -> usize {
        let n = usize::from(self.resolution.max_size_daq);
        (if n == 0 { 255 } else { n }) * self.ag
    }
}

/// One piece of a signal carried by one ODT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedEntry {
    /// Address of the piece.
    pub addr: Address,
    /// Size in bytes.
    pub size: usize,
    /// Index of the signal in its list.
    pub signal: usize,
    /// Offset of the piece in the signal.
    pub offset: usize,
}

/// A list as packed into ODTs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedList {
    /// The request.
    pub request: ListRequest,
    /// ODTs, each a list of entries.
    pub odts: Vec<Vec<PlannedEntry>>,
}

/// Packs requests into ODTs within `limits`: every signal in one ODT (split into entries no
/// larger than MAX_ODT_ENTRY_SIZE, in multiples of the granularity), ODT payload within
/// MAX_DTO minus the identification field (and the timestamp in the first ODT), entries and
/// ODTs within the slave's counts, the address extension the same per ODT or per list where
/// the key byte demands it, and at most 252 ODTs in all with absolute ODT numbers.
///
/// # Errors
/// [`Error::Daq`] naming the signal or limit that does not fit.
pub fn plan(limits: &DaqLimits, requests: &[ListRequest]) -> Result<Vec<PlannedList>, Error> {
    let id_len = limits.processor.id_field().len();
    let ts_len = limits.ts_len();
    let gran = usize::from(limits.resolution.granularity_daq).max(1);
    let max_entry = limits.max_entry_bytes() / gran * gran;
    let ext_scope = (limits.processor.key_byte >> 4) & 3;
    let mut total_odts = 0usize;
    let mut out = Vec::with_capacity(requests.len());
    for (li, req) in requests.iter().enumerate() {
        if req.signals.is_empty() {
            return Err(Error::Daq(format!(
                "list {li} (event {}) has no signals",
                req.event
            )));
        }
        if req.timestamps && ts_len == 0 {
            return Err(Error::Daq(
                "timestamps requested, but the slave has none (GET_DAQ_RESOLUTION_INFO)".to_owned(),
            ));
        }
        if ext_scope == 2
            && let Some(s) = req
                .signals
                .iter()
                .find(|s| s.addr.ext != req.signals[0].addr.ext)
        {
            return Err(Error::Daq(format!(
                "{} has address extension {} but the slave needs one extension per DAQ list",
                s.name, s.addr.ext
            )));
        }
        let mut odts: Vec<Vec<PlannedEntry>> = Vec::new();
        let mut used = 0usize;
        for (si, s) in req.signals.iter().enumerate() {
            let size = s.ty.size();
            if size % gran != 0 || size % limits.ag != 0 {
                return Err(Error::Daq(format!(
                    "{}: {size}-byte elements do not fit the ODT entry granularity {gran}",
                    s.name
                )));
            }
            let pieces = size.div_ceil(max_entry.max(gran));
            let capacity = |first: bool| {
                usize::from(limits.max_dto)
                    .saturating_sub(id_len)
                    .saturating_sub(if first && req.timestamps { ts_len } else { 0 })
            };
            if size > capacity(true) && size > capacity(false) {
                return Err(Error::Daq(format!(
                    "{}: {size} bytes do not fit one ODT (MAX_DTO {})",
                    s.name, limits.max_dto
                )));
            }
            let need_new = match odts.last() {
                None => true,
                Some(odt) => {
                    used + size > capacity(odts.len() == 1)
                        || odt.len() + pieces > usize::from(limits.max_odt_entries)
                        || (ext_scope == 1 && odt.first().is_some_and(|e| e.addr.ext != s.addr.ext))
                }
            };
            if need_new {
                odts.push(Vec::new());
                used = 0;
                if size > capacity(odts.len() == 1) {
                    return Err(Error::Daq(format!(
                        "{}: {size} bytes do not fit the first ODT with its timestamp",
                        s.name
                    )));
                }
            }
            let odt = odts
                .last_mut()
                .ok_or_else(|| Error::Daq("internal".to_owned()))?;
            let mut off = 0;
            while off < size {
                let n = (size - off).min(max_entry);
                let addr = Address::new(
                    s.addr.ext,
                    s.addr
                        .addr
                        .checked_add(u32::try_from(off / limits.ag).unwrap_or(u32::MAX))
                        .ok_or_else(|| Error::Daq(format!("{}: address overflow", s.name)))?,
                );
                odt.push(PlannedEntry {
                    addr,
                    size: n,
                    signal: si,
                    offset: off,
                });
                off += n;
            }
            used += size;
        }
        if odts.len() > usize::from(limits.max_odt) {
            return Err(Error::Daq(format!(
                "list {li} needs {} ODTs; the slave allows {}",
                odts.len(),
                limits.max_odt
            )));
        }
        total_odts += odts.len();
        out.push(PlannedList {
            request: req.clone(),
            odts,
        });
    }
    let pid_limit = if limits.processor.overload_pid_msb() {
        0x7C
    } else {
        0xFC
    };
    if limits.processor.id_field() == IdField::AbsoluteOdt && total_odts > pid_limit {
        return Err(Error::Daq(format!(
            "{total_odts} ODTs in all; absolute ODT numbers allow {pid_limit}"
        )));
    }
    Ok(out)
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
    /// ([`Master::correlate_clock`]) before the set-up.
    pub host_aligned_ns: Option<u64>,
    /// Values in the order of the list's signals.
    pub values: &'a [Value],
}

#[derive(Debug, Clone, Copy)]
struct RowMeta {
    list: usize,
    slave_ns: Option<u64>,
    aligned: Option<u64>,
    host_ns: u64,
    start: usize,
    len: usize,
}

/// Rows handed over together.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    rows: Vec<RowMeta>,
    values: Vec<Value>,
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

struct QueueInner {
    batches: VecDeque<Batch>,
    rows: usize,
    closed: Option<String>,
    waker: Option<Waker>,
    stats: DaqStats,
}

struct RowQueue {
    inner: Mutex<QueueInner>,
    room: Condvar,
    ready: Condvar,
    capacity: usize,
    policy: SlowConsumer,
}

fn lock(q: &RowQueue) -> MutexGuard<'_, QueueInner> {
    q.inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The consumer end of a DAQ configuration: batches of decoded rows.
pub struct DaqStream {
    queue: Arc<RowQueue>,
    signals: Vec<Vec<Signal>>,
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

struct NextBatch<'a> {
    stream: &'a DaqStream,
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

struct ListState {
    odts: Vec<Vec<(usize, usize, usize)>>,
    odt_len: Vec<usize>,
    /// Values per row (the list's signals).
    width: usize,
    /// Adjacent signals of one type and byte order whose bytes follow each other in `buf`,
    /// decoded in one loop each: (type, order, offset of the first, signals).
    runs: Vec<(SignalType, ByteOrder, usize, usize)>,
    timestamps: bool,
    buf: Vec<u8>,
    next_odt: usize,
    broken: bool,
    slave_ts: Option<u32>,
    stats: ListStats,
}

/// The decoder, kept with the receive half (see `link::Core`).
pub(crate) struct DaqState {
    lists: Vec<ListState>,
    by_pid: Vec<Option<(usize, usize)>>,
    list_numbers: Vec<u16>,
    relative: bool,
    clock: Option<Linearizer>,
    anchor: Option<crate::time::ClockCorrelation>,
    queue: Arc<RowQueue>,
    batch: Batch,
    batch_started: Option<Instant>,
    options: DaqOptions,
    bad: u64,
    dropped: u64,
    overload_events: u64,
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
    lists: Vec<PlannedList>,
    /// Nanoseconds per timestamp tick.
    tick_ns: Option<f64>,
    /// ODTs each list has in the slave (static lists may have more than the plan uses).
    capacity: usize,
    /// Whether the lists were allocated dynamically (exactly as planned).
    dynamic: bool,
    numbers: Vec<u16>,
    state: Option<Box<DaqState>>,
    /// First PID of each list once selected.
    firsts: Vec<u8>,
}

impl std::fmt::Debug for DaqState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaqState")
            .field("lists", &self.lists.len())
            .finish_non_exhaustive()
    }
}

impl Master {
    /// GET_DAQ_PROCESSOR_INFO and GET_DAQ_RESOLUTION_INFO, as limits for [`plan`].
    ///
    /// # Errors
    /// As the commands.
    pub async fn daq_limits(&mut self) -> Result<DaqLimits, Error> {
        let processor = self.get_daq_processor_info().await?;
        let resolution = self.get_daq_resolution_info().await?;
        let (max_odt, max_odt_entries) = if processor.dynamic() {
            (255, 255)
        } else {
            let first = u16::from(processor.min_daq);
            let info = self.get_daq_list_info(first).await?;
            (info.max_odt, info.max_odt_entries)
        };
        Ok(DaqLimits {
            processor,
            resolution,
            max_dto: self.params.max_dto,
            ag: self.params.ag(),
            max_odt_entries,
            max_odt,
        })
    }

    /// Packs `requests` into ODTs and writes them to the slave (dynamic: FREE_DAQ, ALLOC_*;
    /// static: the lists after the predefined ones, cleared), with each list's event,
    /// prescaler, priority and timestamp mode. Returns the stream the rows will arrive on
    /// once [`start_daq`](Self::start_daq) runs.
    ///
    /// # Errors
    /// [`Error::Daq`] when the requests do not fit the slave, else as the commands.
    pub async fn setup_daq(
        &mut self,
        requests: &[ListRequest],
        options: DaqOptions,
    ) -> Result<DaqStream, Error> {
        let limits = self.daq_limits().await?;
        let lists = plan(&limits, requests)?;
        let ts_size = self.adopt_dto_layout(&limits);
        let numbers: Vec<u16> = if limits.processor.dynamic() {
            self.free_daq().await?;
            let n =
                u16::try_from(lists.len()).map_err(|_| Error::Daq("too many lists".to_owned()))?;
            self.alloc_daq(n).await?;
            for (i, l) in lists.iter().enumerate() {
                let odts = u8::try_from(l.odts.len()).unwrap_or(u8::MAX);
                self.alloc_odt(u16::try_from(i).unwrap_or(u16::MAX), odts)
                    .await?;
            }
            for (i, l) in lists.iter().enumerate() {
                for (o, odt) in l.odts.iter().enumerate() {
                    self.alloc_odt_entry(
                        u16::try_from(i).unwrap_or(u16::MAX),
                        u8::try_from(o).unwrap_or(u8::MAX),
                        u8::try_from(odt.len()).unwrap_or(u8::MAX),
                    )
                    .await?;
                }
            }
            (0..n).collect()
        } else {
            let first = u16::from(limits.processor.min_daq);
            let n = u16::try_from(lists.len()).unwrap_or(u16::MAX);
            if first + n > limits.processor.max_daq {
                return Err(Error::Daq(format!(
                    "{n} lists requested; the slave has {} configurable",
                    limits.processor.max_daq - first
                )));
            }
            let numbers: Vec<u16> = (first..first + n).collect();
            for &d in &numbers {
                self.clear_daq_list(d).await?;
            }
            numbers
        };
        let per_multiple =
            ((usize::from(self.params.max_cto) - 2) / 8).min(xcp_proto::MAX_WRITE_DAQ_MULTIPLE);
        let mut multiple = per_multiple > 1;
        for (l, &d) in lists.iter().zip(&numbers) {
            for (o, odt) in l.odts.iter().enumerate() {
                self.set_daq_ptr(d, u8::try_from(o).unwrap_or(u8::MAX), 0)
                    .await?;
                let entries: Vec<OdtEntry> = odt
                    .iter()
                    .map(|e| OdtEntry {
                        bit_offset: 0xFF,
                        size: u8::try_from(e.size / limits.ag).unwrap_or(u8::MAX),
                        addr: e.addr,
                    })
                    .collect();
                let mut rest = &entries[..];
                while !rest.is_empty() {
                    if multiple {
                        let n = rest.len().min(per_multiple);
                        match self.write_daq_multiple(&rest[..n]).await {
                            Ok(()) => {
                                rest = &rest[n..];
                                continue;
                            }
                            Err(e) if e.code() == Some(ErrorCode::CmdUnknown) => multiple = false,
                            Err(e) => return Err(e),
                        }
                    }
                    self.write_daq(rest[0]).await?;
                    rest = &rest[1..];
                }
            }
            let mode = if l.request.stim {
                0x02
            } else if l.request.timestamps {
                0x10
            } else {
                0
            };
            self.set_daq_list_mode(
                mode,
                d,
                l.request.event,
                l.request.prescaler.max(1),
                l.request.priority,
            )
            .await?;
        }
        Ok(self.install(lists, numbers, &limits, ts_size, options))
    }

    /// Takes the DTO layout the slave will use (identification field, timestamp size, PID
    /// overload bit) into the session parameters; returns the timestamp size.
    fn adopt_dto_layout(&mut self, limits: &DaqLimits) -> TimestampSize {
        let ts_size = limits
            .resolution
            .timestamp_size()
            .unwrap_or(TimestampSize::None);
        let mut params = self.params;
        params.daq.id_field = limits.processor.id_field();
        params.daq.timestamp = ts_size;
        params.daq.overload_pid_msb = limits.processor.overload_pid_msb();
        self.set_params(params);
        ts_size
    }

    /// Prepares the decoder and the stream for `lists` (slave list `numbers`).
    fn install(
        &mut self,
        lists: Vec<PlannedList>,
        numbers: Vec<u16>,
        limits: &DaqLimits,
        ts_size: TimestampSize,
        options: DaqOptions,
    ) -> DaqStream {
        let queue = Arc::new(RowQueue {
            inner: Mutex::new(QueueInner {
                batches: VecDeque::new(),
                rows: 0,
                closed: None,
                waker: None,
                stats: DaqStats::default(),
            }),
            room: Condvar::new(),
            ready: Condvar::new(),
            capacity: options.queue_rows.max(1),
            policy: options.slow_consumer,
        });
        let anchor = self.clock.filter(|c| c.size == ts_size.len());
        let clock = limits
            .resolution
            .tick_ns()
            .filter(|_| ts_size != TimestampSize::None)
            .map(|t| anchor.map_or_else(|| Linearizer::new(ts_size.len(), t), |a| a.linearizer()));
        let state = DaqState {
            lists: lists.iter().map(list_state).collect(),
            by_pid: vec![None; 256],
            list_numbers: numbers.clone(),
            relative: limits.processor.id_field() != IdField::AbsoluteOdt,
            clock,
            anchor,
            queue: Arc::clone(&queue),
            batch: Batch::default(),
            batch_started: None,
            options,
            bad: 0,
            dropped: 0,
            overload_events: 0,
        };
        let stream = DaqStream {
            queue,
            signals: lists.iter().map(|l| l.request.signals.clone()).collect(),
        };
        self.daq = Some(Prepared {
            lists,
            tick_ns: limits.resolution.tick_ns(),
            capacity: usize::from(limits.max_odt),
            dynamic: limits.processor.dynamic(),
            numbers,
            state: Some(Box::new(state)),
            firsts: Vec::new(),
        });
        stream
    }

    /// Measures a predefined DAQ list (one the slave holds itself, numbered below MIN_DAQ):
    /// reads its ODT layout back with SET_DAQ_PTR / READ_DAQ, maps the entries onto
    /// `signals` by address (entries no signal covers are skipped), sets its mode
    /// (timestamps) and returns the stream; [`start_daq`](Self::start_daq) starts it.
    ///
    /// # Errors
    /// [`Error::Daq`] when the list is not predefined or a signal is not in it; as the
    /// commands otherwise.
    pub async fn setup_predefined(
        &mut self,
        number: u16,
        signals: &[Signal],
        timestamps: bool,
        options: DaqOptions,
    ) -> Result<DaqStream, Error> {
        let mut limits = self.daq_limits().await?;
        if number >= u16::from(limits.processor.min_daq) {
            return Err(Error::Daq(format!(
                "list {number} is not predefined (the slave has {})",
                limits.processor.min_daq
            )));
        }
        let info = self.get_daq_list_info(number).await?;
        let ag = self.params.ag();
        let mut odts: Vec<Vec<PlannedEntry>> = Vec::new();
        let mut covered = vec![false; signals.len()];
        for odt in 0..info.max_odt {
            let mut entries = Vec::new();
            for e in 0..info.max_odt_entries {
                // ODTs may hold fewer entries than the list's maximum: the pointer says so.
                match self.set_daq_ptr(number, odt, e).await {
                    Ok(()) => {}
                    Err(err) if err.code() == Some(ErrorCode::OutOfRange) => break,
                    Err(err) => return Err(err),
                }
                let entry = self.read_daq().await?;
                if entry.size == 0 {
                    continue;
                }
                let size = usize::from(entry.size) * ag;
                let inside = signals.iter().position(|s| {
                    s.addr.ext == entry.addr.ext
                        && s.addr.addr <= entry.addr.addr
                        && (u64::from(entry.addr.addr - s.addr.addr) * ag as u64 + size as u64)
                            <= s.ty.size() as u64
                });
                let (signal, offset) = match inside {
                    Some(i) => {
                        covered[i] = true;
                        (i, (entry.addr.addr - signals[i].addr.addr) as usize * ag)
                    }
                    // Bytes nobody asked for: decoded into scratch and dropped.
                    None => (usize::MAX, 0),
                };
                entries.push(PlannedEntry {
                    addr: entry.addr,
                    size,
                    signal,
                    offset,
                });
            }
            if entries.is_empty() {
                break;
            }
            odts.push(entries);
        }
        if let Some(i) = covered.iter().position(|c| !c) {
            return Err(Error::Daq(format!(
                "{} ({}) is not in predefined list {number}",
                signals[i].name, signals[i].addr
            )));
        }
        let ts_size = self.adopt_dto_layout(&limits);
        let event = if info.properties & 0x02 != 0 {
            info.fixed_event
        } else {
            0
        };
        let mode = if timestamps { 0x10 } else { 0 };
        self.set_daq_list_mode(mode, number, event, 1, 0).await?;
        limits.max_odt = info.max_odt;
        let request = ListRequest {
            event,
            prescaler: 1,
            priority: 0,
            timestamps,
            stim: false,
            signals: signals.to_vec(),
        };
        Ok(self.install(
            vec![PlannedList { request, odts }],
            vec![number],
            &limits,
            ts_size,
            options,
        ))
    }

    /// Selects every configured list (learning its first PID), hands the decoder to the
    /// receive thread, and starts them together (START_STOP_SYNCH start selected).
    ///
    /// # Errors
    /// [`Error::Daq`] without [`setup_daq`](Self::setup_daq) first, else as the commands.
    pub async fn start_daq(&mut self) -> Result<(), Error> {
        self.select_daq().await?;
        self.start_stop_synch(1).await
    }

    /// The first half of [`start_daq`](Self::start_daq): selects every configured list and
    /// hands the decoder to the receive thread, so that [`daq_layout`](Self::daq_layout)
    /// is complete (a recorder writes it) before `start_stop_synch(1)` starts the lists.
    ///
    /// # Errors
    /// As [`start_daq`](Self::start_daq).
    pub async fn select_daq(&mut self) -> Result<(), Error> {
        let Some(mut prepared) = self.daq.take() else {
            return Err(Error::Daq("start_daq without setup_daq".to_owned()));
        };
        let numbers = prepared.numbers.clone();
        let mut firsts = Vec::with_capacity(numbers.len());
        for &d in &numbers {
            match self.start_stop_daq_list(2, d).await {
                Ok(p) => firsts.push(p),
                Err(e) => {
                    self.daq = Some(prepared);
                    return Err(e);
                }
            }
        }
        if let Some(state) = prepared.state.as_mut() {
            for (li, (&first, l)) in firsts.iter().zip(&prepared.lists).enumerate() {
                if l.request.stim {
                    continue;
                }
                let odts = if prepared.dynamic {
                    l.odts.len()
                } else {
                    prepared.capacity.max(l.odts.len())
                };
                for oi in 0..odts {
                    if let Some(slot) = state.by_pid.get_mut(usize::from(first) + oi) {
                        *slot = Some((li, oi));
                    }
                }
            }
        }
        if let Some(state) = prepared.state.take() {
            self.set_daq(Some(state));
        }
        prepared.firsts = firsts;
        self.daq = Some(prepared);
        Ok(())
    }

    /// Stops every list (START_STOP_SYNCH stop all). Rows still in flight are decoded; the
    /// stream stays open until the configuration is replaced or the session ends.
    ///
    /// # Errors
    /// As the command.
    pub async fn stop_daq(&mut self) -> Result<(), Error> {
        self.start_stop_synch(0).await
    }
}

/// The running DAQ configuration as a recording needs it to decode the raw DTOs later.
#[derive(Debug, Clone, PartialEq)]
pub struct DaqLayoutInfo {
    /// The session's DTO layout and byte order.
    pub params: SessionParams,
    /// Nanoseconds per timestamp tick.
    pub tick_ns: Option<f64>,
    /// The lists, in request order.
    pub lists: Vec<ListLayout>,
}

/// One list of a [`DaqLayoutInfo`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListLayout {
    /// The slave's list number.
    pub number: u16,
    /// The first PID (absolute identification).
    pub first_pid: u8,
    /// The request: event, timestamps, signals.
    pub request: ListRequest,
    /// ODTs as packed: entries of (signal index, offset in the signal, size in bytes).
    pub odts: Vec<Vec<(usize, usize, usize)>>,
}

impl Master {
    /// The DAQ configuration in force after [`start_daq`](Self::start_daq).
    pub fn daq_layout(&self) -> Option<DaqLayoutInfo> {
        let p = self.daq.as_ref()?;
        if p.firsts.len() != p.lists.len() {
            return None;
        }
        Some(DaqLayoutInfo {
            params: self.params,
            tick_ns: p.tick_ns,
            lists: p
                .lists
                .iter()
                .zip(&p.numbers)
                .zip(&p.firsts)
                .map(|((l, &number), &first_pid)| ListLayout {
                    number,
                    first_pid,
                    request: l.request.clone(),
                    odts: l
                        .odts
                        .iter()
                        .map(|o| o.iter().map(|e| (e.signal, e.offset, e.size)).collect())
                        .collect(),
                })
                .collect(),
        })
    }

    /// Sends one set of values to STIM list `list` (index in the request): one DTO per ODT.
    /// The slave writes them at the list's next event.
    ///
    /// # Errors
    /// [`Error::Daq`] when the list is not a started STIM list or the values do not match its
    /// signals; transport errors.
    pub fn stim(&mut self, list: usize, values: &[Value]) -> Result<(), Error> {
        let params = self.params;
        let Some(p) = self.daq.as_ref() else {
            return Err(Error::Daq(
                "stim without setup_daq and start_daq".to_owned(),
            ));
        };
        let (Some(l), Some(&first), Some(&number)) =
            (p.lists.get(list), p.firsts.get(list), p.numbers.get(list))
        else {
            return Err(Error::Daq(format!("no started list {list}")));
        };
        if !l.request.stim {
            return Err(Error::Daq(format!("list {list} is a DAQ list, not STIM")));
        }
        if values.len() != l.request.signals.len() {
            return Err(Error::Daq(format!(
                "list {list} has {} signals, {} values given",
                l.request.signals.len(),
                values.len()
            )));
        }
        let encoded: Vec<Vec<u8>> = l
            .request
            .signals
            .iter()
            .zip(values)
            .map(|(s, v)| s.ty.encode(*v, s.order))
            .collect();
        let mut packets = Vec::with_capacity(l.odts.len());
        for (oi, odt) in l.odts.iter().enumerate() {
            let mut data = Vec::new();
            for e in odt {
                data.extend_from_slice(
                    encoded[e.signal]
                        .get(e.offset..e.offset + e.size)
                        .unwrap_or_default(),
                );
            }
            let odt_no = u8::try_from(oi).unwrap_or(u8::MAX);
            let id = if params.daq.id_field == IdField::AbsoluteOdt {
                DtoId {
                    odt: first.wrapping_add(odt_no),
                    daq: None,
                    overload: false,
                }
            } else {
                DtoId {
                    odt: odt_no,
                    daq: Some(number),
                    overload: false,
                }
            };
            let dto = DaqPacket {
                id: Some(id),
                ctr: None,
                timestamp: None,
                data: &data,
            };
            let mut buf = vec![0u8; dto.buffer_len(&params)];
            let n = dto
                .emit(&mut buf, &params)
                .map_err(|e| Error::Daq(format!("STIM DTO: {e}")))?;
            buf.truncate(n);
            packets.push(buf);
        }
        for b in &packets {
            self.send_raw(b)?;
        }
        Ok(())
    }

    /// The polling fallback for slaves without DAQ (or for a one-off reading): reads each
    /// signal now with SHORT_UPLOAD and decodes it.
    ///
    /// # Errors
    /// As the uploads.
    pub async fn sample(&mut self, signals: &[Signal]) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(signals.len());
        for s in signals {
            let bytes = self.upload(s.addr, s.ty.size()).await?;
            out.push(s.ty.decode(&bytes, s.order));
        }
        Ok(out)
    }
}

fn list_state(l: &PlannedList) -> ListState {
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
    let types: Vec<(SignalType, ByteOrder, usize)> = l
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [SignalType; 10] = [
        SignalType::U8,
        SignalType::I8,
        SignalType::U16,
        SignalType::I16,
        SignalType::U32,
        SignalType::I32,
        SignalType::U64,
        SignalType::I64,
        SignalType::F32,
        SignalType::F64,
    ];

    #[test]
    fn runs_decode_like_their_elements_one_by_one() {
        // Every type and byte order, in runs of 1 to 5 elements, over bytes that differ
        // everywhere; a run decodes to exactly what its elements decode to one at a time.
        let bytes: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(0x81))
            .collect();
        for ty in ALL {
            for order in [ByteOrder::Intel, ByteOrder::Motorola] {
                for n in 1..=5 {
                    let mut got = vec![Value::Uint(99)];
                    decode_run(ty, order, n, &bytes[..n * ty.size()], &mut got);
                    let want: Vec<Value> = std::iter::once(Value::Uint(99))
                        .chain((0..n).map(|i| ty.decode(&bytes[i * ty.size()..], order)))
                        .collect();
                    assert_eq!(got, want, "{ty:?} {order:?} x{n}");
                }
                // Too few bytes: the missing elements read as zero, the count stays.
                let mut got = Vec::new();
                decode_run(ty, order, 3, &bytes[..ty.size() + 1], &mut got);
                assert_eq!(got.len(), 3, "{ty:?} {order:?} short");
                assert_eq!(got[0], ty.decode(&bytes, order), "{ty:?} {order:?} short");
                assert_eq!(got[2], ty.decode(&[], order), "{ty:?} {order:?} short");
            }
        }
    }

    #[test]
    fn adjacent_signals_of_one_type_and_order_form_runs() {
        use ByteOrder::{Intel, Motorola};
        use SignalType::{F32, U8, U32};
        let types = [
            (U32, Intel, 0),
            (U32, Intel, 4),
            (U32, Intel, 8),
            (U32, Motorola, 12),
            (F32, Motorola, 16),
            (F32, Motorola, 24), // a gap: a new run
            (U8, Intel, 28),
            (U8, Intel, 29),
        ];
        assert_eq!(
            runs_of(&types),
            vec![
                (U32, Intel, 0, 3),
                (U32, Motorola, 12, 1),
                (F32, Motorola, 16, 1),
                (F32, Motorola, 24, 1),
                (U8, Intel, 28, 2),
            ]
        );
    }

    #[test]
    fn elements_decode_from_either_byte_order() {
        let bytes = [0x81, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        let cases = [
            (SignalType::U8, Value::Uint(0x81), Value::Uint(0x81)),
            (SignalType::I8, Value::Int(-127), Value::Int(-127)),
            (SignalType::U16, Value::Uint(0x0281), Value::Uint(0x8102)),
            (SignalType::I16, Value::Int(0x0281), Value::Int(-0x7EFE)),
            (
                SignalType::U32,
                Value::Uint(0x0403_0281),
                Value::Uint(0x8102_0304),
            ),
            (
                SignalType::U64,
                Value::Uint(0x0807_0605_0403_0281),
                Value::Uint(0x8102_0304_0506_0708),
            ),
        ];
        for (ty, intel, motorola) in cases {
            let b = &bytes[..ty.size()];
            assert_eq!(ty.decode(b, ByteOrder::Intel), intel, "{ty:?} Intel");
            assert_eq!(
                ty.decode(b, ByteOrder::Motorola),
                motorola,
                "{ty:?} Motorola"
            );
        }
        assert_eq!(
            SignalType::F32.decode(&1.5f32.to_be_bytes(), ByteOrder::Motorola),
            Value::Float(1.5)
        );
        assert_eq!(
            SignalType::F64.decode(&(-2.25f64).to_le_bytes(), ByteOrder::Intel),
            Value::Float(-2.25)
        );
    }

    #[test]
    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "the expected values of small test numbers"
    )]
    fn encoded_values_decode_back_and_missing_bytes_read_as_zero() {
        for ty in ALL {
            for order in [ByteOrder::Intel, ByteOrder::Motorola] {
                for v in [
                    Value::Uint(0),
                    Value::Uint(100),
                    Value::Int(-5),
                    Value::Float(3.0),
                ] {
                    let signed = matches!(
                        ty,
                        SignalType::I8 | SignalType::I16 | SignalType::I32 | SignalType::I64
                    );
                    let want = match (v, ty) {
                        (_, SignalType::F32 | SignalType::F64) => Value::Float(match v {
                            Value::Uint(u) => u as f64,
                            Value::Int(i) => i as f64,
                            Value::Float(f) => f,
                        }),
                        (Value::Int(i), _) if signed => Value::Int(i),
                        (Value::Int(_), _) => Value::Uint(0),
                        (Value::Uint(u), _) if signed => Value::Int(u as i64),
                        (Value::Float(f), _) if signed => Value::Int(f as i64),
                        (Value::Float(f), _) => Value::Uint(f as u64),
                        (Value::Uint(u), _) => Value::Uint(u),
                    };
                    let bytes = ty.encode(v, order);
                    assert_eq!(bytes.len(), ty.size());
                    assert_eq!(ty.decode(&bytes, order), want, "{ty:?} {order:?} {v:?}");
                }
                let zero = if matches!(ty, SignalType::F32 | SignalType::F64) {
                    Value::Float(0.0)
                } else if matches!(
                    ty,
                    SignalType::I8 | SignalType::I16 | SignalType::I32 | SignalType::I64
                ) {
                    Value::Int(0)
                } else {
                    Value::Uint(0)
                };
                assert_eq!(ty.decode(&[], order), zero, "{ty:?} {order:?} empty");
            }
        }
    }
}
