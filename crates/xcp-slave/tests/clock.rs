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
