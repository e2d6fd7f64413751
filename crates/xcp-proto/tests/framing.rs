//! Transport framing and checksums: golden frames, stream reassembly under any split, and
//! checksum vectors from independent sources.

use proptest::prelude::*;
use xcp_proto::tl::{can, eth, sxi, usb};
use xcp_proto::*;

// Check values of the CRC catalogue for the ASCII string "123456789", and for the block
// 01 02 .. 10 FF×8 values computed with Python's zlib.crc32, binascii.crc_hqx(data, 0xFFFF)
// and a bit-by-bit CRC-16/ARC plus struct-unpacked word sums (not with this crate).
#[test]
fn checksum_vectors_from_independent_sources() {
    let check = b"123456789";
    let ib = ByteOrder::Intel;
    assert_eq!(checksum(ChecksumType::Crc16, check, ib), Ok(0xBB3D));
    assert_eq!(checksum(ChecksumType::Crc16Citt, check, ib), Ok(0x29B1));
    assert_eq!(checksum(ChecksumType::Crc32, check, ib), Ok(0xCBF4_3926));

    let mut block: Vec<u8> = (1..=16).collect();
    block.extend([0xFF; 8]);
    let mb = ByteOrder::Motorola;
    let cases = [
        (ChecksumType::Add11, ib, 0x80),
        (ChecksumType::Add12, ib, 0x880),
        (ChecksumType::Add14, ib, 0x880),
        (ChecksumType::Add22, ib, 0x483C),
        (ChecksumType::Add22, mb, 0x4044),
        (ChecksumType::Add24, ib, 0x4_483C),
        (ChecksumType::Add24, mb, 0x4_4044),
        (ChecksumType::Add44, ib, 0x2824_201A),
        (ChecksumType::Add44, mb, 0x1C20_2426),
        (ChecksumType::Crc16, ib, 0x0EB2),
        (ChecksumType::Crc16Citt, ib, 0xED29),
        (ChecksumType::Crc32, ib, 0xEF19_895C),
    ];
    for (kind, order, expected) in cases {
        assert_eq!(checksum(kind, &block, order), Ok(expected), "{kind} {order:?}");
        // Incremental over uneven chunks gives the same result.
        let mut c = Checksum::new(kind, order).unwrap();
        for chunk in block.chunks(3) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), Ok(expected), "{kind} in chunks of 3");
    }
}

#[test]
fn checksum_rejects_partial_words_and_user_defined() {
    assert_eq!(
        checksum(ChecksumType::Add44, &[1, 2, 3], ByteOrder::Intel),
        Err(ChecksumError::BlockSize { kind: ChecksumType::Add44, len: 3, multiple: 4 })
    );
    assert_eq!(
        checksum(ChecksumType::UserDefined, &[1], ByteOrder::Intel),
        Err(ChecksumError::Unsupported(ChecksumType::UserDefined))
    );
}

#[test]
fn ethernet_frames_and_datagrams() {
    let mut out = [0u8; 64];
    let n = eth::encode(0x0102, &[0xFF, 0x00], &mut out).unwrap();
    assert_eq!(&out[..n], &[0x02, 0x00, 0x02, 0x01, 0xFF, 0x00]);

    // Two packets in one datagram.
    let dgram = [0x01, 0x00, 0x07, 0x00, 0xFF, 0x02, 0x00, 0x08, 0x00, 0xFE, 0x20];
    let frames: Vec<_> = eth::packets(&dgram, 255).collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].ctr, Some(7));
    assert_eq!(frames[0].packet, &[0xFF]);
    assert_eq!(frames[1].packet, &[0xFE, 0x20]);

    // A LEN past the end of the datagram is an error, not a panic.
    let bad = [0x10, 0x00, 0x00, 0x00, 0xFF];
    let r: Vec<_> = eth::packets(&bad, 255).collect();
    assert!(matches!(r[..], [Err(DecodeError::Truncated { .. })]), "{r:?}");
    // LEN above the maximum.
    let big = [0x00, 0x01, 0x00, 0x00];
    let r: Vec<_> = eth::packets(&big, 255).collect();
    assert!(matches!(r[..], [Err(DecodeError::TooLong { len: 256, max: 255, .. })]), "{r:?}");
}

#[test]
fn ethernet_packer_respects_the_limit() {
    let mut p = eth::Packer::new(vec![0u8; 9000], 20);
    assert_eq!(p.push(0, &[1; 10]), Ok(true));
    assert_eq!(p.push(1, &[2; 3]), Ok(false), "4+10 + 4+3 > 20");
    assert_eq!(p.frames(), 1);
    assert!(matches!(p.push(2, &[0; 17]), Err(EncodeError::TooLong { .. })));
    let bytes = p.bytes().to_vec();
    assert_eq!(bytes.len(), 14);
    p.clear();
    assert!(p.is_empty());
}

#[test]
fn ctr_tracker_counts_gaps_and_wraparound() {
    let mut t = eth::CtrTracker::default();
    assert_eq!(t.observe(0xFFFE), 0);
    assert_eq!(t.observe(0xFFFF), 0);
    assert_eq!(t.observe(0x0002), 2, "0 and 1 missing across the wrap");
    assert_eq!(t.observe(0x0001), 0, "a step back is not a loss");
    assert_eq!((t.lost, t.out_of_order, t.received), (2, 1, 4));
}

#[test]
fn deframer_fails_cleanly_on_lost_sync() {
    let mut d = Deframer::with_capacity(Framing::ETH, 255);
    let mut got = 0;
    let r = d.push(&[0xFF, 0xFF, 0, 0, 1], |_| got += 1);
    assert!(matches!(r, Err(DecodeError::TooLong { len: 0xFFFF, max: 255, .. })));
    assert_eq!(got, 0);
    // Stays failed until reset.
    assert!(d.push(&[1, 0, 0, 0, 0xFF], |_| got += 1).is_err());
    d.reset();
    d.push(&[1, 0, 0, 0, 0xFF], |_| got += 1).unwrap();
    assert_eq!(got, 1);
    // LEN 0 is invalid too.
    let r = d.push(&[0, 0, 0, 0], |_| {});
    assert!(matches!(r, Err(DecodeError::InvalidField { field: "LEN", .. })));
}

fn arb_framing() -> impl Strategy<Value = Framing> {
    let header = prop_oneof![
        Just(HeaderFormat::LenByte),
        Just(HeaderFormat::LenCtrByte),
        Just(HeaderFormat::LenFillByte),
        Just(HeaderFormat::LenWord),
        Just(HeaderFormat::LenCtrWord),
        Just(HeaderFormat::LenFillWord),
    ];
    let tail = prop_oneof![Just(Tail::None), Just(Tail::Byte), Just(Tail::Word)];
    (header, tail).prop_map(|(header, tail)| Framing { header, tail })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any stream of frames, cut at any points, yields the same packets in order.
    #[test]
    fn deframer_survives_any_split(
        framing in arb_framing(),
        packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 1..20),
        cuts in prop::collection::vec(any::<u16>(), 0..30),
    ) {
        let mut stream = Vec::new();
        let mut buf = vec![0u8; 512];
        for (i, p) in packets.iter().enumerate() {
            let n = framing.encode(i as u16, p, &mut buf).unwrap();
            stream.extend_from_slice(&buf[..n]);
        }
        let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c) % (stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut d = Deframer::with_capacity(framing, 255);
        let mut got: Vec<(Option<u16>, Vec<u8>)> = Vec::new();
        for w in points.windows(2) {
            d.push(&stream[w[0]..w[1]], |f| {
                let f = f.expect("checksum ok");
                got.push((f.ctr, f.packet.to_vec()));
            }).unwrap();
        }
        prop_assert_eq!(got.len(), packets.len());
        for (i, ((ctr, p), want)) in got.iter().zip(&packets).enumerate() {
            prop_assert_eq!(p, want);
            if framing.header.has_ctr() {
                let mask = if framing.header.len() == 2 { 0xFF } else { 0xFFFF };
                prop_assert_eq!(*ctr, Some(i as u16 & mask));
            }
        }
        prop_assert_eq!(d.pending(), 0);
    }

    /// SxI with SYNC/ESC: every packet comes back, even when it is full of SYNC and ESC bytes.
    #[test]
    fn sxi_sync_esc_round_trip(
        packets in prop::collection::vec(prop::collection::vec(prop_oneof![Just(0x9Au8), Just(0x9B), any::<u8>()], 1..60), 1..10),
        tail in prop_oneof![Just(Tail::None), Just(Tail::Byte), Just(Tail::Word)],
    ) {
        let cfg = sxi::SxiConfig { header: HeaderFormat::LenCtrWord, tail, sync_esc: true };
        let mut stream = Vec::new();
        let mut buf = vec![0u8; 256];
        for (i, p) in packets.iter().enumerate() {
            let n = cfg.encode(i as u16, p, &mut buf).unwrap();
            prop_assert_eq!(buf[0], sxi::SYNC);
            prop_assert!(!buf[1..n].contains(&sxi::SYNC), "SYNC only at the start");
            stream.extend_from_slice(&buf[..n]);
        }
        let mut rx = sxi::SxiReceiver::new(cfg, 255, vec![0u8; 300]).unwrap();
        let mut got = Vec::new();
        rx.push(&stream, |f| got.push(f.unwrap().packet.to_vec())).unwrap();
        prop_assert_eq!(got, packets);
        prop_assert_eq!(rx.resyncs(), 0);
    }
}

#[test]
fn sxi_checksum_errors_are_reported_and_decoding_goes_on() {
    let framing = Framing { header: HeaderFormat::LenByte, tail: Tail::Byte };
    // LEN 2, packet FF 00, checksum 02+FF+00 = 0x101 -> 0x01.
    let mut out = [0u8; 8];
    let n = framing.encode(0, &[0xFF, 0x00], &mut out).unwrap();
    assert_eq!(&out[..n], &[0x02, 0xFF, 0x00, 0x01]);
    // Word tail: header+packet 02 FF 00 is odd, so one fill byte: words 0xFF02 + 0x0000.
    let wf = Framing { header: HeaderFormat::LenByte, tail: Tail::Word };
    let n = wf.encode(0, &[0xFF, 0x00], &mut out).unwrap();
    assert_eq!(&out[..n], &[0x02, 0xFF, 0x00, 0x00, 0x02, 0xFF]);

    let stream = [0x02, 0xFF, 0x00, 0x55, 0x01, 0xFE, 0xFF];
    let mut d = Deframer::with_capacity(framing, 255);
    let mut results = Vec::new();
    d.push(&stream, |f| results.push(f.map(|f| f.packet.to_vec()))).unwrap();
    assert!(matches!(results[0], Err(DecodeError::Checksum { computed: 1, received: 0x55, .. })));
    assert_eq!(results[1], Ok(vec![0xFE]));
}

#[test]
fn sxi_resynchronises_on_sync() {
    let cfg = sxi::SxiConfig { header: HeaderFormat::LenByte, tail: Tail::None, sync_esc: true };
    let mut rx = sxi::SxiReceiver::new(cfg, 255, vec![0u8; 300]).unwrap();
    let mut got = Vec::new();
    // A frame cut off by noise, then a good frame.
    rx.push(&[0x9A, 0x05, 0xFF, 0x9A, 0x01, 0xFD], |f| got.push(f.map(|f| f.packet.to_vec())))
        .unwrap();
    assert_eq!(got, vec![Ok(vec![0xFD])]);
    assert_eq!(rx.resyncs(), 1);
    // A bad escape is reported and skipped.
    got.clear();
    rx.push(&[0x9A, 0x02, 0x9B, 0x07, 0x9A, 0x01, 0xFC], |f| got.push(f.map(|f| f.packet.to_vec())))
        .unwrap();
    assert!(matches!(got[0], Err(DecodeError::InvalidField { field: "ESC", value: 7, .. })));
    assert_eq!(got[1], Ok(vec![0xFC]));
}

#[test]
fn can_lengths_padding_and_ids() {
    assert_eq!(can::dlc_for_len(8, false), Some(8));
    assert_eq!(can::dlc_for_len(9, false), None);
    assert_eq!(can::dlc_for_len(12, true), Some(9));
    assert_eq!(can::dlc_for_len(64, true), Some(15));
    assert_eq!(can::dlc_for_len(13, true), None);
    assert_eq!(can::len_for_dlc(15, true), Some(64));
    assert_eq!(can::len_for_dlc(15, false), Some(8));
    assert_eq!(can::round_up_len(13, true), Some(16));
    assert_eq!(can::round_up_len(33, true), Some(48));
    assert_eq!(can::round_up_len(9, false), None);

    let classic = can::CanConfig::default();
    let mut out = [0u8; 64];
    assert_eq!(classic.encode(&[0xFF, 0x00], &mut out), Ok(2));
    let padded = can::CanConfig { max_dlc_required: true, padding: 0x55, ..classic };
    assert_eq!(padded.encode(&[0xFF, 0x00], &mut out), Ok(8));
    assert_eq!(&out[..8], &[0xFF, 0x00, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55]);
    assert!(padded.decode(&out[..2]).is_err(), "unpadded frame with MAX_DLC_REQUIRED");
    assert_eq!(padded.decode(&out[..8]).unwrap().len(), 8);

    let fd = can::CanConfig { fd: true, max_dlc: 64, ..classic };
    assert_eq!(fd.encode(&[1; 13], &mut out), Ok(16));
    assert!(matches!(fd.encode(&[1; 65], &mut out), Err(EncodeError::TooLong { .. })));
    assert!(matches!(fd.decode(&[0; 13]), Err(DecodeError::InvalidField { field: "DLC", .. })));
    assert!(matches!(classic.encode(&[1; 9], &mut out), Err(EncodeError::TooLong { max: 8, .. })));

    let id = can::CanId::from_a2l(0x8000_0123).unwrap();
    assert_eq!(id, can::CanId { id: 0x123, extended: true });
    assert_eq!(id.to_a2l(), 0x8000_0123);
    assert!(can::CanId::from_a2l(0x800).is_err(), "0x800 does not fit 11 bits");
    assert!(classic.to_string().contains("cmd_id=0x7e0 (master→slave) res_id=0x7e1"));
}

#[test]
fn usb_multiple_packing_with_alignment() {
    let cfg = usb::UsbConfig {
        header: HeaderFormat::LenCtrWord,
        packing: usb::Packing::Multiple,
        alignment: usb::Alignment::Bits32,
    };
    let mut transfer = [0xEEu8; 64];
    let mut used = 0;
    assert_eq!(cfg.pack(1, &[0xFF], &mut transfer, &mut used), Ok(true));
    assert_eq!(used, 8, "4 header + 1 packet, rounded up to 4 bytes");
    assert_eq!(cfg.pack(2, &[0xFE, 0x20, 0x01], &mut transfer, &mut used), Ok(true));
    assert_eq!(used, 16);
    assert_eq!(&transfer[..8], &[1, 0, 1, 0, 0xFF, 0, 0, 0]);
    transfer[used..].fill(0);
    let got: Vec<_> = cfg.unpack(&transfer, 255).map(|f| f.unwrap().packet.to_vec()).collect();
    assert_eq!(got, vec![vec![0xFF], vec![0xFE, 0x20, 0x01]]);

    let single = usb::UsbConfig { packing: usb::Packing::Single, ..cfg };
    let mut used = 0;
    assert_eq!(single.pack(0, &[1], &mut transfer, &mut used), Ok(true));
    assert_eq!(single.pack(1, &[2], &mut transfer, &mut used), Ok(false));
}
