//! Finding XCP slaves on a CAN bus: GET_SLAVE_ID on CAN_ID_BROADCAST, every answer collected.

use std::fmt;
use std::time::{Duration, Instant};

use xcp_proto::tl::can::{SlaveIdMode, get_slave_id, parse_slave_id_answer};
use xcp_transport::TransportError;

use crate::bus::{CanBus, CanRx, CanTx};
use crate::frame::{CanFrame, CanId};

/// A slave that answered GET_SLAVE_ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundSlave {
    /// Where it answers (its CAN_ID_SLAVE): the answer's identifier.
    pub res_id: CanId,
    /// Where it listens (its CAN_ID_MASTER), from the answer.
    pub cmd_id: CanId,
    /// The mode it answered in.
    pub mode: SlaveIdMode,
}

impl fmt::Display for FoundSlave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "XCP slave: CAN_ID_MASTER {} (master→slave), CAN_ID_SLAVE {} (slave→master), answered by {}",
            self.cmd_id, self.res_id, self.mode
        )
    }
}

/// Sends GET_SLAVE_ID in `mode` on `broadcast` and collects the answers that arrive within
/// `wait`, one per slave (a slave that answers twice is listed once). `fd` sends the request
/// as a CAN FD frame.
///
/// # Errors
/// The bus's, when the request cannot be sent or the bus fails while waiting.
pub fn scan<B: CanBus>(
    bus: B,
    broadcast: CanId,
    mode: SlaveIdMode,
    fd: bool,
    wait: Duration,
) -> Result<Vec<FoundSlave>, TransportError> {
    let (mut tx, mut rx) = bus.split();
    let request = CanFrame::new(broadcast, &get_slave_id(mode), fd)
        .map_err(|e| TransportError::Config(e.to_string()))?;
    tx.send(&request)?;
    let deadline = Instant::now() + wait;
    let mut found: Vec<FoundSlave> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(found);
        }
        let Some(frame) = rx.recv(left)? else {
            continue;
        };
        let Some((m, cmd_id)) = parse_slave_id_answer(frame.data(), None) else {
            continue;
        };
        if m != mode {
            continue;
        }
        let slave = FoundSlave {
            res_id: frame.id,
            cmd_id,
            mode: m,
        };
        if !found.contains(&slave) {
            found.push(slave);
        }
    }
}
