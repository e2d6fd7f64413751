//! Import of pyXCP's `.xmraw` recordings, so pyXCP users can bring their measurements over.
//!
//! The layout, as pyXCP 0.29 writes it (all integers little-endian, structures packed):
//!
//! ```text
//! file      = magic "ASAMINT::XCP_RAW" header [metadata] container*
//! header    = hdr_size:u16 (54) version:u16 (0x0100) options:u16 containers:u64 records:u64
//!             bytes_compressed:u64 bytes_uncompressed:u64
//! metadata  = (options & 0x0004) length:u64 bytes   pyXCP's serialised measurement parameters
//! container = records:u32 compressed:u32 uncompressed:u32 LZ4 block of `compressed` bytes
//! record    = category:u8 counter:u16 timestamp_ns:u64 length:u16 payload
//! ```
//!
//! The header's counts are rewritten only when pyXCP's writer grows or closes the file, so after
//! a crash they are stale; the importer walks the containers past them and says how many it
//! found. The metadata (written by pyXCP's `DaqRecorder`) holds the DAQ layout: the slave's byte
//! order, identification field, timestamp size and tick, and per list the ODTs as pyXCP packed
//! them. It becomes the recording's metadata, so the imported file decodes and exports like a
//! native one. DAQ records become frames; the other categories (commands, responses, events)
//! are counted.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::error::Error;
use crate::source::{Chunk, ChunkOut, ChunkWorker, OnChunkOut, OnFrame, Source};
use crate::writer::{Recorder, WriterOptions};

/// The file magic.
pub const MAGIC: &[u8; 16] = b"ASAMINT::XCP_RAW";
const HEADER_LEN: usize = 38;
const VERSION: u16 = 0x0100;
const HAS_METADATA: u16 = 0x0004;
const RELATIVE_TIMESTAMPS: u16 = 0x0002;
const CONTAINER_LEN: usize = 12;
const RECORD_HEADER_LEN: usize = 13;
/// pyXCP's frame categories; DAQ is the one recorded.
const CATEGORIES: [&str; 8] = ["META", "CMD", "RES", "ERR", "EV", "SERV", "DAQ", "STIM"];
const DAQ: u8 = 6;
/// Bounds on what a damaged file can make the importer allocate.
const MAX_CONTAINER: u32 = 256 << 20;
const MAX_METADATA: u64 = 64 << 20;

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Format version (0x0100).
    pub version: u16,
    /// Option bits (0x0002 relative timestamps, 0x0004 metadata present).
    pub options: u16,
    /// Containers, as last written by pyXCP.
    pub containers: u64,
    /// Records, as last written.
    pub records: u64,
    /// Compressed bytes, as last written.
    pub bytes_compressed: u64,
    /// Uncompressed bytes, as last written.
    pub bytes_uncompressed: u64,
}

/// What an import found and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Import {
    /// The header as found.
    pub header: Header,
    /// Containers read intact.
    pub containers: u64,
    /// Of those, how many lie beyond the header's count (a recording pyXCP never closed).
    pub beyond_header: u64,
    /// DAQ frames written to the recording.
    pub daq_frames: u64,
    /// Records of the other categories, by category number (not written).
    pub other: [u64; 8],
    /// Damaged containers skipped: (index, byte offset, what is wrong).
    pub damaged: Vec<(u64, u64, String)>,
    /// Why the walk stopped before the end of the file, with the byte offset, when it did.
    pub stopped: Option<(u64, String)>,
    /// Whether the metadata carried a DAQ layout (else the frames import raw, undecodable).
    pub layout: bool,
}

impl Import {
    /// A one-line account for people.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} DAQ frames from {} container(s)",
            self.daq_frames, self.containers
        );
        let others: Vec<String> = self
            .other
            .iter()
            .zip(CATEGORIES)
            .filter(|(n, _)| **n > 0)
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        if !others.is_empty() {
            s.push_str(&format!(" ({} records not imported)", others.join(", ")));
        }
        if self.beyond_header > 0 {
            s.push_str(&format!(
                "; {} container(s) beyond the header's count of {} salvaged (pyXCP did not close the file)",
                self.beyond_header, self.header.containers
            ));
        }
        for (i, at, why) in &self.damaged {
            s.push_str(&format!("; container {i} at byte {at} damaged: {why}"));
        }
        if let Some((at, why)) = &self.stopped {
            s.push_str(&format!("; stopped at byte {at}: {why}"));
        }
        if !self.layout {
            s.push_str("; no DAQ layout in the file, frames are raw");
        }
        s
    }
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Reads as much of `buf` as the file holds; the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What the container walk hands every record to: category, time, payload; `Ok(false)` stops.
type OnRecord<'a> = dyn FnMut(u8, u64, &[u8]) -> Result<bool, Error> + 'a;

/// An `.xmraw` opened: its header and metadata read, positioned at the first container.
struct Opened {
    header: Header,
    meta: Json,
    layout: bool,
    reader: BufReader<File>,
    offset: u64,
    file_len: u64,
}

fn open(input: &Path) -> Result<Opened, Error> {
    let not = |reason: String| Error::NotARecording {
        path: input.to_owned(),
        reason,
    };
    let file = File::open(input).map_err(io(input, "open"))?;
    let file_len = file
        .metadata()
        .map_err(io(input, "read the size of"))
        .map(|m| m.len())?;
    // A small buffer for the headers: a container (tens to hundreds of KiB) is then read
    // past it, straight into its own buffer, not copied through this one.
    let mut r = BufReader::with_capacity(16 << 10, file);
    let mut head = [0u8; 16 + HEADER_LEN];
    let n = read_full(&mut r, &mut head).map_err(io(input, "read"))?;
    if n < head.len() || &head[..16] != MAGIC {
        return Err(not(format!(
            "no pyXCP .xmraw header (magic \"ASAMINT::XCP_RAW\" and {HEADER_LEN} header bytes)"
        )));
    }
    let h = &head[16..];
    if usize::from(u16_le(h, 0)) != head.len() {
        return Err(not(format!(
            "header size {} where pyXCP writes {}",
            u16_le(h, 0),
            head.len()
        )));
    }
    let header = Header {
        version: u16_le(h, 2),
        options: u16_le(h, 4),
        containers: u64_le(h, 6),
        records: u64_le(h, 14),
        bytes_compressed: u64_le(h, 22),
        bytes_uncompressed: u64_le(h, 30),
    };
    if header.version != VERSION {
        return Err(not(format!(
            "format version {:#06x}; the importer reads {VERSION:#06x}",
            header.version
        )));
    }
    let mut offset = head.len() as u64;
    let mut daq = None;
    if header.options & HAS_METADATA != 0 {
        let mut len = [0u8; 8];
        if read_full(&mut r, &mut len).map_err(io(input, "read"))? < 8 {
            return Err(not("the file ends inside the metadata length".into()));
        }
        let len = u64::from_le_bytes(len);
        if len > MAX_METADATA || offset + 8 + len > file_len {
            return Err(not(format!(
                "metadata of {len} bytes at byte {offset} does not fit the file"
            )));
        }
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        r.read_exact(&mut bytes).map_err(io(input, "read"))?;
        daq = Some(
            parse_parameters(&bytes)
                .map_err(|e| not(format!("pyXCP metadata at byte {}: {e}", offset + 8)))?,
        );
        offset += 8 + len;
    }
    let layout = daq.is_some();
    let meta = json!({
        "format": "xcpkit recording 1",
        "created_unix_ns": daq.as_ref().map(|d| d["start_ns"].clone()),
        "slave": {"transport": format!("imported from pyXCP {}", input.display()), "epk": null},
        "source": {
            "format": "pyXCP .xmraw",
            "file": input.display().to_string(),
            "version": header.version,
            "relative_timestamps": header.options & RELATIVE_TIMESTAMPS != 0,
        },
        "daq": daq.map_or(Json::Null, |mut d| {
            if let Some(o) = d.as_object_mut() {
                o.remove("start_ns");
            }
            d
        }),
    });
    Ok(Opened {
        header,
        meta,
        layout,
        reader: r,
        offset,
        file_len,
    })
}

/// What [`walk`] hands every intact container to: its decompressed records (the callee may
/// swap the buffer for another, whose contents are then overwritten) and their count; it
/// returns whether to go on.
type OnContainer<'a> = dyn FnMut(&mut Vec<u8>, u32) -> Result<bool, Error> + 'a;

/// A container as read from the file, before it is decompressed and checked.
struct Packed {
    index: u64,
    offset: u64,
    /// Beyond the header's container count.
    past: bool,
    records: u32,
    size: u32,
    bytes: Vec<u8>,
}

/// What becomes of a container once checked.
enum Verdict {
    /// Intact: its records go on.
    Good,
    /// Damaged within the header's count: skipped.
    Skip,
    /// Damaged beyond the header's count: where the writer died; the walk ends.
    Stop,
}

impl Import {
    fn new(o: &Opened) -> Self {
        Self {
            header: o.header,
            layout: o.layout,
            ..Self::default()
        }
    }

    /// Counts container `p` as `checked` found it (its records per category, or what is
    /// wrong with it).
    fn account(&mut self, p: &Packed, checked: Result<[u64; 8], String>) -> Verdict {
        match checked {
            Ok(counts) => {
                self.containers += 1;
                self.beyond_header += u64::from(p.past);
                self.daq_frames += counts[usize::from(DAQ)];
                for (o, c) in self.other.iter_mut().zip(counts) {
                    *o += c;
                }
                self.other[usize::from(DAQ)] = 0;
                Verdict::Good
            }
            Err(why) if p.past => {
                self.stopped = Some((p.offset, why));
                Verdict::Stop
            }
            Err(why) => {
                self.damaged.push((p.index, p.offset, why));
                Verdict::Skip
            }
        }
    }
}

/// Decompresses container `p` into `raw` and checks that its records add up; its records per
/// category.
fn verify(p: &Packed, raw: &mut Vec<u8>) -> Result<[u64; 8], String> {
    raw.resize(p.size as usize, 0);
    match lz4_flex::block::decompress_into(&p.bytes, raw) {
        Ok(n) if n == raw.len() => check_records(raw, p.records),
        Ok(n) => Err(format!("decompresses to {n} bytes, not {}", p.size)),
        Err(e) => Err(format!("does not decompress: {e}")),
    }
}

/// Reads the containers of `o` as stored, handing each to `each` until it says stop; `fresh`
/// gives the buffer to read the next one into. Why the file's containers ended before its
/// end, with the byte offset, when they did (`None` when `each` said stop).
fn read_packed(
    o: &mut Opened,
    path: &Path,
    each: &mut dyn FnMut(Packed) -> Result<bool, Error>,
    fresh: &mut dyn FnMut() -> Vec<u8>,
) -> Result<Option<(u64, String)>, Error> {
    let header = o.header;
    let mut index = 0u64;
    loop {
        let mut c = [0u8; CONTAINER_LEN];
        let got = read_full(&mut o.reader, &mut c).map_err(io(path, "read"))?;
        if got == 0 {
            return Ok(None);
        }
        let (records, stored, size) = (u32_le(&c, 0), u32_le(&c, 4), u32_le(&c, 8));
        let past = index >= header.containers;
        let stop = if got < CONTAINER_LEN {
            Some("the file ends inside a container header".to_owned())
        } else if records == 0 && stored == 0 && size == 0 {
            // pyXCP's pre-allocated, never-written tail.
            (!past).then(|| "an empty container header where the header counts more".to_owned())
        } else if records == 0 || stored == 0 || stored > MAX_CONTAINER || size > MAX_CONTAINER {
            Some(format!(
                "implausible container header ({records} records, {stored} bytes stored, {size} bytes raw)"
            ))
        } else if o.offset + (CONTAINER_LEN as u64) + u64::from(stored) > o.file_len {
            Some(format!(
                "container {index} needs {stored} bytes, the file ends first"
            ))
        } else {
            None
        };
        if let Some(why) = stop {
            return Ok(Some((o.offset, why)));
        }
        if records == 0 {
            return Ok(None);
        }
        let mut bytes = fresh();
        bytes.resize(stored as usize, 0);
        o.reader.read_exact(&mut bytes).map_err(io(path, "read"))?;
        let p = Packed {
            index,
            offset: o.offset,
            past,
            records,
            size,
            bytes,
        };
        o.offset += (CONTAINER_LEN as u64) + u64::from(stored);
        index += 1;
        if !each(p)? {
            return Ok(None);
        }
    }
}

/// Reads, decompresses and checks the containers of `o`, handing each intact one to `good`
/// until it says stop; what was found.
fn walk(o: &mut Opened, path: &Path, good: &mut OnContainer<'_>) -> Result<Import, Error> {
    let mut out = Import::new(o);
    let mut raw = Vec::new();
    // The buffer of the last container read, for the next.
    let packed = std::cell::Cell::new(Vec::new());
    let stop = read_packed(
        o,
        path,
        &mut |mut p| {
            let checked = verify(&p, &mut raw);
            packed.set(std::mem::take(&mut p.bytes));
            match out.account(&p, checked) {
                Verdict::Good => good(&mut raw, p.records),
                Verdict::Skip => Ok(true),
                Verdict::Stop => Ok(false),
            }
        },
        &mut || packed.take(),
    )?;
    if out.stopped.is_none() {
        out.stopped = stop;
    }
    Ok(out)
}

/// Hands the records of one checked container to `each(category, timestamp_ns, payload)`;
/// whether it wants more.
fn records_of(raw: &[u8], records: u32, each: &mut OnRecord<'_>) -> Result<bool, Error> {
    let mut pos = 0;
    for _ in 0..records {
        // `check_records` passed: every record lies inside `raw`.
        let h = &raw[pos..pos + RECORD_HEADER_LEN];
        let len = usize::from(u16_le(h, 11));
        let payload = &raw[pos + RECORD_HEADER_LEN..pos + RECORD_HEADER_LEN + len];
        if !each(h[0], u64_le(h, 3), payload)? {
            return Ok(false);
        }
        pos += RECORD_HEADER_LEN + len;
    }
    Ok(true)
}

/// Hands the DAQ records of one checked container to `each(timestamp_ns, payload)`.
pub(crate) fn daq_records(raw: &[u8], records: u32, each: &mut impl FnMut(u64, &[u8])) {
    let mut pos = 0;
    for _ in 0..records {
        // A checked container's records lie inside `raw`; `get` keeps a wrong caller from
        // panicking.
        let Some(h) = raw.get(pos..pos + RECORD_HEADER_LEN) else {
            return;
        };
        let end = pos + RECORD_HEADER_LEN + usize::from(u16_le(h, 11));
        let Some(payload) = raw.get(pos + RECORD_HEADER_LEN..end) else {
            return;
        };
        if h[0] == DAQ {
            each(u64_le(h, 3), payload);
        }
        pos = end;
    }
}

/// Walks the containers of `o`, handing every record to `each(category, timestamp_ns,
/// payload)` until it returns `Ok(false)`; what was found.
fn containers(o: &mut Opened, path: &Path, each: &mut OnRecord<'_>) -> Result<Import, Error> {
    walk(o, path, &mut |raw, records| records_of(raw, records, each))
}

/// Containers in flight between the reading thread and the caller's.
const PIPELINE: usize = 4;

/// As [`containers`], to the end of the file, with reading, decompressing and checking on a
/// thread of their own: the caller's thread only walks records. The buffers go back to the
/// reading thread, so at most [`PIPELINE`] + 2 containers are in memory.
fn containers_pipelined(
    mut o: Opened,
    path: &Path,
    each: &mut OnRecord<'_>,
) -> Result<Import, Error> {
    let (full, filled) = std::sync::mpsc::sync_channel::<(Vec<u8>, u32)>(PIPELINE);
    let (back, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE + 1);
    std::thread::scope(|scope| {
        let reading = std::thread::Builder::new()
            .name("xmraw-read".into())
            .spawn_scoped(scope, move || {
                walk(&mut o, path, &mut |raw, records| {
                    let mut next = spare.try_recv().unwrap_or_default();
                    std::mem::swap(raw, &mut next);
                    // A closed channel: the caller stopped (its error is the one reported).
                    Ok(full.send((next, records)).is_ok())
                })
            })
            .map_err(io(path, "start a reading thread for"))?;
        let mut walked = Ok(());
        for (raw, records) in filled.iter() {
            match records_of(&raw, records, each) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    walked = Err(e);
                    break;
                }
            }
            // Full only if the reader stopped taking spares; then the buffer is dropped.
            let _ = back.try_send(raw);
        }
        drop(filled);
        let found = reading
            .join()
            .map_err(|_| Error::Meta(format!("the thread reading {} panicked", path.display())))?;
        walked?;
        found
    })
}

/// What a checking thread of [`containers_mapped`] makes of an intact container: its records
/// (the buffer may be swapped for another) and their count.
type ContainerWork<'a, T> = Box<dyn FnMut(&mut Vec<u8>, u32) -> T + Send + 'a>;

/// Reads the containers of `o` on a thread of its own; decompresses and checks them on one
/// thread per worker (containers dealt out in turn), where the worker then makes what it
/// makes of each intact one while it is in that thread's cache; and hands the results to
/// `each` on the calling thread, in file order, until it says stop. Damage is counted in file
/// order too, so the result is [`walk`]'s. A bounded number of containers is in flight.
fn containers_mapped<T: Send>(
    mut o: Opened,
    path: &Path,
    workers: Vec<ContainerWork<'_, T>>,
    each: &mut dyn FnMut(T) -> Result<bool, Error>,
) -> Result<Import, Error> {
    type Checked<T> = (Packed, Result<[u64; 8], String>, Option<T>);
    let mut out = Import::new(&o);
    let (packed_back, packed_spare) =
        std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE * workers.len().max(1));
    std::thread::scope(|scope| {
        let (mut to_check, mut checked) = (Vec::new(), Vec::new());
        for mut work in workers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Packed>(PIPELINE / 2);
            let (done_tx, done) = std::sync::mpsc::sync_channel::<Checked<T>>(PIPELINE / 2);
            let packed_back = packed_back.clone();
            std::thread::Builder::new()
                .name("xmraw-check".into())
                .spawn_scoped(scope, move || {
                    let mut raw = Vec::new();
                    for mut p in rx {
                        let result = verify(&p, &mut raw);
                        let _ = packed_back.try_send(std::mem::take(&mut p.bytes));
                        let made = result.is_ok().then(|| work(&mut raw, p.records));
                        // A closed channel: the caller stopped.
                        if done_tx.send((p, result, made)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(io(path, "start a checking thread for"))?;
            to_check.push(tx);
            checked.push(done);
        }
        drop(packed_back);
        if to_check.is_empty() {
            return Err(Error::Meta("no container workers".into()));
        }
        let reading = std::thread::Builder::new()
            .name("xmraw-read".into())
            .spawn_scoped(scope, move || {
                let mut n = 0;
                read_packed(
                    &mut o,
                    path,
                    &mut |p| {
                        let sent = to_check[n % to_check.len()].send(p).is_ok();
                        n += 1;
                        // A closed channel: the caller stopped (its error is the one reported).
                        Ok(sent)
                    },
                    &mut || packed_spare.try_recv().unwrap_or_default(),
                )
            })
            .map_err(io(path, "start a reading thread for"))?;
        let mut walked = Ok(());
        let mut to_the_end = true;
        for i in 0.. {
            let Ok((p, result, made)) = checked[i % checked.len()].recv() else {
                break;
            };
            let keep = match (out.account(&p, result), made) {
                (Verdict::Good, Some(made)) => each(made).unwrap_or_else(|e| {
                    walked = Err(e);
                    false
                }),
                (Verdict::Stop, _) => false,
                _ => true,
            };
            if !keep {
                to_the_end = false;
                break;
            }
        }
        // The reader and the checkers end once their channels close.
        drop(checked);
        let stop = reading
            .join()
            .map_err(|_| Error::Meta(format!("the thread reading {} panicked", path.display())))?;
        walked?;
        let stop = stop?;
        if to_the_end && out.stopped.is_none() {
            out.stopped = stop;
        }
        Ok(out)
    })
}

/// How long an import waits for the writer to take a chunk before it counts the chunk as
/// dropped (and fails): a writer that makes no progress for this long is stuck.
pub const IMPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Imports `input` (a pyXCP `.xmraw`) into a native recording at `output`.
///
/// # Errors
/// [`Error::NotARecording`] when `input` is not an `.xmraw` or its header or metadata cannot be
/// read; [`Error::Io`] when a file cannot be read or written. Damaged containers are skipped and
/// reported in [`Import::damaged`], not errors.
///
/// A copy has no live source to keep up with: the import waits for the writer at least
/// [`IMPORT_WAIT`] per chunk (not `options.wait_when_full`, which is for live recordings), and
/// fails if frames are dropped all the same.
pub fn import(input: &Path, output: &Path, options: WriterOptions) -> Result<Import, Error> {
    let o = open(input)?;
    let options = WriterOptions {
        wait_when_full: options.wait_when_full.max(IMPORT_WAIT),
        ..options
    };
    let mut rec = Recorder::create(output, &o.meta, options)?;
    let out = containers_pipelined(o, input, &mut |category, ts, payload| {
        if category == DAQ {
            rec.push(ts, payload);
        }
        Ok(true)
    })?;
    let s = rec.close()?;
    if s.dropped_frames > 0 {
        return Err(Error::Meta(format!(
            "{} frames could not be written to {}",
            s.dropped_frames,
            output.display()
        )));
    }
    Ok(out)
}

/// A pyXCP `.xmraw` read in place as a [`Source`]: the exports convert it without an
/// intermediate recording. Every pass re-reads the file.
#[derive(Debug)]
pub struct XmrawSource {
    path: std::path::PathBuf,
    meta: Json,
    first_ns: Option<u64>,
    last: Option<Import>,
}

impl XmrawSource {
    /// Opens `path`, reading its header, its metadata and its first DAQ frame's time.
    ///
    /// # Errors
    /// As [`import`].
    pub fn open(path: &Path) -> Result<Self, Error> {
        let mut o = open(path)?;
        let mut first_ns = None;
        containers(&mut o, path, &mut |category, ts, _| {
            if category == DAQ {
                first_ns = Some(ts);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(Self {
            path: path.to_owned(),
            meta: o.meta,
            first_ns,
            last: None,
        })
    }

    /// What the last pass found (containers, other records, damage, salvage).
    pub const fn last_pass(&self) -> Option<&Import> {
        self.last.as_ref()
    }
}

impl Source for XmrawSource {
    fn meta(&self) -> &Json {
        &self.meta
    }

    fn first_ns(&self) -> Option<u64> {
        self.first_ns
    }

    fn map_chunks(
        &mut self,
        workers: Vec<Box<dyn ChunkWorker + '_>>,
        each: &mut OnChunkOut<'_>,
    ) -> Result<u64, Error> {
        let o = open(&self.path)?;
        let workers = workers
            .into_iter()
            .map(|mut w| {
                Box::new(move |raw: &mut Vec<u8>, records: u32| {
                    // The container is the chunk; its buffer stays with this thread.
                    let chunk = Chunk::xmraw(std::mem::take(raw), records);
                    let out = w.run(&chunk);
                    *raw = chunk.into_buffer();
                    out
                }) as ContainerWork<'_, ChunkOut>
            })
            .collect();
        let found = containers_mapped(o, &self.path, workers, each)?;
        let damaged = found.damaged.len() as u64;
        self.last = Some(found);
        Ok(damaged)
    }

    fn each_frame(&mut self, each: &mut OnFrame<'_>) -> Result<u64, Error> {
        let o = open(&self.path)?;
        let found = containers_pipelined(o, &self.path, &mut |category, ts, payload| {
            if category == DAQ {
                each(ts, payload)?;
            }
            Ok(true)
        })?;
        let damaged = found.damaged.len() as u64;
        self.last = Some(found);
        Ok(damaged)
    }
}

/// Checks the records of one container add up; the records per category. A container whose
/// records do not add up is refused whole, so no frame of a damaged container is delivered
/// twice or half.
fn check_records(raw: &[u8], records: u32) -> Result<[u64; 8], String> {
    let mut counts = [0u64; 8];
    let mut pos = 0;
    for i in 0..records {
        let Some(h) = raw.get(pos..pos + RECORD_HEADER_LEN) else {
            return Err(format!("record {i} of {records} runs past the container"));
        };
        if h[0] > 7 {
            return Err(format!("record {i} has category {}", h[0]));
        }
        counts[usize::from(h[0])] += 1;
        pos += RECORD_HEADER_LEN + usize::from(u16_le(h, 11));
        if pos > raw.len() {
            return Err(format!("record {i} of {records} runs past the container"));
        }
    }
    if pos != raw.len() {
        return Err(format!(
            "{} bytes left over after {records} records",
            raw.len() - pos
        ));
    }
    Ok(counts)
}

/// A bounds-checked reader of pyXCP's serialised parameters.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        let s = self
            .b
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or_else(|| format!("ends inside {what} at byte {}", self.pos))?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16_le(self.take(2, what)?, 0))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32_le(self.take(4, what)?, 0))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64_le(self.take(8, what)?, 0))
    }
    fn f64(&mut self, what: &str) -> Result<f64, String> {
        Ok(f64::from_bits(self.u64(what)?))
    }
    fn count(&mut self, what: &str) -> Result<usize, String> {
        let n = self.u64(what)?;
        // Every counted item takes at least one byte, so a count beyond the bytes left is damage.
        if n > (self.b.len() - self.pos) as u64 {
            return Err(format!("{what} count {n} exceeds the metadata"));
        }
        Ok(usize::try_from(n).unwrap_or(0))
    }
    fn str(&mut self, what: &str) -> Result<String, String> {
        let n = self.count(what)?;
        Ok(String::from_utf8_lossy(self.take(n, what)?).into_owned())
    }
}

/// One measurement object as pyXCP serialises it: a name, address, extension, length, type
/// name, type index and components (the measurements an optimised ODT entry covers).
#[derive(Debug, Clone)]
struct McObject {
    name: String,
    address: u32,
    ext: u8,
    length: u16,
    data_type: String,
    components: Vec<Self>,
}

fn mc_object(c: &mut Cursor<'_>, depth: u32) -> Result<McObject, String> {
    if depth > 4 {
        return Err("measurement components nest too deep".into());
    }
    let name = c.str("a measurement name")?;
    let address = c.u32("an address")?;
    let ext = c.u8("an address extension")?;
    let length = c.u16("a length")?;
    let data_type = c.str("a type name")?;
    let _type_index = c.u16("a type index")?;
    let n = c.count("components")?;
    let mut components = Vec::with_capacity(n);
    for _ in 0..n {
        components.push(mc_object(c, depth + 1)?);
    }
    Ok(McObject {
        name,
        address,
        ext,
        length,
        data_type,
        components,
    })
}

fn element_size(t: &str) -> Option<usize> {
    Some(match t {
        "U8" | "I8" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// pyXCP's serialised measurement parameters as the recording's `daq` metadata (with the
/// start time under `start_ns`).
fn parse_parameters(b: &[u8]) -> Result<Json, String> {
    let mut c = Cursor { b, pos: 0 };
    let byte_order = if c.u8("the byte order")? == 0 {
        "Intel"
    } else {
        "Motorola"
    };
    let id_field = match c.u8("the identification field size")? {
        1 => "AbsoluteOdt",
        2 => "RelativeOdtDaqByte",
        3 => "RelativeOdtDaqWord",
        4 => "RelativeOdtDaqWordAligned",
        n => return Err(format!("identification field of {n} bytes")),
    };
    let ts_supported = c.u8("flags")? != 0;
    let ts_fixed = c.u8("flags")? != 0;
    let _prescaler = c.u8("flags")?;
    let selectable = c.u8("flags")? != 0;
    let tick_ns = c.f64("the timestamp factor")?;
    let ts_size = c.u8("the timestamp size")?;
    if ![0, 1, 2, 4].contains(&ts_size) {
        return Err(format!("timestamp of {ts_size} bytes"));
    }
    let min_daq = c.u16("MIN_DAQ")?;
    let lists = c.count("DAQ lists")?;
    let start_ns = c.u64("the start time")?;
    let timezone = c.str("the time zone")?;
    let _utc_offset = c.u16("the UTC offset")?;
    let _dst_offset = c.u16("the DST offset")?;
    let _event_cycle = c.u64("the event cycle")?;
    let mut out = Vec::new();
    let mut all_dynamic = true;
    for li in 0..lists {
        let kind = c.u8("a DAQ list kind")?;
        if kind != 1 && kind != 2 {
            return Err(format!("DAQ list {li} of kind {kind}"));
        }
        all_dynamic &= kind == 1;
        let name = c.str("a DAQ list name")?;
        let event = c.u16("an event number")?;
        let _stim = c.u8("the STIM flag")?;
        let timestamps = c.u8("the timestamp flag")? != 0;
        let _priority = c.u8("a priority")?;
        let prescaler = c.u8("a prescaler")?;
        let packed_mode = c.u8("the packed mode")?;
        let _packed_ts = c.u8("the packed timestamp mode")?;
        let _packed_samples = c.u16("the packed sample count")?;
        let _odt_count = c.u16("the ODT count")?;
        let _entries = c.u16("the entry count")?;
        let _length = c.u16("the list length")?;
        let mut requested = Vec::new();
        if kind == 1 {
            for _ in 0..c.count("measurements")? {
                requested.push(mc_object(&mut c, 0)?);
            }
        }
        let mut bins = Vec::new();
        for _ in 0..c.count("ODTs")? {
            let _size = c.u16("an ODT size")?;
            let _residual = c.u16("an ODT's free space")?;
            let mut entries = Vec::new();
            for _ in 0..c.count("ODT entries")? {
                entries.push(mc_object(&mut c, 0)?);
            }
            bins.push(entries);
        }
        for _ in 0..c.count("header names")? {
            let _ = c.str("a header name")?;
        }
        out.push((
            name,
            event,
            timestamps,
            prescaler,
            packed_mode,
            requested,
            bins,
        ));
    }
    let first_pids: Vec<u16> = (0..c.count("first PIDs")?)
        .map(|_| c.u16("a first PID"))
        .collect::<Result<_, _>>()?;
    let first = if all_dynamic { min_daq } else { 0 };
    let mut lists_json = Vec::new();
    for (i, (name, event, ts_flag, prescaler, packed, requested, bins)) in
        out.into_iter().enumerate()
    {
        let signals_of = |o: &McObject| -> Vec<McObject> {
            if o.components.is_empty() {
                vec![o.clone()]
            } else {
                o.components.clone()
            }
        };
        // Columns in the order the user asked for them, then whatever the ODTs add.
        let mut columns: Vec<McObject> = requested.iter().flat_map(signals_of).collect();
        let mut odts = Vec::new();
        for bin in &bins {
            let mut entries = Vec::new();
            for entry in bin {
                let mut pos = 0usize;
                for s in signals_of(entry) {
                    let size = element_size(&s.data_type)
                        .ok_or_else(|| format!("{}: type {:?}", s.name, s.data_type))?;
                    let at = usize::try_from(s.address.wrapping_sub(entry.address)).unwrap_or(0);
                    if at < pos {
                        return Err(format!("{}: overlaps the entry before it", s.name));
                    }
                    if at > pos {
                        // A gap inside the entry: bytes of no signal.
                        entries.push(json!([usize::MAX, 0, at - pos]));
                    }
                    let col = match columns
                        .iter()
                        .position(|x| x.name == s.name && x.address == s.address && x.ext == s.ext)
                    {
                        Some(k) => k,
                        None => {
                            columns.push(s.clone());
                            columns.len() - 1
                        }
                    };
                    entries.push(json!([col, 0, size]));
                    pos = at + size;
                }
                let length = usize::from(entry.length);
                if length > pos {
                    entries.push(json!([usize::MAX, 0, length - pos]));
                }
            }
            odts.push(entries);
        }
        let signals: Vec<Json> = columns
            .iter()
            .map(|s| {
                json!({
                    "name": s.name, "type": s.data_type, "byte_order": byte_order, "unit": "",
                    "address": s.address, "extension": s.ext, "length": s.length,
                    "conversion": {"kind": "IDENTICAL", "name": "", "unit": ""},
                })
            })
            .collect();
        lists_json.push(json!({
            "name": name,
            "number": usize::from(first) + i,
            "event": event,
            "prescaler": prescaler,
            "first_pid": first_pids.get(i).copied().unwrap_or(0),
            "timestamps": ts_supported && (ts_fixed || (selectable && ts_flag)),
            "packed_mode": packed,
            "signals": signals,
            "odts": odts,
        }));
    }
    Ok(json!({
        "byte_order": byte_order,
        "id_field": id_field,
        "timestamp_bytes": ts_size,
        "overload_pid_msb": false,
        "tick_ns": tick_ns,
        "time_zone": timezone,
        "start_ns": start_ns,
        "lists": lists_json,
    }))
}
