//! The concurrency primitives shared by application threads and the XCP threads: the RCU
//! calibration pages, the DAQ transmit queue and the fast clock.
//!
//! This is the only module of the workspace allowed to hold `unsafe` code (STYLE §5); every
//! block says why it is sound. The queue is written with atomics only and holds none.
#![allow(unsafe_code)]

pub(crate) mod clock;
pub mod queue;
pub mod rcu;
#[cfg(test)]
mod rcu_model;
