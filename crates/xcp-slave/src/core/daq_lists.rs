//! The command processor: DAQ and STIM lists: allocation, configuration, start and stop.

use super::*;
use xcp_proto::params::{DaqListNumber, EventChannel};

impl Core {
    pub(super) fn list(&self, daq: DaqListNumber) -> Result<&daq::ListSlot, ErrorCode> {
        ensure(daq.index() < self.lists.len(), ErrorCode::OutOfRange)?;
        self.shared
            .daq
            .lists
            .get(daq.index())
            .ok_or(ErrorCode::OutOfRange)
    }

    pub(super) fn list_running(&self, daq: DaqListNumber) -> bool {
        self.list(daq)
            .is_ok_and(|l| l.mode.load(Ordering::Relaxed) & mode::RUNNING != 0)
    }

    /// Stores a STIM DTO in its ODT's buffer; counts it as received or rejected.
    pub(super) fn receive_stim(&mut self, pkt: &[u8]) {
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
    pub(super) fn stim_target<'p>(&self, pkt: &'p [u8]) -> Option<(&daq::OdtSlot, &'p [u8])> {
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
        let daq = DaqListNumber(daq);
        if daq.index() >= self.lists.len() {
            return None;
        }
        let list = t.lists.get(daq.index())?;
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
    pub(super) fn reset_daq(&mut self) {
        self.stop_all();
        if let Some(routes) = self.shared.dto_routes() {
            routes.clear();
        }
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
            let list = &self.shared.daq.lists[n.index()];
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
    pub(super) fn add_list(
        &mut self,
        entries_per_odt: &[u8],
        predefined: bool,
        event: Option<u16>,
    ) -> Option<DaqListNumber> {
        let n = DaqListNumber(u16::try_from(self.lists.len()).ok()?);
        let t = &self.shared.daq;
        if n.index() >= t.lists.len() {
            return None;
        }
        self.lists.push(ListAlloc {
            predefined,
            fixed_event: event,
            odts: 0,
            entries_per_odt: Vec::new(),
            route: None,
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
    pub(super) fn overload_pid(&self) -> bool {
        self.shared.config.overload == OverloadIndication::PidBit
    }

    pub(super) fn stop_all(&mut self) {
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
    pub(super) fn alloc_step(&self, allowed: &[AllocStep]) -> R {
        ensure(
            self.shared.config.daq_config == DaqConfigType::Dynamic,
            ErrorCode::CmdUnknown,
        )?;
        ensure(allowed.contains(&self.s.step), ErrorCode::Sequence)
    }

    pub(super) fn alloc_daq(&mut self, count: u16) -> R {
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

    pub(super) fn dynamic_list(&self, daq: DaqListNumber) -> R {
        let l = self.lists.get(daq.index()).ok_or(ErrorCode::OutOfRange)?;
        ensure(!l.predefined, ErrorCode::WriteProtected)
    }

    pub(super) fn alloc_odt(&mut self, daq: DaqListNumber, count: u8) -> R {
        self.alloc_step(&[AllocStep::Daq, AllocStep::Odt])?;
        self.dynamic_list(daq)?;
        ensure(self.lists[daq.index()].odts == 0, ErrorCode::Sequence)?;
        self.alloc_odts(daq, count)?;
        self.s.step = AllocStep::Odt;
        self.ok()
    }

    pub(super) fn alloc_odts(&mut self, daq: DaqListNumber, count: u8) -> R {
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
        let list = &t.lists[daq.index()];
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
        let l = &mut self.lists[daq.index()];
        l.odts = count;
        l.entries_per_odt = vec![0; usize::from(count)];
        Ok(())
    }

    pub(super) fn alloc_odt_entry(&mut self, daq: DaqListNumber, odt: u8, count: u8) -> R {
        self.alloc_step(&[AllocStep::Odt, AllocStep::Entry])?;
        self.dynamic_list(daq)?;
        self.alloc_entries(daq, odt, count)?;
        self.s.step = AllocStep::Entry;
        self.ok()
    }

    pub(super) fn alloc_entries(&mut self, daq: DaqListNumber, odt: u8, count: u8) -> R {
        let l = self.lists.get(daq.index()).ok_or(ErrorCode::OutOfRange)?;
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
        self.lists[daq.index()].entries_per_odt[usize::from(odt)] = count;
        Ok(())
    }

    pub(super) fn set_daq_ptr(&mut self, daq: DaqListNumber, odt: u8, entry: u8) -> R {
        self.entry_index(daq, odt, entry)?;
        ensure(!self.list_running(daq), ErrorCode::DaqActive)?;
        self.s.daq_ptr = Some((daq, odt, entry));
        self.ok()
    }

    pub(super) fn entry_index(
        &self,
        daq: DaqListNumber,
        odt: u8,
        entry: u8,
    ) -> Result<usize, ErrorCode> {
        let l = self.lists.get(daq.index()).ok_or(ErrorCode::OutOfRange)?;
        ensure(odt < l.odts, ErrorCode::OutOfRange)?;
        ensure(
            entry < l.entries_per_odt[usize::from(odt)],
            ErrorCode::OutOfRange,
        )?;
        let o = self.odt_slot(daq, odt);
        Ok(o.first_entry.load(Ordering::Relaxed) as usize + usize::from(entry))
    }

    /// The table slot of ODT `odt` of list `daq` (callers check both against the allocation).
    pub(super) fn odt_slot(&self, daq: DaqListNumber, odt: u8) -> &daq::OdtSlot {
        let t = &self.shared.daq;
        let first = t.lists[daq.index()].first_odt.load(Ordering::Relaxed);
        &t.odts[usize::from(first) + usize::from(odt)]
    }

    pub(super) fn write_daq(&mut self, entry: OdtEntry) -> R {
        let (daq, odt, e) = self.s.daq_ptr.ok_or(ErrorCode::Sequence)?;
        let l = self.lists.get(daq.index()).ok_or(ErrorCode::OutOfRange)?;
        ensure(!l.predefined, ErrorCode::WriteProtected)?;
        ensure(!self.list_running(daq), ErrorCode::DaqActive)?;
        self.store_entry(daq, odt, e, entry)?;
        // The pointer moves to the next entry of the ODT; past the last it is invalid.
        let n = self.lists[daq.index()].entries_per_odt[usize::from(odt)];
        self.s.daq_ptr = (e + 1 < n).then_some((daq, odt, e + 1));
        Ok(())
    }

    pub(super) fn resolve(&self, entry: OdtEntry) -> Result<u64, ErrorCode> {
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
        if let Some((region, off)) = self.shared.mirrors.find(entry.addr.ext, a, len) {
            let region = u16::try_from(region + 1).map_err(|_| ErrorCode::OutOfRange)?;
            let off = u32::try_from(off).map_err(|_| ErrorCode::OutOfRange)?;
            return Ok(encode_entry(KIND_GLOBAL, region, bit, size, off));
        }
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

    pub(super) fn store_entry(&mut self, daq: DaqListNumber, odt: u8, e: u8, entry: OdtEntry) -> R {
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
        // The ODT's data beside its identification field must fit a DTO; whether a DTO_CTR
        // or a timestamp joins it is known once the mode is set, and checked at the start.
        ensure(
            self.shared.config.id_field.len() + data <= usize::from(self.shared.config.max_dto),
            ErrorCode::DaqConfig,
        )?;
        t.entries[index].store(encoded, Ordering::Relaxed);
        o.data_len
            .store(u16::try_from(data).unwrap_or(u16::MAX), Ordering::Relaxed);
        self.mirror[index] = entry;
        Ok(())
    }

    pub(super) fn read_daq(&mut self) -> R {
        let (daq, odt, e) = self.s.daq_ptr.ok_or(ErrorCode::Sequence)?;
        let index = self.entry_index(daq, odt, e)?;
        let entry = self.mirror[index];
        let n = self.lists[daq.index()].entries_per_odt[usize::from(odt)];
        self.s.daq_ptr = (e + 1 < n).then_some((daq, odt, e + 1));
        self.res(&Response::ReadDaq(entry))
    }

    pub(super) fn clear_daq_list(&mut self, daq: DaqListNumber) -> R {
        self.list(daq)?;
        let l = self.lists[daq.index()].clone();
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

    pub(super) fn set_daq_list_mode(
        &mut self,
        m: u8,
        daq: DaqListNumber,
        event: EventChannel,
        prescaler: u8,
    ) -> R {
        let list = self.list(daq)?;
        ensure(!self.list_running(daq), ErrorCode::DaqActive)?;
        ensure(
            event.index() < self.shared.events.len(),
            ErrorCode::OutOfRange,
        )?;
        ensure(prescaler >= 1, ErrorCode::OutOfRange)?;
        ensure(
            m & !(mode::SETTABLE | mode::IGNORED) == 0,
            ErrorCode::OutOfRange,
        )?;
        ensure(
            m & mode::PID_OFF == 0 || self.shared.config.pid_off,
            ErrorCode::OutOfRange,
        )?;
        if m & mode::DIRECTION_STIM != 0 {
            // Predefined lists measure; a STIM DTO needs its identification field.
            ensure(!self.lists[daq.index()].predefined, ErrorCode::OutOfRange)?;
            ensure(m & mode::PID_OFF == 0, ErrorCode::OutOfRange)?;
        }
        ensure(
            m & mode::TIMESTAMP == 0 || self.shared.config.timestamp_size > 0,
            ErrorCode::OutOfRange,
        )?;
        if let Some(fixed) = self.lists[daq.index()].fixed_event {
            ensure(fixed == event.0, ErrorCode::OutOfRange)?;
        }
        let keep = list.mode.load(Ordering::Relaxed) & mode::SELECTED;
        list.mode
            .store(keep | (m & mode::SETTABLE), Ordering::Relaxed);
        list.event.store(event.0, Ordering::Relaxed);
        list.prescaler.store(prescaler, Ordering::Relaxed);
        list.prescaler_count.store(0, Ordering::Relaxed);
        self.ok()
    }

    /// Checks that a list can run: event-relative entries must belong to its event.
    pub(super) fn check_runnable(&self, daq: DaqListNumber) -> R {
        let l = &self.lists[daq.index()];
        ensure(l.odts > 0, ErrorCode::DaqConfig)?;
        let t = &self.shared.daq;
        let event = t.lists[daq.index()].event.load(Ordering::Relaxed);
        let m = t.lists[daq.index()].mode.load(Ordering::Relaxed);
        let stim = m & mode::DIRECTION_STIM != 0;
        let c = &self.shared.config;
        let id_len = if m & mode::PID_OFF != 0 {
            0
        } else {
            c.id_field.len()
        };
        let ctr = usize::from(m & mode::DTO_CTR != 0);
        let ts = if m & mode::TIMESTAMP != 0 {
            usize::from(c.timestamp_size)
        } else {
            0
        };
        for odt in 0..l.odts {
            // Each DTO of the list fits MAX_DTO with its header in this mode.
            let data = usize::from(self.odt_slot(daq, odt).data_len.load(Ordering::Relaxed));
            let header = id_len + ctr + if odt == 0 { ts } else { 0 };
            ensure(
                stim || header + data <= usize::from(c.max_dto),
                ErrorCode::DaqConfig,
            )?;
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

    pub(super) fn start_list(&mut self, daq: DaqListNumber) -> R {
        self.check_runnable(daq)?;
        let t = &self.shared.daq;
        let list = &t.lists[daq.index()];
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
        if let Some(routes) = self.shared.dto_routes()
            && id_field == xcp_proto::IdField::AbsoluteOdt
        {
            // The list's DTOs go out on its own channel, or back on the transport's own.
            let route = self.lists[daq.index()].route.unwrap_or(0);
            for rel in 0..count {
                let pid = first_pid.wrapping_add(rel);
                routes.set(pid, route);
                if self.overload_pid() {
                    // The PID with its overload bit set belongs to the same list.
                    routes.set(pid | 0x80, route);
                }
            }
        }
        for (rel, odt) in (0..count).zip(t.odts.iter().skip(first)) {
            t.compile_odt(odt);
            odt.id.store(
                daq::id_word(id_field, order, first_pid, rel, daq.0),
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
            daq: daq.0,
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

    pub(super) fn stop_list(&mut self, daq: DaqListNumber) {
        let t = &self.shared.daq;
        let list = &t.lists[daq.index()];
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
            if w != 0 && daq::Run::daq_of(w) == daq.0 {
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

    pub(super) fn start_stop_list(&mut self, m: u8, daq: DaqListNumber) -> R {
        let list = self.list(daq)?;
        let first_pid = if self.shared.config.id_field == xcp_proto::IdField::AbsoluteOdt {
            list.first_pid.load(Ordering::Relaxed)
        } else {
            0
        };
        match m {
            bits::start_stop_daq_list::STOP => self.stop_list(daq),
            bits::start_stop_daq_list::START => self.start_list(daq)?,
            bits::start_stop_daq_list::SELECT => {
                self.check_runnable(daq)?;
                list.mode.fetch_or(mode::SELECTED, Ordering::Relaxed);
            }
            _ => return Err(ErrorCode::ModeNotValid),
        }
        self.res(&Response::StartStopDaqList { first_pid })
    }

    pub(super) fn start_stop_synch(&mut self, m: u8) -> R {
        let selected: Vec<DaqListNumber> = (0..self.lists.len())
            .filter_map(|i| u16::try_from(i).ok().map(DaqListNumber))
            .filter(|&i| {
                self.shared.daq.lists[i.index()]
                    .mode
                    .load(Ordering::Relaxed)
                    & mode::SELECTED
                    != 0
            })
            .collect();
        use bits::start_stop_synch as synch;
        match m {
            synch::STOP_ALL => self.stop_all(),
            synch::START_SELECTED => {
                for &i in &selected {
                    self.start_list(i)?;
                }
            }
            synch::STOP_SELECTED => {
                for &i in &selected {
                    self.stop_list(i);
                }
            }
            // Prepare for a synchronised start: nothing to prepare.
            synch::PREPARE_START_SELECTED => return self.ok(),
            _ => return Err(ErrorCode::ModeNotValid),
        }
        for &i in &selected {
            self.shared.daq.lists[i.index()]
                .mode
                .fetch_and(!mode::SELECTED, Ordering::Relaxed);
        }
        self.ok()
    }

    pub(super) fn daq_clock(&mut self) -> R {
        let ns = self.shared.clock.now_ns();
        let ticks = ns / u64::from(self.shared.config.timestamp_unit_ns.max(1));
        let clock = if self.s.extended_clock {
            DaqClock {
                trigger_info: 0,
                payload_fmt: bits::daq_clock_payload::SLAVE_64,
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

    pub(super) fn daq_processor_info(&mut self) -> R {
        let c = &self.shared.config;
        use bits::daq_properties as p;
        let mut properties = p::PRESCALER | p::BIT_STIM;
        if c.pid_off {
            properties |= p::PID_OFF;
        }
        if self.shared.config.persist_dir.is_some() {
            // STORE_DAQ has somewhere to store.
            properties |= p::RESUME;
        }
        if c.daq_config == DaqConfigType::Dynamic {
            properties |= p::DYNAMIC;
        }
        if c.timestamp_size > 0 {
            properties |= p::TIMESTAMP;
        }
        match c.overload {
            OverloadIndication::PidBit => properties |= p::OVERLOAD_MSB,
            OverloadIndication::Event => properties |= p::OVERLOAD_EVENT,
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
            key_byte: c.id_field.code() << bits::daq_key_byte::IDENTIFICATION_FIELD_SHIFT,
        };
        self.res(&Response::DaqProcessorInfo(info))
    }

    pub(super) fn daq_list_info(&mut self, daq: DaqListNumber) -> R {
        self.list(daq)?;
        let l = &self.lists[daq.index()];
        // Predefined lists measure; the others may be DAQ or STIM.
        use bits::daq_list_properties as p;
        let mut properties = if l.predefined {
            p::DAQ | p::PREDEFINED
        } else {
            p::DAQ | p::STIM
        };
        if l.fixed_event.is_some() {
            properties |= p::EVENT_FIXED;
        }
        let info = DaqListInfo {
            properties,
            max_odt: l.odts,
            max_odt_entries: l.entries_per_odt.iter().copied().max().unwrap_or(0),
            fixed_event: l.fixed_event.unwrap_or(0),
        };
        self.res(&Response::DaqListInfo(info))
    }

    pub(super) fn daq_event_info(&mut self, event: EventChannel) -> R {
        let ev = self
            .shared
            .events
            .get(event.index())
            .ok_or(ErrorCode::OutOfRange)?;
        let (time_cycle, time_unit) = ev.period.map_or((0, 0), cycle_and_unit);
        let name: Arc<[u8]> = ev.name.as_bytes().into();
        let info = DaqEventInfo {
            // DAQ and STIM, consistency per DAQ list.
            properties: bits::daq_event_properties::DAQ
                | bits::daq_event_properties::STIM
                | bits::daq_event_properties::CONSISTENCY_DAQ,
            max_daq_list: self.shared.config.max_lists_per_event,
            name_length: u8::try_from(name.len()).unwrap_or(255),
            time_cycle,
            time_unit,
            priority: ev.priority,
        };
        self.text_mta(name);
        self.res(&Response::DaqEventInfo(info))
    }
}
