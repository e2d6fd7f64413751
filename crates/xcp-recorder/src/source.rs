//! Where the exports read frames from: a recording ([`crate::Reader`]) or a pyXCP `.xmraw`
//! read in place ([`crate::xmraw::XmrawSource`]), so a pyXCP file converts without an
//! intermediate recording.

use serde_json::Value as Json;

use crate::error::Error;
use crate::reader::Reader;

/// What [`Source::each_frame`] hands every frame to: host time and bytes.
pub type OnFrame<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Error> + 'a;

/// What a [`ChunkWorker`] makes of a chunk; [`Source::map_chunks`] hands it on in order.
pub type ChunkOut = Box<dyn std::any::Any + Send>;

/// Work on the frames of a source, a chunk at a time, each worker on a thread of its own
/// ([`Source::map_chunks`]): the chunk is decoded on the thread that has it in its cache.
pub trait ChunkWorker: Send {
    /// What `chunk`'s frames make.
    fn run(&mut self, chunk: &Chunk) -> ChunkOut;
}

/// What [`Source::map_chunks`] hands every chunk's result to, in order; it returns whether to
/// go on.
pub type OnChunkOut<'a> = dyn FnMut(ChunkOut) -> Result<bool, Error> + Send + 'a;

/// Bytes of frames a [`Chunk`] of the default [`Source::map_chunks`] gathers.
const CHUNK_BYTES: usize = 256 * 1024;

/// Chunks in flight per worker thread of the default [`Source::map_chunks`].
const CHUNKS_IN_FLIGHT: usize = 2;

/// Frames of a source in one owned buffer, in order: handed out whole, so that another
/// thread can decode them.
#[derive(Debug, Default)]
pub struct Chunk {
    buf: Vec<u8>,
    /// A checked pyXCP container of this many records, or (`None`) frames laid out as
    /// host time (u64), length (u32), bytes.
    records: Option<u32>,
}

impl Chunk {
    /// A checked pyXCP container: `records` records that fill `raw` exactly.
    pub(crate) const fn xmraw(raw: Vec<u8>, records: u32) -> Self {
        Self {
            buf: raw,
            records: Some(records),
        }
    }

    /// Frames laid out as host time (u64), length (u32), bytes, appended to `buf`.
    fn push(&mut self, ns: u64, frame: &[u8]) -> Result<(), Error> {
        let len = u32::try_from(frame.len())
            .map_err(|_| Error::Meta(format!("a frame of {} bytes", frame.len())))?;
        self.buf.extend_from_slice(&ns.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(frame);
        Ok(())
    }

    /// Hands every DAQ frame of the chunk, in order, to `each` (host time, bytes).
    pub fn frames(&self, mut each: impl FnMut(u64, &[u8])) {
        match self.records {
            Some(records) => crate::xmraw::daq_records(&self.buf, records, &mut each),
            None => {
                let mut rest = &self.buf[..];
                while let Some((head, tail)) = rest.split_first_chunk::<12>() {
                    let ns = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
                    let len = u32::from_le_bytes(head[8..].try_into().unwrap_or_default());
                    let Some((frame, after)) = tail.split_at_checked(len as usize) else {
                        return;
                    };
                    each(ns, frame);
                    rest = after;
                }
            }
        }
    }

    /// The chunk's size in bytes.
    pub(crate) const fn len(&self) -> usize {
        self.buf.len()
    }

    /// The chunk's buffer, for reuse.
    #[must_use]
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// A sequence of recorded frames with the metadata that decodes them.
pub trait Source {
    /// The recording's metadata (the `daq` layout among it).
    fn meta(&self) -> &Json;

    /// The host time of the first frame, if any.
    fn first_ns(&self) -> Option<u64>;

    /// Hands every intact frame, in order, to `each` (host time, bytes); stops at the first
    /// error `each` returns. The count of damaged parts skipped (blocks, containers).
    ///
    /// # Errors
    /// What `each` returned; a read error of the source.
    fn each_frame(&mut self, each: &mut OnFrame<'_>) -> Result<u64, Error>;

    /// Runs the frames through `workers`, one thread each, a chunk of many frames at a time
    /// (chunks dealt out in turn), and hands what each chunk made to `each`, in the source's
    /// order, until it says stop. The count of damaged parts skipped, as
    /// [`Source::each_frame`]. A bounded number of chunks is in flight.
    ///
    /// The default gathers the frames of [`Source::each_frame`] into chunks of about 256 KiB
    /// on the calling thread and calls `each` on a thread of its own.
    ///
    /// # Errors
    /// As [`Source::each_frame`]; an error of `each`; [`Error::Meta`] when a thread cannot be
    /// started or panics.
    fn map_chunks(
        &mut self,
        workers: Vec<Box<dyn ChunkWorker + '_>>,
        each: &mut OnChunkOut<'_>,
    ) -> Result<u64, Error> {
        let failed = |what: &str| Error::Meta(format!("a thread {what}"));
        std::thread::scope(|scope| {
            let (mut to_workers, mut from_workers) = (Vec::new(), Vec::new());
            let (spare_tx, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(
                (CHUNKS_IN_FLIGHT + 1) * workers.len().max(1),
            );
            for mut w in workers {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
                let (done_tx, done) = std::sync::mpsc::sync_channel::<ChunkOut>(CHUNKS_IN_FLIGHT);
                let spare_tx = spare_tx.clone();
                std::thread::Builder::new()
                    .name("chunk-work".into())
                    .spawn_scoped(scope, move || {
                        for chunk in rx {
                            let out = w.run(&chunk);
                            let _ = spare_tx.try_send(chunk.buf);
                            if done_tx.send(out).is_err() {
                                break;
                            }
                        }
                    })
                    .map_err(|_| failed("for chunks could not start"))?;
                to_workers.push(tx);
                from_workers.push(done);
            }
            if to_workers.is_empty() {
                return Err(Error::Meta("no chunk workers".into()));
            }
            // Results in order, on a thread of their own while this one reads.
            let handing = std::thread::Builder::new()
                .name("chunk-results".into())
                .spawn_scoped(scope, move || -> Result<bool, Error> {
                    for k in 0.. {
                        let Ok(out) = from_workers[k % from_workers.len()].recv() else {
                            break;
                        };
                        if !each(out)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })
                .map_err(|_| failed("for chunk results could not start"))?;
            let mut chunk = Chunk::default();
            let mut sent = 0usize;
            let mut refused = false;
            let read = self.each_frame(&mut |ns, bytes| {
                chunk.push(ns, bytes)?;
                if chunk.buf.len() >= CHUNK_BYTES {
                    let mut next = spare.try_recv().unwrap_or_default();
                    next.clear();
                    let full = std::mem::replace(
                        &mut chunk,
                        Chunk {
                            buf: next,
                            records: None,
                        },
                    );
                    if to_workers[sent % to_workers.len()].send(full).is_err() {
                        // The results stopped being taken: `each` said stop, or failed.
                        refused = true;
                        return Err(Error::Meta("the chunk results stopped".into()));
                    }
                    sent += 1;
                }
                Ok(())
            });
            if read.is_ok() && !chunk.buf.is_empty() {
                let _ = to_workers[sent % to_workers.len()].send(chunk);
            }
            drop(to_workers);
            let to_the_end = handing
                .join()
                .map_err(|_| failed("handing on chunk results panicked"))??;
            // `each` saying stop shows here as chunks refused: not an error.
            if refused && !to_the_end {
                return Ok(0);
            }
            read
        })
    }
}

impl Source for Reader {
    fn meta(&self) -> &Json {
        Self::meta(self)
    }

    fn first_ns(&self) -> Option<u64> {
        self.time_span().map(|(a, _)| a)
    }

    fn each_frame(&mut self, each: &mut OnFrame<'_>) -> Result<u64, Error> {
        let mut damaged = 0;
        let mut frames = self.frames();
        while let Some(f) = frames.next_frame() {
            match f {
                Ok((ns, bytes)) => each(ns, bytes)?,
                Err(_) => damaged += 1,
            }
        }
        Ok(damaged)
    }
}
