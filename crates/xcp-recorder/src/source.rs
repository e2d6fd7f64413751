//! Where the exports read frames from: a recording ([`crate::Reader`]) or a pyXCP `.xmraw`
//! read in place ([`crate::xmraw::XmrawSource`]), so a pyXCP file converts without an
//! intermediate recording.

use serde_json::Value as Json;

use crate::error::Error;
use crate::reader::Reader;

/// What [`Source::each_frame`] hands every frame to: host time and bytes.
pub type OnFrame<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Error> + 'a;

/// What [`Source::each_chunk`] hands every chunk to; it may give back a buffer for the source
/// to reuse.
pub type OnChunk<'a> = dyn FnMut(Chunk) -> Result<Option<Vec<u8>>, Error> + 'a;

/// Bytes of frames a [`Chunk`] of the default [`Source::each_chunk`] gathers.
const CHUNK_BYTES: usize = 256 * 1024;

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

    /// Hands every intact frame, in order, to `each` in owned chunks of many frames; stops at
    /// the first error `each` returns. The count of damaged parts skipped, as
    /// [`Source::each_frame`]. The buffers `each` gives back are reused.
    ///
    /// The default copies the frames of [`Source::each_frame`] into chunks of about 256 KiB.
    ///
    /// # Errors
    /// As [`Source::each_frame`].
    fn each_chunk(&mut self, each: &mut OnChunk<'_>) -> Result<u64, Error> {
        let mut chunk = Chunk::default();
        let damaged = self.each_frame(&mut |ns, bytes| {
            let len = u32::try_from(bytes.len())
                .map_err(|_| Error::Meta(format!("a frame of {} bytes", bytes.len())))?;
            chunk.buf.extend_from_slice(&ns.to_le_bytes());
            chunk.buf.extend_from_slice(&len.to_le_bytes());
            chunk.buf.extend_from_slice(bytes);
            if chunk.buf.len() >= CHUNK_BYTES {
                let full = std::mem::take(&mut chunk);
                if let Some(mut spare) = each(full)? {
                    spare.clear();
                    chunk.buf = spare;
                }
            }
            Ok(())
        })?;
        if !chunk.buf.is_empty() {
            each(chunk)?;
        }
        Ok(damaged)
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
