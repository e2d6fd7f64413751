//! The reader: opens a recording, closed or not, finds its blocks (from the index, or by
//! walking them when the writer never closed the file), and iterates frames, skipping and
//! reporting damaged blocks.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::format::{
    BLOCK_HEADER_LEN, BLOCK_MAGIC, BlockHeader, Codec, END_MAGIC, HEADER_LEN, INDEX_ENTRY_LEN,
    INDEX_MAGIC, MAGIC, VERSION, get_varint, u32_at, u64_at,
};

/// A block the reader found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Offset of its header in the file.
    pub offset: u64,
    /// Its header.
    pub header: BlockHeader,
}

/// What could be read of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Salvage {
    /// The writer closed the file (it has its index).
    pub closed: bool,
    /// Blocks found intact.
    pub blocks: usize,
    /// Frames in them.
    pub frames: u64,
    /// Damaged regions: (offset, reason); the reader skipped them.
    pub damaged: Vec<(u64, String)>,
    /// Where an unfinished last block starts (after a crash), if there is one.
    pub truncated_at: Option<u64>,
    /// Frames the writer counted as dropped (closed files only).
    pub dropped_frames: u64,
}

/// An open recording.
#[derive(Debug)]
pub struct Reader {
    path: PathBuf,
    file: File,
    meta: serde_json::Value,
    blocks: Vec<BlockInfo>,
    salvage: Salvage,
}

fn read_exact_at(file: &mut File, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}

impl Reader {
    /// Opens `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::NotARecording`] when its header or
    /// metadata are damaged (the blocks cannot be trusted then).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let io = |what: &'static str| {
            move |source| Error::Io {
                path: path.to_owned(),
                what,
                source,
            }
        };
        let not = |reason: String| Error::NotARecording {
            path: path.to_owned(),
            reason,
        };
        let mut file = File::open(path).map_err(io("open"))?;
        let size = file.metadata().map_err(io("stat"))?.len();
        let mut head = [0u8; HEADER_LEN];
        read_exact_at(&mut file, 0, &mut head)
            .map_err(|_| not(format!("{size} bytes: shorter than the file header")))?;
        if &head[..8] != MAGIC {
            return Err(not("no XCPKREC1 magic".into()));
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        if version != VERSION {
            return Err(not(format!(
                "format version {version}; this reader knows {VERSION}"
            )));
        }
        let meta_len = u32_at(&head, 12) as usize;
        if (HEADER_LEN + meta_len) as u64 > size {
            return Err(not("the metadata runs past the end of the file".into()));
        }
        let mut meta = vec![0u8; meta_len];
        read_exact_at(&mut file, HEADER_LEN as u64, &mut meta).map_err(io("read the metadata"))?;
        if crc32fast::hash(&meta) != u32_at(&head, 16) {
            return Err(not("metadata checksum mismatch".into()));
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&meta).map_err(|e| not(format!("metadata: {e}")))?;
        let start = (HEADER_LEN + meta_len) as u64;
        let mut r = Self {
            path: path.to_owned(),
            file,
            meta,
            blocks: Vec::new(),
            salvage: Salvage::default(),
        };
        if !r.read_index(start, size)? {
            r.walk(start, size)?;
        }
        r.salvage.blocks = r.blocks.len();
        r.salvage.frames = r.blocks.iter().map(|b| u64::from(b.header.frames)).sum();
        Ok(r)
    }

    /// Reads the footer's index; `false` when there is none (an unclosed file).
    fn read_index(&mut self, start: u64, size: u64) -> Result<bool, Error> {
        if size < start + 12 {
            return Ok(false);
        }
        let mut tail = [0u8; 12];
        if read_exact_at(&mut self.file, size - 12, &mut tail).is_err() || &tail[8..] != END_MAGIC {
            return Ok(false);
        }
        let at = u64_at(&tail, 0);
        if at < start || at + 8 > size {
            return Ok(false);
        }
        let mut len = [0u8; 8];
        if read_exact_at(&mut self.file, at, &mut len).is_err() || &len[..4] != INDEX_MAGIC {
            return Ok(false);
        }
        let n = u32_at(&len, 4) as usize;
        let need = n.saturating_mul(INDEX_ENTRY_LEN);
        if at + 8 + need as u64 + 4 > size {
            return Ok(false);
        }
        let mut entries = vec![0u8; need + 4];
        if read_exact_at(&mut self.file, at + 8, &mut entries).is_err() {
            return Ok(false);
        }
        let stats_len = u32_at(&entries, need) as usize;
        let mut stats = vec![0u8; stats_len];
        if read_exact_at(&mut self.file, at + 12 + need as u64, &mut stats).is_ok()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&stats)
        {
            self.salvage.dropped_frames = v["dropped_frames"].as_u64().unwrap_or(0);
        }
        for e in entries[..need].chunks_exact(INDEX_ENTRY_LEN) {
            let offset = u64_at(e, 0);
            let mut h = [0u8; BLOCK_HEADER_LEN];
            match read_exact_at(&mut self.file, offset, &mut h)
                .ok()
                .and_then(|()| BlockHeader::decode(&h).ok())
            {
                Some(header) => self.blocks.push(BlockInfo { offset, header }),
                None => self
                    .salvage
                    .damaged
                    .push((offset, "block header damaged (listed in the index)".into())),
            }
        }
        self.salvage.closed = true;
        Ok(true)
    }

    /// Walks the blocks from `start`, resynchronising on the block magic after damage.
    fn walk(&mut self, start: u64, size: u64) -> Result<(), Error> {
        let mut pos = start;
        let mut h = [0u8; BLOCK_HEADER_LEN];
        while pos < size {
            if pos + BLOCK_HEADER_LEN as u64 > size {
                self.salvage.truncated_at = Some(pos);
                break;
            }
            read_exact_at(&mut self.file, pos, &mut h).map_err(|source| Error::Io {
                path: self.path.clone(),
                what: "read a block header",
                source,
            })?;
            match BlockHeader::decode(&h) {
                Ok(header) => {
                    let end = pos + BLOCK_HEADER_LEN as u64 + u64::from(header.stored_len);
                    if end > size {
                        self.salvage.truncated_at = Some(pos);
                        break;
                    }
                    self.blocks.push(BlockInfo {
                        offset: pos,
                        header,
                    });
                    pos = end;
                }
                Err(reason) => {
                    // The index of a closed file that lost its end magic starts like this.
                    if &h[..4] == INDEX_MAGIC {
                        break;
                    }
                    let next = self.find_magic(pos + 1, size)?;
                    self.salvage.damaged.push((pos, reason.to_owned()));
                    match next {
                        Some(n) => pos = n,
                        None => break,
                    }
                }
            }
        }
        Ok(())
    }

    fn find_magic(&mut self, from: u64, size: u64) -> Result<Option<u64>, Error> {
        let mut buf = vec![0u8; 1 << 16];
        let mut at = from;
        while at < size {
            let n = usize::try_from(size - at)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            read_exact_at(&mut self.file, at, &mut buf[..n]).map_err(|source| Error::Io {
                path: self.path.clone(),
                what: "search for the next block",
                source,
            })?;
            if let Some(i) = buf[..n].windows(4).position(|w| w == BLOCK_MAGIC) {
                return Ok(Some(at + i as u64));
            }
            if n < 4 {
                break;
            }
            at += (n - 3) as u64;
        }
        Ok(None)
    }

    /// The recording's metadata.
    pub const fn meta(&self) -> &serde_json::Value {
        &self.meta
    }

    /// The blocks found, in file order.
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.blocks
    }

    /// What was readable.
    pub const fn salvage(&self) -> &Salvage {
        &self.salvage
    }

    /// The first and last host time of the frames, if any.
    pub fn time_span(&self) -> Option<(u64, u64)> {
        let first = self.blocks.first()?.header.first_ns;
        let last = self.blocks.iter().map(|b| b.header.last_ns).max()?;
        Some((first, last))
    }

    /// Index of the first block that may hold frames at or after `ns`.
    pub fn block_at(&self, ns: u64) -> usize {
        self.blocks.partition_point(|b| b.header.last_ns < ns)
    }

    /// Reads and checks block `i`, and returns its raw frames.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the block and offset when its payload fails its checksum or
    /// does not decompress.
    pub fn block(&mut self, i: usize) -> Result<Vec<u8>, Error> {
        let (mut stored, mut raw) = (Vec::new(), Vec::new());
        self.block_into(i, &mut stored, &mut raw)?;
        Ok(raw)
    }

    /// As [`Reader::block`], into `raw`, with `stored` for the compressed bytes: both are
    /// reused, so reading block after block allocates nothing once they have grown.
    fn block_into(
        &mut self,
        i: usize,
        stored: &mut Vec<u8>,
        raw: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let b = *self.blocks.get(i).ok_or_else(|| Error::Corrupt {
            block: i,
            offset: 0,
            reason: "no such block".into(),
        })?;
        load_block(&mut self.file, i, b, stored, raw)
    }

    /// Every frame, in order: `(host_ns, bytes)`; damaged blocks yield their error once and
    /// are skipped.
    ///
    /// A recording of several blocks is read ahead on a thread of its own, which reads,
    /// checks and decompresses the next blocks (at most two ahead) while the
    /// caller takes the frames of this one; where that thread cannot be started, blocks are
    /// read here as they are reached.
    pub fn frames(&mut self) -> Frames<'_> {
        self.frames_from(0)
    }

    /// The frames at or after host time `ns`, in order, as [`Reader::frames`] gives them: the
    /// blocks before the one that holds `ns` are not read (the index finds it by binary
    /// search), and that block's earlier frames are passed over.
    pub fn frames_from(&mut self, ns: u64) -> Frames<'_> {
        let first = self.block_at(ns);
        let ahead = if self.blocks.len().saturating_sub(first) > 1 {
            ReadAhead::start(&self.file, &self.blocks, first)
        } else {
            None
        };
        Frames {
            reader: self,
            block: first,
            stored: Vec::new(),
            raw: Vec::new(),
            pos: 0,
            left: 0,
            ns: 0,
            from: ns,
            ahead,
        }
    }
}

/// Blocks read ahead: waiting, and more being read, at most this many.
const READ_AHEAD: usize = 2;

/// How long [`Frames`] waits for the reading-ahead thread to hand over a block before it
/// says the reading stalled: one block is at most 64 MiB of a local file.
const READ_AHEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A block read ahead: its index, and its frames' bytes or why it could not be read.
type Loaded = (usize, Result<Vec<u8>, Error>);

/// The thread that reads blocks ahead of [`Frames`], with the channels to and from it.
#[derive(Debug)]
struct ReadAhead {
    loaded: Option<std::sync::mpsc::Receiver<Loaded>>,
    /// Buffers of blocks whose frames were taken, to read into again.
    spare: std::sync::mpsc::SyncSender<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts reading `blocks` of `file` (a handle of its own) in order from block `first`;
    /// `None` when the handle or the thread cannot be had.
    fn start(file: &File, blocks: &[BlockInfo], first: usize) -> Option<Self> {
        let mut file = file.try_clone().ok()?;
        let blocks = blocks.to_vec();
        let (done, loaded) = std::sync::mpsc::sync_channel::<Loaded>(READ_AHEAD - 1);
        // One spare is enough: the frames' buffer, one waiting and one being read circulate.
        let (spare, spares) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
        let thread = std::thread::Builder::new()
            .name("xcprec-read".into())
            .spawn(move || {
                let mut stored = Vec::new();
                for (i, &b) in blocks.iter().enumerate().skip(first) {
                    let mut raw = spares.try_recv().unwrap_or_default();
                    let r = load_block(&mut file, i, b, &mut stored, &mut raw).map(|()| raw);
                    // A closed channel: the frames are no longer wanted.
                    if done.send((i, r)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Self {
            loaded: Some(loaded),
            spare,
            thread: Some(thread),
        })
    }

    /// Block `i` (at `offset`), as the thread read it.
    fn next(&mut self, i: usize, offset: u64) -> Result<Vec<u8>, Error> {
        let stalled = |reason: &str| Error::Corrupt {
            block: i,
            offset,
            reason: reason.into(),
        };
        let Some(loaded) = &self.loaded else {
            return Err(stalled("the reading-ahead thread has stopped"));
        };
        loop {
            return match loaded.recv_timeout(READ_AHEAD_WAIT) {
                Ok((at, r)) if at == i => r,
                // A block whose wait timed out before, arriving late: passed over.
                Ok((at, _)) if at < i => continue,
                Ok((at, _)) => Err(stalled(&format!(
                    "the reading-ahead thread handed over block {at} instead"
                ))),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(stalled(&format!(
                    "not read within {} s: the file's storage stalled",
                    READ_AHEAD_WAIT.as_secs()
                ))),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    Err(stalled("the reading-ahead thread has stopped"))
                }
            };
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // The thread stops at its next hand-over once nobody takes it.
        drop(self.loaded.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads block `i` (found at `b`) of `file` into `raw`, with `stored` for the compressed
/// bytes, checking its checksum and length.
fn load_block(
    file: &mut File,
    i: usize,
    b: BlockInfo,
    stored: &mut Vec<u8>,
    raw: &mut Vec<u8>,
) -> Result<(), Error> {
    let corrupt = |reason: String| Error::Corrupt {
        block: i,
        offset: b.offset,
        reason,
    };
    // Only the length changes; the bytes are overwritten by the read.
    stored.resize(b.header.stored_len as usize, 0);
    read_exact_at(file, b.offset + BLOCK_HEADER_LEN as u64, stored)
        .map_err(|e| corrupt(format!("cannot read: {e}")))?;
    if crc32fast::hash(stored) != b.header.payload_crc {
        return Err(corrupt("payload checksum mismatch".into()));
    }
    let want = b.header.raw_len as usize;
    let n = match b.header.codec {
        Codec::None => {
            std::mem::swap(stored, raw);
            return Ok(());
        }
        Codec::Lz4 => {
            raw.resize(want, 0);
            lz4_flex::block::decompress_into(stored, raw)
                .map_err(|e| corrupt(format!("does not decompress: {e}")))?
        }
        Codec::Zstd => {
            raw.resize(want, 0);
            zstd::bulk::decompress_to_buffer(stored, raw)
                .map_err(|e| corrupt(format!("does not decompress: {e}")))?
        }
    };
    if n != want {
        return Err(corrupt(format!("{n} bytes instead of {want}")));
    }
    Ok(())
}

/// Iterator over the frames of a recording.
#[derive(Debug)]
pub struct Frames<'a> {
    reader: &'a mut Reader,
    block: usize,
    stored: Vec<u8>,
    raw: Vec<u8>,
    pos: usize,
    left: u32,
    ns: u64,
    /// Frames before this host time are passed over (0 once one at or after it was given).
    from: u64,
    /// The thread reading the next blocks, where there is one.
    ahead: Option<ReadAhead>,
}

impl Frames<'_> {
    /// The next frame, or an error for a damaged block (iteration continues after it).
    /// The frame's bytes are valid until the next call.
    pub fn next_frame(&mut self) -> Option<Result<(u64, &[u8]), Error>> {
        loop {
            if self.left > 0 {
                let bad = |at: usize, what: &str, b: usize, off: u64| Error::Corrupt {
                    block: b,
                    offset: off,
                    reason: format!("{what} at byte {at} of the block"),
                };
                let b = self.block - 1;
                let off = self.reader.blocks[b].offset;
                let Some(delta) = get_varint(&self.raw, &mut self.pos) else {
                    self.left = 0;
                    return Some(Err(bad(self.pos, "truncated frame time", b, off)));
                };
                let Some(len) = get_varint(&self.raw, &mut self.pos) else {
                    self.left = 0;
                    return Some(Err(bad(self.pos, "truncated frame length", b, off)));
                };
                let start = self.pos;
                let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                if end > self.raw.len() {
                    self.left = 0;
                    return Some(Err(bad(start, "frame runs past the block", b, off)));
                }
                self.pos = end;
                self.left -= 1;
                self.ns = self.ns.saturating_add(delta);
                if self.ns < self.from {
                    continue;
                }
                // Times only grow: every frame after this one is due too.
                self.from = 0;
                return Some(Ok((self.ns, &self.raw[start..end])));
            }
            if self.block >= self.reader.blocks.len() {
                return None;
            }
            let i = self.block;
            self.block += 1;
            let read = match self.ahead.as_mut() {
                Some(ahead) => ahead.next(i, self.reader.blocks[i].offset).map(|raw| {
                    let done = std::mem::replace(&mut self.raw, raw);
                    // Full only when the thread stopped taking buffers: then dropped.
                    let _ = ahead.spare.try_send(done);
                }),
                None => self.reader.block_into(i, &mut self.stored, &mut self.raw),
            };
            match read {
                Ok(()) => {
                    self.pos = 0;
                    self.left = self.reader.blocks[i].header.frames;
                    self.ns = self.reader.blocks[i].header.first_ns;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
