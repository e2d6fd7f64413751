//! XCP on SxI (serial) framing.
//!
//! A frame is `header | packet | fill? | checksum?` with one of the six
//! [`HeaderFormat`]s and a [`Tail`] of none, a byte or a word.
//! With SYNC/ESC framing switched on, every frame starts with SYNC (0x9A), and a 0x9A or 0x9B
//! inside the frame is sent as ESC (0x9B) followed by 0x01 or 0x00, so a receiver can find the
//! next frame after line noise.

use super::{Deframer, Frame, Framing, HeaderFormat, Tail};
use crate::error::{DecodeError, EncodeError};

/// Start of a frame in SYNC/ESC framing.
pub const SYNC: u8 = 0x9A;
/// Escape byte in SYNC/ESC framing.
pub const ESC: u8 = 0x9B;
/// Escaped SYNC: `ESC, ESC_SYNC`.
pub const ESC_SYNC: u8 = 0x01;
/// Escaped ESC: `ESC, ESC_ESC`.
pub const ESC_ESC: u8 = 0x00;

/// SxI transport configuration (A2L `XCP_ON_SxI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SxiConfig {
    /// Header format.
    pub header: HeaderFormat,
    /// Checksum tail.
    pub tail: Tail,
    /// SYNC/ESC framing.
    pub sync_esc: bool,
}

impl SxiConfig {
    /// The header and tail.
    pub const fn framing(&self) -> Framing {
        Framing {
            header: self.header,
            tail: self.tail,
        }
    }

    /// Largest encoded frame for a packet of `len` bytes (every byte escaped, plus SYNC).
    pub const fn max_frame_len(&self, len: usize) -> usize {
        let f = self.framing().frame_len(len);
        if self.sync_esc { 1 + 2 * f } else { f }
    }

    /// Encodes one frame into `out`; returns its length.
    ///
    /// # Errors
    /// As [`Framing::encode`]; `BufferTooSmall` when the escaped frame does not fit.
    pub fn encode(&self, ctr: u16, packet: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        let framing = self.framing();
        if !self.sync_esc {
            return framing.encode(ctr, packet, out);
        }
        // Frame into `out`, then escape in place from the back: the write position always
        // stays ahead of the byte being read, so nothing unread is overwritten.
        let n = framing.encode(ctr, packet, out)?;
        let specials = out[..n].iter().filter(|&&b| b == SYNC || b == ESC).count();
        let needed = 1 + n + specials;
        if out.len() < needed {
            return Err(EncodeError::BufferTooSmall {
                packet: "SXI_FRAME",
                needed,
                available: out.len(),
            });
        }
        let mut w = needed;
        for i in (0..n).rev() {
            let b = out[i];
            match b {
                SYNC | ESC => {
                    w -= 2;
                    out[w] = ESC;
                    out[w + 1] = if b == SYNC { ESC_SYNC } else { ESC_ESC };
                }
                other => {
                    w -= 1;
                    out[w] = other;
                }
            }
        }
        out[0] = SYNC;
        Ok(needed)
    }
}

/// Receives SxI frames from a byte stream.
///
/// Without SYNC/ESC it is a plain [`Deframer`]. With SYNC/ESC, a SYNC byte always starts a
/// new frame (a partial frame before it is dropped and counted in
/// [`resyncs`](Self::resyncs)), escapes are undone, and a framing error only loses the frame
/// it is in.
#[derive(Debug)]
pub struct SxiReceiver<B> {
    config: SxiConfig,
    inner: Deframer<B>,
    in_frame: bool,
    escaped: bool,
    resyncs: u64,
}

impl<B: AsMut<[u8]>> SxiReceiver<B> {
    /// A receiver for packets of at most `max_len` bytes, buffering in `buf`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buf` cannot hold the largest frame.
    pub fn new(config: SxiConfig, max_len: usize, buf: B) -> Result<Self, EncodeError> {
        Ok(Self {
            config,
            inner: Deframer::new(config.framing(), max_len, buf)?,
            in_frame: false,
            escaped: false,
            resyncs: 0,
        })
    }

    /// Times a SYNC interrupted a frame or an error forced the receiver to wait for SYNC.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Feeds received bytes; calls `on_frame` for every frame (or frame error).
    ///
    /// # Errors
    /// Without SYNC/ESC: the stream lost sync, as [`Deframer::push`]. With SYNC/ESC errors are
    /// reported through `on_frame` and the receiver waits for the next SYNC.
    pub fn push<F>(&mut self, data: &[u8], mut on_frame: F) -> Result<(), DecodeError>
    where
        F: FnMut(Result<Frame<'_>, DecodeError>),
    {
        if !self.config.sync_esc {
            return self.inner.push(data, on_frame);
        }
        for &b in data {
            if b == SYNC {
                if self.in_frame && self.inner.pending() > 0 {
                    self.resyncs += 1;
                }
                self.inner.reset();
                self.in_frame = true;
                self.escaped = false;
                continue;
            }
            if !self.in_frame {
                continue;
            }
            let byte = if self.escaped {
                self.escaped = false;
                match b {
                    ESC_SYNC => SYNC,
                    ESC_ESC => ESC,
                    other => {
                        self.in_frame = false;
                        self.resyncs += 1;
                        on_frame(Err(DecodeError::InvalidField {
                            packet: "SXI_FRAME",
                            field: "ESC",
                            value: u32::from(other),
                        }));
                        continue;
                    }
                }
            } else if b == ESC {
                self.escaped = true;
                continue;
            } else {
                b
            };
            let mut completed = false;
            let result = self.inner.push(&[byte], |f| {
                completed = true;
                on_frame(f);
            });
            if let Err(e) = result {
                self.inner.reset();
                self.in_frame = false;
                self.resyncs += 1;
                on_frame(Err(e));
            } else if completed {
                // One frame per SYNC: ignore bytes until the next SYNC.
                self.in_frame = false;
            }
        }
        Ok(())
    }
}
