//! The writer: the producer (the master's receive thread) packs frames into chunks and hands
//! them over a bounded channel to a writer thread, which gathers them into blocks; compressing
//! threads (one per core, up to four, one block each) compress them, and the writer thread
//! checksums and appends them in order. Chunk and block buffers travel back for reuse, so
//! memory stays bounded however long the recording runs; a chunk that finds the channel full
//! after `wait_when_full` is dropped and its frames counted.
//!
//! What a crash can take is bounded in time, whatever the rate: the producer hands a chunk
//! over when it is full or, through [`Recorder::tick`], once its first frame is
//! [`chunk_age`](WriterOptions::chunk_age) old; the writer thread hands a block on when it is
//! full or [`block_age`](WriterOptions::block_age) old, and writes each block to the
//! operating system as soon as it is compressed. So a frame reaches the file (a SIGKILL
//! cannot take it) within about `chunk_age + block_age`
//! ([`WriterOptions::flush_within`] sets both), and the file is synced to the disk (a power
//! loss cannot take it) at most [`sync_every`](WriterOptions::sync_every) after that.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::format::{
    BlockHeader, Codec, END_MAGIC, HEADER_LEN, INDEX_MAGIC, MAGIC, VERSION, get_varint, put_varint,
};

/// How the writer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Block payload codec.
    pub codec: Codec,
    /// Compression level when `codec` is [`Codec::Zstd`] (1 fastest … 22 smallest; 3 is
    /// zstd's own default).
    pub zstd_level: i32,
    /// Raw bytes per block before it is written.
    pub block_bytes: usize,
    /// A partly filled block is handed on to be compressed and written after this long,
    /// which bounds what a crash can lose (this much data, plus the blocks still being
    /// compressed: one per compressing thread).
    pub block_age: Duration,
    /// Bytes per chunk handed from the producer to the writer thread.
    pub chunk_bytes: usize,
    /// A partly filled chunk is handed to the writer thread by [`Recorder::tick`] once its
    /// first frame is this old, so slow recordings reach the file as promptly as fast ones.
    pub chunk_age: Duration,
    /// The file is synced to the disk (`fdatasync`) at most this long after a block was
    /// written to it; `None` syncs only when the recording is closed.
    pub sync_every: Option<Duration>,
    /// Chunks the channel holds.
    pub queue_chunks: usize,
    /// How long the producer waits for room when the channel is full before it drops the
    /// chunk and counts its frames (zero: drop at once, never slow the producer).
    pub wait_when_full: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            codec: Codec::Lz4,
            zstd_level: 3,
            block_bytes: 1 << 20,
            block_age: Duration::from_millis(200),
            chunk_bytes: 64 << 10,
            chunk_age: Duration::from_millis(200),
            sync_every: Some(Duration::from_secs(1)),
            queue_chunks: 64,
            wait_when_full: Duration::from_millis(100),
        }
    }
}

impl WriterOptions {
    /// Sets [`chunk_age`](Self::chunk_age) and [`block_age`](Self::block_age) so that every
    /// frame is written to the operating system within `bound` of its arrival (each gets
    /// two fifths; the rest covers compression and the producer's tick interval).
    #[must_use]
    pub fn flush_within(mut self, bound: Duration) -> Self {
        self.chunk_age = bound * 2 / 5;
        self.block_age = bound * 2 / 5;
        self
    }
}

/// What a recording holds when closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames written.
    pub frames: u64,
    /// Frame bytes written (before compression).
    pub bytes: u64,
    /// Frames dropped because the writer fell behind (the channel was full).
    pub dropped_frames: u64,
    /// Blocks written.
    pub blocks: u64,
    /// File size.
    pub file_bytes: u64,
}

struct Chunk {
    data: Vec<u8>,
    frames: u32,
    first_ns: u64,
    last_ns: u64,
    /// When the first frame went in (the producer's clock, for `chunk_age`).
    started: Option<Instant>,
}

enum Msg {
    Chunk(Chunk),
    Close,
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
}

/// A recording being written. Frames go in with [`push`](Self::push); [`close`](Self::close)
/// drains everything queued and writes the index.
pub struct Recorder {
    tx: SyncSender<Msg>,
    free: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<Result<Summary, Error>>>,
    chunk: Chunk,
    last_ns: u64,
    options: WriterOptions,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

impl Recorder {
    /// Creates `path` with the file header and `meta` (a JSON object describing the
    /// recording) and starts the writer thread.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created or written.
    pub fn create(
        path: &Path,
        meta: &serde_json::Value,
        options: WriterOptions,
    ) -> Result<Self, Error> {
        let mut file = File::create(path).map_err(io(path, "create"))?;
        let meta = serde_json::to_vec(meta).map_err(|e| Error::Meta(e.to_string()))?;
        let mut head = [0u8; HEADER_LEN];
        head[..8].copy_from_slice(MAGIC);
        head[8..10].copy_from_slice(&VERSION.to_le_bytes());
        let len =
            u32::try_from(meta.len()).map_err(|_| Error::Meta("metadata too large".into()))?;
        head[12..16].copy_from_slice(&len.to_le_bytes());
        head[16..20].copy_from_slice(&crc32fast::hash(&meta).to_le_bytes());
        file.write_all(&head)
            .map_err(io(path, "write the header"))?;
        file.write_all(&meta)
            .map_err(io(path, "write the metadata"))?;
        file.sync_data().map_err(io(path, "sync the header"))?;
        let offset = (HEADER_LEN + meta.len()) as u64;
        let queue = options.queue_chunks.max(1);
        let (tx, rx) = mpsc::sync_channel(queue);
        // Spare buffers: one per queued chunk and two more (the producer's and the one
        // being merged).
        let (free_tx, free) = mpsc::sync_channel(queue + 2);
        let counters = Arc::new(Counters::default());
        let p = path.to_owned();
        let c = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("xcp-recorder".into())
            .spawn(move || write_loop(file, offset, &p, &rx, &free_tx, options, &c))
            .map_err(io(path, "start the writer thread"))?;
        Ok(Self {
            tx,
            free,
            thread: Some(thread),
            chunk: Chunk {
                data: Vec::with_capacity(options.chunk_bytes),
                frames: 0,
                first_ns: 0,
                last_ns: 0,
                started: None,
            },
            last_ns: 0,
            options,
            counters,
            path: path.to_owned(),
        })
    }

    /// Records one frame (a DTO as received) at host time `host_ns`.
    pub fn push(&mut self, host_ns: u64, frame: &[u8]) {
        self.push_tagged(host_ns, None, frame);
    }

    /// Records one frame with `tag` (when given) stored as its first byte: a recording of
    /// several slaves tags each DTO with its slave ([`crate::multi`]).
    ///
    /// Host times in a recording never go back: a frame pushed with an earlier time than the
    /// last one (two slaves' readers reaching the writer in the other order) is recorded at
    /// the last one's time.
    pub fn push_tagged(&mut self, host_ns: u64, tag: Option<u8>, frame: &[u8]) {
        let host_ns = host_ns.max(self.last_ns);
        let len = frame.len() + usize::from(tag.is_some());
        if !self.chunk.data.is_empty()
            && self.chunk.data.len() + len + 20 > self.options.chunk_bytes
        {
            self.hand_over();
        }
        let delta = if self.chunk.frames == 0 {
            self.chunk.first_ns = host_ns;
            self.chunk.started = Some(Instant::now());
            0
        } else {
            host_ns - self.last_ns
        };
        put_varint(&mut self.chunk.data, delta);
        put_varint(&mut self.chunk.data, len as u64);
        if let Some(t) = tag {
            self.chunk.data.push(t);
        }
        self.chunk.data.extend_from_slice(frame);
        self.chunk.frames += 1;
        self.chunk.last_ns = host_ns;
        self.last_ns = host_ns;
    }

    /// Sends the current chunk to the writer thread (or drops it, counted, when it is
    /// behind).
    fn hand_over(&mut self) {
        if self.chunk.frames == 0 {
            return;
        }
        let mut fresh = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.options.chunk_bytes));
        fresh.clear();
        let mut full = Chunk {
            data: fresh,
            frames: 0,
            first_ns: 0,
            last_ns: 0,
            started: None,
        };
        std::mem::swap(&mut full, &mut self.chunk);
        full.data.shrink_to(self.options.chunk_bytes * 2);
        let mut msg = Msg::Chunk(full);
        let deadline = Instant::now() + self.options.wait_when_full;
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(
                    TrySendError::Full(Msg::Chunk(c)) | TrySendError::Disconnected(Msg::Chunk(c)),
                ) => {
                    self.counters
                        .dropped
                        .fetch_add(u64::from(c.frames), Ordering::Relaxed);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Hands the frames gathered so far to the writer thread once the oldest of them is
    /// [`chunk_age`](WriterOptions::chunk_age) old. Call it every few milliseconds, frames or
    /// not (the master's receive thread does, through its raw sink): without it a chunk
    /// leaves only when full, which at low rates takes minutes.
    pub fn tick(&mut self) {
        if self
            .chunk
            .started
            .is_some_and(|t| t.elapsed() >= self.options.chunk_age)
        {
            self.hand_over();
        }
    }

    /// Frames dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Hands over what is pending, lets the writer drain the queue, writes the index, syncs.
    ///
    /// # Errors
    /// The writer thread's I/O errors.
    pub fn close(mut self) -> Result<Summary, Error> {
        self.finish()
    }

    fn finish(&mut self) -> Result<Summary, Error> {
        self.hand_over();
        let Some(thread) = self.thread.take() else {
            return Ok(Summary::default());
        };
        // Blocking: the writer drains the queue first, so nothing queued is lost.
        let _ = self.tx.send(Msg::Close);
        let mut s = thread
            .join()
            .map_err(|_| Error::Meta("the writer thread panicked".into()))??;
        s.dropped_frames = self.dropped();
        Ok(s)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

/// A block: gathered from chunks on the writer thread, compressed on a compressing thread
/// (`stored`), written on the writer thread.
struct Block {
    raw: Vec<u8>,
    /// The stored bytes are `stored[..stored_len]`; the codec's room past them stays
    /// allocated and zeroed, so it is not cleared again for every block.
    stored: Vec<u8>,
    stored_len: usize,
    frames: u32,
    first_ns: u64,
    last_ns: u64,
    started: Option<Instant>,
}

impl Block {
    fn with_capacity(raw: usize) -> Self {
        Self {
            raw: Vec::with_capacity(raw),
            stored: Vec::new(),
            stored_len: 0,
            frames: 0,
            first_ns: 0,
            last_ns: 0,
            started: None,
        }
    }
}

/// The file side of the writer thread: where blocks go and what was written.
struct Output {
    out: BufWriter<File>,
    offset: u64,
    codec: Codec,
    index: Vec<(u64, u64, u64, u32)>,
    summary: Summary,
}

/// Blocks handed to compressing threads in turn and written back in the order they were
/// handed out: block `k` goes to thread `k % threads`, so each thread's results arrive in
/// order. At most one block per thread is in flight; their buffers are reused.
struct Pipeline {
    to: Vec<SyncSender<Block>>,
    from: Vec<Receiver<std::io::Result<Block>>>,
    sent: u64,
    written: u64,
    spare: Vec<Block>,
    block_bytes: usize,
}

fn stopped() -> std::io::Error {
    std::io::Error::other("a compressing thread stopped")
}

impl Pipeline {
    fn threads(&self) -> u64 {
        self.to.len().max(1) as u64
    }

    /// Blocks handed out and not yet written.
    const fn in_flight(&self) -> u64 {
        self.sent - self.written
    }

    /// An empty block to gather into.
    fn fresh(&mut self) -> Block {
        self.spare.pop().map_or_else(
            || Block::with_capacity(self.block_bytes),
            |mut b| {
                b.raw.clear();
                b.frames = 0;
                b.started = None;
                b
            },
        )
    }

    /// Hands `block` to the next compressing thread, first writing the oldest block when
    /// every thread has one.
    fn dispatch(&mut self, block: Block, o: &mut Output) -> std::io::Result<()> {
        while self.in_flight() >= self.threads() {
            self.write_next(o, true)?;
        }
        let i = usize::try_from(self.sent % self.threads()).unwrap_or(0);
        self.to
            .get(i)
            .ok_or_else(stopped)?
            .send(block)
            .map_err(|_| stopped())?;
        self.sent += 1;
        Ok(())
    }

    /// Writes the oldest block in flight, waiting for it when `wait`; whether one was
    /// written.
    fn write_next(&mut self, o: &mut Output, wait: bool) -> std::io::Result<bool> {
        if self.in_flight() == 0 {
            return Ok(false);
        }
        let i = usize::try_from(self.written % self.threads()).unwrap_or(0);
        let rx = self.from.get(i).ok_or_else(stopped)?;
        let done = if wait {
            rx.recv().map_err(|_| stopped())?
        } else {
            match rx.try_recv() {
                Ok(b) => b,
                Err(mpsc::TryRecvError::Empty) => return Ok(false),
                Err(mpsc::TryRecvError::Disconnected) => return Err(stopped()),
            }
        };
        let block = done?;
        write_block(o, &block)?;
        self.written += 1;
        self.spare.push(block);
        Ok(true)
    }

    /// Writes every block whose compression has finished, in order.
    fn write_ready(&mut self, o: &mut Output) -> std::io::Result<()> {
        while self.write_next(o, false)? {}
        Ok(())
    }

    /// Writes every block in flight.
    fn drain(&mut self, o: &mut Output) -> std::io::Result<()> {
        while self.write_next(o, true)? {}
        Ok(())
    }

    /// Hands the gathered `block` on if it holds frames, leaving an empty one in its place.
    fn hand_on(&mut self, block: &mut Block, o: &mut Output) -> std::io::Result<()> {
        if block.frames == 0 {
            return Ok(());
        }
        let next = self.fresh();
        self.dispatch(std::mem::replace(block, next), o)
    }
}

/// Compressing threads: one per core, up to four.
fn compressing_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

fn write_loop(
    file: File,
    offset: u64,
    path: &Path,
    rx: &Receiver<Msg>,
    free: &SyncSender<Vec<u8>>,
    options: WriterOptions,
    counters: &Counters,
) -> Result<Summary, Error> {
    let mut o = Output {
        out: BufWriter::with_capacity(1 << 20, file),
        offset,
        codec: options.codec,
        index: Vec::new(),
        summary: Summary::default(),
    };
    let (codec, level) = (options.codec, options.zstd_level);
    std::thread::scope(|scope| -> Result<(), Error> {
        let mut pipe = Pipeline {
            to: Vec::new(),
            from: Vec::new(),
            sent: 0,
            written: 0,
            spare: Vec::new(),
            block_bytes: options.block_bytes + options.chunk_bytes,
        };
        for _ in 0..compressing_threads() {
            let (to, blocks) = mpsc::sync_channel::<Block>(1);
            let (done, from) = mpsc::sync_channel::<std::io::Result<Block>>(1);
            std::thread::Builder::new()
                .name("xcp-recorder-lz".into())
                .spawn_scoped(scope, move || {
                    for mut b in blocks {
                        let r = compress(codec, level, &mut b).map(|()| b);
                        if done.send(r).is_err() {
                            break;
                        }
                    }
                })
                .map_err(io(path, "start a compressing thread for"))?;
            pipe.to.push(to);
            pipe.from.push(from);
        }
        let mut block = pipe.fresh();
        // When a block was first written after the last sync.
        let mut unsynced: Option<Instant> = None;
        loop {
            let mut wait = block.started.map_or(options.block_age, |t| {
                options.block_age.saturating_sub(t.elapsed())
            });
            if pipe.in_flight() > 0 {
                // Compressed blocks go to disk promptly even when no frames arrive.
                wait = wait.min(Duration::from_millis(2));
            }
            if let (Some(t), Some(every)) = (unsynced, options.sync_every) {
                wait = wait.min(every.saturating_sub(t.elapsed()));
            }
            let got = rx.recv_timeout(wait);
            match got {
                Ok(Msg::Chunk(c)) => {
                    append(&mut block, &c);
                    let _ = free.try_send(c.data);
                    if block.raw.len() >= options.block_bytes {
                        pipe.hand_on(&mut block, &mut o)
                            .map_err(io(path, "write a block"))?;
                    }
                }
                Ok(Msg::Close) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if block
                        .started
                        .is_some_and(|t| t.elapsed() >= options.block_age)
                    {
                        pipe.hand_on(&mut block, &mut o)
                            .map_err(io(path, "write a block"))?;
                    }
                }
            }
            let before = o.summary.blocks;
            pipe.write_ready(&mut o)
                .map_err(io(path, "write a block"))?;
            if o.summary.blocks > before && unsynced.is_none() {
                unsynced = Some(Instant::now());
            }
            if let (Some(t), Some(every)) = (unsynced, options.sync_every)
                && t.elapsed() >= every
            {
                o.out.get_ref().sync_data().map_err(io(path, "sync"))?;
                unsynced = None;
            }
        }
        // Whatever is still queued (sent before Close) was received above; flush the rest.
        while let Ok(Msg::Chunk(c)) = rx.try_recv() {
            append(&mut block, &c);
            if block.raw.len() >= options.block_bytes {
                pipe.hand_on(&mut block, &mut o)
                    .map_err(io(path, "write a block"))?;
            }
        }
        pipe.hand_on(&mut block, &mut o)
            .map_err(io(path, "write a block"))?;
        pipe.drain(&mut o).map_err(io(path, "write a block"))?;
        Ok(())
    })?;
    // The footer: the index, the counts, where the index starts, the end magic.
    let Output {
        mut out,
        offset: index_offset,
        index,
        mut summary,
        ..
    } = o;
    let mut f = Vec::with_capacity(16 + index.len() * 28);
    f.extend_from_slice(INDEX_MAGIC);
    f.extend_from_slice(&u32::try_from(index.len()).unwrap_or(u32::MAX).to_le_bytes());
    for (off, first, last, frames) in &index {
        f.extend_from_slice(&off.to_le_bytes());
        f.extend_from_slice(&first.to_le_bytes());
        f.extend_from_slice(&last.to_le_bytes());
        f.extend_from_slice(&frames.to_le_bytes());
    }
    let stats = serde_json::json!({
        "frames": summary.frames,
        "bytes": summary.bytes,
        "dropped_frames": counters.dropped.load(Ordering::Relaxed),
        "blocks": summary.blocks,
    });
    let stats = serde_json::to_vec(&stats).unwrap_or_default();
    f.extend_from_slice(&u32::try_from(stats.len()).unwrap_or(0).to_le_bytes());
    f.extend_from_slice(&stats);
    f.extend_from_slice(&index_offset.to_le_bytes());
    f.extend_from_slice(END_MAGIC);
    out.write_all(&f).map_err(io(path, "write the index"))?;
    let mut file = out.into_inner().map_err(|e| Error::Io {
        path: path.to_owned(),
        what: "flush",
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(path, "sync"))?;
    summary.file_bytes = file.stream_position().map_err(io(path, "size"))?;
    Ok(summary)
}

/// Adds a chunk's frames to the block, re-basing the chunk's first delta on the block's last
/// frame.
fn append(block: &mut Block, c: &Chunk) {
    if c.frames == 0 {
        return;
    }
    if block.frames == 0 {
        block.raw.extend_from_slice(&c.data);
        block.first_ns = c.first_ns;
        block.started = Some(Instant::now());
    } else {
        let mut pos = 0;
        // The chunk's first delta is 0 relative to its own first frame.
        let _ = get_varint(&c.data, &mut pos);
        put_varint(&mut block.raw, c.first_ns.saturating_sub(block.last_ns));
        block
            .raw
            .extend_from_slice(c.data.get(pos..).unwrap_or_default());
    }
    block.frames += c.frames;
    block.last_ns = c.last_ns.max(block.last_ns);
}

/// Compresses `block.raw` into `block.stored` (a copy with no codec).
fn compress(codec: Codec, zstd_level: i32, block: &mut Block) -> std::io::Result<()> {
    let (raw, stored) = (&block.raw, &mut block.stored);
    block.stored_len = match codec {
        Codec::None => {
            stored.clear();
            stored.extend_from_slice(raw);
            raw.len()
        }
        Codec::Lz4 => {
            let need = lz4_flex::block::get_maximum_output_size(raw.len());
            if stored.len() < need {
                stored.resize(need, 0);
            }
            lz4_flex::block::compress_into(raw, &mut stored[..need])
                .map_err(|e| std::io::Error::other(e.to_string()))?
        }
        Codec::Zstd => {
            let need = zstd::zstd_safe::compress_bound(raw.len());
            if stored.len() < need {
                stored.resize(need, 0);
            }
            zstd::bulk::compress_to_buffer(raw, &mut stored[..need], zstd_level)?
        }
    };
    Ok(())
}

/// Appends a compressed block: header, payload, flushed to the file.
fn write_block(o: &mut Output, block: &Block) -> std::io::Result<()> {
    let payload = block.stored.get(..block.stored_len).unwrap_or_default();
    let h = BlockHeader {
        codec: o.codec,
        stored_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        raw_len: u32::try_from(block.raw.len()).unwrap_or(u32::MAX),
        frames: block.frames,
        first_ns: block.first_ns,
        last_ns: block.last_ns,
        payload_crc: crc32fast::hash(payload),
    };
    o.out.write_all(&h.encode())?;
    o.out.write_all(payload)?;
    // A block is complete on disk once written: what a crash can lose is the block being
    // gathered (at most `block_age` of data) and those still being compressed.
    o.out.flush()?;
    o.index
        .push((o.offset, block.first_ns, block.last_ns, block.frames));
    o.offset += (crate::format::BLOCK_HEADER_LEN + payload.len()) as u64;
    o.summary.frames += u64::from(block.frames);
    o.summary.bytes += block.raw.len() as u64;
    o.summary.blocks += 1;
    Ok(())
}
