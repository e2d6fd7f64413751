//! The command processor: bytes of one command in, response packets out. No I/O, no threads.
//!
//! [`Core::process`] handles one CTO and leaves the packets to send in [`Out`]: usually one
//! RES or ERR, several RES in slave block mode, none for the parts of a master block or for
//! commands before CONNECT, an EV before a RES when an operation takes long. Time comes in as
//! an argument; [`Core::handle_timeout`] finishes long operations and reports overload.
//! Failures become ERR packets here: nothing a master sends can make the core panic.

use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use xcp_proto::params::{DaqListNumber, EventChannel};

use xcp_proto::response::SegmentInfo;
use xcp_proto::{
    Address, ByteOrder, Checksum, ChecksumResult, CommModeInfo, Command, CommandCode, ConnectInfo,
    DaqClock, DaqEventInfo, DaqListInfo, DaqListModeInfo, DaqProcessorInfo, DaqResolutionInfo,
    DtoCtrInfo, ErrorCode, Event as XcpEvent, IdInfo, IdType, OdtEntry, PgmProcessorInfo,
    ProgramStartInfo, Resources, Response, SectorInfo, Seed, Serv, SessionParams, Status,
    TimeCorrelationInfo, Version,
};

use crate::config::{DaqConfigType, OverloadIndication};
use xcp_proto::bits;

use crate::daq::{self, KIND_EVENT, KIND_GLOBAL, KIND_NONE, KIND_SEGMENT, encode_entry, mode};
use crate::memory::{EXT_ABSOLUTE, EXT_EVENT, EXT_SEGMENT, GLOBALS_BASE, SEGMENT_BASE};
use crate::poll::{MAX_POLL_BYTES, PollKind};
use crate::shared::Shared;
use crate::sync::rcu::PageKind;

mod daq_lists;
mod memory;
mod paging;
mod programming;
mod seed_key;
mod session;

/// Response packets produced by one call into the core.
#[derive(Debug, Default)]
pub struct Out {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Out {
    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// Appends one raw packet.
    pub fn push(&mut self, packet: &[u8]) {
        self.buf.extend_from_slice(packet);
        self.ends.push(self.buf.len());
    }

    fn emit(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        match f(&mut self.buf[start..]) {
            Some(n) => {
                self.buf.truncate(start + n);
                self.ends.push(self.buf.len());
            }
            None => {
                // An encoding failure is our bug, not the master's: say so on the wire.
                self.buf.truncate(start);
                self.push(&[0xFE, ErrorCode::Generic.to_u8()]);
            }
        }
    }

    fn res(&mut self, r: &Response<'_>, p: &SessionParams) {
        self.emit(r.buffer_len(p).max(1), |b| r.emit(b, p).ok());
    }

    fn err(&mut self, code: ErrorCode) {
        self.push(&[0xFE, code.to_u8()]);
    }

    fn ev(&mut self, e: &XcpEvent<'_>, p: &SessionParams) {
        self.emit(e.buffer_len() + 8, |b| e.emit(b, p).ok());
    }

    /// The packets, in sending order.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let p = &self.buf[start..end];
            start = end;
            p
        })
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Where the memory transfer address points.
#[derive(Debug, Clone)]
enum Mta {
    Mem(Address),
    /// Text the slave exposes for upload (GET_ID, event and sector names).
    Text(Arc<[u8]>, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllocStep {
    Freed,
    Daq,
    Odt,
    Entry,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    /// Elements still expected.
    remaining: usize,
    program: bool,
}

/// A command whose answer comes later.
enum Pending {
    /// A long operation (a simulated flash erase): `packet` is sent at `due`.
    Timed { due: Instant, packet: Vec<u8> },
    /// A poll of event-relative memory, waiting for its event's trigger.
    Poll(Poll),
}

struct Poll {
    event: u16,
    kind: PollAnswer,
    /// When to look at the slot again.
    check: Instant,
    /// When to send the next EV_CMD_PENDING.
    remind: Instant,
    /// When to give up: the event is not running.
    deadline: Instant,
}

/// How the answer to a poll looks.
#[derive(Debug, Clone, Copy)]
enum PollAnswer {
    /// UPLOAD or SHORT_UPLOAD of `count` bytes.
    Upload { count: usize },
    /// A write: a bare positive response.
    Download,
}

/// How often the receive loop looks whether a pending poll's trigger has run.
const POLL_CHECK: Duration = Duration::from_micros(500);

/// Per-list allocation, kept by the command thread (the trigger reads the atomics).
#[derive(Debug, Clone, Default)]
struct ListAlloc {
    predefined: bool,
    fixed_event: Option<u16>,
    odts: u8,
    entries_per_odt: Vec<u8>,
    /// The channel SET_DAQ_ID gave the list (A2L form of a CAN identifier), if any.
    route: Option<u32>,
}

struct Session {
    connected: bool,
    params: SessionParams,
    mta: Mta,
    locked: Resources,
    seed: Option<(Resources, Vec<u8>, usize)>,
    key: Option<(Resources, Vec<u8>, usize)>,
    block: Option<Block>,
    daq_ptr: Option<(DaqListNumber, u8, u8)>,
    step: AllocStep,
    pgm_active: bool,
    extended_clock: bool,
    config_id: u16,
    store_cal_pending: bool,
}

/// The command processor of one slave (one session at a time).
pub struct Core {
    shared: Arc<Shared>,
    s: Session,
    out: Out,
    lists: Vec<ListAlloc>,
    odts_used: usize,
    entries_used: usize,
    /// What WRITE_DAQ wrote, for READ_DAQ.
    mirror: Vec<OdtEntry>,
    flash: Vec<u8>,
    pending: Option<Pending>,
    a2l: Option<Arc<[u8]>>,
    overload_reported: u64,
    /// Lists started from a stored configuration at power-up (RESUME mode), with its
    /// SESSION_CONFIGURATION_ID; cleared when DAQ stops.
    resumed: Option<u16>,
}

type R = Result<(), ErrorCode>;

fn ensure(ok: bool, code: ErrorCode) -> R {
    if ok { Ok(()) } else { Err(code) }
}

impl Core {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let flash = shared
            .flash
            .as_ref()
            .map(|f| vec![0xFF; f.sector_size as usize * usize::from(f.sectors)])
            .unwrap_or_default();
        let mut core = Self {
            s: Session::new(&shared),
            shared,
            out: Out::default(),
            lists: Vec::new(),
            odts_used: 0,
            entries_used: 0,
            mirror: Vec::new(),
            flash,
            pending: None,
            a2l: None,
            overload_reported: 0,
            resumed: None,
        };
        core.reset_daq();
        core.resume_daq();
        core.out.clear();
        core
    }

    /// RESUME mode: starts the DAQ lists a master stored with STORE_DAQ_REQ_RESUME.
    fn resume_daq(&mut self) {
        let Some(dir) = self.shared.config.persist_dir.clone() else {
            return;
        };
        let stored = match crate::persist::load_daq(&dir, &self.shared.epk) {
            Ok(Some(d)) if d.resume => d,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("DAQ not resumed: {e}");
                return;
            }
        };
        match self.apply_stored(&stored) {
            Ok(()) => {
                tracing::info!(
                    lists = stored.lists.len(),
                    config_id = stored.config_id,
                    "DAQ resumed"
                );
                self.resumed = Some(stored.config_id);
            }
            Err(code) => {
                tracing::warn!("DAQ not resumed: the stored configuration does not apply ({code})");
                self.reset_daq();
            }
        }
    }

    fn apply_stored(&mut self, d: &crate::persist::StoredDaq) -> R {
        let mut lists = d.lists.clone();
        lists.sort_by_key(|l| l.number);
        if self.shared.config.daq_config == DaqConfigType::Dynamic {
            // Recreate the dynamic lists up to the highest stored number, so numbers match.
            let top = lists.last().map_or(0, |l| usize::from(l.number) + 1);
            while self.lists.len() < top {
                let n = u16::try_from(self.lists.len()).map_err(|_| ErrorCode::MemoryOverflow)?;
                let counts: Vec<u8> = lists
                    .iter()
                    .find(|l| l.number == n)
                    .map(|l| {
                        l.odts
                            .iter()
                            .map(|o| u8::try_from(o.len()).unwrap_or(u8::MAX))
                            .collect()
                    })
                    .unwrap_or_default();
                self.add_list(&counts, false, None)
                    .ok_or(ErrorCode::MemoryOverflow)?;
            }
        }
        for l in &lists {
            let n = DaqListNumber(l.number);
            self.list(n)?;
            if !self.lists[n.index()].predefined {
                for (o, entries) in l.odts.iter().enumerate() {
                    let o = u8::try_from(o).map_err(|_| ErrorCode::OutOfRange)?;
                    for (i, &entry) in entries.iter().enumerate() {
                        let i = u8::try_from(i).map_err(|_| ErrorCode::OutOfRange)?;
                        self.store_entry(n, o, i, entry)?;
                    }
                }
            }
            self.set_daq_list_mode(l.mode, n, EventChannel(l.event), l.prescaler)?;
        }
        for l in &lists {
            self.start_list(DaqListNumber(l.number))?;
        }
        Ok(())
    }

    /// SET_REQUEST STORE_DAQ: the selected lists into the persistence directory.
    fn store_daq(&mut self, resume: bool) -> R {
        let dir = self
            .shared
            .config
            .persist_dir
            .clone()
            .ok_or(ErrorCode::AccessDenied)?;
        let t = &self.shared.daq;
        let mut lists = Vec::new();
        for (n, l) in self.lists.iter().enumerate() {
            let slot = &t.lists[n];
            if slot.mode.load(Ordering::Relaxed) & mode::SELECTED == 0 {
                continue;
            }
            let number = u16::try_from(n).map_err(|_| ErrorCode::OutOfRange)?;
            let mut odts = Vec::new();
            for odt in 0..l.odts {
                let mut entries = Vec::new();
                for e in 0..l.entries_per_odt[usize::from(odt)] {
                    entries.push(self.mirror[self.entry_index(DaqListNumber(number), odt, e)?]);
                }
                odts.push(entries);
            }
            lists.push(crate::persist::StoredList {
                number,
                mode: slot.mode.load(Ordering::Relaxed) & mode::SETTABLE,
                event: slot.event.load(Ordering::Relaxed),
                prescaler: slot.prescaler.load(Ordering::Relaxed),
                odts,
            });
        }
        let stored = crate::persist::StoredDaq {
            config_id: self.s.config_id,
            resume,
            lists,
        };
        crate::persist::store_daq(&dir, &self.shared.epk, &stored).map_err(|e| {
            tracing::warn!("STORE_DAQ failed: {e}");
            ErrorCode::Generic
        })
    }

    /// Whether a master is connected.
    pub fn is_connected(&self) -> bool {
        self.s.connected
    }

    /// The session parameters in force.
    pub fn params(&self) -> &SessionParams {
        &self.s.params
    }

    /// Handles one command; the packets to send are in the returned [`Out`].
    pub fn process(&mut self, cmd: &[u8], now: Instant) -> &Out {
        self.out.clear();
        let Some(&code) = cmd.first() else {
            return &self.out;
        };
        if code < 0xC0 {
            // A STIM DTO: stored for its event, never answered.
            self.receive_stim(cmd);
            return &self.out;
        }
        self.shared.commands.fetch_add(1, Ordering::Relaxed);
        let params = self.s.params;
        let parsed = Command::parse(cmd, &params);
        if !self.s.connected && code != CommandCode::Connect.to_u8() {
            // Before CONNECT a slave stays silent (XCP part 2, state machine), except to
            // GET_SLAVE_ID on CAN, which finds slaves before anyone connects.
            if let Some(mode) = xcp_proto::tl::can::parse_get_slave_id(cmd) {
                self.get_slave_id(mode);
            }
            return &self.out;
        }
        if self.pending.is_some() {
            // A long operation is running: only SYNCH may interrupt it, and a master that
            // gives up and disconnects (or connects anew) withdraws it.
            if code == CommandCode::Synch.to_u8()
                || code == CommandCode::Disconnect.to_u8()
                || code == CommandCode::Connect.to_u8()
            {
                self.cancel_pending();
            } else {
                self.fail(ErrorCode::CmdBusy);
                return &self.out;
            }
        }
        let result = match parsed {
            Ok(c) => self.dispatch(c, now),
            Err(_) if CommandCode::from(code).is_known() => Err(ErrorCode::CmdSyntax),
            Err(_) => Err(ErrorCode::CmdUnknown),
        };
        if let Err(e) = result {
            self.fail(e);
        }
        &self.out
    }

    fn fail(&mut self, code: ErrorCode) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        // A failed block transfer is over.
        self.s.block = None;
        self.out.err(code);
    }

    /// The link to the master is gone: stop DAQ and forget the session.
    pub fn end_session(&mut self) {
        self.stop_all();
        self.s = Session::new(&self.shared);
        self.cancel_pending();
    }

    /// Drops the pending command; a poll is withdrawn from its event.
    fn cancel_pending(&mut self) {
        if let Some(Pending::Poll(p)) = self.pending.take()
            && let Some(slot) = self.shared.polls.get(usize::from(p.event))
            && !slot.cancel()
        {
            // The trigger is copying right now: it finishes in a moment, and the next
            // arm of this slot waits for that (`arm` refuses a busy slot).
            tracing::debug!(event = p.event, "poll cancelled while its trigger ran");
        }
    }

    /// When [`Self::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| match p {
            Pending::Timed { due, .. } => *due,
            Pending::Poll(p) => p.check,
        })
    }

    /// Finishes due long operations, answers polls whose event fired, publishes held
    /// calibration changes and reports DAQ overload. Returns packets to send.
    pub fn handle_timeout(&mut self, now: Instant) -> &Out {
        self.out.clear();
        match self.pending.take() {
            Some(Pending::Timed { due, packet }) if due <= now => self.out.push(&packet),
            Some(Pending::Poll(p)) => self.poll_step(p, now),
            other => self.pending = other,
        }
        for seg in &self.shared.segments {
            if let Some(pages) = &seg.pages {
                pages.publish();
            }
        }
        if self.s.connected
            && self.shared.config.overload == OverloadIndication::Event
            && self
                .shared
                .daq
                .overload_pending
                .swap(false, Ordering::Relaxed)
        {
            let dropped = self.shared.queue.dropped();
            if dropped != self.overload_reported {
                self.overload_reported = dropped;
                self.out.ev(&XcpEvent::DaqOverload, &self.s.params);
            }
        }
        &self.out
    }

    fn res(&mut self, r: &Response<'_>) -> R {
        self.out.res(r, &self.s.params);
        Ok(())
    }

    fn ok(&mut self) -> R {
        self.res(&Response::Ok)
    }

    fn need(&self, resource: Resources) -> R {
        ensure(!self.s.locked.contains(resource), ErrorCode::AccessLocked)
    }

    #[allow(clippy::too_many_lines, reason = "one arm per command, each short")]
    fn dispatch(&mut self, cmd: Command<'_>, now: Instant) -> R {
        use Command as C;
        let cal = Resources::CAL_PAG;
        let daq = Resources::DAQ;
        let pgm = Resources::PGM;
        // A block transfer accepts only its continuation.
        if self.s.block.is_some()
            && !matches!(
                cmd,
                C::DownloadNext { .. } | C::ProgramNext { .. } | C::Synch
            )
        {
            self.s.block = None;
            return Err(ErrorCode::Sequence);
        }
        match cmd {
            C::Connect { mode } => self.connect(mode),
            C::Disconnect => {
                self.ok()?;
                self.end_session();
                Ok(())
            }
            C::GetStatus => self.status(),
            C::Synch => {
                self.s.block = None;
                Err(ErrorCode::CmdSynch)
            }
            C::GetCommModeInfo => self.res(&Response::CommModeInfo(CommModeInfo {
                comm_mode_optional: if self.shared.config.max_bs > 0 {
                    bits::comm_mode_optional::MASTER_BLOCK_MODE
                } else {
                    0
                },
                max_bs: self.shared.config.max_bs,
                min_st: self.shared.config.min_st,
                queue_size: 0,
                driver_version: 0x10,
            })),
            C::GetId { id_type } => self.get_id(id_type),
            C::SetRequest { mode, config_id } => self.set_request(mode, config_id),
            C::GetSeed { mode, resource } => self.get_seed(mode, resource),
            C::Unlock { remaining, key } => self.unlock(remaining, key),
            C::SetMta { addr } => {
                self.s.mta = Mta::Mem(addr);
                self.ok()
            }
            C::Upload { count } => self.upload(usize::from(count), true, now),
            C::ShortUpload { count, addr } => {
                ensure(
                    usize::from(count) < usize::from(self.s.params.max_cto),
                    ErrorCode::OutOfRange,
                )?;
                self.s.mta = Mta::Mem(addr);
                self.upload(usize::from(count), false, now)
            }
            C::BuildChecksum { block_size } => self.build_checksum(block_size),
            C::TransportLayerCmd { sub, data } => self.transport_layer_cmd(sub, data),
            C::UserCmd { sub, .. } => self.user_cmd(sub),
            C::Download { count, data } => {
                self.need(cal)?;
                if matches!(self.s.mta, Mta::Mem(a) if a.ext == EXT_EVENT)
                    && usize::from(count) == data.len()
                {
                    return self.write_mta_answer(data, now);
                }
                self.download(usize::from(count), data, false)
            }
            C::DownloadNext { count, data } => {
                self.need(cal)?;
                self.download_next(usize::from(count), data, false)
            }
            C::DownloadMax { data } => {
                self.need(cal)?;
                self.write_mta_answer(data, now)
            }
            C::ShortDownload { addr, data } => {
                self.need(cal)?;
                self.s.mta = Mta::Mem(addr);
                self.write_mta_answer(data, now)
            }
            C::ModifyBits {
                shift,
                and_mask,
                xor_mask,
            } => {
                self.need(cal)?;
                self.modify_bits(shift, and_mask, xor_mask)
            }
            C::SetCalPage {
                mode,
                segment,
                page,
            } => {
                self.need(cal)?;
                self.set_cal_page(mode, segment, page)
            }
            C::GetCalPage { mode, segment } => {
                self.need(cal)?;
                self.get_cal_page(mode, segment)
            }
            C::GetPagProcessorInfo => {
                self.need(cal)?;
                let freeze = if self.shared.config.persist_dir.is_some() {
                    bits::pag_properties::FREEZE_SUPPORTED
                } else {
                    0
                };
                self.res(&Response::PagProcessorInfo {
                    max_segments: u8::try_from(self.shared.segments.len()).unwrap_or(255),
                    properties: freeze,
                })
            }
            C::GetSegmentInfo {
                mode,
                segment,
                segment_info,
                mapping_index: _,
            } => {
                self.need(cal)?;
                self.segment_info(mode, segment, segment_info)
            }
            C::GetPageInfo { segment, page } => {
                self.need(cal)?;
                self.segment(segment)?;
                use bits::page_properties as p;
                let ecu = p::ECU_ACCESS_WITHOUT_XCP | p::ECU_ACCESS_WITH_XCP;
                let read = p::XCP_READ_ACCESS_WITHOUT_ECU | p::XCP_READ_ACCESS_WITH_ECU;
                let write = p::XCP_WRITE_ACCESS_WITHOUT_ECU | p::XCP_WRITE_ACCESS_WITH_ECU;
                let properties = match page {
                    // ECU and XCP may read and write the working page, with or without the
                    // other accessing it too.
                    0 => ecu | read | write,
                    // The reference page is read-only for XCP.
                    1 => ecu | read,
                    _ => return Err(ErrorCode::PageNotValid),
                };
                self.res(&Response::PageInfo {
                    properties,
                    init_segment: segment,
                })
            }
            C::SetSegmentMode { mode, segment } => {
                self.need(cal)?;
                ensure(
                    mode & !bits::segment_mode::FREEZE == 0,
                    ErrorCode::ModeNotValid,
                )?;
                ensure(
                    mode == 0 || self.shared.config.persist_dir.is_some(),
                    ErrorCode::ModeNotValid,
                )?;
                let seg = self.segment(segment)?;
                ensure(seg.pages.is_some() || mode == 0, ErrorCode::ModeNotValid)?;
                seg.mode.store(mode, Ordering::Relaxed);
                self.ok()
            }
            C::GetSegmentMode { segment } => {
                self.need(cal)?;
                let mode = self.segment(segment)?.mode.load(Ordering::Relaxed);
                self.res(&Response::SegmentMode { mode })
            }
            C::CopyCalPage {
                src_segment,
                src_page,
                dst_segment,
                dst_page,
            } => {
                self.need(cal)?;
                self.copy_cal_page(src_segment, src_page, dst_segment, dst_page)
            }
            C::ClearDaqList { daq: n } => {
                self.need(daq)?;
                self.clear_daq_list(n)
            }
            C::SetDaqPtr { daq: n, odt, entry } => {
                self.need(daq)?;
                self.set_daq_ptr(n, odt, entry)
            }
            C::WriteDaq { entry } => {
                self.need(daq)?;
                self.write_daq(entry)?;
                self.ok()
            }
            C::WriteDaqMultiple { entries } => {
                self.need(daq)?;
                for e in entries.as_slice() {
                    self.write_daq(*e)?;
                }
                self.ok()
            }
            C::ReadDaq => {
                self.need(daq)?;
                self.read_daq()
            }
            C::SetDaqListMode {
                mode: m,
                daq: n,
                event,
                prescaler,
                priority: _,
            } => {
                self.need(daq)?;
                self.set_daq_list_mode(m, n, event, prescaler)
            }
            C::GetDaqListMode { daq: n } => {
                self.need(daq)?;
                let list = self.list(n)?;
                let info = DaqListModeInfo {
                    mode: list.mode.load(Ordering::Relaxed),
                    event: list.event.load(Ordering::Relaxed),
                    prescaler: list.prescaler.load(Ordering::Relaxed),
                    priority: 0,
                };
                self.res(&Response::DaqListMode(info))
            }
            C::StartStopDaqList { mode: m, daq: n } => {
                self.need(daq)?;
                self.start_stop_list(m, n)
            }
            C::StartStopSynch { mode: m } => {
                self.need(daq)?;
                self.start_stop_synch(m)
            }
            C::GetDaqClock => {
                self.need(daq)?;
                self.daq_clock()
            }
            C::GetDaqProcessorInfo => {
                self.need(daq)?;
                self.daq_processor_info()
            }
            C::GetDaqResolutionInfo => {
                self.need(daq)?;
                let c = &self.shared.config;
                let unit = c.timestamp_unit_code().unwrap_or(0);
                let info = DaqResolutionInfo {
                    granularity_daq: 1,
                    max_size_daq: c.max_entry_size,
                    granularity_stim: 1,
                    max_size_stim: c.max_entry_size,
                    timestamp_mode: c.timestamp_size | (unit << bits::timestamp_mode::UNIT_SHIFT),
                    timestamp_ticks: 1,
                };
                self.res(&Response::DaqResolutionInfo(info))
            }
            C::GetDaqListInfo { daq: n } => {
                self.need(daq)?;
                self.daq_list_info(n)
            }
            C::GetDaqEventInfo { event } => {
                self.need(daq)?;
                self.daq_event_info(event)
            }
            C::FreeDaq => {
                self.need(daq)?;
                ensure(
                    self.shared.config.daq_config == DaqConfigType::Dynamic,
                    ErrorCode::CmdUnknown,
                )?;
                self.reset_daq();
                self.s.step = AllocStep::Freed;
                self.ok()
            }
            C::AllocDaq { count } => {
                self.need(daq)?;
                self.alloc_daq(count)
            }
            C::AllocOdt { daq: n, count } => {
                self.need(daq)?;
                self.alloc_odt(n, count)
            }
            C::AllocOdtEntry { daq: n, odt, count } => {
                self.need(daq)?;
                self.alloc_odt_entry(n, odt, count)
            }
            C::ProgramStart => {
                ensure(self.shared.flash.is_some(), ErrorCode::CmdUnknown)?;
                self.need(pgm)?;
                self.program_start()
            }
            C::ProgramClear { mode: m, range } => {
                self.need(pgm)?;
                self.program_clear(m, range, now)
            }
            C::Program { count, data } => {
                self.need(pgm)?;
                self.pgm()?;
                self.download(usize::from(count), data, true)
            }
            C::ProgramNext { count, data } => {
                self.need(pgm)?;
                self.pgm()?;
                self.download_next(usize::from(count), data, true)
            }
            C::ProgramMax { data } => {
                self.need(pgm)?;
                self.pgm()?;
                self.program_write(data)?;
                self.ok()
            }
            C::ProgramReset => {
                ensure(self.shared.flash.is_some(), ErrorCode::CmdUnknown)?;
                self.need(pgm)?;
                self.ok()?;
                self.end_session();
                Ok(())
            }
            C::GetPgmProcessorInfo => {
                self.need(pgm)?;
                let f = self.shared.flash.as_ref().ok_or(ErrorCode::CmdUnknown)?;
                let info = PgmProcessorInfo {
                    properties: bits::pgm_properties::ABSOLUTE_MODE
                        | bits::pgm_properties::FUNCTIONAL_MODE,
                    max_sector: f.sectors,
                };
                self.res(&Response::PgmProcessorInfo(info))
            }
            C::GetSectorInfo { mode: m, sector } => {
                self.need(pgm)?;
                self.sector_info(m, sector)
            }
            C::ProgramPrepare { .. } => {
                self.need(pgm)?;
                ensure(self.shared.flash.is_some(), ErrorCode::CmdUnknown)?;
                self.ok()
            }
            C::ProgramFormat {
                compression,
                encryption,
                programming,
                access,
            } => {
                self.need(pgm)?;
                self.pgm()?;
                ensure(
                    compression == 0 && encryption == 0 && programming == 0 && access == 0,
                    ErrorCode::OutOfRange,
                )?;
                self.ok()
            }
            C::ProgramVerify {
                mode: m,
                verify_type: _,
                value,
            } => {
                self.need(pgm)?;
                self.pgm()?;
                self.program_verify(m, value)
            }
            C::TimeCorrelationProperties {
                set_properties,
                get_properties_request: _,
                cluster_id,
            } => {
                use bits::time_correlation as tc;
                ensure(
                    set_properties & tc::RESERVED_MASK == 0,
                    ErrorCode::OutOfRange,
                )?;
                match set_properties & tc::RESPONSE_FMT_MASK {
                    tc::RESPONSE_FMT_LEGACY => self.s.extended_clock = false,
                    tc::RESPONSE_FMT_EXTENDED => self.s.extended_clock = true,
                    0 => {}
                    _ => return Err(ErrorCode::OutOfRange),
                }
                let info = TimeCorrelationInfo {
                    slave_config: if self.s.extended_clock {
                        tc::RESPONSE_FMT_EXTENDED
                    } else {
                        tc::RESPONSE_FMT_LEGACY
                    },
                    // The XCP slave clock is free running: not synchronised to a grandmaster.
                    observable_clocks: 0,
                    sync_state: 0,
                    clock_info: 0,
                    cluster_id,
                };
                self.res(&Response::TimeCorrelation(info))
            }
            C::DtoCtrProperties {
                modifier: _,
                event,
                related_event,
                mode: m,
            } => {
                self.need(daq)?;
                ensure(
                    event.index() < self.shared.events.len(),
                    ErrorCode::OutOfRange,
                )?;
                // The DTO_CTR counts samples of each DAQ list; nothing is configurable.
                let info = DtoCtrInfo {
                    properties: 0,
                    related_event: related_event.0,
                    mode: m,
                };
                self.res(&Response::DtoCtr(info))
            }
            C::GetVersion => self.res(&Response::Version(Version {
                protocol_major: 1,
                protocol_minor: 5,
                transport_major: 1,
                transport_minor: 5,
            })),
            C::SetDaqListPackedMode { .. } | C::GetDaqListPackedMode { .. } => {
                Err(ErrorCode::SubcmdUnknown)
            }
            _ => Err(ErrorCode::CmdUnknown),
        }
    }
}

impl Session {
    fn new(shared: &Shared) -> Self {
        let c = &shared.config;
        Self {
            connected: false,
            params: SessionParams {
                byte_order: c.byte_order,
                address_granularity: xcp_proto::AddressGranularity::Byte,
                max_cto: c.max_cto,
                max_dto: c.max_dto,
                daq: xcp_proto::DaqLayout {
                    id_field: c.id_field,
                    timestamp: xcp_proto::TimestampSize::from_code(c.timestamp_size)
                        .unwrap_or_default(),
                    overload_pid_msb: c.overload == OverloadIndication::PidBit,
                },
            },
            mta: Mta::Mem(Address::new(0, 0)),
            locked: c.protected,
            seed: None,
            key: None,
            block: None,
            daq_ptr: None,
            step: AllocStep::Freed,
            pgm_active: false,
            extended_clock: false,
            config_id: 0,
            store_cal_pending: false,
        }
    }
}

/// An event period as GET_DAQ_EVENT_INFO's TIME_CYCLE and TIME_UNIT: exact in 1 ns, 1 µs,
/// 1 ms or 1 s if possible (the coarsest of those), else exact in any decade, else rounded.
pub(crate) fn cycle_and_unit(period: Duration) -> (u8, u8) {
    let ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
    let unit_ns = |code: u8| 10u64.pow(u32::from(code));
    let exact = |code: u8| {
        let u = unit_ns(code);
        (ns % u == 0 && (1..=255).contains(&(ns / u)))
            .then(|| (u8::try_from(ns / u).unwrap_or(255), code))
    };
    if let Some(found) = [9u8, 6, 3, 0].into_iter().find_map(exact) {
        return found;
    }
    if let Some(found) = (0..=9u8).rev().find_map(exact) {
        return found;
    }
    (0..=9u8)
        .find(|&c| ns / unit_ns(c) <= 255)
        .map_or((255, 9), |c| {
            (u8::try_from((ns / unit_ns(c)).max(1)).unwrap_or(255), c)
        })
}
