//! The master's futures on a tokio runtime: one task drives two slaves at once, and each
//! answer belongs to its own slave.

use xcpkit::master::{Config, Master};
use xcpkit::proto::Address;
use xcpkit_ecu::InProcess;

/// `counter_1ms`: u32 at an absolute address (extension 1).
const COUNTER: Address = Address::new(1, 0x0001_0000);

fn open(ecu: &InProcess) -> Master {
    let link = xcp_transport_eth::connect(
        ecu.addr().expect("the ECU serves TCP"),
        xcp_transport_eth::Protocol::Tcp,
        &xcp_transport_eth::EthConfig::default(),
    )
    .expect("the ECU listens");
    Master::new(link, Config::default()).expect("a master")
}

fn counter(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("four bytes"))
}

#[test]
fn one_tokio_task_drives_two_slaves_concurrently() {
    let a = InProcess::start_tcp("127.0.0.1:0".parse().expect("addr")).expect("ECU A");
    let b = InProcess::start_tcp("127.0.0.1:0".parse().expect("addr")).expect("ECU B");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    let (first, last) = rt.block_on(async {
        let (mut ma, mut mb) = (open(&a), open(&b));
        let (ca, cb) = tokio::join!(ma.connect(), mb.connect());
        ca.expect("CONNECT A");
        cb.expect("CONNECT B");
        let mut first = None;
        let mut last = (0, 0);
        for _ in 0..200 {
            let (x, y) = tokio::join!(ma.upload(COUNTER, 4), mb.upload(COUNTER, 4));
            let now = (counter(&x.expect("A")), counter(&y.expect("B")));
            first.get_or_insert(now);
            last = now;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let (da, db) = tokio::join!(ma.disconnect(), mb.disconnect());
        da.expect("DISCONNECT A");
        db.expect("DISCONNECT B");
        (first.expect("read"), last)
    });
    // Both ECUs count their own 1 ms cycles: both moved, each answer came from its slave
    // (two counters that each only grow).
    assert!(
        last.0 > first.0 && last.1 > first.1,
        "{first:?} -> {last:?}"
    );
    // The ECUs' counters are independent: each slave counted only its own commands.
    let (sa, sb) = (a.slave().stats(), b.slave().stats());
    assert!(sa.commands >= 202 && sb.commands >= 202, "{sa:?} {sb:?}");
}
