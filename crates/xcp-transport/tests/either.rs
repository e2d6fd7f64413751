//! One slave on two transports: the first master latches its side, the other side is refused
//! until it leaves, a silent master is taken over, and replies go where the command came from.

use std::time::Duration;

use xcp_transport::either::{Either, EitherConfig};
use xcp_transport::{PacketRx, PacketTx, Transport, mem};

const WAIT: Duration = Duration::from_secs(2);
const CONNECT: [u8; 2] = [0xFF, 0x00];
const DISCONNECT: [u8; 1] = [0xFE];
const OK: [u8; 1] = [0xFF];

fn recv(rx: &mut impl PacketRx) -> Vec<u8> {
    rx.recv(WAIT)
        .expect("receive works")
        .expect("a packet within the wait")
        .to_vec()
}

const SLICE: Duration = Duration::from_millis(10);

/// Lets the joined receive half work (as a slave's receive loop does) until `done` yields,
/// for at most 5 s.
fn pump_until<T>(rx: &mut impl PacketRx, mut done: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(x) = done() {
            return x;
        }
        assert!(
            rx.recv(SLICE).expect("receive works").is_none(),
            "nothing is delivered"
        );
    }
    panic!("nothing happened within 5 s");
}

#[test]
fn first_master_latches_and_the_other_side_is_refused_until_it_leaves() {
    let (master_a, slave_a) = mem::pair();
    let (master_b, slave_b) = mem::pair();
    let (mut tx, mut rx) = Either::new(slave_a, slave_b).split();
    let (mut a_tx, mut a_rx) = master_a.split();
    let (mut b_tx, mut b_rx) = master_b.split();

    assert!(tx.send_now(&OK).is_err(), "no master yet: nowhere to send");

    a_tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv(&mut rx), CONNECT);
    tx.send_now(&OK).expect("reply");
    assert_eq!(recv(&mut a_rx), OK, "the reply goes to A");

    // B is refused while A holds the slave (the joined half answers while the slave waits
    // on it); B's other traffic is discarded.
    b_tx.send_now(&CONNECT).expect("send");
    let refusal = pump_until(&mut rx, || {
        b_rx.recv(Duration::ZERO).ok().flatten().map(<[u8]>::to_vec)
    });
    assert_eq!(
        refusal,
        [0xFE, 0x33],
        "ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE"
    );
    assert_eq!(rx.refused(), 1);
    b_tx.send_now(&[0xF5, 4]).expect("send");
    let mut foreign = 0;
    for _ in 0..500 {
        assert!(
            rx.recv(SLICE).expect("receive works").is_none(),
            "nothing from B is delivered"
        );
        foreign = rx.stats().foreign;
        if foreign > 0 {
            break;
        }
    }
    assert_eq!(foreign, 1, "B's UPLOAD is counted as foreign");
    a_tx.send_now(&[0xF4, 4, 0, 0, 0, 0, 0, 0]).expect("send");
    assert_eq!(recv(&mut rx)[0], 0xF4, "A's command is delivered");

    // A leaves with DISCONNECT: B may connect now, and replies follow it.
    a_tx.send_now(&DISCONNECT).expect("send");
    assert_eq!(recv(&mut rx), DISCONNECT);
    tx.send_now(&OK).expect("reply");
    assert_eq!(recv(&mut a_rx), OK, "the DISCONNECT reply still goes to A");
    b_tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv(&mut rx), CONNECT);
    tx.send_now(&OK).expect("reply");
    assert_eq!(recv(&mut b_rx), OK, "the reply goes to B");

    // B's link goes away: the slave hears of it, and A may come back.
    drop((b_tx, b_rx));
    let err = rx
        .recv(WAIT)
        .expect_err("the latched side's loss is reported");
    assert!(err.is_disconnect(), "{err}");
    a_tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv(&mut rx), CONNECT);
}

#[test]
fn a_silent_master_is_taken_over_after_the_configured_time() {
    let (master_a, slave_a) = mem::pair();
    let (master_b, slave_b) = mem::pair();
    let config = EitherConfig {
        takeover_after: Duration::ZERO,
    };
    let (mut tx, mut rx) = Either::with_config(slave_a, slave_b, config).split();
    let (mut a_tx, _a_rx) = master_a.split();
    let (mut b_tx, mut b_rx) = master_b.split();

    a_tx.send_now(&CONNECT).expect("send");
    assert_eq!(recv(&mut rx), CONNECT);
    b_tx.send_now(&CONNECT).expect("send");
    let err = rx
        .recv(WAIT)
        .expect_err("the old session ends before the new CONNECT");
    assert!(err.is_disconnect(), "{err}");
    assert!(err.to_string().contains("took over"), "{err}");
    assert_eq!(recv(&mut rx), CONNECT, "then B's CONNECT is delivered");
    tx.send_now(&OK).expect("reply");
    assert_eq!(recv(&mut b_rx), OK);
}
