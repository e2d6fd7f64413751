//! Polling of event-relative memory: a SHORT_UPLOAD, UPLOAD or DOWNLOAD whose address is
//! relative to an event's instance (extension 2) is carried out by that event's next
//! trigger, on the instance the trigger passes, and answered once it ran.
//!
//! Each event has one [`PollSlot`]. The command processor fills in a request and arms the
//! slot; the trigger sees the armed state with one relaxed load (nothing else when no poll
//! is pending), claims the slot, copies the bytes of that one cycle, and marks it done; the
//! command processor then answers. The state is one atomic that moves
//!
//! ```text
//! IDLE --arm (command)--> ARMED --claim (trigger)--> BUSY --finish (trigger)--> DONE
//!   ^                       |                                                    |
//!   +--cancel (command)-----+                       take (command) --------------+
//! ```
//!
//! The request sits behind a mutex that only the side owning the current state touches: the
//! command processor in IDLE and DONE, the trigger in BUSY. So the trigger's `try_lock`
//! always finds it free: one compare-and-swap, never a wait or a system call.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};

use xcp_proto::ErrorCode;

use crate::daq::Instance;

const IDLE: u8 = 0;
const ARMED: u8 = 1;
const BUSY: u8 = 2;
const DONE: u8 = 3;

/// Most bytes one poll moves (an UPLOAD in block mode).
pub(crate) const MAX_POLL_BYTES: usize = 255;

/// What a poll does at its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollKind {
    /// Copy bytes out of the instance.
    Read,
    /// Write bytes into the instance (it must be passed writable).
    Write,
}

struct Request {
    kind: PollKind,
    offset: usize,
    len: usize,
    data: [u8; MAX_POLL_BYTES],
    result: Result<(), ErrorCode>,
}

/// One event's poll mailbox.
pub(crate) struct PollSlot {
    state: AtomicU8,
    request: Mutex<Request>,
}

impl Default for PollSlot {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(IDLE),
            request: Mutex::new(Request {
                kind: PollKind::Read,
                offset: 0,
                len: 0,
                data: [0; MAX_POLL_BYTES],
                result: Ok(()),
            }),
        }
    }
}

impl PollSlot {
    /// Whether a poll waits for this event's next trigger: the one load a trigger pays.
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.state.load(Ordering::Relaxed) == ARMED
    }

    /// Arms a poll of `len` bytes at `offset` of the instance; `data` is what a write
    /// writes. `false` when a poll of this slot is still in progress (the command processor
    /// runs one command at a time, so only after a cancel that found the trigger busy).
    pub(crate) fn arm(&self, kind: PollKind, offset: usize, data: &[u8]) -> bool {
        if self.state.load(Ordering::Acquire) != IDLE {
            return false;
        }
        {
            let mut r = self.request.lock().unwrap_or_else(PoisonError::into_inner);
            r.kind = kind;
            r.offset = offset;
            r.len = data.len().min(MAX_POLL_BYTES);
            let len = r.len;
            r.data[..len].copy_from_slice(&data[..len]);
            r.result = Err(ErrorCode::Generic);
        }
        self.state.store(ARMED, Ordering::Release);
        true
    }

    /// Carries out an armed poll on `instance` (the trigger's side).
    #[inline]
    pub(crate) fn serve(&self, instance: &mut Instance<'_>) {
        if self
            .state
            .compare_exchange(ARMED, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // Free by the protocol above: the command side touches it only in IDLE and DONE.
        if let Ok(mut r) = self.request.try_lock() {
            r.result = carry_out(&mut r, instance);
        }
        self.state.store(DONE, Ordering::Release);
    }

    /// The bytes read (or the error) once the trigger ran; `None` while it has not. The
    /// slot is idle again afterwards.
    pub(crate) fn take(&self, out: &mut [u8]) -> Option<Result<usize, ErrorCode>> {
        if self.state.load(Ordering::Acquire) != DONE {
            return None;
        }
        let taken = {
            let r = self.request.lock().unwrap_or_else(PoisonError::into_inner);
            r.result.map(|()| {
                let n = r.len.min(out.len());
                if r.kind == PollKind::Read {
                    out[..n].copy_from_slice(&r.data[..n]);
                }
                n
            })
        };
        self.state.store(IDLE, Ordering::Release);
        Some(taken)
    }

    /// Withdraws an armed poll the trigger has not claimed; `true` when the slot is idle
    /// now. A poll that the trigger is carrying out or has finished is left to finish and
    /// is dropped instead (its result is then taken and forgotten).
    pub(crate) fn cancel(&self) -> bool {
        match self
            .state
            .compare_exchange(ARMED, IDLE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(IDLE) => true,
            Err(DONE) => {
                self.state.store(IDLE, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }
}

fn carry_out(r: &mut Request, instance: &mut Instance<'_>) -> Result<(), ErrorCode> {
    let (offset, len) = (r.offset, r.len);
    let end = offset.checked_add(len).ok_or(ErrorCode::OutOfRange)?;
    match r.kind {
        PollKind::Read => {
            let src = instance
                .bytes()
                .get(offset..end)
                .ok_or(ErrorCode::OutOfRange)?;
            r.data[..len].copy_from_slice(src);
        }
        PollKind::Write => {
            let Instance::Exclusive(bytes) = instance else {
                // The application passes this instance read-only (`trigger_with`).
                return Err(ErrorCode::WriteProtected);
            };
            let dst = bytes.get_mut(offset..end).ok_or(ErrorCode::OutOfRange)?;
            dst.copy_from_slice(&r.data[..len]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_copies_the_instance_of_the_trigger_that_claimed_it() {
        let slot = PollSlot::default();
        let mut out = [0u8; 4];
        assert!(!slot.is_armed());
        assert!(slot.take(&mut out).is_none(), "nothing was asked");
        assert!(slot.arm(PollKind::Read, 2, &[0; 3]));
        assert!(slot.is_armed());
        assert!(slot.take(&mut out).is_none(), "not triggered yet");
        slot.serve(&mut Instance::Shared(&[10, 11, 12, 13, 14, 15]));
        assert!(!slot.is_armed());
        assert_eq!(slot.take(&mut out), Some(Ok(3)));
        assert_eq!(&out[..3], &[12, 13, 14]);
        // A second trigger finds nothing to do.
        slot.serve(&mut Instance::Shared(&[0; 6]));
        assert!(slot.take(&mut out).is_none());
    }

    #[test]
    fn a_write_needs_a_writable_instance_and_stays_inside_it() {
        let slot = PollSlot::default();
        let mut out = [0u8; 4];
        assert!(slot.arm(PollKind::Write, 1, &[7, 8]));
        slot.serve(&mut Instance::Shared(&[0; 4]));
        assert_eq!(slot.take(&mut out), Some(Err(ErrorCode::WriteProtected)));
        let mut mem = [0u8; 4];
        assert!(slot.arm(PollKind::Write, 1, &[7, 8]));
        slot.serve(&mut Instance::Exclusive(&mut mem));
        assert_eq!(slot.take(&mut out), Some(Ok(2)));
        assert_eq!(mem, [0, 7, 8, 0]);
        assert!(slot.arm(PollKind::Read, 3, &[0; 2]));
        slot.serve(&mut Instance::Exclusive(&mut mem));
        assert_eq!(slot.take(&mut out), Some(Err(ErrorCode::OutOfRange)));
    }

    #[test]
    fn a_cancelled_poll_is_never_carried_out() {
        let slot = PollSlot::default();
        let mut mem = [1u8; 4];
        assert!(slot.arm(PollKind::Write, 0, &[9]));
        assert!(slot.cancel());
        slot.serve(&mut Instance::Exclusive(&mut mem));
        assert_eq!(mem, [1; 4]);
        assert!(slot.take(&mut [0u8; 1]).is_none());
        assert!(slot.arm(PollKind::Read, 0, &[0]), "idle again");
    }
}
