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

use xcp_proto::response::SegmentInfo;
use xcp_proto::{
    Address, ByteOrder, Checksum, ChecksumResult, CommModeInfo, Command, CommandCode, ConnectInfo,
    DaqClock, DaqEventInfo, DaqListInfo, DaqListModeInfo, DaqProcessorInfo, DaqResolutionInfo,
    DtoCtrInfo, ErrorCode, Event as XcpEvent, IdInfo, IdType, OdtEntry, PgmProcessorInfo,
    ProgramStartInfo, Resources, Response, SectorInfo, Seed, Serv, SessionParams, Status,
    TimeCorrelationInfo, Version,
};

use crate::config::{DaqConfigType, OverloadIndication};
use crate::daq::{self, KIND_EVENT, KIND_GLOBAL, KIND_NONE, KIND_SEGMENT, encode_entry, mode};
use crate::memory::{EXT_ABSOLUTE, EXT_EVENT, EXT_SEGMENT, GLOBALS_BASE, SEGMENT_BASE};
use crate::poll::{MAX_POLL_BYTES, PollKind};
use crate::slave::Shared;
use crate::sync::rcu::PageKind;

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
}

struct Session {
    connected: bool,
    params: SessionParams,
    mta: Mta,
    locked: Resources,
    seed: Option<(Resources, Vec<u8>, usize)>,
    key: Option<(Resources, Vec<u8>, usize)>,
    block: Option<Block>,
    daq_ptr: Option<(u16, u8, u8)>,
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
            let n = l.number;
            self.list(n)?;
            if !self.lists[usize::from(n)].predefined {
                for (o, entries) in l.odts.iter().enumerate() {
                    let o = u8::try_from(o).map_err(|_| ErrorCode::OutOfRange)?;
                    for (i, &entry) in entries.iter().enumerate() {
                        let i = u8::try_from(i).map_err(|_| ErrorCode::OutOfRange)?;
                        self.store_entry(n, o, i, entry)?;
                    }
                }
            }
            self.set_daq_list_mode(l.mode, n, l.event, l.prescaler)?;
        }
        for l in &lists {
            self.start_list(l.number)?;
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
                    entries.push(self.mirror[self.entry_index(number, odt, e)?]);
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
            // Before CONNECT a slave stays silent (XCP part 2, state machine).
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
                comm_mode_optional: u8::from(self.shared.config.max_bs > 0),
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
            C::TransportLayerCmd { .. } => Err(ErrorCode::SubcmdUnknown),
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
                let freeze = u8::from(self.shared.config.persist_dir.is_some());
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
                let properties = match page {
                    // ECU and XCP may read and write the working page, with or without the
                    // other accessing it too.
                    0 => 0x3F,
                    // The reference page is read-only for XCP.
                    1 => 0x0F,
                    _ => return Err(ErrorCode::PageNotValid),
                };
                self.res(&Response::PageInfo {
                    properties,
                    init_segment: segment,
                })
            }
            C::SetSegmentMode { mode, segment } => {
                self.need(cal)?;
                ensure(mode & !1 == 0, ErrorCode::ModeNotValid)?;
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
                self.clear_daq_list(n.0)
            }
            C::SetDaqPtr { daq: n, odt, entry } => {
                self.need(daq)?;
                self.set_daq_ptr(n.0, odt, entry)
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
                self.set_daq_list_mode(m, n.0, event.0, prescaler)
            }
            C::GetDaqListMode { daq: n } => {
                self.need(daq)?;
                let list = self.list(n.0)?;
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
                self.start_stop_list(m, n.0)
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
                    timestamp_mode: c.timestamp_size | (unit << 4),
                    timestamp_ticks: 1,
                };
                self.res(&Response::DaqResolutionInfo(info))
            }
            C::GetDaqListInfo { daq: n } => {
                self.need(daq)?;
                self.daq_list_info(n.0)
            }
            C::GetDaqEventInfo { event } => {
                self.need(daq)?;
                self.daq_event_info(event.0)
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
                self.alloc_odt(n.0, count)
            }
            C::AllocOdtEntry { daq: n, odt, count } => {
                self.need(daq)?;
                self.alloc_odt_entry(n.0, odt, count)
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
                    properties: 0x03,
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
                ensure(set_properties & 0xF0 == 0, ErrorCode::OutOfRange)?;
                match set_properties & 3 {
                    1 => self.s.extended_clock = false,
                    2 => self.s.extended_clock = true,
                    3 => return Err(ErrorCode::OutOfRange),
                    _ => {}
                }
                let info = TimeCorrelationInfo {
                    slave_config: if self.s.extended_clock { 2 } else { 1 },
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
                    usize::from(event.0) < self.shared.events.len(),
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

    // ---- session -------------------------------------------------------------------------

    fn connect(&mut self, mode: u8) -> R {
        ensure(mode <= 1, ErrorCode::OutOfRange)?;
        if !self.s.connected {
            self.s = Session::new(&self.shared);
            self.s.connected = true;
            if let Some(id) = self.resumed {
                self.s.config_id = id;
            }
        }
        let shared = Arc::clone(&self.shared);
        let c = &shared.config;
        let mut resources = Resources::CAL_PAG
            .union(Resources::DAQ)
            .union(Resources::STIM);
        if self.shared.flash.is_some() {
            resources = resources.union(Resources::PGM);
        }
        let order = u8::from(c.byte_order == ByteOrder::Motorola);
        let block = if c.slave_block_mode { 0x40 } else { 0 };
        let info = ConnectInfo {
            resources,
            comm_mode_basic: order | block | 0x80,
            max_cto: c.max_cto,
            max_dto: c.max_dto,
            protocol_layer_version: 1,
            transport_layer_version: 1,
        };
        self.res(&Response::Connect(info))?;
        if !c.greeting.is_empty() {
            let text = c.greeting.clone();
            let max = usize::from(c.max_cto) - 2;
            for chunk in text.as_bytes().chunks(max) {
                let serv = Serv::Text(chunk);
                self.out
                    .emit(chunk.len() + 2, |b| serv.emit(b, &self.s.params).ok());
            }
        }
        Ok(())
    }

    fn status(&mut self) -> R {
        let mut session_status = 0u8;
        if self.s.store_cal_pending {
            session_status |= 0x01;
        }
        if self.shared.daq.running.load(Ordering::Relaxed) {
            session_status |= 0x40;
            if self.resumed.is_some() {
                session_status |= 0x80;
            }
        }
        let st = Status {
            session_status,
            protection: self.s.locked,
            state_number: 0,
            config_id: self.s.config_id,
        };
        self.res(&Response::Status(st))
    }

    fn text_mta(&mut self, text: Arc<[u8]>) -> u32 {
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        self.s.mta = Mta::Text(text, 0);
        len
    }

    fn get_id(&mut self, id_type: IdType) -> R {
        let text: Arc<[u8]> = match id_type {
            IdType::Ascii | IdType::A2lName => self.shared.name.as_bytes().into(),
            IdType::A2lUpload => {
                let text = self
                    .a2l
                    .get_or_insert_with(|| crate::a2l::generate(&self.shared).into_bytes().into());
                Arc::clone(text)
            }
            IdType::Epk => self.shared.epk.as_bytes().into(),
            // Not available: length 0, as the standard asks.
            _ => Arc::from(&[][..]),
        };
        let length = self.text_mta(text);
        self.res(&Response::Id(IdInfo {
            mode: 0,
            length,
            data: &[],
        }))
    }

    fn set_request(&mut self, mode: u8, config_id: u16) -> R {
        ensure(mode & !0x0F == 0, ErrorCode::OutOfRange)?;
        self.s.config_id = config_id;
        self.ok()?;
        if mode & 0x01 != 0 {
            let dir = self
                .shared
                .config
                .persist_dir
                .clone()
                .ok_or(ErrorCode::AccessDenied);
            match dir.map(|d| crate::persist::store(&self.shared, &d)) {
                Ok(Ok(n)) => {
                    tracing::info!(segments = n, "calibration frozen");
                    self.out.ev(&XcpEvent::StoreCal, &self.s.params);
                }
                Ok(Err(e)) => {
                    tracing::warn!("STORE_CAL failed: {e}");
                    self.out.err(ErrorCode::Generic);
                }
                Err(code) => self.out.err(code),
            }
        }
        if mode & 0x06 != 0 {
            match self.store_daq(mode & 0x04 != 0) {
                Ok(()) => self.out.ev(&XcpEvent::StoreDaq, &self.s.params),
                Err(code) => self.out.err(code),
            }
        }
        if mode & 0x08 != 0 {
            let cleared = self
                .shared
                .config
                .persist_dir
                .as_deref()
                .ok_or(ErrorCode::AccessDenied)
                .and_then(|dir| {
                    crate::persist::clear_daq(dir, &self.shared.epk).map_err(|e| {
                        tracing::warn!("CLEAR_DAQ failed: {e}");
                        ErrorCode::Generic
                    })
                });
            match cleared {
                Ok(()) => self.out.ev(&XcpEvent::ClearDaq, &self.s.params),
                Err(code) => self.out.err(code),
            }
        }
        Ok(())
    }

    // ---- seed & key ----------------------------------------------------------------------

    fn get_seed(&mut self, mode: u8, resource: Resources) -> R {
        let max = usize::from(self.s.params.max_cto) - 2;
        match mode {
            0 => {
                let valid = [
                    Resources::CAL_PAG,
                    Resources::DAQ,
                    Resources::STIM,
                    Resources::PGM,
                ];
                ensure(valid.contains(&resource), ErrorCode::OutOfRange)?;
                if !self.s.locked.contains(resource) {
                    self.s.seed = None;
                    return self.res(&Response::Seed(Seed {
                        remaining: 0,
                        seed: &[],
                    }));
                }
                let sk = self.shared.seed_key.as_ref().ok_or(ErrorCode::Generic)?;
                let mut seed = sk.seed(resource);
                seed.truncate(255);
                if seed.is_empty() {
                    return Err(ErrorCode::Generic);
                }
                self.s.seed = Some((resource, seed, 0));
                self.s.key = None;
            }
            1 => ensure(
                self.s
                    .seed
                    .as_ref()
                    .is_some_and(|(_, s, sent)| *sent < s.len()),
                ErrorCode::Sequence,
            )?,
            _ => return Err(ErrorCode::OutOfRange),
        }
        let Some((_, seed, sent)) = self.s.seed.as_mut() else {
            return Err(ErrorCode::Sequence);
        };
        let remaining = u8::try_from(seed.len() - *sent).unwrap_or(255);
        let part = &seed[*sent..(*sent + max).min(seed.len())];
        *sent += part.len();
        let r = Response::Seed(Seed {
            remaining,
            seed: part,
        });
        self.out.res(&r, &self.s.params);
        Ok(())
    }

    fn unlock(&mut self, remaining: u8, key: &[u8]) -> R {
        let Some((resource, seed, _)) = self.s.seed.clone() else {
            return Err(ErrorCode::Sequence);
        };
        let (_, collected, expected) = self.s.key.get_or_insert((resource, Vec::new(), 0));
        if collected.is_empty() {
            *expected = usize::from(remaining);
        }
        ensure(
            usize::from(remaining) == *expected - collected.len() && !key.is_empty(),
            ErrorCode::Sequence,
        )?;
        collected.extend_from_slice(key);
        if collected.len() < *expected {
            // More key parts to come; the spec answers each part.
            return self.res(&Response::Unlock {
                protection: self.s.locked,
            });
        }
        let key = std::mem::take(collected);
        self.s.key = None;
        self.s.seed = None;
        let ok = self
            .shared
            .seed_key
            .as_ref()
            .is_some_and(|sk| sk.check(resource, &seed, &key));
        if !ok {
            // A wrong key ends the session (XCP part 2, UNLOCK).
            self.out.err(ErrorCode::AccessLocked);
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            self.end_session();
            return Ok(());
        }
        self.s.locked = self.s.locked.without(resource);
        self.res(&Response::Unlock {
            protection: self.s.locked,
        })
    }

    // ---- memory --------------------------------------------------------------------------

    fn segment(&self, segment: u8) -> Result<&crate::slave::SegmentDef, ErrorCode> {
        self.shared
            .segments
            .get(usize::from(segment))
            .ok_or(ErrorCode::SegmentNotValid)
    }

    /// The segment a segment-relative address (extension 0) points into, and the offset.
    fn segment_at(&self, addr: Address) -> Result<(&crate::slave::SegmentDef, usize), ErrorCode> {
        ensure(addr.addr & SEGMENT_BASE != 0, ErrorCode::OutOfRange)?;
        let seg = u8::try_from((addr.addr >> 16) & 0x7FFF)
            .ok()
            .and_then(|i| self.shared.segments.get(usize::from(i)))
            .ok_or(ErrorCode::OutOfRange)?;
        Ok((seg, (addr.addr & 0xFFFF) as usize))
    }

    /// Reads memory at an address for the master.
    fn read_mem(&self, addr: Address, buf: &mut [u8]) -> R {
        let a = addr.addr as usize;
        match addr.ext {
            EXT_SEGMENT => {
                let (seg, offset) = self.segment_at(addr)?;
                match &seg.pages {
                    None => {
                        let epk = self.shared.epk.as_bytes();
                        let src = epk
                            .get(offset..offset + buf.len())
                            .ok_or(ErrorCode::OutOfRange)?;
                        buf.copy_from_slice(src);
                        Ok(())
                    }
                    Some(pages) => {
                        let kind = if seg.xcp_page.load(Ordering::Relaxed) == 1 {
                            PageKind::Reference
                        } else {
                            PageKind::Working
                        };
                        ensure(pages.xcp_read(kind, offset, buf), ErrorCode::OutOfRange)
                    }
                }
            }
            EXT_ABSOLUTE => {
                let g = GLOBALS_BASE as usize;
                if a >= g && a < g + self.shared.globals.len() {
                    return ensure(self.shared.globals.load(a - g, buf), ErrorCode::OutOfRange);
                }
                if let Some(f) = &self.shared.flash {
                    let base = f.base as usize;
                    if a >= base {
                        let src = self
                            .flash
                            .get(a - base..a - base + buf.len())
                            .ok_or(ErrorCode::OutOfRange)?;
                        buf.copy_from_slice(src);
                        return Ok(());
                    }
                }
                Err(ErrorCode::OutOfRange)
            }
            // Event-relative memory exists only while its event fires: SHORT_UPLOAD and
            // UPLOAD poll it through the trigger (`start_poll`); checksums and bit
            // modifications cannot.
            EXT_EVENT => Err(ErrorCode::AccessDenied),
            _ => Err(ErrorCode::OutOfRange),
        }
    }

    /// Writes memory for the master (calibration only).
    fn write_mem(&self, addr: Address, data: &[u8]) -> R {
        let a = addr.addr as usize;
        match addr.ext {
            EXT_SEGMENT => {
                let (seg, offset) = self.segment_at(addr)?;
                let pages = seg.pages.as_ref().ok_or(ErrorCode::WriteProtected)?;
                ensure(
                    seg.xcp_page.load(Ordering::Relaxed) == 0,
                    ErrorCode::WriteProtected,
                )?;
                ensure(pages.xcp_write(offset, data), ErrorCode::OutOfRange)
            }
            EXT_ABSOLUTE => {
                let g = GLOBALS_BASE as usize;
                let in_globals = a >= g && a < g + self.shared.globals.len();
                let in_flash = self.shared.flash.as_ref().is_some_and(|f| {
                    a >= f.base as usize && a - (f.base as usize) < self.flash.len()
                });
                if in_globals || in_flash {
                    Err(ErrorCode::WriteProtected)
                } else {
                    Err(ErrorCode::OutOfRange)
                }
            }
            EXT_EVENT => Err(ErrorCode::AccessDenied),
            _ => Err(ErrorCode::OutOfRange),
        }
    }

    fn read_mta(&mut self, buf: &mut [u8]) -> R {
        match &mut self.s.mta {
            Mta::Text(text, pos) => {
                let src = text
                    .get(*pos..*pos + buf.len())
                    .ok_or(ErrorCode::OutOfRange)?;
                buf.copy_from_slice(src);
                *pos += buf.len();
                Ok(())
            }
            Mta::Mem(addr) => {
                let addr = *addr;
                self.read_mem(addr, buf)?;
                self.advance_mta(buf.len());
                Ok(())
            }
        }
    }

    fn advance_mta(&mut self, n: usize) {
        if let Mta::Mem(a) = &mut self.s.mta {
            a.addr = a.addr.wrapping_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    fn write_mta(&mut self, data: &[u8]) -> R {
        let Mta::Mem(addr) = self.s.mta else {
            return Err(ErrorCode::WriteProtected);
        };
        self.write_mem(addr, data)?;
        self.advance_mta(data.len());
        Ok(())
    }

    fn upload(&mut self, count: usize, block: bool, now: Instant) -> R {
        let per_packet = usize::from(self.s.params.max_cto) - 1;
        let max = if block && self.shared.config.slave_block_mode {
            255
        } else {
            per_packet
        };
        ensure(count <= max, ErrorCode::OutOfRange)?;
        if let Mta::Mem(addr) = self.s.mta
            && addr.ext == EXT_EVENT
            && count > 0
        {
            self.start_poll(addr, PollKind::Read, &[0; MAX_POLL_BYTES][..count], now)?;
            self.advance_mta(count);
            return Ok(());
        }
        let mut data = [0u8; 255];
        let data = &mut data[..count];
        self.read_mta(data)?;
        self.upload_answer(data);
        Ok(())
    }

    /// The UPLOAD response: one packet, or several in slave block mode.
    fn upload_answer(&mut self, data: &[u8]) {
        if data.is_empty() {
            self.out
                .res(&Response::Upload { data: &[] }, &self.s.params);
            return;
        }
        let per_packet = usize::from(self.s.params.max_cto) - 1;
        for chunk in data.chunks(per_packet) {
            self.out
                .res(&Response::Upload { data: chunk }, &self.s.params);
        }
    }

    /// Writes `data` at the MTA and answers, or, for event-relative memory, arms a poll
    /// that the event's next trigger carries out (answered then).
    fn write_mta_answer(&mut self, data: &[u8], now: Instant) -> R {
        if let Mta::Mem(addr) = self.s.mta
            && addr.ext == EXT_EVENT
            && !data.is_empty()
        {
            self.start_poll(addr, PollKind::Write, data, now)?;
            self.advance_mta(data.len());
            return Ok(());
        }
        self.write_mta(data)?;
        self.ok()
    }

    /// Arms a poll of event-relative memory at `addr` (event in the high word, offset in the
    /// low word); the answer follows from [`Self::handle_timeout`] once the event fired.
    fn start_poll(&mut self, addr: Address, kind: PollKind, data: &[u8], now: Instant) -> R {
        let event = u16::try_from(addr.addr >> 16).unwrap_or(u16::MAX);
        let offset = (addr.addr & 0xFFFF) as usize;
        ensure(
            usize::from(event) < self.shared.events.len(),
            ErrorCode::OutOfRange,
        )?;
        let slot = self
            .shared
            .polls
            .get(usize::from(event))
            .ok_or(ErrorCode::OutOfRange)?;
        // Busy only when a cancelled poll's trigger is still copying: a moment.
        ensure(slot.arm(kind, offset, data), ErrorCode::CmdBusy)?;
        let c = &self.shared.config;
        self.pending = Some(Pending::Poll(Poll {
            event,
            kind: match kind {
                PollKind::Read => PollAnswer::Upload { count: data.len() },
                PollKind::Write => PollAnswer::Download,
            },
            check: now + POLL_CHECK,
            remind: now + c.poll_pending_every,
            deadline: now + c.poll_timeout,
        }));
        Ok(())
    }

    /// One look at a pending poll: answer it when its trigger ran, remind the master with
    /// EV_CMD_PENDING while it waits, give up at its deadline.
    fn poll_step(&mut self, mut p: Poll, now: Instant) {
        let Some(slot) = self.shared.polls.get(usize::from(p.event)) else {
            return;
        };
        let mut data = [0u8; MAX_POLL_BYTES];
        match slot.take(&mut data) {
            Some(Ok(n)) => match p.kind {
                PollAnswer::Upload { count } => self.upload_answer(&data[..n.min(count)]),
                PollAnswer::Download => self.out.res(&Response::Ok, &self.s.params),
            },
            Some(Err(code)) => self.fail(code),
            None if now >= p.deadline && slot.cancel() => {
                tracing::debug!(event = p.event, "poll timed out: the event did not fire");
                self.fail(ErrorCode::ResourceTemporaryNotAccessible);
            }
            None => {
                if now >= p.remind {
                    self.out.ev(&XcpEvent::CmdPending, &self.s.params);
                    p.remind = now + self.shared.config.poll_pending_every;
                }
                p.check = (now + POLL_CHECK).min(p.deadline.max(now));
                self.pending = Some(Pending::Poll(p));
            }
        }
    }

    fn build_checksum(&mut self, block_size: u32) -> R {
        let shared = Arc::clone(&self.shared);
        let c = &shared.config;
        ensure(
            block_size > 0 && block_size <= c.max_checksum_block,
            ErrorCode::OutOfRange,
        )?;
        let mut sum = Checksum::new(c.checksum, self.s.params.byte_order)
            .map_err(|_| ErrorCode::OutOfRange)?;
        let mut left = block_size as usize;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let n = left.min(buf.len());
            self.read_mta(&mut buf[..n])?;
            sum.update(&buf[..n]);
            left -= n;
        }
        // Block sizes that do not fit the algorithm's word size are a range error.
        let value = sum.finish().map_err(|_| ErrorCode::OutOfRange)?;
        let r = ChecksumResult {
            checksum_type: c.checksum,
            value,
        };
        self.res(&Response::Checksum(r))
    }

    fn download(&mut self, count: usize, data: &[u8], program: bool) -> R {
        if program && count == 0 {
            // PROGRAM with size 0 ends a memory segment.
            return self.ok();
        }
        ensure(count > 0, ErrorCode::OutOfRange)?;
        let first = data.len().min(count);
        ensure(
            count == first || self.shared.config.max_bs > 0,
            ErrorCode::OutOfRange,
        )?;
        self.block_part(count, data, program)
    }

    fn download_next(&mut self, count: usize, data: &[u8], program: bool) -> R {
        let Some(block) = self.s.block.take() else {
            return Err(ErrorCode::Sequence);
        };
        ensure(
            block.program == program && count == block.remaining,
            ErrorCode::Sequence,
        )?;
        self.block_part(count, data, program)
    }

    /// Writes the part of a block this packet carries; answers once the block is complete.
    fn block_part(&mut self, count: usize, data: &[u8], program: bool) -> R {
        let part = data.len().min(count);
        self.block_write(&data[..part], program)?;
        if part < count {
            self.s.block = Some(Block {
                remaining: count - part,
                program,
            });
            return Ok(());
        }
        self.ok()
    }

    fn block_write(&mut self, data: &[u8], program: bool) -> R {
        if program {
            self.program_write(data)
        } else {
            self.write_mta(data)
        }
    }

    fn modify_bits(&mut self, shift: u8, and_mask: u16, xor_mask: u16) -> R {
        ensure(shift < 32, ErrorCode::OutOfRange)?;
        let Mta::Mem(addr) = self.s.mta else {
            return Err(ErrorCode::AccessDenied);
        };
        let mut b = [0u8; 4];
        self.read_mem(addr, &mut b)?;
        let order = self.s.params.byte_order;
        let x = match order {
            ByteOrder::Intel => u32::from_le_bytes(b),
            ByteOrder::Motorola => u32::from_be_bytes(b),
        };
        // The complement is taken on the 16-bit mask before widening and shifting, so bits
        // outside the shifted mask are kept (XCP part 2, MODIFY_BITS).
        let and = !(u32::from(!and_mask) << shift);
        let x = (x & and) ^ (u32::from(xor_mask) << shift);
        let b = match order {
            ByteOrder::Intel => x.to_le_bytes(),
            ByteOrder::Motorola => x.to_be_bytes(),
        };
        self.write_mem(addr, &b)?;
        self.ok()
    }

    fn user_cmd(&mut self, sub: u8) -> R {
        let hold = match sub {
            0x01 => true,
            0x02 => false,
            _ => return Err(ErrorCode::SubcmdUnknown),
        };
        self.need(Resources::CAL_PAG)?;
        for seg in &self.shared.segments {
            if let Some(p) = &seg.pages {
                p.set_hold(hold);
            }
        }
        self.ok()
    }

    // ---- paging --------------------------------------------------------------------------

    fn set_cal_page(&mut self, mode: u8, segment: u8, page: u8) -> R {
        ensure(
            mode & 0x83 != 0 && mode & !0x83 == 0,
            ErrorCode::ModeNotValid,
        )?;
        ensure(page <= 1, ErrorCode::PageNotValid)?;
        let all = mode & 0x80 != 0;
        if !all {
            self.segment(segment)?;
        }
        let kind = if page == 1 {
            PageKind::Reference
        } else {
            PageKind::Working
        };
        for (i, seg) in self.shared.segments.iter().enumerate() {
            if !all && i != usize::from(segment) {
                continue;
            }
            if mode & 0x01 != 0
                && let Some(p) = &seg.pages
            {
                p.set_ecu_page(kind);
            }
            if mode & 0x02 != 0 {
                seg.xcp_page.store(page, Ordering::Relaxed);
            }
        }
        self.ok()
    }

    fn get_cal_page(&mut self, mode: u8, segment: u8) -> R {
        let seg = self.segment(segment)?;
        let page = match mode {
            0x01 => seg
                .pages
                .as_ref()
                .map_or(0, |p| u8::from(p.ecu_page() == PageKind::Reference)),
            0x02 => seg.xcp_page.load(Ordering::Relaxed),
            _ => return Err(ErrorCode::ModeNotValid),
        };
        self.res(&Response::CalPage { page })
    }

    fn segment_info(&mut self, mode: u8, segment: u8, info: u8) -> R {
        let len = self.segment(segment)?.len(&self.shared.epk);
        let r = match mode {
            0 => match info {
                0 => SegmentInfo::Basic {
                    info: crate::memory::segment_address(segment, 0),
                },
                1 => SegmentInfo::Basic {
                    info: u32::try_from(len).unwrap_or(u32::MAX),
                },
                _ => return Err(ErrorCode::OutOfRange),
            },
            1 => SegmentInfo::Standard {
                max_pages: 2,
                address_extension: EXT_SEGMENT,
                max_mapping: 0,
                compression: 0,
                encryption: 0,
            },
            // No address mappings.
            2 => return Err(ErrorCode::OutOfRange),
            _ => return Err(ErrorCode::ModeNotValid),
        };
        self.res(&Response::SegmentInfo(r))
    }

    fn copy_cal_page(&mut self, src_seg: u8, src_page: u8, dst_seg: u8, dst_page: u8) -> R {
        ensure(src_page <= 1 && dst_page <= 1, ErrorCode::PageNotValid)?;
        let src = self.segment(src_seg)?;
        self.segment(dst_seg)?;
        ensure(src_seg == dst_seg, ErrorCode::SegmentNotValid)?;
        ensure(dst_page == 0, ErrorCode::WriteProtected)?;
        match &src.pages {
            None => return Err(ErrorCode::WriteProtected),
            Some(p) if src_page == 1 => p.reset_to_reference(),
            Some(_) => {}
        }
        self.ok()
    }

    // ---- DAQ -----------------------------------------------------------------------------

    fn list(&self, daq: u16) -> Result<&daq::ListSlot, ErrorCode> {
        ensure(usize::from(daq) < self.lists.len(), ErrorCode::OutOfRange)?;
        self.shared
            .daq
            .lists
            .get(usize::from(daq))
            .ok_or(ErrorCode::OutOfRange)
    }

    fn list_running(&self, daq: u16) -> bool {
        self.list(daq)
            .is_ok_and(|l| l.mode.load(Ordering::Relaxed) & mode::RUNNING != 0)
    }

    /// Stores a STIM DTO in its ODT's buffer; counts it as received or rejected.
    fn receive_stim(&mut self, pkt: &[u8]) {
        let t = &self.shared.daq;
        let stored = self.s.connected
            && !self.s.locked.contains(Resources::STIM)
            && self
                .stim_target(pkt)
                .is_some_and(|(odt, data)| odt.store_stim(data));
        let counter = if stored {
            &t.stim_received
        } else {
            &t.stim_rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The ODT a STIM DTO belongs to and its data bytes, if it belongs to a running STIM list
    /// and carries at least the ODT's data.
    fn stim_target<'p>(&self, pkt: &'p [u8]) -> Option<(&daq::OdtSlot, &'p [u8])> {
        let t = &self.shared.daq;
        let cfg = &self.shared.config;
        let word = |b: &[u8]| -> Option<u16> {
            let b: [u8; 2] = b.try_into().ok()?;
            Some(match cfg.byte_order {
                ByteOrder::Intel => u16::from_le_bytes(b),
                ByteOrder::Motorola => u16::from_be_bytes(b),
            })
        };
        let (daq, rel, rest) = match cfg.id_field {
            xcp_proto::IdField::AbsoluteOdt => {
                let pid = *pkt.first()?;
                // The running STIM list whose PID range holds the PID.
                let (daq, rel) = (0..self.lists.len()).find_map(|n| {
                    let l = t.lists.get(n)?;
                    let first = l.first_pid.load(Ordering::Relaxed);
                    let rel = pid.checked_sub(first)?;
                    (l.mode.load(Ordering::Relaxed) & mode::DIRECTION_STIM != 0
                        && rel < l.odt_count.load(Ordering::Relaxed))
                    .then_some((u16::try_from(n).ok()?, rel))
                })?;
                (daq, rel, pkt.get(1..)?)
            }
            xcp_proto::IdField::RelativeOdtDaqByte => {
                (u16::from(*pkt.get(1)?), *pkt.first()?, pkt.get(2..)?)
            }
            xcp_proto::IdField::RelativeOdtDaqWord => {
                (word(pkt.get(1..3)?)?, *pkt.first()?, pkt.get(3..)?)
            }
            xcp_proto::IdField::RelativeOdtDaqWordAligned => {
                (word(pkt.get(2..4)?)?, *pkt.first()?, pkt.get(4..)?)
            }
        };
        if usize::from(daq) >= self.lists.len() {
            return None;
        }
        let list = t.lists.get(usize::from(daq))?;
        let m = list.mode.load(Ordering::Relaxed);
        if m & mode::RUNNING == 0 || m & mode::DIRECTION_STIM == 0 {
            return None;
        }
        if rel >= list.odt_count.load(Ordering::Relaxed) {
            return None;
        }
        let mut skip = 0;
        if m & mode::DTO_CTR != 0 {
            skip += 1;
        }
        if m & mode::TIMESTAMP != 0 && rel == 0 {
            skip += usize::from(cfg.timestamp_size);
        }
        let odt = t
            .odts
            .get(usize::from(list.first_odt.load(Ordering::Relaxed)) + usize::from(rel))?;
        let len = usize::from(odt.data_len.load(Ordering::Relaxed));
        // Longer packets are accepted: CAN pads frames to their DLC.
        let data = rest.get(skip..skip + len)?;
        Some((odt, data))
    }

    /// Frees all dynamic lists and re-creates the predefined and static ones.
    fn reset_daq(&mut self) {
        self.stop_all();
        let t = &self.shared.daq;
        for l in t.lists.iter() {
            l.mode.store(0, Ordering::Relaxed);
            l.odt_count.store(0, Ordering::Relaxed);
            l.prescaler.store(1, Ordering::Relaxed);
            l.ctr.store(0, Ordering::Relaxed);
        }
        self.lists.clear();
        self.odts_used = 0;
        self.entries_used = 0;
        self.mirror.clear();
        let predefined = self.shared.predefined.clone();
        for p in &predefined {
            let entries: Vec<u8> = p
                .odts
                .iter()
                .map(|o| u8::try_from(o.len()).unwrap_or(255))
                .collect();
            let Some(n) = self.add_list(&entries, true, Some(p.event.0)) else {
                tracing::warn!("predefined DAQ lists exceed the DAQ capacity");
                break;
            };
            for (odt, entries) in p.odts.iter().enumerate() {
                for (i, &(addr, size)) in entries.iter().enumerate() {
                    let (o, e) = (
                        u8::try_from(odt).unwrap_or(255),
                        u8::try_from(i).unwrap_or(255),
                    );
                    let entry = OdtEntry {
                        bit_offset: 0xFF,
                        size,
                        addr,
                    };
                    if let Err(code) = self.store_entry(n, o, e, entry) {
                        tracing::warn!(
                            "predefined DAQ list {n}: entry {addr} size {size} rejected: {code}"
                        );
                    }
                }
            }
            let list = &self.shared.daq.lists[usize::from(n)];
            list.event.store(p.event.0, Ordering::Relaxed);
        }
        if let DaqConfigType::Static(lists) = &self.shared.config.daq_config {
            for l in lists.clone() {
                let entries = vec![l.entries_per_odt; usize::from(l.odts)];
                if self.add_list(&entries, false, None).is_none() {
                    tracing::warn!("static DAQ lists exceed the DAQ capacity");
                    break;
                }
            }
        }
    }

    /// Allocates a list with the given ODTs and entry counts; returns its number.
    fn add_list(
        &mut self,
        entries_per_odt: &[u8],
        predefined: bool,
        event: Option<u16>,
    ) -> Option<u16> {
        let n = u16::try_from(self.lists.len()).ok()?;
        let t = &self.shared.daq;
        if usize::from(n) >= t.lists.len() {
            return None;
        }
        self.lists.push(ListAlloc {
            predefined,
            fixed_event: event,
            odts: 0,
            entries_per_odt: Vec::new(),
        });
        if !entries_per_odt.is_empty() {
            let count = u8::try_from(entries_per_odt.len()).ok()?;
            self.alloc_odts(n, count).ok()?;
            for (i, &e) in entries_per_odt.iter().enumerate() {
                self.alloc_entries(n, u8::try_from(i).ok()?, e).ok()?;
            }
        }
        Some(n)
    }

    /// Whether overload is shown in the PID of DTOs (the trigger then takes the general path).
    fn overload_pid(&self) -> bool {
        self.shared.config.overload == OverloadIndication::PidBit
    }

    fn stop_all(&mut self) {
        self.resumed = None;
        let t = &self.shared.daq;
        for l in t.lists.iter() {
            l.mode
                .fetch_and(!(mode::RUNNING | mode::SELECTED), Ordering::Release);
        }
        for e in t.events.iter() {
            e.single.store(0, Ordering::Release);
            e.count.store(0, Ordering::Release);
            for r in e.runs.iter() {
                r.store(0, Ordering::Relaxed);
            }
            e.stim_runs.store(0, Ordering::Relaxed);
        }
        t.running.store(false, Ordering::Relaxed);
    }

    /// ALLOC_* need a dynamic configuration and follow FREE_DAQ → ALLOC_DAQ → ALLOC_ODT →
    /// ALLOC_ODT_ENTRY.
    fn alloc_step(&self, allowed: &[AllocStep]) -> R {
        ensure(
            self.shared.config.daq_config == DaqConfigType::Dynamic,
            ErrorCode::CmdUnknown,
        )?;
        ensure(allowed.contains(&self.s.step), ErrorCode::Sequence)
    }

    fn alloc_daq(&mut self, count: u16) -> R {
        self.alloc_step(&[AllocStep::Freed, AllocStep::Daq])?;
        let fixed = self.lists.iter().filter(|l| l.predefined).count();
        ensure(
            fixed + usize::from(count) <= self.shared.daq.lists.len(),
            ErrorCode::MemoryOverflow,
        )?;
        self.lists.truncate(fixed);
        for _ in 0..count {
            self.lists.push(ListAlloc::default());
        }
        self.s.step = AllocStep::Daq;
        self.ok()
    }

    fn dynamic_list(&self, daq: u16) -> R {
        let l = self
            .lists
            .get(usize::from(daq))
            .ok_or(ErrorCode::OutOfRange)?;
        ensure(!l.predefined, ErrorCode::WriteProtected)
    }

    fn alloc_odt(&mut self, daq: u16, count: u8) -> R {
        self.alloc_step(&[AllocStep::Daq, AllocStep::Odt])?;
        self.dynamic_list(daq)?;
        ensure(self.lists[usize::from(daq)].odts == 0, ErrorCode::Sequence)?;
        self.alloc_odts(daq, count)?;
        self.s.step = AllocStep::Odt;
        self.ok()
    }

    fn alloc_odts(&mut self, daq: u16, count: u8) -> R {
        let t = &self.shared.daq;
        ensure(
            self.odts_used + usize::from(count) <= t.odts.len(),
            ErrorCode::MemoryOverflow,
        )?;
        let first = self.odts_used;
        if self.shared.config.id_field == xcp_proto::IdField::AbsoluteOdt {
            // Absolute ODT numbers share the PID space below 0xFC (0x7C with the overload bit).
            let limit = if self.shared.config.overload == OverloadIndication::PidBit {
                0x7C
            } else {
                0xFC
            };
            ensure(
                first + usize::from(count) <= limit,
                ErrorCode::MemoryOverflow,
            )?;
        }
        let list = &t.lists[usize::from(daq)];
        list.first_odt
            .store(u16::try_from(first).unwrap_or(0), Ordering::Relaxed);
        list.first_pid
            .store(u8::try_from(first).unwrap_or(0), Ordering::Relaxed);
        list.odt_count.store(count, Ordering::Relaxed);
        for o in &t.odts[first..first + usize::from(count)] {
            o.entry_count.store(0, Ordering::Relaxed);
            o.op_count.store(0, Ordering::Relaxed);
            o.data_len.store(0, Ordering::Relaxed);
        }
        self.odts_used += usize::from(count);
        let l = &mut self.lists[usize::from(daq)];
        l.odts = count;
        l.entries_per_odt = vec![0; usize::from(count)];
        Ok(())
    }

    fn alloc_odt_entry(&mut self, daq: u16, odt: u8, count: u8) -> R {
        self.alloc_step(&[AllocStep::Odt, AllocStep::Entry])?;
        self.dynamic_list(daq)?;
        self.alloc_entries(daq, odt, count)?;
        self.s.step = AllocStep::Entry;
        self.ok()
    }

    fn alloc_entries(&mut self, daq: u16, odt: u8, count: u8) -> R {
        let l = self
            .lists
            .get(usize::from(daq))
            .ok_or(ErrorCode::OutOfRange)?;
        ensure(odt < l.odts, ErrorCode::OutOfRange)?;
        ensure(
            l.entries_per_odt[usize::from(odt)] == 0,
            ErrorCode::Sequence,
        )?;
        let t = &self.shared.daq;
        ensure(
            self.entries_used + usize::from(count) <= t.entries.len(),
            ErrorCode::MemoryOverflow,
        )?;
        let first = self.entries_used;
        let o = self.odt_slot(daq, odt);
        o.first_entry
            .store(u32::try_from(first).unwrap_or(0), Ordering::Relaxed);
        o.entry_count.store(count, Ordering::Relaxed);
        o.data_len.store(0, Ordering::Relaxed);
        for e in &t.entries[first..first + usize::from(count)] {
            e.store(encode_entry(KIND_NONE, 0, 0xFF, 0, 0), Ordering::Relaxed);
        }
        self.mirror
            .resize(first + usize::from(count), OdtEntry::default());
        self.entries_used += usize::from(count);
        self.lists[usize::from(daq)].entries_per_odt[usize::from(odt)] = count;
        Ok(())
    }

    fn set_daq_ptr(&mut self, daq: u16, odt: u8, entry: u8) -> R {
        self.entry_index(daq, odt, entry)?;
        ensure(!self.list_running(daq), ErrorCode::DaqActive)?;
        self.s.daq_ptr = Some((daq, odt, entry));
        self.ok()
    }

    fn entry_index(&self, daq: u16, odt: u8, entry: u8) -> Result<usize, ErrorCode> {
        let l = self
            .lists
            .get(usize::from(daq))
            .ok_or(ErrorCode::OutOfRange)?;
        ensure(odt < l.odts, ErrorCode::OutOfRange)?;
        ensure(
            entry < l.entries_per_odt[usize::from(odt)],
            ErrorCode::OutOfRange,
        )?;
        let o = self.odt_slot(daq, odt);
        Ok(o.first_entry.load(Ordering::Relaxed) as usize + usize::from(entry))
    }

    /// The table slot of ODT `odt` of list `daq` (callers check both against the allocation).
    fn odt_slot(&self, daq: u16, odt: u8) -> &daq::OdtSlot {
        let t = &self.shared.daq;
        let first = t.lists[usize::from(daq)].first_odt.load(Ordering::Relaxed);
        &t.odts[usize::from(first) + usize::from(odt)]
    }

    fn write_daq(&mut self, entry: OdtEntry) -> R {
        let (daq, odt, e) = self.s.daq_ptr.ok_or(ErrorCode::Sequence)?;
        let l = self
            .lists
            .get(usize::from(daq))
            .ok_or(ErrorCode::OutOfRange)?;
        ensure(!l.predefined, ErrorCode::WriteProtected)?;
        ensure(!self.list_running(daq), ErrorCode::DaqActive)?;
        self.store_entry(daq, odt, e, entry)?;
        // The pointer moves to the next entry of the ODT; past the last it is invalid.
        let n = self.lists[usize::from(daq)].entries_per_odt[usize::from(odt)];
        self.s.daq_ptr = (e + 1 < n).then_some((daq, odt, e + 1));
        Ok(())
    }

    fn resolve(&self, entry: OdtEntry) -> Result<u64, ErrorCode> {
        let size = entry.size;
        if size == 0 {
            // A zero-size entry is an empty slot.
            return Ok(encode_entry(KIND_NONE, 0, 0xFF, 0, 0));
        }
        ensure(
            size <= self.shared.config.max_entry_size,
            ErrorCode::OutOfRange,
        )?;
        let bit = entry.bit_offset;
        ensure(
            bit == 0xFF || u32::from(bit) < u32::from(size) * 8,
            ErrorCode::OutOfRange,
        )?;
        let a = entry.addr.addr;
        let len = usize::from(size);
        match entry.addr.ext {
            EXT_SEGMENT => {
                ensure(a & SEGMENT_BASE != 0, ErrorCode::OutOfRange)?;
                let index = u16::try_from((a >> 16) & 0x7FFF).map_err(|_| ErrorCode::OutOfRange)?;
                let seg = self
                    .shared
                    .segments
                    .get(usize::from(index))
                    .ok_or(ErrorCode::OutOfRange)?;
                let pages = seg.pages.as_ref().ok_or(ErrorCode::AccessDenied)?;
                let off = a & 0xFFFF;
                ensure(off as usize + len <= pages.len(), ErrorCode::OutOfRange)?;
                Ok(encode_entry(KIND_SEGMENT, index, bit, size, off))
            }
            EXT_ABSOLUTE => {
                let off = a.checked_sub(GLOBALS_BASE).ok_or(ErrorCode::OutOfRange)?;
                ensure(
                    off as usize + len <= self.shared.globals_used,
                    ErrorCode::OutOfRange,
                )?;
                Ok(encode_entry(KIND_GLOBAL, 0, bit, size, off))
            }
            EXT_EVENT => {
                let event = u16::try_from(a >> 16).map_err(|_| ErrorCode::OutOfRange)?;
                ensure(
                    usize::from(event) < self.shared.events.len(),
                    ErrorCode::OutOfRange,
                )?;
                Ok(encode_entry(KIND_EVENT, event, bit, size, a & 0xFFFF))
            }
            _ => Err(ErrorCode::OutOfRange),
        }
    }

    fn store_entry(&mut self, daq: u16, odt: u8, e: u8, entry: OdtEntry) -> R {
        let index = self.entry_index(daq, odt, e)?;
        let encoded = self.resolve(entry)?;
        let t = &self.shared.daq;
        let o = self.odt_slot(daq, odt);
        // The DTO must fit MAX_DTO with the largest header this list may use.
        let old = daq::decode_entry(t.entries[index].load(Ordering::Relaxed));
        let old_len = if old.kind == KIND_NONE {
            0
        } else if old.bit == 0xFF {
            usize::from(old.size)
        } else {
            1
        };
        let new = daq::decode_entry(encoded);
        let new_len = if new.kind == KIND_NONE {
            0
        } else if new.bit == 0xFF {
            usize::from(new.size)
        } else {
            1
        };
        let data = usize::from(o.data_len.load(Ordering::Relaxed)) - old_len + new_len;
        let header =
            self.shared.config.id_field.len() + 1 + usize::from(self.shared.config.timestamp_size);
        ensure(
            header + data <= usize::from(self.shared.config.max_dto),
            ErrorCode::DaqConfig,
        )?;
        t.entries[index].store(encoded, Ordering::Relaxed);
        o.data_len
            .store(u16::try_from(data).unwrap_or(u16::MAX), Ordering::Relaxed);
        self.mirror[index] = entry;
        Ok(())
    }

    fn read_daq(&mut self) -> R {
        let (daq, odt, e) = self.s.daq_ptr.ok_or(ErrorCode::Sequence)?;
        let index = self.entry_index(daq, odt, e)?;
        let entry = self.mirror[index];
        let n = self.lists[usize::from(daq)].entries_per_odt[usize::from(odt)];
        self.s.daq_ptr = (e + 1 < n).then_some((daq, odt, e + 1));
        self.res(&Response::ReadDaq(entry))
    }

    fn clear_daq_list(&mut self, daq: u16) -> R {
        self.list(daq)?;
        let l = self.lists[usize::from(daq)].clone();
        ensure(!l.predefined, ErrorCode::WriteProtected)?;
        self.stop_list(daq);
        let t = &self.shared.daq;
        for odt in 0..l.odts {
            for e in 0..l.entries_per_odt[usize::from(odt)] {
                let i = self.entry_index(daq, odt, e)?;
                t.entries[i].store(encode_entry(KIND_NONE, 0, 0xFF, 0, 0), Ordering::Relaxed);
                self.mirror[i] = OdtEntry::default();
            }
            self.odt_slot(daq, odt).data_len.store(0, Ordering::Relaxed);
        }
        self.ok()
    }

    fn set_daq_list_mode(&mut self, m: u8, daq: u16, event: u16, prescaler: u8) -> R {
        let list = self.list(daq)?;
        ensure(!self.list_running(daq), ErrorCode::DaqActive)?;
        ensure(
            usize::from(event) < self.shared.events.len(),
            ErrorCode::OutOfRange,
        )?;
        ensure(prescaler >= 1, ErrorCode::OutOfRange)?;
        ensure(m & !(mode::SETTABLE | 0x05) == 0, ErrorCode::OutOfRange)?;
        if m & mode::DIRECTION_STIM != 0 {
            // Predefined lists measure; a STIM DTO needs its identification field.
            ensure(
                !self.lists[usize::from(daq)].predefined,
                ErrorCode::OutOfRange,
            )?;
            ensure(m & mode::PID_OFF == 0, ErrorCode::OutOfRange)?;
        }
        ensure(
            m & mode::TIMESTAMP == 0 || self.shared.config.timestamp_size > 0,
            ErrorCode::OutOfRange,
        )?;
        if let Some(fixed) = self.lists[usize::from(daq)].fixed_event {
            ensure(fixed == event, ErrorCode::OutOfRange)?;
        }
        let keep = list.mode.load(Ordering::Relaxed) & mode::SELECTED;
        list.mode
            .store(keep | (m & mode::SETTABLE), Ordering::Relaxed);
        list.event.store(event, Ordering::Relaxed);
        list.prescaler.store(prescaler, Ordering::Relaxed);
        list.prescaler_count.store(0, Ordering::Relaxed);
        self.ok()
    }

    /// Checks that a list can run: event-relative entries must belong to its event.
    fn check_runnable(&self, daq: u16) -> R {
        let l = &self.lists[usize::from(daq)];
        ensure(l.odts > 0, ErrorCode::DaqConfig)?;
        let t = &self.shared.daq;
        let event = t.lists[usize::from(daq)].event.load(Ordering::Relaxed);
        let stim =
            t.lists[usize::from(daq)].mode.load(Ordering::Relaxed) & mode::DIRECTION_STIM != 0;
        for odt in 0..l.odts {
            for e in 0..l.entries_per_odt[usize::from(odt)] {
                let i = self.entry_index(daq, odt, e)?;
                let d = daq::decode_entry(t.entries[i].load(Ordering::Relaxed));
                ensure(
                    d.kind != KIND_EVENT || d.region == event,
                    ErrorCode::DaqConfig,
                )?;
                // STIM writes measurement variables and instances, never calibration pages.
                ensure(!stim || d.kind != KIND_SEGMENT, ErrorCode::WriteProtected)?;
            }
            if stim {
                let len = self.odt_slot(daq, odt).data_len.load(Ordering::Relaxed);
                ensure(
                    usize::from(len) <= daq::STIM_MAX_ODT_BYTES,
                    ErrorCode::DaqConfig,
                )?;
            }
        }
        if stim {
            ensure(
                !self.s.locked.contains(Resources::STIM),
                ErrorCode::AccessLocked,
            )?;
        }
        Ok(())
    }

    fn start_list(&mut self, daq: u16) -> R {
        self.check_runnable(daq)?;
        let t = &self.shared.daq;
        let list = &t.lists[usize::from(daq)];
        let m = list.mode.load(Ordering::Relaxed);
        if m & mode::RUNNING != 0 {
            return Ok(());
        }
        let stim = m & mode::DIRECTION_STIM != 0;
        let event = list.event.load(Ordering::Relaxed);
        let slot = &t.events[usize::from(event)];
        let free = slot
            .runs
            .iter()
            .position(|r| r.load(Ordering::Relaxed) == 0)
            .ok_or(ErrorCode::DaqConfig)?;
        let first = usize::from(list.first_odt.load(Ordering::Relaxed));
        let count = list.odt_count.load(Ordering::Relaxed);
        let first_pid = list.first_pid.load(Ordering::Relaxed);
        let (id_field, order) = (self.shared.config.id_field, self.shared.config.byte_order);
        for (rel, odt) in (0..count).zip(t.odts.iter().skip(first)) {
            t.compile_odt(odt);
            odt.id.store(
                daq::id_word(id_field, order, first_pid, rel, daq),
                Ordering::Relaxed,
            );
            if stim {
                // Sized for the largest STIM payload, so the ODT can be reused by any list.
                odt.stim.get_or_init(|| {
                    (0..=daq::STIM_MAX_ODT_BYTES / 8)
                        .map(|_| AtomicU64::new(0))
                        .collect()
                });
                // Data from an earlier configuration must not be applied to this one.
                if let Some((seq, _)) = odt.stim.get().and_then(|b| b.split_first()) {
                    seq.store(0, Ordering::Relaxed);
                }
            }
        }
        list.ctr.store(0, Ordering::Relaxed);
        list.prescaler_count.store(0, Ordering::Relaxed);
        list.overload.store(false, Ordering::Relaxed);
        let prescaled = if list.prescaler.load(Ordering::Relaxed) > 1 {
            daq::RUN_PRESCALED
        } else {
            0
        };
        let run = daq::Run {
            daq,
            first_odt: u16::try_from(first).unwrap_or(0),
            odt_count: count,
            first_pid,
            flags: m & (mode::DIRECTION_STIM | mode::DTO_CTR | mode::TIMESTAMP | mode::PID_OFF)
                | prescaled,
        };
        list.mode.fetch_or(mode::RUNNING, Ordering::Release);
        slot.runs[free].store(run.encode(), Ordering::Release);
        if stim {
            slot.stim_runs.fetch_add(1, Ordering::Relaxed);
        }
        let used = u8::try_from(free + 1).unwrap_or(u8::MAX);
        if slot.count.load(Ordering::Relaxed) < used {
            slot.count.store(used, Ordering::Release);
        }
        t.refresh_single(event, self.overload_pid());
        t.running.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn stop_list(&mut self, daq: u16) {
        let t = &self.shared.daq;
        let list = &t.lists[usize::from(daq)];
        let m = list.mode.fetch_and(!mode::RUNNING, Ordering::Release);
        if m & mode::RUNNING == 0 {
            return;
        }
        let event = list.event.load(Ordering::Relaxed);
        let slot = &t.events[usize::from(event)];
        // Clear the list's slot in place: the other lists of the event do not move, so a
        // trigger running now samples each of them exactly once.
        for r in slot.runs.iter() {
            let w = r.load(Ordering::Relaxed);
            if w != 0 && daq::Run::daq_of(w) == daq {
                r.store(0, Ordering::Release);
            }
        }
        if m & mode::DIRECTION_STIM != 0 {
            let n = slot.stim_runs.load(Ordering::Relaxed);
            slot.stim_runs.store(n.saturating_sub(1), Ordering::Relaxed);
        }
        let used = slot
            .runs
            .iter()
            .rposition(|r| r.load(Ordering::Relaxed) != 0)
            .map_or(0, |i| i + 1);
        slot.count
            .store(u8::try_from(used).unwrap_or(u8::MAX), Ordering::Release);
        t.refresh_single(event, self.overload_pid());
        let any = t
            .lists
            .iter()
            .take(self.lists.len())
            .any(|l| l.mode.load(Ordering::Relaxed) & mode::RUNNING != 0);
        t.running.store(any, Ordering::Relaxed);
    }

    fn start_stop_list(&mut self, m: u8, daq: u16) -> R {
        let list = self.list(daq)?;
        let first_pid = if self.shared.config.id_field == xcp_proto::IdField::AbsoluteOdt {
            list.first_pid.load(Ordering::Relaxed)
        } else {
            0
        };
        match m {
            0 => self.stop_list(daq),
            1 => self.start_list(daq)?,
            2 => {
                self.check_runnable(daq)?;
                list.mode.fetch_or(mode::SELECTED, Ordering::Relaxed);
            }
            _ => return Err(ErrorCode::ModeNotValid),
        }
        self.res(&Response::StartStopDaqList { first_pid })
    }

    fn start_stop_synch(&mut self, m: u8) -> R {
        let selected: Vec<u16> = (0..self.lists.len())
            .filter_map(|i| u16::try_from(i).ok())
            .filter(|&i| {
                self.shared.daq.lists[usize::from(i)]
                    .mode
                    .load(Ordering::Relaxed)
                    & mode::SELECTED
                    != 0
            })
            .collect();
        match m {
            0 => self.stop_all(),
            1 => {
                for &i in &selected {
                    self.start_list(i)?;
                }
            }
            2 => {
                for &i in &selected {
                    self.stop_list(i);
                }
            }
            // Prepare for a synchronised start: nothing to prepare.
            3 => return self.ok(),
            _ => return Err(ErrorCode::ModeNotValid),
        }
        for &i in &selected {
            self.shared.daq.lists[usize::from(i)]
                .mode
                .fetch_and(!mode::SELECTED, Ordering::Relaxed);
        }
        self.ok()
    }

    fn daq_clock(&mut self) -> R {
        let ns = self.shared.clock.now_ns();
        let ticks = ns / u64::from(self.shared.config.timestamp_unit_ns.max(1));
        let clock = if self.s.extended_clock {
            DaqClock {
                trigger_info: 0,
                payload_fmt: 0x02,
                slave: Some(ticks),
                grandmaster: None,
                ecu: None,
                cluster: None,
                sync_state: Some(0),
            }
        } else {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "the legacy clock wraps at 32 bits"
            )]
            DaqClock::legacy(ticks as u32)
        };
        self.res(&Response::DaqClock(clock))
    }

    fn daq_processor_info(&mut self) -> R {
        let c = &self.shared.config;
        let mut properties = 0x02 | 0x08 | 0x20; // prescaler, bitwise STIM, PID_OFF
        if self.shared.config.persist_dir.is_some() {
            properties |= 0x04; // RESUME: STORE_DAQ has somewhere to store
        }
        if c.daq_config == DaqConfigType::Dynamic {
            properties |= 0x01;
        }
        if c.timestamp_size > 0 {
            properties |= 0x10;
        }
        match c.overload {
            OverloadIndication::PidBit => properties |= 0x40,
            OverloadIndication::Event => properties |= 0x80,
            OverloadIndication::None => {}
        }
        let max_daq = match &c.daq_config {
            DaqConfigType::Dynamic => self.shared.daq.lists.len(),
            DaqConfigType::Static(_) => self.lists.len(),
        };
        let min_daq = self.lists.iter().filter(|l| l.predefined).count();
        let info = DaqProcessorInfo {
            properties,
            max_daq: u16::try_from(max_daq).unwrap_or(u16::MAX),
            max_event: u16::try_from(self.shared.events.len()).unwrap_or(u16::MAX),
            min_daq: u8::try_from(min_daq).unwrap_or(u8::MAX),
            // Optimisation default, address extension free per entry, identification field.
            key_byte: c.id_field.code() << 6,
        };
        self.res(&Response::DaqProcessorInfo(info))
    }

    fn daq_list_info(&mut self, daq: u16) -> R {
        self.list(daq)?;
        let l = &self.lists[usize::from(daq)];
        // Predefined lists measure; the others may be DAQ or STIM.
        let mut properties = if l.predefined {
            0x04 | 0x01
        } else {
            0x04 | 0x08
        };
        if l.fixed_event.is_some() {
            properties |= 0x02;
        }
        let info = DaqListInfo {
            properties,
            max_odt: l.odts,
            max_odt_entries: l.entries_per_odt.iter().copied().max().unwrap_or(0),
            fixed_event: l.fixed_event.unwrap_or(0),
        };
        self.res(&Response::DaqListInfo(info))
    }

    fn daq_event_info(&mut self, event: u16) -> R {
        let ev = self
            .shared
            .events
            .get(usize::from(event))
            .ok_or(ErrorCode::OutOfRange)?;
        let (time_cycle, time_unit) = ev.period.map_or((0, 0), cycle_and_unit);
        let name: Arc<[u8]> = ev.name.as_bytes().into();
        let info = DaqEventInfo {
            // DAQ and STIM, consistency per DAQ list.
            properties: 0x04 | 0x08 | 0x40,
            max_daq_list: self.shared.config.max_lists_per_event,
            name_length: u8::try_from(name.len()).unwrap_or(255),
            time_cycle,
            time_unit,
            priority: ev.priority,
        };
        self.text_mta(name);
        self.res(&Response::DaqEventInfo(info))
    }

    // ---- programming ---------------------------------------------------------------------

    fn pgm(&self) -> R {
        ensure(self.s.pgm_active, ErrorCode::Sequence)
    }

    fn program_start(&mut self) -> R {
        ensure(self.shared.flash.is_some(), ErrorCode::CmdUnknown)?;
        ensure(
            !self.shared.daq.running.load(Ordering::Relaxed),
            ErrorCode::DaqActive,
        )?;
        self.s.pgm_active = true;
        let c = &self.shared.config;
        let info = ProgramStartInfo {
            comm_mode_pgm: u8::from(c.max_bs > 0),
            max_cto_pgm: c.max_cto,
            max_bs_pgm: c.max_bs,
            min_st_pgm: c.min_st,
            queue_size_pgm: 0,
        };
        self.res(&Response::ProgramStart(info))
    }

    fn flash_range(&self, addr: Address, len: usize) -> Result<usize, ErrorCode> {
        let f = self.shared.flash.as_ref().ok_or(ErrorCode::OutOfRange)?;
        ensure(addr.ext == EXT_ABSOLUTE, ErrorCode::OutOfRange)?;
        let off = (addr.addr as usize)
            .checked_sub(f.base as usize)
            .ok_or(ErrorCode::OutOfRange)?;
        ensure(off + len <= self.flash.len(), ErrorCode::OutOfRange)?;
        Ok(off)
    }

    fn program_clear(&mut self, m: u8, range: u32, now: Instant) -> R {
        self.pgm()?;
        let f = self.shared.flash.clone().ok_or(ErrorCode::CmdUnknown)?;
        let sector = f.sector_size as usize;
        let (start, end) = match m {
            0 => {
                let Mta::Mem(addr) = self.s.mta else {
                    return Err(ErrorCode::OutOfRange);
                };
                let off = self.flash_range(addr, range as usize)?;
                // Whole sectors are erased, as on real flash.
                (
                    off / sector * sector,
                    (off + range as usize).div_ceil(sector) * sector,
                )
            }
            1 => (0, self.flash.len()),
            _ => return Err(ErrorCode::ModeNotValid),
        };
        self.flash[start..end].fill(0xFF);
        let sectors = u32::try_from((end - start) / sector).unwrap_or(u32::MAX);
        let time = self.shared.config.erase_time_per_sector * sectors;
        if time.is_zero() {
            return self.ok();
        }
        // A long operation: ask the master to wait, answer when the erase is done.
        self.out.ev(&XcpEvent::CmdPending, &self.s.params);
        self.pending = Some(Pending::Timed {
            due: now + time,
            packet: vec![0xFF],
        });
        Ok(())
    }

    fn program_write(&mut self, data: &[u8]) -> R {
        let Mta::Mem(addr) = self.s.mta else {
            return Err(ErrorCode::OutOfRange);
        };
        let off = self.flash_range(addr, data.len())?;
        let dst = &mut self.flash[off..off + data.len()];
        // Flash can only clear bits: programming unerased bytes fails verification.
        ensure(
            dst.iter().zip(data).all(|(&d, &s)| d & s == s),
            ErrorCode::Verify,
        )?;
        for (d, s) in dst.iter_mut().zip(data) {
            *d &= *s;
        }
        self.advance_mta(data.len());
        Ok(())
    }

    fn program_verify(&mut self, m: u8, value: u32) -> R {
        match m {
            // Start the slave's internal verification: the simulated flash is always consistent.
            0 => self.ok(),
            1 => {
                let sum = xcp_proto::checksum(
                    xcp_proto::ChecksumType::Crc32,
                    &self.flash,
                    ByteOrder::Intel,
                )
                .map_err(|_| ErrorCode::Generic)?;
                ensure(sum == value, ErrorCode::Verify)?;
                self.ok()
            }
            _ => Err(ErrorCode::ModeNotValid),
        }
    }

    fn sector_info(&mut self, m: u8, sector: u8) -> R {
        let f = self.shared.flash.clone().ok_or(ErrorCode::CmdUnknown)?;
        ensure(sector < f.sectors, ErrorCode::OutOfRange)?;
        let r = match m {
            0 => SectorInfo::Info {
                clear_sequence: 0,
                program_sequence: 0,
                method: 0,
                info: f.base + u32::from(sector) * f.sector_size,
            },
            1 => SectorInfo::Info {
                clear_sequence: 0,
                program_sequence: 0,
                method: 0,
                info: f.sector_size,
            },
            2 => {
                let name: Arc<[u8]> = format!("sector{sector}").into_bytes().into();
                let len = u8::try_from(name.len()).unwrap_or(255);
                self.text_mta(name);
                SectorInfo::NameLength { len }
            }
            _ => return Err(ErrorCode::ModeNotValid),
        };
        self.res(&Response::SectorInfo(r))
    }

    /// A snapshot of the simulated flash.
    pub fn flash(&self) -> &[u8] {
        &self.flash
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
