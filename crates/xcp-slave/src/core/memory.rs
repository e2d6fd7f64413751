//! The command processor: memory access: MTA, uploads, downloads, checksums, polls of event-relative memory.

use super::*;

impl Core {
    pub(super) fn segment(&self, segment: u8) -> Result<&crate::shared::SegmentDef, ErrorCode> {
        self.shared
            .segments
            .get(usize::from(segment))
            .ok_or(ErrorCode::SegmentNotValid)
    }

    /// The segment a segment-relative address (extension 0) points into, and the offset.
    pub(super) fn segment_at(
        &self,
        addr: Address,
    ) -> Result<(&crate::shared::SegmentDef, usize), ErrorCode> {
        ensure(addr.addr & SEGMENT_BASE != 0, ErrorCode::OutOfRange)?;
        let seg = u8::try_from((addr.addr >> 16) & 0x7FFF)
            .ok()
            .and_then(|i| self.shared.segments.get(usize::from(i)))
            .ok_or(ErrorCode::OutOfRange)?;
        Ok((seg, (addr.addr & 0xFFFF) as usize))
    }

    /// Reads memory at an address for the master.
    pub(super) fn read_mem(&self, addr: Address, buf: &mut [u8]) -> R {
        if let Some((region, offset)) = self.shared.mirrors.find(addr.ext, addr.addr, buf.len()) {
            return self.shared.mirrors.read(region, offset, buf);
        }
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
    pub(super) fn write_mem(&self, addr: Address, data: &[u8]) -> R {
        if let Some((region, offset)) = self.shared.mirrors.find(addr.ext, addr.addr, data.len()) {
            return self.shared.mirrors.write(region, offset, data);
        }
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

    pub(super) fn read_mta(&mut self, buf: &mut [u8]) -> R {
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

    pub(super) fn advance_mta(&mut self, n: usize) {
        if let Mta::Mem(a) = &mut self.s.mta {
            a.addr = a.addr.wrapping_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    pub(super) fn write_mta(&mut self, data: &[u8]) -> R {
        let Mta::Mem(addr) = self.s.mta else {
            return Err(ErrorCode::WriteProtected);
        };
        self.write_mem(addr, data)?;
        self.advance_mta(data.len());
        Ok(())
    }

    pub(super) fn upload(&mut self, count: usize, block: bool, now: Instant) -> R {
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
    pub(super) fn upload_answer(&mut self, data: &[u8]) {
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
    pub(super) fn write_mta_answer(&mut self, data: &[u8], now: Instant) -> R {
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
    pub(super) fn start_poll(
        &mut self,
        addr: Address,
        kind: PollKind,
        data: &[u8],
        now: Instant,
    ) -> R {
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
    pub(super) fn poll_step(&mut self, mut p: Poll, now: Instant) {
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

    pub(super) fn build_checksum(&mut self, block_size: u32) -> R {
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

    pub(super) fn download(&mut self, count: usize, data: &[u8], program: bool) -> R {
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

    pub(super) fn download_next(&mut self, count: usize, data: &[u8], program: bool) -> R {
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
    pub(super) fn block_part(&mut self, count: usize, data: &[u8], program: bool) -> R {
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

    pub(super) fn block_write(&mut self, data: &[u8], program: bool) -> R {
        if program {
            self.program_write(data)
        } else {
            self.write_mta(data)
        }
    }

    pub(super) fn modify_bits(&mut self, shift: u8, and_mask: u16, xor_mask: u16) -> R {
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

    pub(super) fn user_cmd(&mut self, sub: u8) -> R {
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
}
