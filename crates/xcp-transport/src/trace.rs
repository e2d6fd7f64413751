//! [`Tracing`]: every packet in spec words at `trace` level.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::Level;
use xcp_proto::{Command, CommandCode, Pending, Response, SessionParams, SlaveCto};

use crate::describe::{Direction, PacketView};
use crate::{PacketRx, PacketTx, RxStats, Transport, TransportError, TxStats};

/// Which end of the link a traced transport belongs to; decides how packets are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The master sends commands and receives responses and DAQ data.
    Master,
    /// The slave receives commands and sends responses and DAQ data.
    Slave,
}

/// Logs every packet through `tracing` (target `xcp::packet`, level `trace`), decoded as far
/// as the session allows.
///
/// The wrapper remembers the last command so it can decode the response, and the byte order
/// announced by CONNECT. Nothing is decoded when the `trace` level is off for the target.
#[derive(Debug)]
pub struct Tracing<T> {
    inner: T,
    role: Role,
    name: Arc<str>,
}

impl<T> Tracing<T> {
    /// Wraps `inner`, which plays `role`.
    pub fn new(inner: T, role: Role) -> Self {
        Self::named(inner, role, "xcp")
    }

    /// Wraps `inner` and labels its log lines with `name` (for several sessions in a process).
    pub fn named(inner: T, role: Role, name: &str) -> Self {
        Self {
            inner,
            role,
            name: name.into(),
        }
    }

    /// The wrapped transport.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

#[derive(Debug)]
struct Shared {
    pending: Option<Pending>,
    params: SessionParams,
}

fn enabled() -> bool {
    tracing::enabled!(target: "xcp::packet", Level::TRACE)
}

impl<T: Transport> Transport for Tracing<T> {
    type Tx = TracingTx<T::Tx>;
    type Rx = TracingRx<T::Rx>;

    fn split(self) -> (Self::Tx, Self::Rx) {
        let (tx, rx) = self.inner.split();
        let shared = Arc::new(Mutex::new(Shared {
            pending: None,
            params: SessionParams::BEFORE_CONNECT,
        }));
        (
            TracingTx {
                inner: tx,
                role: self.role,
                name: Arc::clone(&self.name),
                shared: Arc::clone(&shared),
            },
            TracingRx {
                inner: rx,
                role: self.role,
                name: self.name,
                shared,
            },
        )
    }
}

/// Records what a packet means for decoding the next ones, and logs it.
fn observe(shared: &Mutex<Shared>, role: Role, name: &str, dir: &'static str, packet: &[u8]) {
    let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let direction = match (role, dir) {
        (Role::Master, "tx") | (Role::Slave, "rx") => Direction::MasterToSlave,
        _ => Direction::SlaveToMaster,
    };
    let view = PacketView {
        bytes: packet,
        direction,
        params: s.params,
        pending: s.pending,
    };
    tracing::trace!(target: "xcp::packet", session = name, dir, len = packet.len(), "{view}");
    match direction {
        Direction::MasterToSlave => {
            if let Ok(cmd) = Command::parse(packet, &s.params) {
                s.pending = Some(Pending::from(&cmd));
            }
        }
        Direction::SlaveToMaster => {
            let Some(pending) = s.pending else { return };
            if pending.code == CommandCode::Connect
                && let Ok(SlaveCto::Res(Response::Connect(info))) =
                    SlaveCto::parse(packet, pending, &s.params)
            {
                s.params = info.session_params(&s.params);
            }
            if packet.first().is_some_and(|&p| p >= 0xFE) {
                s.pending = None;
            }
        }
    }
}

/// The send half of a [`Tracing`] transport.
#[derive(Debug)]
pub struct TracingTx<T> {
    inner: T,
    role: Role,
    name: Arc<str>,
    shared: Arc<Mutex<Shared>>,
}

impl<T: PacketTx> PacketTx for TracingTx<T> {
    fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        if enabled() {
            observe(&self.shared, self.role, &self.name, "tx", packet);
        }
        self.inner.send(packet)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }
    fn flush_deadline(&self) -> Option<Instant> {
        self.inner.flush_deadline()
    }
    fn max_packet_len(&self) -> usize {
        self.inner.max_packet_len()
    }
    fn stats(&self) -> TxStats {
        self.inner.stats()
    }
}

/// The receive half of a [`Tracing`] transport.
#[derive(Debug)]
pub struct TracingRx<T> {
    inner: T,
    role: Role,
    name: Arc<str>,
    shared: Arc<Mutex<Shared>>,
}

impl<T: PacketRx> PacketRx for TracingRx<T> {
    fn recv(&mut self, timeout: Duration) -> Result<Option<&[u8]>, TransportError> {
        let result = self.inner.recv(timeout);
        if enabled() {
            match &result {
                Ok(Some(packet)) => observe(&self.shared, self.role, &self.name, "rx", packet),
                Ok(None) => {}
                Err(e) => {
                    tracing::trace!(target: "xcp::packet", session = &*self.name, dir = "rx", "error: {e}");
                }
            }
        }
        result
    }
    fn try_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        let result = self.inner.try_recv();
        if enabled()
            && let Ok(Some(packet)) = &result
        {
            observe(&self.shared, self.role, &self.name, "rx", packet);
        }
        result
    }
    fn poll_recv(&mut self) -> Result<Option<&[u8]>, TransportError> {
        let result = self.inner.poll_recv();
        if enabled()
            && let Ok(Some(packet)) = &result
        {
            observe(&self.shared, self.role, &self.name, "rx", packet);
        }
        result
    }
    fn max_packet_len(&self) -> usize {
        self.inner.max_packet_len()
    }
    fn stats(&self) -> RxStats {
        self.inner.stats()
    }
}
