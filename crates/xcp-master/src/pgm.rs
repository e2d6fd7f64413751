//! Flash programming: PROGRAM_START, PROGRAM_CLEAR per segment, PROGRAM (with PROGRAM_NEXT in
//! master block mode where the slave offers it), the end-of-segment PROGRAM, verification by
//! BUILD_CHECKSUM against our own computation, PROGRAM_RESET; with progress.

use xcp_proto::{Address, ChecksumType, ErrorCode};

use crate::error::Error;
use crate::image::Image;
use crate::memory::MemoryWrite;
use crate::session::Master;

/// Where a programming run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Erasing.
    Clear,
    /// Writing.
    Program,
    /// Checking what was written.
    Verify,
    /// Resetting the slave.
    Reset,
}

/// The phase in words: `clearing`, `programming`, `verifying`, `resetting`.
impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Clear => "clearing",
            Self::Program => "programming",
            Self::Verify => "verifying",
            Self::Reset => "resetting",
        })
    }
}

/// Progress of a programming run: bytes done of the phase's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// Bytes done.
    pub done: usize,
    /// Bytes in all.
    pub total: usize,
}

/// What a programming run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramReport {
    /// Bytes written.
    pub bytes: usize,
    /// Segments written.
    pub segments: usize,
    /// PROGRAM / PROGRAM_NEXT packets sent.
    pub packets: usize,
    /// Whether master block mode was used.
    pub block_mode: bool,
    /// The checksum type the slave verified with (`None` when it offers no BUILD_CHECKSUM
    /// and the data was uploaded and compared instead).
    pub verified_with: Option<ChecksumType>,
}

impl Master {
    /// Programs `image` into the slave's flash at address extension `ext`, reporting
    /// progress, and resets the slave when `reset` is set.
    ///
    /// # Errors
    /// As the commands; [`Error::ChecksumMismatch`] when the flash does not hold the image
    /// afterwards.
    pub async fn program_image(
        &mut self,
        image: &Image,
        ext: u8,
        reset: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ProgramReport, Error> {
        if image.is_empty() {
            return Err(Error::InvalidArgument("the image holds no data".to_owned()));
        }
        let total = image.len();
        let start = self.program_start().await?;
        let ag = self.params.ag();
        let max_cto = usize::from(self.params.max_cto.min(start.max_cto_pgm.max(8)));
        let align = if ag == 4 { 2 } else { 0 };
        let per = (max_cto - 2 - align) / ag * ag;
        let block = start.comm_mode_pgm & 1 != 0 && start.max_bs_pgm > 1;
        let max_bs = usize::from(start.max_bs_pgm.max(1));
        let gap = std::time::Duration::from_micros(u64::from(start.min_st_pgm) * 100);

        let mut done = 0;
        for (addr, data) in &image.segments {
            self.set_mta(Address::new(ext, *addr)).await?;
            let range = u32::try_from(data.len())
                .map_err(|_| Error::InvalidArgument("segment too large".to_owned()))?;
            self.program_clear(0, range).await?;
            done += data.len();
            progress(Progress {
                phase: Phase::Clear,
                done,
                total,
            });
        }

        let mut packets = 0;
        done = 0;
        for (addr, data) in &image.segments {
            self.set_mta(Address::new(ext, *addr)).await?;
            let before = done;
            packets += self
                .write_blocks(
                    MemoryWrite::Program,
                    data,
                    per,
                    if block { max_bs } else { 1 },
                    gap,
                    &mut |written| {
                        progress(Progress {
                            phase: Phase::Program,
                            done: before + written,
                            total,
                        });
                    },
                )
                .await?;
            done = before + data.len();
            // PROGRAM of zero length ends the memory segment.
            self.program(&[]).await?;
            packets += 1;
        }
        progress(Progress {
            phase: Phase::Program,
            done: total,
            total,
        });

        let mut verified_with = None;
        done = 0;
        for (addr, data) in &image.segments {
            let a = Address::new(ext, *addr);
            match self.checksum(a, data.len()).await {
                Ok(sum) if sum.checksum_type != ChecksumType::UserDefined => {
                    let mine = xcp_proto::checksum(sum.checksum_type, data, self.params.byte_order)
                        .map_err(|e| Error::Unsupported(format!("checksum: {e}")))?;
                    if mine != sum.value {
                        return Err(Error::ChecksumMismatch {
                            address: a.to_string(),
                            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
                            slave: sum.value,
                            master: mine,
                        });
                    }
                    verified_with = Some(sum.checksum_type);
                }
                Ok(_) | Err(Error::Negative { .. }) => {
                    let back = self.upload(a, data.len()).await?;
                    if &back != data {
                        let at = back.iter().zip(data).position(|(x, y)| x != y).unwrap_or(0);
                        return Err(Error::InvalidArgument(format!(
                            "verify: the flash differs from the image at {}",
                            self.offset(a, at)?
                        )));
                    }
                }
                Err(e) => return Err(e),
            }
            done += data.len();
            progress(Progress {
                phase: Phase::Verify,
                done,
                total,
            });
        }

        if reset {
            progress(Progress {
                phase: Phase::Reset,
                done: 0,
                total: 1,
            });
            // A slave may reset before it answers: no answer is the expected end.
            match self.program_reset().await {
                Ok(()) => {}
                Err(e) if e.is_timeout() || matches!(e, Error::Closed { .. }) => {}
                Err(e) if e.code() == Some(ErrorCode::CmdUnknown) => {}
                Err(e) => return Err(e),
            }
            self.connect = None;
        }
        Ok(ProgramReport {
            bytes: total,
            segments: image.segments.len(),
            packets,
            block_mode: block,
            verified_with,
        })
    }
}
