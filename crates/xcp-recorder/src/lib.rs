//! # xcp-recorder: every DAQ frame on disk, none lost
//!
//! A recording is append-only: a self-describing header and JSON metadata (slave, EPK, A2L,
//! DAQ layout, start time), then blocks of raw frames, each compressed (LZ4 by default) and
//! checksummed on its own, then an index for random access by time. The [`Recorder`] writes
//! on a thread of its own behind a bounded channel (blocks compressed on one thread per core),
//! counts what it cannot take, drains the channel on close and holds bounded memory however
//! long it runs. The [`Reader`] opens closed
//! and crashed recordings alike: without an index it walks the blocks, stops before an
//! unfinished last block and skips damaged ones, and says what it salvaged. It iterates the
//! frames from the start ([`Reader::frames`]) or from a host time ([`Reader::frames_from`],
//! found through the index), reading blocks ahead on a thread of its own.
//!
//! Blocks are LZ4 by default, zstd when asked ([`WriterOptions::zstd_level`]). The [`Decoder`]
//! turns frames into rows from the metadata alone. Exports: [`mdf4`] (MDF 4.10), [`csv`], and
//! `parquet` (feature `parquet`: one file per DAQ list, a typed column per signal). [`xmraw`]
//! imports pyXCP's recordings, DAQ layout included.
//!
//! ```
//! use xcp_recorder::{Reader, Recorder, WriterOptions};
//!
//! let path = std::env::temp_dir().join(format!("doc-{}.xcprec", std::process::id()));
//! let mut rec = Recorder::create(&path, &serde_json::json!({"slave": "demo"}), WriterOptions::default())?;
//! rec.push(1_000, &[0x00, 1, 2, 3]);
//! rec.push(2_000, &[0x00, 4, 5, 6]);
//! let summary = rec.close()?;
//! assert_eq!(summary.frames, 2);
//!
//! let mut r = Reader::open(&path)?;
//! assert!(r.salvage().closed);
//! let mut frames = r.frames();
//! let (t, bytes) = frames.next_frame().expect("a frame")?;
//! assert_eq!((t, bytes), (1_000, &[0x00, 1, 2, 3][..]));
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), xcp_recorder::Error>(())
//! ```

pub mod csv;
pub mod decode;
mod error;
pub mod format;
pub mod mdf4;
pub mod multi;
mod outputs;
#[cfg(feature = "parquet")]
pub mod parquet;
mod reader;
pub mod source;
mod writer;
pub mod xmraw;

pub use decode::{Decoder, Row, RowHead};
pub use error::Error;
pub use format::Codec;
pub use reader::{BlockInfo, Frames, Reader, Salvage};
pub use source::{Chunk, Source, Window};
pub use writer::{Recorder, Summary, WriterOptions};
