//! The transport on a pseudo-terminal, fed bytes by hand: every header × tail × framing
//! round trip, and a receiver that survives noise, a lost byte and a bad checksum.

use std::io::Write;
use std::time::Duration;

use xcp_proto::tl::sxi::SxiConfig;
use xcp_proto::tl::{HeaderFormat, Tail};
use xcp_transport::{PacketRx, PacketTx, Transport};
use xcp_transport_sxi::{SxiSettings, SxiTransport};

fn settings(header: HeaderFormat, tail: Tail, sync_esc: bool) -> SxiSettings {
    SxiSettings {
        framing: SxiConfig {
            header,
            tail,
            sync_esc,
        },
        ..SxiSettings::default()
    }
}

/// A pseudo-terminal served by one transport and opened by path by another.
fn pair(s: SxiSettings) -> (SxiTransport, SxiTransport) {
    let a = SxiTransport::pty(s).expect("a pseudo-terminal");
    let b = SxiTransport::open(a.path(), s).expect("its path opens");
    (a, b)
}

fn recv(rx: &mut impl PacketRx) -> Vec<u8> {
    rx.recv(Duration::from_secs(2))
        .expect("no error")
        .expect("a packet within 2 s")
        .to_vec()
}

#[test]
fn every_header_tail_and_framing_carries_packets_both_ways() {
    // Packets with the framing's special bytes (SYNC 0x9A, ESC 0x9B) and of every length
    // class: one byte, odd (word fill), the byte headers' maximum.
    let packets: Vec<Vec<u8>> = vec![
        vec![0xFF],
        vec![0xFE, 0x9A, 0x9B, 0x00, 0x9A],
        (0..=254u8).collect(),
        vec![0x9B; 64],
    ];
    for header in HeaderFormat::ALL {
        for tail in Tail::ALL {
            for sync_esc in [false, true] {
                let what = format!("{header} {tail} sync_esc={sync_esc}");
                let (a, b) = pair(settings(header, tail, sync_esc));
                let (mut atx, mut arx) = a.split();
                let (mut btx, mut brx) = b.split();
                for p in &packets {
                    atx.send(p).expect("queue");
                }
                atx.flush().expect("flush");
                for p in &packets {
                    assert_eq!(&recv(&mut brx), p, "{what}: slave to master");
                }
                for p in &packets {
                    btx.send_now(p).expect("send");
                    assert_eq!(&recv(&mut arx), p, "{what}: master to slave");
                }
                let (s, t) = (brx.stats(), atx.stats());
                assert_eq!((s.packets, s.lost, s.malformed), (4, 0, 0), "{what}");
                assert_eq!((t.packets, t.dropped), (4, 0), "{what}");
                let too_long = vec![
                    0u8;
                    if header.max_packet_len() == 255 {
                        256
                    } else {
                        1025
                    }
                ];
                assert!(atx.send(&too_long).is_err(), "{what}: over the limit");
            }
        }
    }
}

/// Frames of `packet` for `s`, counter `ctr`.
fn frame(s: &SxiSettings, ctr: u16, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; s.framing.max_frame_len(packet.len())];
    let n = s.framing.encode(ctr, packet, &mut out).expect("frames");
    out.truncate(n);
    out
}

fn noisy_line(s: SxiSettings) {
    let what = format!("{}", s);
    let a = SxiTransport::pty(s).expect("pty");
    let mut raw = serialport::new(a.path(), 115_200)
        .timeout(Duration::from_secs(1))
        .open()
        .expect("the pty by path");
    let (_atx, mut arx) = a.split();
    let good = |n: u8| vec![0xFF, n, 0x11, 0x22, 0x33];
    let mut bytes = frame(&s, 0, &good(1));
    // Noise between frames.
    bytes.extend_from_slice(&[0x00, 0x00, 0x00]);
    // A frame with a flipped bit in its packet: a checksum catches it (without one, only
    // SYNC/ESC framing finds the frames, and the flipped bit goes through).
    let checked = s.framing.tail != Tail::None;
    let mut bad = frame(&s, 1, &good(2));
    if checked {
        let i = bad.len() - 3;
        bad[i] ^= 0x10;
    }
    bytes.extend_from_slice(&bad);
    bytes.extend_from_slice(&frame(&s, 2, &good(3)));
    raw.write_all(&bytes).expect("write");
    assert_eq!(recv(&mut arx), good(1), "{what}");
    if !checked {
        assert_eq!(recv(&mut arx), good(2), "{what}");
    }
    assert_eq!(
        recv(&mut arx),
        good(3),
        "{what}: the frame after the damage"
    );
    // A frame that lost its last byte, then the line goes quiet: it is dropped, the next
    // one after the pause arrives.
    let mut cut = frame(&s, 3, &good(4));
    cut.pop();
    raw.write_all(&cut).expect("write");
    raw.flush().expect("flush");
    assert!(
        arx.recv(Duration::from_millis(100))
            .expect("no error")
            .is_none(),
        "{what}: nothing from a cut frame"
    );
    raw.write_all(&frame(&s, 4, &good(5))).expect("write");
    assert_eq!(
        recv(&mut arx),
        good(5),
        "{what}: the frame after a quiet line"
    );
    let st = arx.stats();
    assert!(arx.resyncs() >= 1, "{what}: {} resyncs", arx.resyncs());
    assert!(st.malformed >= 1, "{what}: {st:?}");
    assert_eq!(st.packets, if checked { 3 } else { 4 }, "{what}");
}

#[test]
fn noise_a_lost_byte_and_a_bad_checksum_cost_one_frame_each() {
    noisy_line(settings(HeaderFormat::LenCtrWord, Tail::Byte, false));
    noisy_line(settings(HeaderFormat::LenByte, Tail::Word, false));
    noisy_line(settings(HeaderFormat::LenCtrByte, Tail::None, true));
    noisy_line(settings(HeaderFormat::LenWord, Tail::Byte, true));
}

#[test]
fn a_line_nobody_reads_stalls_within_the_write_timeout() {
    let s = SxiSettings {
        write_timeout: Duration::from_millis(100),
        ..SxiSettings::default()
    };
    let a = SxiTransport::pty(s).expect("pty");
    let (mut tx, _rx) = a.split();
    let packet = [0u8; 255];
    let started = std::time::Instant::now();
    let err = loop {
        if let Err(e) = tx.send(&packet) {
            break e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a full pseudo-terminal refuses within 10 s"
        );
    };
    assert!(err.to_string().contains("did not take data"), "{err}");
    assert!(tx.stats().dropped > 0);
}
