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

    /// As [`Source::each_frame`], for the frames with host times from `from` up to (not
    /// including) `until` (`None`: to the end). The default passes over the others; a source
    /// that can find a time without reading what comes before it does so.
    ///
    /// # Errors
    /// As [`Source::each_frame`].
    fn each_frame_between(
        &mut self,
        from: u64,
        until: Option<u64>,
        each: &mut OnFrame<'_>,
    ) -> Result<u64, Error> {
        self.each_frame(&mut |ns, bytes| {
            if ns >= from && until.is_none_or(|u| ns < u) {
                each(ns, bytes)
            } else {
                Ok(())
            }
        })
    }

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
        self.each_frame_between(0, None, each)
    }

    /// From the block the index finds for `from` ([`Reader::frames_from`]), to the first
    /// frame at or after `until` (host times only grow in a recording).
    fn each_frame_between(
        &mut self,
        from: u64,
        until: Option<u64>,
        each: &mut OnFrame<'_>,
    ) -> Result<u64, Error> {
        let mut damaged = 0;
        let mut frames = self.frames_from(from);
        while let Some(f) = frames.next_frame() {
            match f {
                Ok((ns, _)) if until.is_some_and(|u| ns >= u) => break,
                Ok((ns, bytes)) => each(ns, bytes)?,
                Err(_) => damaged += 1,
            }
        }
        Ok(damaged)
    }
}

/// The frames of a source from one host time up to another, as a source of their own: what
/// an export of a time window reads. The metadata and the first frame's time (the time axis
/// of the exports) stay the source's.
pub struct Window<'a> {
    inner: &'a mut dyn Source,
    from: u64,
    until: Option<u64>,
}

impl<'a> Window<'a> {
    /// The frames of `inner` with host times from `from` up to (not including) `until`
    /// (`None`: to the end).
    pub fn new(inner: &'a mut dyn Source, from: u64, until: Option<u64>) -> Self {
        Self { inner, from, until }
    }
}

impl Source for Window<'_> {
    fn meta(&self) -> &Json {
        self.inner.meta()
    }

    fn first_ns(&self) -> Option<u64> {
        self.inner.first_ns()
    }

    fn each_frame(&mut self, each: &mut OnFrame<'_>) -> Result<u64, Error> {
        self.inner.each_frame_between(self.from, self.until, each)
    }

    fn each_frame_between(
        &mut self,
        from: u64,
        until: Option<u64>,
        each: &mut OnFrame<'_>,
    ) -> Result<u64, Error> {
        let until = match (self.until, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.inner
            .each_frame_between(self.from.max(from), until, each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames in memory, a frame every 10 ns from 100, with only `each_frame` of its own (the
    /// default `each_frame_between`, as pyXCP's files use it).
    struct Listed(Vec<u64>, Json);

    impl Source for Listed {
        fn meta(&self) -> &Json {
            &self.1
        }

        fn first_ns(&self) -> Option<u64> {
            self.0.first().copied()
        }

        fn each_frame(&mut self, each: &mut OnFrame<'_>) -> Result<u64, Error> {
            for &ns in &self.0 {
                each(ns, &ns.to_le_bytes())?;
            }
            Ok(0)
        }
    }

    fn times(s: &mut dyn Source) -> Vec<u64> {
        let mut got = Vec::new();
        s.each_frame(&mut |ns, b| {
            assert_eq!(b, ns.to_le_bytes());
            got.push(ns);
            Ok(())
        })
        .expect("frames");
        got
    }

    #[test]
    fn a_window_holds_the_frames_from_its_start_up_to_its_end() {
        let mut src = Listed((0..100).map(|i| 100 + 10 * i).collect(), Json::Null);
        let all = times(&mut src);
        let want = |a: u64, b: u64| -> Vec<u64> {
            all.iter().copied().filter(|t| (a..b).contains(t)).collect()
        };
        assert_eq!(times(&mut Window::new(&mut src, 0, None)), all);
        for (from, until) in [(300, 400), (305, 401), (2_000, 3_000), (0, 100)] {
            let got = times(&mut Window::new(&mut src, from, Some(until)));
            assert_eq!(got, want(from, until), "{from}..{until}");
        }
        // The time axis stays the source's; windows of windows keep what both hold.
        let mut outer = Window::new(&mut src, 250, Some(700));
        assert_eq!(outer.first_ns(), Some(100));
        for (from, until, a, b) in [(600, 900, 600, 700), (0, 300, 250, 300)] {
            let got = times(&mut Window::new(&mut outer, from, Some(until)));
            assert_eq!(got, want(a, b), "{from}..{until} of 250..700");
        }
    }
}
