//! The command processor: flash programming.

use super::*;

impl Core {
    pub(super) fn pgm(&self) -> R {
        ensure(self.s.pgm_active, ErrorCode::Sequence)
    }

    pub(super) fn program_start(&mut self) -> R {
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

    pub(super) fn flash_range(&self, addr: Address, len: usize) -> Result<usize, ErrorCode> {
        let f = self.shared.flash.as_ref().ok_or(ErrorCode::OutOfRange)?;
        ensure(addr.ext == EXT_ABSOLUTE, ErrorCode::OutOfRange)?;
        let off = (addr.addr as usize)
            .checked_sub(f.base as usize)
            .ok_or(ErrorCode::OutOfRange)?;
        ensure(off + len <= self.flash.len(), ErrorCode::OutOfRange)?;
        Ok(off)
    }

    pub(super) fn program_clear(&mut self, m: u8, range: u32, now: Instant) -> R {
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

    pub(super) fn program_write(&mut self, data: &[u8]) -> R {
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

    pub(super) fn program_verify(&mut self, m: u8, value: u32) -> R {
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

    pub(super) fn sector_info(&mut self, m: u8, sector: u8) -> R {
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
