//! Which channel each DTO goes out on, by its PID: a bus transport that can put DAQ lists on
//! channels of their own (XCP on CAN's SET_DAQ_ID) reads it for every DTO; the slave that
//! configures the lists writes it when a list starts or stops.

use std::sync::atomic::{AtomicU32, Ordering};

/// A channel per PID (absolute ODT number); 0 means the transport's own.
#[derive(Debug)]
pub struct DtoRoutes {
    by_pid: Box<[AtomicU32]>,
}

impl Default for DtoRoutes {
    fn default() -> Self {
        Self::new()
    }
}

impl DtoRoutes {
    /// Every PID on the transport's own channel.
    pub fn new() -> Self {
        Self {
            by_pid: (0..256).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Sends the DTOs of `pid` on `route` (0: the transport's own channel).
    pub fn set(&self, pid: u8, route: u32) {
        self.by_pid[usize::from(pid)].store(route, Ordering::Relaxed);
    }

    /// The channel of `pid`, `None` for the transport's own.
    pub fn get(&self, pid: u8) -> Option<u32> {
        match self.by_pid[usize::from(pid)].load(Ordering::Relaxed) {
            0 => None,
            r => Some(r),
        }
    }

    /// Every PID back on the transport's own channel.
    pub fn clear(&self) {
        for r in self.by_pid.iter() {
            r.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_set_read_and_cleared() {
        let r = DtoRoutes::new();
        assert_eq!(r.get(7), None);
        r.set(7, 0x300);
        r.set(255, 0x8000_0123);
        assert_eq!(
            (r.get(7), r.get(8), r.get(255)),
            (Some(0x300), None, Some(0x8000_0123))
        );
        r.clear();
        assert_eq!(r.get(7), None);
    }
}
