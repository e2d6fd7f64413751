//! The slave clock against the monotonic clock.

use std::time::{Duration, Instant};

use xcp_slave::{ClockSource, SlaveClock};

#[test]
fn both_sources_track_the_monotonic_clock() {
    for source in [ClockSource::Monotonic, ClockSource::Tsc] {
        let clock = SlaveClock::new(source);
        let a = clock.now_ns();
        let i = Instant::now();
        while i.elapsed() < Duration::from_millis(30) {
            std::hint::spin_loop();
        }
        let b = clock.now_ns();
        let elapsed = u64::try_from(i.elapsed().as_nanos()).expect("short");
        let measured = b - a;
        // Within 5 % of the monotonic clock over 30 ms.
        assert!(
            measured.abs_diff(elapsed) < elapsed / 20,
            "{source:?}: clock says {measured} ns, Instant {elapsed} ns"
        );
    }
}

#[test]
fn a_simulated_clock_reads_what_was_set_and_a_real_one_refuses_a_setting() {
    let sim = SlaveClock::new(ClockSource::Simulated);
    assert_eq!(sim.now_ns(), 0, "a simulation starts at zero");
    assert!(sim.set_ns(1_234_000_000));
    let i = Instant::now();
    while i.elapsed() < Duration::from_millis(2) {
        std::hint::spin_loop();
    }
    assert_eq!(
        sim.now_ns(),
        1_234_000_000,
        "it stands still between settings"
    );
    // A copy shares the time (the slave's threads and the application hold copies).
    let other = sim.clone();
    assert!(sim.set_ns(5));
    assert_eq!(other.now_ns(), 5);

    let real = SlaveClock::new(ClockSource::Monotonic);
    let before = real.now_ns();
    assert!(!real.set_ns(7));
    assert!(real.now_ns() >= before, "a real clock is not set");
}
