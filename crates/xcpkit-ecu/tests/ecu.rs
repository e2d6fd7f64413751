//! The model as a library: it builds, its tasks run and count, its A2L describes it, and it
//! stops with the cycles it ran.

use std::time::{Duration, Instant};

use xcp_slave::SlaveConfig;
use xcpkit_ecu::{Ecu, NAME, Stress};

/// `counter_1ms` read with SHORT_UPLOAD through the slave's command processor.
fn counter(core: &mut xcp_slave::Core) -> u32 {
    let addr = 0x0001_0000u32.to_le_bytes();
    let out = core.process(
        &[0xF4, 4, 0, 1, addr[0], addr[1], addr[2], addr[3]],
        Instant::now(),
    );
    let p = out.packets().next().expect("SHORT_UPLOAD is answered");
    assert_eq!(p[0], 0xFF, "{p:02x?}");
    u32::from_le_bytes([p[1], p[2], p[3], p[4]])
}

#[test]
fn the_model_runs_its_tasks_and_counts_their_cycles() {
    let ecu = Ecu::build(SlaveConfig::default(), None).expect("builds");
    let a2l = ecu.slave.a2l();
    assert!(
        a2l.contains(&format!("/begin MODULE {NAME}")),
        "the A2L names the ECU"
    );
    for name in [
        "counter_1ms",
        "engine_speed",
        "torque_map",
        "cabin",
        "stress_block",
    ] {
        assert!(a2l.contains(name), "{name} in the A2L");
    }
    let mut core = ecu.slave.core();
    let out = core.process(&[0xFF, 0], Instant::now());
    assert_eq!(out.packets().next().map(|p| p[0]), Some(0xFF), "CONNECT");
    let tasks = ecu.start(Some(Stress::Paced)).expect("starts");
    let first = counter(&mut core);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = first;
    while now < first + 20 && Instant::now() < deadline {
        now = counter(&mut core);
    }
    assert!(now >= first + 20, "counter_1ms went from {first} to {now}");
    let cycles = tasks.stop();
    assert!(cycles.task_1ms >= u64::from(now), "{cycles:?}");
    assert!(
        cycles.task_10ms >= 1 && cycles.task_100ms >= 1,
        "{cycles:?}"
    );
    assert!(cycles.stress > 0, "the stress loop fired: {cycles:?}");
}
