//! Memory transfers of any length: SHORT_UPLOAD/SHORT_DOWNLOAD when they fit one packet,
//! else SET_MTA plus UPLOAD/DOWNLOAD chunks sized by MAX_CTO, in slave block mode (one
//! UPLOAD answered by several packets) and master block mode (DOWNLOAD, DOWNLOAD_NEXT …,
//! one answer) when the slave offers them; checksums verified against our own computation;
//! page switching and freeze.

use std::time::Duration;

use xcp_proto::{Address, ChecksumResult, ChecksumType, Command, Response};

use crate::error::Error;
use crate::session::Master;

/// SET_REQUEST mode bit: store calibration data.
pub const STORE_CAL_REQ: u8 = xcp_proto::bits::set_request::STORE_CAL_REQ;

impl Master {
    fn upload_payload(&self) -> usize {
        // PID plus alignment to the AG take the first AG bytes of a response.
        let ag = self.params.ag();
        (usize::from(self.params.max_cto) - ag) / ag * ag
    }

    fn advance(addr: Address, bytes: usize, ag: usize) -> Result<Address, Error> {
        let step = u32::try_from(bytes / ag)
            .map_err(|_| Error::InvalidArgument("transfer too long".to_owned()))?;
        let next = addr.addr.checked_add(step).ok_or_else(|| {
            Error::InvalidArgument(format!("the range from {addr} crosses 0xFFFFFFFF"))
        })?;
        Ok(Address::new(addr.ext, next))
    }

    /// Reads `len` bytes at `addr`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a length that is not whole AG elements, else as the
    /// commands.
    pub async fn upload(&mut self, addr: Address, len: usize) -> Result<Vec<u8>, Error> {
        let ag = self.params.ag();
        if !len.is_multiple_of(ag) {
            return Err(Error::InvalidArgument(format!(
                "upload of {len} bytes: not a multiple of the address granularity ({ag})"
            )));
        }
        let per = self.upload_payload();
        if len <= per {
            return self.short_upload(addr, len).await;
        }
        self.set_mta(addr).await?;
        self.upload_from_mta(len).await
    }

    /// SHORT_UPLOAD of up to one packet.
    ///
    /// # Errors
    /// As any command; [`Error::Malformed`] when the slave returns fewer bytes.
    pub async fn short_upload(&mut self, addr: Address, len: usize) -> Result<Vec<u8>, Error> {
        let count = self.elements(len, "SHORT_UPLOAD")?;
        let data = self
            .request(&Command::ShortUpload { count, addr }, |r| match r {
                Response::Upload { data } => Some(data.to_vec()),
                _ => None,
            })
            .await?;
        take_exact(data, len, "SHORT_UPLOAD")
    }

    /// UPLOADs `len` bytes from the MTA (which advances).
    ///
    /// # Errors
    /// As [`upload`](Self::upload).
    pub async fn upload_from_mta(&mut self, len: usize) -> Result<Vec<u8>, Error> {
        let ag = self.params.ag();
        let per = self.upload_payload();
        let block = self.connect.is_some_and(|c| c.slave_block_mode());
        // One UPLOAD asks for at most 255 elements; without slave block mode, one packet.
        let max_one = if block { 255 * ag / ag * ag } else { per };
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = (len - out.len()).min(max_one);
            let count = self.elements(n, "UPLOAD")?;
            let packets = n.div_ceil(per);
            let cmd = Command::Upload { count };
            let pending = xcp_proto::Pending::from(&cmd);
            let raw = self.exec(&cmd, packets).await?;
            let mut got = Vec::with_capacity(n);
            for p in &raw {
                match Response::parse(p, pending, &self.params) {
                    Ok(Response::Upload { data }) => got.extend_from_slice(data),
                    other => {
                        return Err(Error::Malformed {
                            command: "UPLOAD",
                            reason: format!("{other:?}"),
                        });
                    }
                }
            }
            out.extend_from_slice(&take_exact(got, n, "UPLOAD")?);
        }
        Ok(out)
    }

    /// Writes `data` at `addr`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for data that is not whole AG elements, else as the
    /// commands.
    pub async fn download(&mut self, addr: Address, data: &[u8]) -> Result<(), Error> {
        let ag = self.params.ag();
        if !data.len().is_multiple_of(ag) {
            return Err(Error::InvalidArgument(format!(
                "download of {} bytes: not a multiple of the address granularity ({ag})",
                data.len()
            )));
        }
        // SHORT_DOWNLOAD: PID, count, reserved, ext, address (4) = 8 header bytes.
        let short_max = usize::from(self.params.max_cto).saturating_sub(8) / ag * ag;
        if !data.is_empty() && data.len() <= short_max {
            return self.short_download(addr, data).await;
        }
        self.set_mta(addr).await?;
        self.download_to_mta(data).await
    }

    /// SHORT_DOWNLOAD of up to one packet.
    ///
    /// # Errors
    /// As any command.
    pub async fn short_download(&mut self, addr: Address, data: &[u8]) -> Result<(), Error> {
        self.elements(data.len(), "SHORT_DOWNLOAD")?;
        self.simple(&Command::ShortDownload { addr, data }).await
    }

    /// DOWNLOADs `data` at the MTA, in master block mode when the slave offers it.
    ///
    /// # Errors
    /// As [`download`](Self::download).
    pub async fn download_to_mta(&mut self, data: &[u8]) -> Result<(), Error> {
        let ag = self.params.ag();
        let align = if ag == 4 { 2 } else { 0 };
        let per = (usize::from(self.params.max_cto) - 2 - align) / ag * ag;
        let (block, max_bs, min_st) = match self.comm_mode {
            Some(c)
                if c.comm_mode_optional
                    & xcp_proto::bits::comm_mode_optional::MASTER_BLOCK_MODE
                    != 0
                    && c.max_bs > 1 =>
            {
                (true, usize::from(c.max_bs), c.min_st)
            }
            _ => (false, 1, 0),
        };
        let gap = Duration::from_micros(u64::from(min_st) * 100);
        let max_bs = if block { max_bs } else { 1 };
        self.write_blocks(MemoryWrite::Download, data, per, max_bs, gap, &mut |_| {})
            .await
            .map(|_| ())
    }

    /// Writes `data` at the MTA, `per` bytes a packet: up to `max_bs` packets (and 255
    /// elements) a transfer, the first a DOWNLOAD or PROGRAM and the others its _NEXT, `gap`
    /// apart, answered once (master block mode); with `max_bs` 1, one command a packet.
    /// Calls `progress` with the bytes written after each answered transfer; returns the
    /// packets sent.
    pub(crate) async fn write_blocks(
        &mut self,
        kind: MemoryWrite,
        data: &[u8],
        per: usize,
        max_bs: usize,
        gap: Duration,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, Error> {
        let ag = self.params.ag();
        let (first_name, next_name) = kind.names();
        let mut packets = 0;
        let mut rest = data;
        while !rest.is_empty() {
            let total = rest.len().min(per * max_bs.max(1)).min(255 * ag);
            let (blk, tail) = rest.split_at(total);
            let count = self.elements(total, first_name)?;
            let mut chunks = blk.chunks(per.max(1));
            let first = chunks.next().unwrap_or_default();
            let mut cmds = vec![kind.first(count, first)];
            let mut left = total - first.len();
            for c in chunks {
                let n = self.elements(left, next_name)?;
                cmds.push(kind.next(n, c));
                left -= c.len();
            }
            packets += cmds.len();
            let last = cmds.pop().unwrap_or_else(|| kind.first(count, first));
            for cmd in &cmds {
                self.send_only(cmd)?;
                if !gap.is_zero() {
                    self.pause(gap).await;
                }
            }
            self.simple(&last).await?;
            rest = tail;
            progress(data.len() - rest.len());
        }
        Ok(packets)
    }

    /// BUILD_CHECKSUM over `len` bytes at `addr` (as the slave computes it).
    ///
    /// # Errors
    /// As the commands.
    pub async fn checksum(&mut self, addr: Address, len: usize) -> Result<ChecksumResult, Error> {
        let ag = self.params.ag();
        let elements = u32::try_from(len / ag)
            .map_err(|_| Error::InvalidArgument("checksum block too long".to_owned()))?;
        self.set_mta(addr).await?;
        self.build_checksum(elements).await
    }

    /// BUILD_CHECKSUM over `len` bytes at `addr`, verified by uploading the same bytes and
    /// computing the slave's algorithm here.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] when the two disagree; [`Error::Unsupported`] for a
    /// user-defined algorithm, which the master cannot compute.
    pub async fn verify_checksum(
        &mut self,
        addr: Address,
        len: usize,
    ) -> Result<ChecksumResult, Error> {
        let result = self.checksum(addr, len).await?;
        if result.checksum_type == ChecksumType::UserDefined {
            return Err(Error::Unsupported(
                "the slave uses a user-defined checksum, which the master cannot recompute"
                    .to_owned(),
            ));
        }
        let data = self.upload(addr, len).await?;
        let mine = xcp_proto::checksum(result.checksum_type, &data, self.params.byte_order)
            .map_err(|e| Error::Unsupported(format!("checksum: {e}")))?;
        if mine != result.value {
            return Err(Error::ChecksumMismatch {
                address: addr.to_string(),
                size: u32::try_from(len).unwrap_or(u32::MAX),
                slave: result.value,
                master: mine,
            });
        }
        Ok(result)
    }

    /// Freeze: SET_SEGMENT_MODE FREEZE on `segment`, then SET_REQUEST STORE_CAL_REQ, so the
    /// slave keeps the working page across a restart.
    ///
    /// # Errors
    /// As the commands.
    pub async fn freeze(&mut self, segment: u8) -> Result<(), Error> {
        self.set_segment_mode(1, segment).await?;
        self.set_request(STORE_CAL_REQ, 0).await
    }

    /// Walks a range in steps, for callers that report progress: the address `bytes` past
    /// `addr`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the range crosses the end of the address space.
    pub fn offset(&self, addr: Address, bytes: usize) -> Result<Address, Error> {
        Self::advance(addr, bytes, self.params.ag())
    }
}

fn take_exact(mut data: Vec<u8>, len: usize, command: &'static str) -> Result<Vec<u8>, Error> {
    if data.len() < len {
        return Err(Error::Malformed {
            command,
            reason: format!("{} bytes instead of {len}", data.len()),
        });
    }
    // Transports that pad (CAN) leave bytes beyond the requested length.
    data.truncate(len);
    Ok(data)
}

/// Which memory write a transfer makes: calibration (DOWNLOAD) or flash (PROGRAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemoryWrite {
    /// DOWNLOAD, DOWNLOAD_NEXT.
    Download,
    /// PROGRAM, PROGRAM_NEXT.
    Program,
}

impl MemoryWrite {
    const fn first(self, count: u8, data: &[u8]) -> Command<'_> {
        match self {
            Self::Download => Command::Download { count, data },
            Self::Program => Command::Program { count, data },
        }
    }

    const fn next(self, count: u8, data: &[u8]) -> Command<'_> {
        match self {
            Self::Download => Command::DownloadNext { count, data },
            Self::Program => Command::ProgramNext { count, data },
        }
    }

    const fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Download => ("DOWNLOAD", "DOWNLOAD_NEXT"),
            Self::Program => ("PROGRAM", "PROGRAM_NEXT"),
        }
    }
}
