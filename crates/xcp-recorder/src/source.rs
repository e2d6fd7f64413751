//! Where the exports read frames from: a recording ([`crate::Reader`]) or a pyXCP `.xmraw`
//! read in place ([`crate::xmraw::XmrawSource`]), so a pyXCP file converts without an
//! intermediate recording.

use serde_json::Value as Json;

use crate::error::Error;
use crate::reader::Reader;

/// What [`Source::each_frame`] hands every frame to: host time and bytes.
pub type OnFrame<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Error> + 'a;

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
