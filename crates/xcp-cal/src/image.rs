//! Images of an ECU's calibration memory: the bytes of its calibration segments (and the
//! EPK), as CANape and XCPlite keep them. The HEX codec lives with the master's flash images
//! (`xcp_master::Image`); here are the regions an image covers and reading objects from it.

use xcp_a2l::{A2l, Address};

use crate::error::Error;
use crate::memory::{Memory, address_text, calibration_names, merge_runs};

/// Memory contents: segments in ascending address order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// `(start, bytes)`.
    pub segments: Vec<(Address, Vec<u8>)>,
}

/// The regions a calibration image of this A2L holds: its MEMORY_SEGMENTs of type DATA (or
/// OFFLINE_DATA); without any, the extents of every calibration object, joined where they
/// touch. The EPK at ADDR_EPK is added when no region covers it.
///
/// # Errors
/// An object that cannot be resolved.
pub fn regions(a2l: &A2l) -> Result<Vec<(Address, usize)>, Error> {
    let mut out = memory_segments(a2l);
    if out.is_empty() {
        let (names, _) = calibration_names(a2l, &|_| true);
        for n in names {
            let o = a2l.object(&n)?;
            if let Some(at) = o.address {
                out.push((at, o.size()));
            }
        }
    }
    if let Some((epk, Some(at))) = a2l.epk() {
        out.push((Address { ext: 0, addr: at }, epk.len()));
    }
    let merged = merge_runs(out, |_, _, _, _| false);
    Ok(merged)
}

/// The A2L's MEMORY_SEGMENTs of type DATA or OFFLINE_DATA.
pub(crate) fn memory_segments(a2l: &A2l) -> Vec<(Address, usize)> {
    a2l.module()
        .mod_par
        .as_ref()
        .map(|mp| {
            mp.memory_segment
                .iter()
                .filter(|s| {
                    matches!(
                        s.prg_type,
                        a2lfile::PrgType::Data | a2lfile::PrgType::OfflineData
                    ) && s.size > 0
                })
                .map(|s| {
                    (
                        Address {
                            ext: 0,
                            addr: s.address,
                        },
                        s.size as usize,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Image {
    /// Reads every region of the A2L from `mem`.
    ///
    /// # Errors
    /// As the regions and the memory.
    pub fn read(a2l: &A2l, mem: &mut dyn Memory) -> Result<Self, Error> {
        let mut segments = Vec::new();
        for (at, len) in regions(a2l)? {
            segments.push((at, mem.read(at, len)?));
        }
        Ok(Self { segments })
    }

    /// The EPK the image holds at the A2L's ADDR_EPK (as long as the A2L's EPK), if it does.
    pub fn epk(&mut self, a2l: &A2l) -> Option<String> {
        let (epk, at) = a2l.epk()?;
        let bytes = self.read(Address { ext: 0, addr: at? }, epk.len()).ok()?;
        Some(
            String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\0', ' '])
                .to_owned(),
        )
    }

    /// One contiguous run from the lowest to the highest address (gaps filled with 0xFF),
    /// for raw binary files; the start address.
    pub fn to_raw(&self) -> (u32, Vec<u8>) {
        let Some(first) = self.segments.first() else {
            return (0, Vec::new());
        };
        let base = first.0.addr;
        let mut out = Vec::new();
        for (at, bytes) in &self.segments {
            let off = (at.addr - base) as usize;
            if out.len() < off {
                out.resize(off, 0xFF);
            }
            out.truncate(off);
            out.extend_from_slice(bytes);
        }
        (base, out)
    }

    /// A raw binary file's bytes placed at the A2L's regions (the file starts at the lowest).
    ///
    /// # Errors
    /// [`Error::Memory`] when the file is shorter than the regions.
    pub fn from_raw(a2l: &A2l, bytes: &[u8]) -> Result<Self, Error> {
        let regions = regions(a2l)?;
        let Some(&(first, _)) = regions.first() else {
            return Ok(Self::default());
        };
        let base = first.addr;
        let mut segments = Vec::new();
        for (at, len) in regions {
            let off = (at.addr - base) as usize;
            let part = bytes.get(off..off + len).ok_or_else(|| Error::Memory {
                at: address_text(at),
                len,
                reason: format!(
                    "the raw image has {} byte(s) from {}; this A2L's calibration memory needs {}",
                    bytes.len(),
                    address_text(first),
                    off + len
                ),
            })?;
            segments.push((at, part.to_vec()));
        }
        Ok(Self { segments })
    }
}

impl Memory for Image {
    fn read(&mut self, at: Address, len: usize) -> Result<Vec<u8>, Error> {
        for (s, bytes) in &self.segments {
            if s.ext != at.ext || at.addr < s.addr {
                continue;
            }
            let off = (at.addr - s.addr) as usize;
            if let Some(b) = bytes.get(off..off + len) {
                return Ok(b.to_vec());
            }
        }
        Err(Error::Memory {
            at: address_text(at),
            len,
            reason: "the image does not hold these bytes".to_owned(),
        })
    }
}
