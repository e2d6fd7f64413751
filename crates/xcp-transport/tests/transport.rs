//! The in-memory pair and the tracing and fault-injecting wrappers.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xcp_transport::fault::{Fault, FaultConfig, FaultStats};
use xcp_transport::mem::{self, MemConfig};
use xcp_transport::{FaultInjecting, PacketRx, PacketTx, Role, Tracing, Transport, TransportError};

const WAIT: Duration = Duration::from_secs(5);

fn recv_vec(rx: &mut impl PacketRx) -> Vec<u8> {
    rx.recv(WAIT)
        .expect("receive failed")
        .expect("no packet within 5 s")
        .to_vec()
}

#[test]
fn mem_pair_carries_every_size_both_ways() {
    let (master, slave) = mem::pair();
    let (mut mt, mut mr) = master.split();
    let (mut st, mut sr) = slave.split();
    for len in 1..=300usize {
        let packet: Vec<u8> = (0..len).map(|i| (i * 7 + len).to_le_bytes()[0]).collect();
        mt.send_now(&packet).unwrap();
        assert_eq!(recv_vec(&mut sr), packet);
        st.send_now(&packet).unwrap();
        assert_eq!(recv_vec(&mut mr), packet);
    }
    assert_eq!(mt.stats().packets, 300);
    assert_eq!(sr.stats().packets, 300);
    assert_eq!(sr.stats().bytes, (1..=300u64).sum::<u64>());
    assert_eq!(mr.recv(Duration::from_millis(1)).unwrap(), None);
}

#[test]
fn mem_pair_full_queue_stalls_instead_of_dropping() {
    let (master, slave) = mem::pair_with(MemConfig {
        capacity: 4,
        max_packet_len: 16,
        send_timeout: Duration::from_millis(20),
    });
    let (mut mt, _) = master.split();
    let (_st, mut sr) = slave.split();
    for i in 0..4u8 {
        mt.send(&[i]).unwrap();
    }
    match mt.send(&[9]) {
        Err(TransportError::Stalled { waited, .. }) => {
            assert_eq!(waited, Duration::from_millis(20));
        }
        other => panic!("expected Stalled, got {other:?}"),
    }
    match mt.send(&[0; 17]) {
        Err(TransportError::TooLong { len: 17, max: 16 }) => {}
        other => panic!("expected TooLong, got {other:?}"),
    }
    for i in 0..4u8 {
        assert_eq!(recv_vec(&mut sr), [i]);
    }
}

#[test]
fn mem_pair_reports_a_dropped_peer_after_draining() {
    let (master, slave) = mem::pair();
    let (mut mt, mr) = master.split();
    let (mut st, mut sr) = slave.split();
    mt.send_now(&[1, 2, 3]).unwrap();
    drop(mt);
    drop(mr);
    assert_eq!(recv_vec(&mut sr), [1, 2, 3]);
    assert!(sr.recv(WAIT).unwrap_err().is_disconnect());
    assert!(st.send_now(&[1]).unwrap_err().is_disconnect());
}

/// Sends `n` one-byte-tagged packets through a fault injector and returns what arrived.
fn through_faults(config: FaultConfig, n: u16) -> (Vec<Vec<u8>>, FaultStats) {
    let (master, slave) = mem::pair();
    let (_mt, mr) = FaultInjecting::new(master, config).split();
    let mut mr = mr;
    let (mut st, _sr) = slave.split();
    for i in 0..n {
        st.send(&i.to_be_bytes()).expect("queue has room");
    }
    let mut got = Vec::new();
    while let Some(p) = mr.recv(Duration::from_millis(30)).expect("receive") {
        got.push(p.to_vec());
    }
    (got, mr.faults())
}

#[test]
fn scripted_faults_hit_exactly_the_chosen_packets() {
    let config = FaultConfig::seeded(1)
        .at(1, Fault::Drop)
        .at(3, Fault::Duplicate)
        .at(
            5,
            Fault::Corrupt {
                offset: 1,
                mask: 0xFF,
            },
        )
        .at(6, Fault::Reorder);
    let (got, stats) = through_faults(config, 9);
    let expected: Vec<Vec<u8>> = vec![
        vec![0, 0],
        vec![0, 2],
        vec![0, 3],
        vec![0, 3],
        vec![0, 4],
        vec![0, 5 ^ 0xFF],
        vec![0, 7],
        vec![0, 6],
        vec![0, 8],
    ];
    assert_eq!(got, expected);
    assert_eq!(
        (
            stats.seen,
            stats.dropped,
            stats.duplicated,
            stats.corrupted,
            stats.reordered
        ),
        (9, 1, 1, 1, 1)
    );
}

#[test]
fn a_delayed_packet_arrives_late_and_a_held_one_is_not_lost() {
    let config = FaultConfig::seeded(2)
        .at(0, Fault::Delay(Duration::from_millis(15)))
        .at(2, Fault::Reorder);
    let (got, _) = through_faults(config, 3);
    // Packet 0 waits 15 ms, packet 2 is held with nothing behind it and released on timeout.
    assert_eq!(got, vec![vec![0, 1], vec![0, 0], vec![0, 2]]);
}

#[test]
fn random_faults_are_reproducible_and_near_their_rates() {
    let config = || {
        FaultConfig::seeded(0xC0FFEE)
            .drop(0.1)
            .duplicate(0.05)
            .corrupt(0.05)
            .reorder(0.05)
    };
    let (a, sa) = through_faults(config(), 2000);
    let (b, sb) = through_faults(config(), 2000);
    assert_eq!(a, b, "same seed, same packets");
    assert_eq!(sa, sb);
    let (c, _) = through_faults(
        FaultConfig {
            seed: 7,
            ..config()
        },
        2000,
    );
    assert_ne!(a, c, "another seed, other faults");
    // 2000 draws: the counts sit well within ±40 % of the expectation.
    assert!((120..=280).contains(&sa.dropped), "{sa:?}");
    assert!((60..=140).contains(&sa.duplicated), "{sa:?}");
    assert!((60..=140).contains(&sa.corrupted), "{sa:?}");
    assert_eq!(a.len() as u64, 2000 - sa.dropped + sa.duplicated);
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_logs_commands_and_responses_in_spec_words() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let (master, slave) = mem::pair();
        let (mut mt, mut mr) = Tracing::named(master, Role::Master, "ecu1").split();
        let (mut st, mut sr) = slave.split();
        mt.send_now(&[0xFF, 0x00]).unwrap();
        recv_vec(&mut sr);
        // CONNECT response: Motorola byte order (bit 0 of COMM_MODE_BASIC).
        st.send_now(&[0xFF, 0x15, 0x01, 0x08, 0x00, 0x08, 0x01, 0x01])
            .unwrap();
        recv_vec(&mut mr);
        // SHORT_UPLOAD, its response, an error and a DAQ packet.
        mt.send_now(&[0xF4, 4, 0, 0, 0x00, 0x01, 0x23, 0x40])
            .unwrap();
        st.send_now(&[0xFF, 1, 2, 3, 4]).unwrap();
        recv_vec(&mut mr);
        st.send_now(&[0xFE, 0x25]).unwrap();
        recv_vec(&mut mr);
        st.send_now(&[0x03, 0xAA, 0xBB]).unwrap();
        recv_vec(&mut mr);
    });
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines[0].contains("CONNECT") && lines[0].contains("ecu1"),
        "{text}"
    );
    assert!(
        lines[1].contains("max_cto") || lines[1].contains("MAX_CTO"),
        "{text}"
    );
    // The SHORT_UPLOAD address is read in the Motorola order CONNECT announced.
    assert!(
        lines[2].contains("SHORT_UPLOAD") && lines[2].contains("12340"),
        "{text}"
    );
    assert!(lines[4].contains("ACCESS_LOCKED"), "{text}");
    assert!(lines[5].contains("DAQ odt=3"), "{text}");
}

#[test]
fn a_zero_timeout_still_asks_the_inner_transport() {
    let (master, slave) = mem::pair();
    let (_mt, mut mr) = FaultInjecting::new(master, FaultConfig::seeded(3)).split();
    let (mut st, _sr) = slave.split();
    assert_eq!(mr.recv(Duration::ZERO).expect("poll"), None);
    st.send_now(&[1, 2]).expect("send");
    assert_eq!(mr.recv(Duration::ZERO).expect("poll"), Some(&[1, 2][..]));
}
