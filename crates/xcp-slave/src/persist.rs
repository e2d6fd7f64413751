//! Freeze: calibration pages saved to a file keyed by the EPK, restored after a restart.
//!
//! File `<dir>/<epk>.xcpcal` (the EPK with every character outside `[A-Za-z0-9._-]` replaced
//! by `_`), little-endian:
//!
//! ```text
//! magic "XCPKITCAL1\0\0" (12 bytes)
//! u32 EPK length, EPK bytes
//! u32 segment count
//! per segment: u16 name length, name, u32 page length, working-page bytes
//! u32 CRC-32 (XCP_CRC_32) of everything before it
//! ```
//!
//! Restore applies a segment only when its name and length match a registered segment, and
//! only when the EPK in the file equals the slave's: a file from another build is ignored
//! (and a warning logged), never half-applied. The file is written to a temporary name and
//! renamed, so a crash during STORE_CAL leaves the previous file intact.

use std::path::{Path, PathBuf};

use xcp_proto::{ByteOrder, ChecksumType, checksum};

use crate::error::Error;
use crate::slave::Shared;
use crate::sync::rcu::PageKind;

const MAGIC: &[u8; 12] = b"XCPKITCAL1\0\0";

/// The persistence file of `epk` in `dir`.
pub fn file_for(dir: &Path, epk: &str) -> PathBuf {
    let stem: String = epk
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{stem}.xcpcal"))
}

fn crc(data: &[u8]) -> u32 {
    checksum(ChecksumType::Crc32, data, ByteOrder::Intel).unwrap_or(0)
}

/// Writes the working pages of the segments in FREEZE mode. Returns how many were saved.
pub(crate) fn store(shared: &Shared, dir: &Path) -> Result<usize, Error> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32::try_from(shared.epk.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(shared.epk.as_bytes());
    let frozen: Vec<_> = shared
        .segments
        .iter()
        .filter(|s| s.mode.load(std::sync::atomic::Ordering::Relaxed) & 1 != 0)
        .filter_map(|s| s.pages.as_ref().map(|p| (s.name.as_str(), p)))
        .collect();
    out.extend_from_slice(&u32::try_from(frozen.len()).unwrap_or(0).to_le_bytes());
    for (name, pages) in &frozen {
        let mut page = vec![0u8; pages.len()];
        pages.xcp_read(PageKind::Working, 0, &mut page);
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&u32::try_from(page.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&page);
    }
    let sum = crc(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    let path = file_for(dir, &shared.epk);
    let tmp = path.with_extension("xcpcal.tmp");
    let io = |context, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    std::fs::write(&tmp, &out).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("renaming into", &path))?;
    Ok(frozen.len())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
    fn u32(&mut self) -> Option<usize> {
        self.take(4)
            .and_then(|b| usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok())
    }
}

/// What a restore found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// No file for this EPK.
    NoFile,
    /// The file is damaged or belongs to another EPK; nothing applied.
    Rejected(String),
    /// Segments applied, by name.
    Applied(Vec<String>),
}

/// Parses a persistence file and applies what matches.
pub(crate) fn restore(shared: &Shared, dir: &Path) -> Result<Restored, Error> {
    let path = file_for(dir, &shared.epk);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restored::NoFile),
        Err(source) => {
            return Err(Error::Io {
                context: "reading",
                path,
                source,
            });
        }
    };
    let result = parse_and_apply(shared, &data);
    match &result {
        Restored::Rejected(why) => {
            tracing::warn!(file = %path.display(), "frozen calibration not restored: {why}");
        }
        Restored::Applied(names) => {
            tracing::info!(file = %path.display(), ?names, "frozen calibration restored");
        }
        Restored::NoFile => {}
    }
    Ok(result)
}

fn parse_and_apply(shared: &Shared, data: &[u8]) -> Restored {
    let Some(body_len) = data.len().checked_sub(4) else {
        return Restored::Rejected("file shorter than its checksum".into());
    };
    let (body, sum) = data.split_at(body_len);
    if crc(body).to_le_bytes() != sum {
        return Restored::Rejected("checksum mismatch (truncated or damaged file)".into());
    }
    let mut r = Reader(body);
    if r.take(12) != Some(MAGIC) {
        return Restored::Rejected("not an xcpkit calibration file (bad magic)".into());
    }
    let Some(epk) = r.u32().and_then(|n| r.take(n)) else {
        return Restored::Rejected("truncated EPK".into());
    };
    if epk != shared.epk.as_bytes() {
        return Restored::Rejected(format!(
            "EPK {:?} in the file differs from the slave's {:?}",
            String::from_utf8_lossy(epk),
            shared.epk
        ));
    }
    let Some(count) = r.u32() else {
        return Restored::Rejected("truncated segment count".into());
    };
    let mut pending = Vec::new();
    for i in 0..count {
        let Some(name) = r.u16().and_then(|n| r.take(n)) else {
            return Restored::Rejected(format!("truncated name of segment {i}"));
        };
        let Some(page) = r.u32().and_then(|n| r.take(n)) else {
            return Restored::Rejected(format!("truncated page of segment {i}"));
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let Some(seg) = shared.segments.iter().find(|s| s.name == name) else {
            return Restored::Rejected(format!("segment {name:?} is not registered"));
        };
        let Some(pages) = &seg.pages else {
            return Restored::Rejected(format!("segment {name:?} is read-only"));
        };
        if pages.len() != page.len() {
            return Restored::Rejected(format!(
                "segment {name:?} is {} bytes, the file has {}",
                pages.len(),
                page.len()
            ));
        }
        pending.push((seg, page, name));
    }
    let mut applied = Vec::new();
    for (seg, page, name) in pending {
        if let Some(pages) = &seg.pages {
            pages.xcp_modify(|p| {
                p.copy_from_slice(page);
                true
            });
            seg.mode.store(1, std::sync::atomic::Ordering::Relaxed);
            applied.push(name);
        }
    }
    Restored::Applied(applied)
}
