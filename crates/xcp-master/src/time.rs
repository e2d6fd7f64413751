//! Clocks: the host clock in Unix nanoseconds, the slave's DAQ timestamp linearised across
//! wraparounds, and the correlation of the slave clock to the host clock via GET_DAQ_CLOCK.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::session::Master;

/// Host time in Unix nanoseconds (the system clock).
pub fn host_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Extends a wrapping slave timestamp (1, 2 or 4 bytes of ticks) to 64 bits.
///
/// Each reading comes with the host time it arrived at; the host clock says roughly how many
/// ticks passed, which picks the number of wraps, so even a list slower than the wrap period
/// (4.3 s for 32-bit nanosecond ticks) stays right while the host clock is.
#[derive(Debug, Clone, Copy)]
pub struct Linearizer {
    bits: u32,
    tick_ns: f64,
    last: Option<(u64, u64)>,
}

impl Linearizer {
    /// A linearizer for `size` bytes of ticks of `tick_ns` nanoseconds.
    pub fn new(size: usize, tick_ns: f64) -> Self {
        Self {
            bits: u32::try_from(size * 8).unwrap_or(32).min(64),
            tick_ns: if tick_ns > 0.0 { tick_ns } else { 1.0 },
            last: None,
        }
    }

    /// The 64-bit tick count for `raw`, received at `host_ns`.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        clippy::cast_possible_wrap,
        reason = "tick arithmetic in f64 is exact far beyond any session's length"
    )]
    pub fn extend(&mut self, raw: u32, host_ns: u64) -> u64 {
        let raw = u64::from(raw);
        let Some((last_ext, last_host)) = self.last else {
            self.last = Some((raw, host_ns));
            return raw;
        };
        let ext = if self.bits >= 64 {
            raw
        } else if host_ns == last_host {
            // Same burst: no time passed on the host clock to account for.
            let mask = (1u64 << self.bits) - 1;
            last_ext + (raw.wrapping_sub(last_ext) & mask)
        } else {
            let period = 1u64 << self.bits;
            let mask = period - 1;
            let step = raw.wrapping_sub(last_ext) & mask;
            // Host time says how many whole periods passed besides the step.
            let host_ticks = host_ns.saturating_sub(last_host) as f64 / self.tick_ns;
            let wraps = ((host_ticks - step as f64) / period as f64)
                .round()
                .max(0.0) as u64;
            last_ext + step + wraps * period
        };
        self.last = Some((ext, host_ns));
        ext
    }

    /// Nanoseconds for a tick count.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "rounded to the nanosecond"
    )]
    pub fn to_ns(&self, ticks: u64) -> u64 {
        if self.tick_ns == 1.0 {
            return ticks;
        }
        (ticks as f64 * self.tick_ns).round() as u64
    }
}

/// How the slave clock relates to the host clock: one GET_DAQ_CLOCK reading and the host
/// time it was taken at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockCorrelation {
    /// Host Unix nanoseconds at the reading (the midpoint of the best round trip).
    pub host_ns: u64,
    /// The slave clock's ticks at that moment, cut to the DTO timestamp's width.
    pub raw: u64,
    /// Nanoseconds per slave tick.
    pub tick_ns: f64,
    /// Width of the DTO timestamp in bytes (the slave clock wraps there).
    pub size: usize,
    /// Half the best round trip: how far off the correlation can be.
    pub uncertainty_ns: u64,
}

impl ClockCorrelation {
    /// A linearizer whose tick count continues from this reading.
    pub fn linearizer(&self) -> Linearizer {
        let mut l = Linearizer::new(self.size, self.tick_ns);
        l.last = Some((self.raw, self.host_ns));
        l
    }

    /// Host Unix nanoseconds of a slave tick count from a linearizer made by
    /// [`linearizer`](Self::linearizer).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "rounded to the nanosecond"
    )]
    pub fn host_ns_of(&self, ticks: u64) -> u64 {
        let delta = ticks.saturating_sub(self.raw) as f64 * self.tick_ns;
        self.host_ns + delta.round() as u64
    }

    /// Host Unix nanoseconds of a raw slave timestamp received around `near_host_ns`.
    pub fn map_raw(&self, raw: u64, near_host_ns: u64) -> u64 {
        let mut l = self.linearizer();
        #[allow(
            clippy::cast_possible_truncation,
            reason = "DTO timestamps are at most 32 bits"
        )]
        let t = l.extend(raw as u32, near_host_ns);
        self.host_ns_of(t)
    }
}

impl Master {
    /// Correlates the slave's DAQ clock with the host clock: `samples` GET_DAQ_CLOCK round
    /// trips, keeping the one with the shortest round trip (its midpoint is where the slave
    /// read its clock, within half the round trip). DAQ set up afterwards carries rows
    /// timed on the host clock ([`crate::Row::host_aligned_ns`]), so recordings of several
    /// slaves line up.
    ///
    /// # Errors
    /// As GET_DAQ_RESOLUTION_INFO and GET_DAQ_CLOCK; [`Error::Unsupported`] when the slave
    /// has no timestamps.
    pub async fn correlate_clock(&mut self, samples: usize) -> Result<ClockCorrelation, Error> {
        let (c, _) = self.read_clock(samples).await?;
        self.clock = Some(c);
        Ok(c)
    }

    /// As [`correlate_clock`](Self::correlate_clock), leaving the correlation that DAQ rows
    /// are timed with as it is (a reading while DAQ runs, for a recording to remove the slave
    /// clock's drift). Also the whole slave clock reading, uncut, in ticks.
    ///
    /// # Errors
    /// As [`correlate_clock`](Self::correlate_clock).
    pub async fn read_clock(&mut self, samples: usize) -> Result<(ClockCorrelation, u64), Error> {
        let res = self.get_daq_resolution_info().await?;
        let tick_ns = res
            .tick_ns()
            .filter(|t| *t > 0.0)
            .ok_or_else(|| Error::Unsupported("the slave reports no timestamp unit".to_owned()))?;
        let size = res
            .timestamp_size()
            .map_or(4, xcp_proto::TimestampSize::len)
            .max(1);
        let mask = if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (size * 8)) - 1
        };
        let mut best: Option<(u64, u64, u64, u64)> = None;
        for _ in 0..samples.max(1) {
            let t0 = Instant::now();
            let h0 = host_now_ns();
            let clock = self.get_daq_clock().await?;
            let rtt = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let Some(slave) = clock.slave else {
                return Err(Error::Unsupported(
                    "GET_DAQ_CLOCK carries no slave clock".to_owned(),
                ));
            };
            if best.is_none_or(|(r, _, _, _)| rtt < r) {
                best = Some((rtt, h0 + rtt / 2, slave & mask, slave));
            }
        }
        let (rtt, host_ns, raw, whole) = best.unwrap_or((0, host_now_ns(), 0, 0));
        let c = ClockCorrelation {
            host_ns,
            raw,
            tick_ns,
            size,
            uncertainty_ns: rtt / 2,
        };
        Ok((c, whole))
    }
}

#[cfg(test)]
mod tests {
    use super::Linearizer;

    #[test]
    fn wraps_are_counted_from_the_raw_step() {
        let mut l = Linearizer::new(2, 1000.0); // 16-bit µs ticks: 65.536 ms period
        assert_eq!(l.extend(65_000, 0), 65_000);
        // 1 ms later the counter wrapped.
        assert_eq!(l.extend(464, 1_000_000), 65_536 + 464);
        assert_eq!(l.to_ns(65_536 + 464), 66_000_000);
    }

    #[test]
    fn host_time_recovers_whole_periods_a_slow_list_missed() {
        let mut l = Linearizer::new(1, 1_000_000.0); // 8-bit ms ticks: 256 ms period
        assert_eq!(l.extend(10, 0), 10);
        // 600 ms later: two whole periods plus 88 ticks.
        assert_eq!(l.extend(98, 600_000_000), 10 + 88 + 2 * 256);
    }
}
