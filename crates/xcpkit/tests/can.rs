//! The facade on a CAN bus: a URL's `daq=` moves the measurement's DAQ lists to identifiers
//! of their own (SET_DAQ_ID), and the session receives them there.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use xcp_a2l::Value;
use xcp_transport_can::{CanBus, CanId, CanRx, CanUrl, VirtualBus, VirtualConfig};
use xcpkit::{MeasureOptions, Options, Session};
use xcpkit_ecu::InProcess;

/// Counts the DTOs (PIDs below 0xC0: DAQ, not answers or events) on the bus by identifier
/// until `stop` is set.
fn spy(bus: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<HashMap<CanId, usize>> {
    let node = VirtualBus::named(
        bus,
        VirtualConfig {
            fd: true,
            ..VirtualConfig::default()
        },
    )
    .node();
    std::thread::spawn(move || {
        let (_tx, mut rx) = node.split();
        let mut seen = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(Some(f)) = rx.recv(Duration::from_millis(20))
                && f.data().first().is_some_and(|&pid| pid < 0xC0)
            {
                *seen.entry(f.id).or_insert(0) += 1;
            }
        }
        seen
    })
}

#[test]
fn daq_lists_go_out_on_the_identifiers_the_url_gives() {
    let ecu_url: CanUrl = "can://virtual/facade-daq?master=0x7E0&slave=0x7E1"
        .parse()
        .expect("url");
    let stop = Arc::new(AtomicBool::new(false));
    let counted = spy("facade-daq", Arc::clone(&stop));
    let ecu = InProcess::start_can(&ecu_url).expect("the ECU on the virtual bus");

    let mut s = Session::open(
        "can://virtual/facade-daq?master=0x7E0&slave=0x7E1&daq=0x300,0x301",
        &Options::default(),
    )
    .expect("open");
    s.load_a2l_from_slave().expect("the ECU's A2L");
    let m = s
        .measure(&["counter_1ms", "counter_10ms"], MeasureOptions::default())
        .expect("measure");
    let mut rows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while rows.len() < 200 && Instant::now() < deadline {
        if let Some(batch) = m.recv(Duration::from_millis(20)).expect("open") {
            rows.extend(batch);
        }
    }
    s.stop().expect("stop");
    stop.store(true, Ordering::Relaxed);
    let seen = counted.join().expect("the spy");
    drop(ecu);

    assert!(rows.len() >= 200, "{} rows within 5 s", rows.len());
    let numbers: Vec<f64> = rows
        .iter()
        .filter_map(|r| match r.values.first() {
            Some(Value::Number(v)) => Some(*v),
            _ => None,
        })
        .collect();
    assert!(!numbers.is_empty(), "counter values");
    let on = |id: u32| {
        seen.get(&CanId::standard(id).expect("id"))
            .copied()
            .unwrap_or(0)
    };
    // Each list's DTOs travel on its own identifier; CAN_ID_SLAVE carries only the answers.
    assert!(on(0x300) >= 100, "DTOs on 0x300: {seen:?}");
    assert!(on(0x301) >= 1, "DTOs on 0x301: {seen:?}");
    assert_eq!(on(0x7E1), 0, "no DTO on CAN_ID_SLAVE: {seen:?}");
}
