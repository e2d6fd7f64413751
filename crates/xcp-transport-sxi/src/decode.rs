//! The receiving side's decoding, apart from any port: bytes in (in chunks split anywhere),
//! packets out, with the resynchronisation and the counters. [`SxiRx`](crate::SxiRx) feeds
//! it from its line; anything else that carries SxI bytes can too.

use std::collections::VecDeque;
use std::time::Instant;

use xcp_proto::DecodeError;
use xcp_proto::tl::eth::CtrTracker;
use xcp_proto::tl::sxi::SxiReceiver;
use xcp_transport::RxStats;

use crate::url::SxiSettings;

/// Packets decoded ahead of the reader; decoding stops pulling bytes when this many wait.
const MAX_QUEUED: usize = 1024;

/// Decoded packets waiting for the reader, with the counters they feed.
struct Packets {
    ready: VecDeque<Vec<u8>>,
    /// Buffers of packets already read, reused for the next ones.
    spare: Vec<Vec<u8>>,
    ctr: CtrTracker,
    stats: RxStats,
}

impl Packets {
    /// Queues a copy of `packet` (its only copy: straight from the received bytes).
    fn take(&mut self, packet: &[u8], ctr: Option<u16>) {
        if let Some(c) = ctr {
            self.ctr.observe(c);
            self.stats.lost = self.ctr.lost;
            self.stats.out_of_order = self.ctr.out_of_order;
        }
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        let mut v = self.spare.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(packet);
        self.ready.push_back(v);
    }
}

/// Packets out of a byte stream in SxI frames.
pub struct Decoder {
    name: String,
    settings: SxiSettings,
    /// Received bytes not yet decoded (without SYNC/ESC framing).
    pending: Vec<u8>,
    /// The SYNC/ESC decoder, with that framing.
    receiver: Option<SxiReceiver<Vec<u8>>>,
    out: Packets,
    last_byte: Option<Instant>,
    resyncs: u64,
}

impl Decoder {
    /// A decoder for `settings`; `name` says where the bytes come from, in its log lines.
    pub fn new(name: &str, settings: SxiSettings) -> Self {
        let limit = settings.packet_limit();
        // The buffer holds the largest frame, so `new` cannot fail.
        let receiver = settings
            .framing
            .sync_esc
            .then(|| {
                SxiReceiver::new(
                    settings.framing,
                    limit,
                    vec![0u8; settings.framing.max_frame_len(limit) + 1],
                )
                .ok()
            })
            .flatten();
        Self {
            name: name.to_owned(),
            settings,
            pending: Vec::new(),
            receiver,
            out: Packets {
                ready: VecDeque::new(),
                spare: Vec::new(),
                ctr: CtrTracker::for_header(settings.framing.header),
                stats: RxStats::default(),
            },
            last_byte: None,
            resyncs: 0,
        }
    }

    /// Decodes `bytes`, received at `now`.
    pub fn push(&mut self, bytes: &[u8], now: Instant) {
        self.last_byte = Some(now);
        if self.receiver.is_some() {
            self.decode_sync_esc(bytes);
        } else {
            self.pending.extend_from_slice(bytes);
            self.decode_pending();
        }
    }

    /// The line has been quiet until `now`: an unfinished frame older than the settings'
    /// `quiet` is dropped and counted.
    pub fn quiet(&mut self, now: Instant) {
        if self.pending.is_empty()
            || self
                .last_byte
                .is_some_and(|t| now.saturating_duration_since(t) < self.settings.quiet)
        {
            return;
        }
        tracing::debug!(
            "{}: {} bytes of an unfinished frame dropped after the line went quiet",
            self.name,
            self.pending.len()
        );
        self.pending.clear();
        self.resyncs += 1;
        self.out.stats.malformed += 1;
    }

    /// The next decoded packet.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        self.out.ready.pop_front()
    }

    /// Gives back a packet's buffer for the next packets.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.out.spare.len() < 64 {
            self.out.spare.push(buffer);
        }
    }

    /// Whether no packet waits.
    pub fn is_empty(&self) -> bool {
        self.out.ready.is_empty()
    }

    /// Bytes held for an unfinished frame (at most a frame plus one read).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Times bytes were dropped to find the next frame.
    pub const fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Packets, bytes, malformed frames and counter gaps so far.
    pub const fn stats(&self) -> RxStats {
        self.out.stats
    }

    /// Decodes what `pending` holds; a frame that cannot be one is passed over byte by byte.
    fn decode_pending(&mut self) {
        let framing = self.settings.framing.framing();
        let limit = self.settings.packet_limit();
        let mut at = 0;
        let mut skipping = false;
        while at < self.pending.len() && self.out.ready.len() < MAX_QUEUED {
            match framing.decode(&self.pending[at..], limit) {
                Ok((frame, used)) => {
                    self.out.take(frame.packet, frame.ctr);
                    at += used;
                    skipping = false;
                }
                Err(DecodeError::Truncated { .. }) if skipping => {
                    // Passing over damage, a header made of noise may promise more bytes
                    // than will come: take the first later offset where a whole frame
                    // decodes instead (its checksum passes, where there is one).
                    match (at + 1..self.pending.len())
                        .find(|&k| framing.decode(&self.pending[k..], limit).is_ok())
                    {
                        Some(k) => at = k,
                        None => break,
                    }
                }
                Err(DecodeError::Truncated { .. }) => break,
                Err(e) => {
                    // LEN 0, too long, or a checksum that does not match: this byte starts
                    // no frame. One resynchronisation per run of bytes passed over.
                    if !skipping {
                        self.resyncs += 1;
                        self.out.stats.malformed += 1;
                        tracing::debug!("{}: {e}; looking for the next frame", self.name);
                    }
                    skipping = true;
                    at += 1;
                }
            }
        }
        self.pending.drain(..at);
    }

    fn decode_sync_esc(&mut self, bytes: &[u8]) {
        let Some(rx) = self.receiver.as_mut() else {
            return;
        };
        let out = &mut self.out;
        let mut bad = 0u64;
        let before = rx.resyncs();
        // With SYNC/ESC framing every error is reported per frame, never as a lost stream.
        let _ = rx.push(bytes, |f| match f {
            Ok(f) => out.take(f.packet, f.ctr),
            Err(_) => bad += 1,
        });
        // A frame cut short by the next SYNC counts as a resynchronisation without an error
        // of its own; either way one frame was lost.
        let resynced = rx.resyncs() - before;
        self.resyncs += resynced;
        self.out.stats.malformed += bad.max(resynced);
    }
}
