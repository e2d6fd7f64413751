//! The slave clock: nanoseconds since the Unix epoch, read cheaply.
//!
//! The epoch offset is taken once from the system clock when the slave is built; after that
//! the clock is monotonic (the TSC or `Instant`), so DAQ timestamps never jump back when the
//! system clock is adjusted, and recordings of several slaves on one host line up.
//! A simulated clock instead reads what the application last set (an FMU's simulation time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::ClockSource;
use crate::sync::clock::{read_tsc, tsc_is_invariant};

/// A calibrated clock, or a simulated one.
#[derive(Debug, Clone)]
pub struct SlaveClock {
    start: Instant,
    unix_start_ns: u64,
    tsc: Option<Tsc>,
    /// Set for [`ClockSource::Simulated`]: the time the application last set.
    simulated: Option<Arc<AtomicU64>>,
    /// Offset from the host's Unix time (ns) and rate error (ppm) of a skewed clock.
    skew: Option<(i64, i64)>,
}

#[derive(Debug, Clone, Copy)]
struct Tsc {
    start: u64,
    /// Nanoseconds per tick, as a 32.32 fixed-point number.
    mult: u64,
}

impl SlaveClock {
    /// A clock of the given source; the first TSC clock of a process calibrates for about
    /// 20 ms, later ones reuse the rate.
    pub fn new(source: ClockSource) -> Self {
        let start = Instant::now();
        let unix_start_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let tsc = if source == ClockSource::Tsc {
            tsc_rate().and_then(|mult| anchor(start, mult))
        } else {
            None
        };
        Self {
            start,
            unix_start_ns,
            tsc,
            simulated: (source == ClockSource::Simulated).then(|| Arc::new(AtomicU64::new(0))),
            skew: None,
        }
    }

    /// The clock offset by `offset_ns` from the host's Unix time and running `ppm` parts per
    /// million fast (negative: slow), as an ECU's own clock does; a simulated clock stays as
    /// the application sets it.
    #[must_use]
    pub fn skewed(mut self, offset_ns: i64, ppm: i32) -> Self {
        if (offset_ns != 0 || ppm != 0) && self.simulated.is_none() {
            self.skew = Some((offset_ns, i64::from(ppm)));
        }
        self
    }

    /// Unix nanoseconds for `elapsed` nanoseconds since the clock was made.
    #[inline]
    fn at(&self, elapsed: u64) -> u64 {
        let Some((offset, ppm)) = self.skew else {
            return self.unix_start_ns.wrapping_add(elapsed);
        };
        let e = i128::from(elapsed);
        let t = i128::from(self.unix_start_ns)
            + i128::from(offset)
            + e
            + e * i128::from(ppm) / 1_000_000;
        u64::try_from(t.max(0)).unwrap_or(u64::MAX)
    }

    /// Sets a simulated clock to `ns`; `false` (and nothing changes) for a real clock.
    pub fn set_ns(&self, ns: u64) -> bool {
        self.simulated
            .as_ref()
            .map(|s| s.store(ns, Ordering::Release))
            .is_some()
    }

    /// Whether the TSC is in use.
    pub fn uses_tsc(&self) -> bool {
        self.tsc.is_some()
    }

    /// Nanoseconds since the Unix epoch (a simulated clock: since the simulation's zero).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        if let Some(sim) = &self.simulated {
            return sim.load(Ordering::Acquire);
        }
        if let Some(tsc) = self.tsc
            && let Some(now) = read_tsc()
        {
            let ticks = u128::from(now.wrapping_sub(tsc.start));
            let ns = (ticks * u128::from(tsc.mult)) >> 32;
            return self.at(u64::try_from(ns).unwrap_or(u64::MAX));
        }
        self.at(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

/// Nanoseconds per TSC tick as 32.32 fixed point, measured once per process (about 20 ms):
/// the rate is a property of the machine, so every slave shares it and only the first
/// slave of a process pays for the calibration.
fn tsc_rate() -> Option<u64> {
    static RATE: OnceLock<Option<u64>> = OnceLock::new();
    *RATE.get_or_init(|| {
        if !tsc_is_invariant() {
            return None;
        }
        let t0 = read_tsc()?;
        let i0 = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let t1 = read_tsc()?;
        let ns = i0.elapsed().as_nanos();
        let ticks = u128::from(t1.checked_sub(t0)?);
        if ticks == 0 {
            return None;
        }
        u64::try_from((ns << 32) / ticks).ok()
    })
}

/// A TSC origin projected back to `start`, so both clock sources share one origin.
fn anchor(start: Instant, mult: u64) -> Option<Tsc> {
    let now = read_tsc()?;
    let since_start = u64::try_from(start.elapsed().as_nanos()).ok()?;
    let back = u64::try_from((u128::from(since_start) << 32) / u128::from(mult.max(1))).ok()?;
    Some(Tsc {
        start: now.wrapping_sub(back),
        mult,
    })
}
