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
//!
//! SET_REQUEST STORE_DAQ writes the DAQ lists the master selected to `<dir>/<epk>.xcpdaq`
//! the same way (magic `XCPKITDAQ1\0\0`, EPK, SESSION_CONFIGURATION_ID, resume flag, then
//! per list its number, mode, event, prescaler and ODT entries, then the CRC-32). With the
//! resume flag, the next start of the slave configures and starts those lists before any
//! master connects (RESUME mode); CLEAR_DAQ deletes the file.

use std::path::{Path, PathBuf};

use xcp_proto::{ByteOrder, ChecksumType, checksum};

use crate::error::Error;
use crate::shared::Shared;
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

/// The stored DAQ configuration file of `epk` in `dir` (SET_REQUEST STORE_DAQ).
pub fn daq_file_for(dir: &Path, epk: &str) -> PathBuf {
    file_for(dir, epk).with_extension("xcpdaq")
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
    write_atomically(dir, &file_for(dir, &shared.epk), out)?;
    Ok(frozen.len())
}

/// Appends the CRC and writes `out` to a temporary file renamed over `path`.
fn write_atomically(dir: &Path, path: &Path, mut out: Vec<u8>) -> Result<(), Error> {
    let sum = crc(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    let tmp = path.with_extension("tmp");
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
    std::fs::rename(&tmp, path).map_err(io("renaming into", path))?;
    Ok(())
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

const DAQ_MAGIC: &[u8; 12] = b"XCPKITDAQ1\0\0";

/// One DAQ list as stored by STORE_DAQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredList {
    pub(crate) number: u16,
    /// The settable mode bits (direction, DTO_CTR, timestamp, PID_OFF).
    pub(crate) mode: u8,
    pub(crate) event: u16,
    pub(crate) prescaler: u8,
    pub(crate) odts: Vec<Vec<xcp_proto::OdtEntry>>,
}

/// A stored DAQ configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredDaq {
    pub(crate) config_id: u16,
    pub(crate) resume: bool,
    pub(crate) lists: Vec<StoredList>,
}

/// Writes a DAQ configuration for the slave's EPK.
pub(crate) fn store_daq(dir: &Path, epk: &str, daq: &StoredDaq) -> Result<(), Error> {
    let mut out = Vec::new();
    out.extend_from_slice(DAQ_MAGIC);
    out.extend_from_slice(&u32::try_from(epk.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(epk.as_bytes());
    out.extend_from_slice(&daq.config_id.to_le_bytes());
    out.push(u8::from(daq.resume));
    out.extend_from_slice(&u16::try_from(daq.lists.len()).unwrap_or(0).to_le_bytes());
    for l in &daq.lists {
        out.extend_from_slice(&l.number.to_le_bytes());
        out.push(l.mode);
        out.extend_from_slice(&l.event.to_le_bytes());
        out.push(l.prescaler);
        out.push(u8::try_from(l.odts.len()).unwrap_or(0));
        for odt in &l.odts {
            out.push(u8::try_from(odt.len()).unwrap_or(0));
            for e in odt {
                out.extend_from_slice(&[e.bit_offset, e.size, e.addr.ext]);
                out.extend_from_slice(&e.addr.addr.to_le_bytes());
            }
        }
    }
    write_atomically(dir, &daq_file_for(dir, epk), out)
}

/// Deletes the stored DAQ configuration (no file is fine).
pub(crate) fn clear_daq(dir: &Path, epk: &str) -> Result<(), Error> {
    let path = daq_file_for(dir, epk);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            context: "deleting",
            path,
            source,
        }),
    }
}

/// Reads the stored DAQ configuration: `Ok(None)` without a file, `Err` with what is wrong
/// when the file is damaged, truncated or belongs to another EPK.
pub(crate) fn load_daq(dir: &Path, epk: &str) -> Result<Option<StoredDaq>, Error> {
    let path = daq_file_for(dir, epk);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                context: "reading",
                path,
                source,
            });
        }
    };
    parse_daq(&data, epk).map(Some).map_err(|why| {
        Error::Config(format!(
            "stored DAQ configuration {}: {why}",
            path.display()
        ))
    })
}

fn parse_daq(data: &[u8], epk: &str) -> Result<StoredDaq, String> {
    let body_len = data
        .len()
        .checked_sub(4)
        .ok_or("file shorter than its checksum")?;
    let (body, sum) = data.split_at(body_len);
    if crc(body).to_le_bytes() != sum {
        return Err("checksum mismatch (truncated or damaged file)".into());
    }
    let mut r = Reader(body);
    if r.take(12) != Some(DAQ_MAGIC) {
        return Err("not an xcpkit DAQ file (bad magic)".into());
    }
    let file_epk = r.u32().and_then(|n| r.take(n)).ok_or("truncated EPK")?;
    if file_epk != epk.as_bytes() {
        return Err(format!(
            "EPK {:?} in the file differs from the slave's {epk:?}",
            String::from_utf8_lossy(file_epk)
        ));
    }
    let truncated = || "truncated list".to_owned();
    let config_id = r.u16().ok_or("truncated header")?;
    let resume = r.take(1).ok_or("truncated header")?[0] != 0;
    let count = r.u16().ok_or("truncated header")?;
    let mut lists = Vec::new();
    for _ in 0..count {
        let number = r.u16().ok_or_else(truncated)?;
        let h = r.take(4).ok_or_else(truncated)?;
        let (mode, event, prescaler, odt_count) = (
            h[0],
            u16::from_le_bytes([h[1], h[2]]),
            h[3],
            r.take(1).ok_or_else(truncated)?[0],
        );
        let mut odts = Vec::new();
        for _ in 0..odt_count {
            let n = r.take(1).ok_or_else(truncated)?[0];
            let mut entries = Vec::new();
            for _ in 0..n {
                let e = r.take(7).ok_or_else(truncated)?;
                entries.push(xcp_proto::OdtEntry {
                    bit_offset: e[0],
                    size: e[1],
                    addr: xcp_proto::Address::new(
                        e[2],
                        u32::from_le_bytes([e[3], e[4], e[5], e[6]]),
                    ),
                });
            }
            odts.push(entries);
        }
        lists.push(StoredList {
            number: u16::try_from(number).map_err(|_| truncated())?,
            mode,
            event,
            prescaler,
            odts,
        });
    }
    Ok(StoredDaq {
        config_id: u16::try_from(config_id).map_err(|_| "bad configuration id".to_owned())?,
        resume,
        lists,
    })
}
