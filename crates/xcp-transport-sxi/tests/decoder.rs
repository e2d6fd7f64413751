//! The decoder on arbitrary input: packets framed any way and cut into chunks anywhere come
//! out whole and in order; any byte soup never panics, never yields a packet over the
//! limit, and never holds more than a frame and a read of bytes.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use xcp_proto::tl::sxi::SxiConfig;
use xcp_proto::tl::{HeaderFormat, Tail};
use xcp_transport_sxi::{Decoder, SxiSettings};

fn settings() -> impl Strategy<Value = SxiSettings> {
    (0..6usize, 0..3usize, any::<bool>()).prop_map(|(h, t, sync_esc)| SxiSettings {
        framing: SxiConfig {
            header: HeaderFormat::ALL[h],
            tail: Tail::ALL[t],
            sync_esc,
        },
        max_packet: 300,
        ..SxiSettings::default()
    })
}

proptest! {
    #[test]
    fn framed_packets_cut_anywhere_come_out_whole(
        s in settings(),
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..=255), 1..20),
        cuts in proptest::collection::vec(1..64usize, 1..50),
    ) {
        let mut stream = Vec::new();
        for (ctr, p) in (0u16..).zip(&packets) {
            let mut f = vec![0u8; s.framing.max_frame_len(p.len())];
            let n = s.framing.encode(ctr, p, &mut f).expect("frames");
            stream.extend_from_slice(&f[..n]);
        }
        let mut d = Decoder::new("test", s);
        let now = Instant::now();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        let mut got = Vec::new();
        while !rest.is_empty() {
            let n = (*cut.next().expect("cycle")).min(rest.len());
            d.push(&rest[..n], now);
            rest = &rest[n..];
            while let Some(p) = d.pop() {
                got.push(p);
            }
        }
        prop_assert_eq!(&got, &packets);
        let st = d.stats();
        prop_assert_eq!((st.lost, st.malformed, d.resyncs()), (0, 0, 0));
    }

    #[test]
    fn byte_soup_never_panics_nor_overflows(
        s in settings(),
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..30),
    ) {
        let mut d = Decoder::new("test", s);
        let limit = s.packet_limit();
        let start = Instant::now();
        for (i, c) in chunks.iter().enumerate() {
            let now = start + Duration::from_millis(7) * u32::try_from(i).unwrap_or(0);
            d.push(c, now);
            while let Some(p) = d.pop() {
                prop_assert!(!p.is_empty() && p.len() <= limit, "{} bytes", p.len());
            }
            prop_assert!(d.pending() <= s.framing.max_frame_len(limit) + 600, "{} held", d.pending());
            d.quiet(now + Duration::from_millis(30));
            prop_assert_eq!(d.pending(), 0, "a quiet line drops an unfinished frame");
        }
    }
}
