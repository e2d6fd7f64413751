//! The body of the `slave_process` fuzz target, shared with a property test so it runs on
//! stable in CI.
//!
//! Input: a byte string cut into commands (each prefixed by its length byte) that run through
//! the command processor of a slave with every feature on (calibration, DAQ, flash, seed &
//! key). Invariants: no panic; every packet out is a RES, ERR, EV or SERV no longer than
//! MAX_CTO; an ERR carries a code.

use std::time::{Duration, Instant};

use crate::{CharKind, DemoSeedKey, ElementType, FlashConfig, Meta, Slave, SlaveConfig};

/// Builds the slave the fuzz inputs run against.
///
/// # Panics
/// Never with the fixed registrations below (they are valid by construction).
pub fn fuzz_slave() -> Slave {
    let mut b = Slave::builder("fuzz").config(SlaveConfig {
        max_cto: 32,
        erase_time_per_sector: Duration::from_millis(1),
        protected: xcp_proto::Resources::PGM,
        // No TSC calibration: fuzzing builds many slaves.
        clock: crate::ClockSource::Monotonic,
        ..SlaveConfig::default()
    });
    let ev = b
        .event("1ms", Some(Duration::from_millis(1)), 0)
        .expect("valid event");
    let seg = b.cal_segment("params", &[0u32; 8]).expect("valid segment");
    b.characteristic(
        &seg,
        "p0",
        0,
        ElementType::U32,
        CharKind::Value,
        Meta::default(),
    )
    .expect("inside the segment");
    b.global::<u32>("counter", Some(ev), Meta::default())
        .expect("room for a global");
    b.seed_key(Box::new(DemoSeedKey::new(b"fuzz", 4)))
        .flash(FlashConfig {
            base: 0x0800_0000,
            sector_size: 256,
            sectors: 2,
        })
        .build()
        .expect("valid configuration")
}

/// Runs one fuzz input; returns the number of DTOs the input made the slave send.
///
/// # Panics
/// When an invariant breaks (that is the point).
pub fn check_process(slave: &Slave, data: &[u8]) -> usize {
    let mut core = slave.core();
    let event = slave.event(crate::EventId(0)).expect("event 0 exists");
    let max = usize::from(core.params().max_cto);
    let mut now = Instant::now();
    let mut rest = data;
    // Connect first so that inputs reach the interesting commands.
    core.process(&[0xFF, 0], now);
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (cmd, tail) = tail.split_at(n);
        rest = tail;
        for p in core.process(cmd, now).packets() {
            assert!(
                p.first().is_some_and(|&pid| pid >= 0xFC),
                "not a CTO: {p:02x?}"
            );
            assert!(p.len() <= max, "longer than MAX_CTO: {p:02x?}");
            assert!(p[0] != 0xFE || p.len() >= 2, "ERR without a code");
        }
        event.trigger();
        now += Duration::from_millis(1);
        for p in core.handle_timeout(now).packets() {
            assert!(
                p.first().is_some_and(|&pid| pid >= 0xFC),
                "not a CTO: {p:02x?}"
            );
        }
    }
    let mut out = Vec::new();
    let mut dtos = 0;
    while slave.pop_dto(&mut out) {
        assert!(
            out.len() <= usize::from(core.params().max_dto),
            "DTO beyond MAX_DTO"
        );
        dtos += 1;
    }
    core.end_session();
    dtos
}
