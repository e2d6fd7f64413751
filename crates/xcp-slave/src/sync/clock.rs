//! Reading the time-stamp counter: the DAQ trigger's fast clock on x86_64.
//!
//! `Instant::now()` costs about 26 ns on this kind of virtual machine (a vDSO call); the TSC
//! costs about 10 ns. The TSC is only used when the CPU says it is invariant (`constant_tsc`
//! and `nonstop_tsc` on Linux), and it is calibrated against the monotonic clock.

/// Reads the time-stamp counter, or `None` where there is none.
#[inline]
pub(crate) fn read_tsc() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64; it only reads a counter.
        Some(unsafe { core::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Whether the TSC ticks at a constant rate through frequency changes and sleep states.
pub(crate) fn tsc_is_invariant() -> bool {
    if read_tsc().is_none() {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    info.lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|flags| {
            let mut words = flags.split_whitespace();
            let has = |w: &mut core::str::SplitWhitespace<'_>, f: &str| w.clone().any(|x| x == f);
            has(&mut words, "constant_tsc") && has(&mut words, "nonstop_tsc")
        })
}
