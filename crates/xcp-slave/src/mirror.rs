//! Mirrored memory: regions of memory the application owns outside the slave (an FMU's
//! image, read and written by an importer between steps) that the slave serves at the
//! application's own addresses.
//!
//! The slave keeps a copy of each region (atomic words, as for global variables, so a DAQ
//! sample is never torn) and never touches the application's memory. The application, once
//! per step and while it holds the [`MirrorLock`], takes the writes the master made
//! ([`MirrorLock::take_writes`]) into its memory, runs its step, copies the regions back
//! ([`MirrorLock::publish`]) and triggers its event. The master's reads and writes take the
//! same lock, so they fall between steps, never inside one; a lock held past
//! [`GATE_WAIT`] answers ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE instead of blocking the
//! session.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use xcp_proto::ErrorCode;

use crate::memory::Globals;

/// How long a master's access waits for the application's step to end.
pub const GATE_WAIT: Duration = Duration::from_millis(500);
/// Bytes of master writes that may wait for the application; more is ERR_MEMORY_OVERFLOW.
pub const MAX_PENDING: usize = 1 << 20;

/// One mirrored region.
pub(crate) struct MirrorDef {
    pub(crate) name: String,
    pub(crate) ext: u8,
    pub(crate) base: u32,
    pub(crate) image: Globals,
    pub(crate) len: usize,
    pub(crate) writable: bool,
}

impl MirrorDef {
    /// The offset of `[addr, addr + len)` in this region, when it lies inside.
    pub(crate) fn offset_of(&self, ext: u8, addr: u32, len: usize) -> Option<usize> {
        if ext != self.ext {
            return None;
        }
        let off = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        (off.checked_add(len)? <= self.len).then_some(off)
    }
}

/// A write the master made to a mirrored region, for the application to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorWrite {
    /// The region (in registration order).
    pub region: usize,
    /// Offset in the region.
    pub offset: usize,
    /// The bytes written.
    pub bytes: Vec<u8>,
}

/// What the gate guards: the writes waiting for the application.
#[derive(Default)]
pub(crate) struct Pending {
    writes: Vec<MirrorWrite>,
    bytes: usize,
}

/// The regions and their gate.
#[derive(Default)]
pub(crate) struct Mirrors {
    pub(crate) regions: Vec<MirrorDef>,
    gate: Mutex<Pending>,
}

impl Mirrors {
    pub(crate) fn new(regions: Vec<MirrorDef>) -> Self {
        Self {
            regions,
            gate: Mutex::default(),
        }
    }

    /// The region and offset of `[addr, addr + len)`.
    pub(crate) fn find(&self, ext: u8, addr: u32, len: usize) -> Option<(usize, usize)> {
        self.regions
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.offset_of(ext, addr, len).map(|o| (i, o)))
    }

    /// The gate, waiting at most [`GATE_WAIT`] for the application's step.
    pub(crate) fn gate(&self) -> Result<MutexGuard<'_, Pending>, ErrorCode> {
        let deadline = Instant::now() + GATE_WAIT;
        loop {
            match self.gate.try_lock() {
                Ok(g) => return Ok(g),
                // A panic elsewhere left the list consistent (pushes are whole).
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(ErrorCode::ResourceTemporaryNotAccessible);
                }
            }
        }
    }

    /// The master reads `dst.len()` bytes at `offset` of `region`.
    pub(crate) fn read(
        &self,
        region: usize,
        offset: usize,
        dst: &mut [u8],
    ) -> Result<(), ErrorCode> {
        let r = self.regions.get(region).ok_or(ErrorCode::OutOfRange)?;
        let _gate = self.gate()?;
        if r.image.load(offset, dst) {
            Ok(())
        } else {
            Err(ErrorCode::OutOfRange)
        }
    }

    /// The master writes `src` at `offset` of `region`: into the copy at once (a read-back
    /// sees it), and into the list the application applies before its next step.
    pub(crate) fn write(&self, region: usize, offset: usize, src: &[u8]) -> Result<(), ErrorCode> {
        let r = self.regions.get(region).ok_or(ErrorCode::OutOfRange)?;
        if !r.writable {
            return Err(ErrorCode::WriteProtected);
        }
        let mut gate = self.gate()?;
        if gate.bytes + src.len() > MAX_PENDING {
            return Err(ErrorCode::MemoryOverflow);
        }
        if !r.image.store(offset, src) {
            return Err(ErrorCode::OutOfRange);
        }
        gate.bytes += src.len();
        gate.writes.push(MirrorWrite {
            region,
            offset,
            bytes: src.to_vec(),
        });
        Ok(())
    }
}

/// The application's handle on the mirrored regions (from [`Slave::mirrors`](crate::Slave::mirrors)).
#[derive(Clone)]
pub struct MirrorHandle {
    pub(crate) shared: Arc<crate::shared::Shared>,
}

impl std::fmt::Debug for MirrorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorHandle")
            .field("regions", &self.shared.mirrors.regions.len())
            .finish()
    }
}

/// A mirrored region as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRegion {
    /// Its name.
    pub name: String,
    /// Address extension.
    pub ext: u8,
    /// First address.
    pub base: u32,
    /// Length in bytes.
    pub len: usize,
    /// Whether the master may write it.
    pub writable: bool,
}

impl MirrorHandle {
    /// The regions, in registration order.
    pub fn regions(&self) -> Vec<MirrorRegion> {
        self.shared
            .mirrors
            .regions
            .iter()
            .map(|r| MirrorRegion {
                name: r.name.clone(),
                ext: r.ext,
                base: r.base,
                len: r.len,
                writable: r.writable,
            })
            .collect()
    }

    /// Locks out the master's access for the application's step (until the lock is dropped).
    pub fn lock(&self) -> MirrorLock<'_> {
        let gate = match self.shared.mirrors.gate.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        MirrorLock {
            mirrors: &self.shared.mirrors,
            gate,
        }
    }
}

/// The application's exclusive access to the mirrored regions (see the module docs).
pub struct MirrorLock<'a> {
    mirrors: &'a Mirrors,
    gate: MutexGuard<'a, Pending>,
}

impl std::fmt::Debug for MirrorLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorLock")
            .field("pending", &self.gate.writes.len())
            .finish()
    }
}

impl MirrorLock<'_> {
    /// The writes the master made since the last call, oldest first, for the application to
    /// apply to its memory.
    pub fn take_writes(&mut self) -> Vec<MirrorWrite> {
        self.gate.bytes = 0;
        std::mem::take(&mut self.gate.writes)
    }

    /// Copies the application's present bytes of `region` at `offset` into the slave's copy
    /// (what DAQ samples and the master reads); `false` when they do not fit the region.
    pub fn publish(&self, region: usize, offset: usize, bytes: &[u8]) -> bool {
        self.mirrors.regions.get(region).is_some_and(|r| {
            offset
                .checked_add(bytes.len())
                .is_some_and(|end| end <= r.len)
                && r.image.store(offset, bytes)
        })
    }
}
