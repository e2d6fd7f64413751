//! # xcp-slave: make a Rust program measurable and calibratable over XCP
//!
//! This is the slave (server, in XCPlite and CANape wording) layer of xcpkit. The application
//! registers what it wants to expose — events, calibration segments, global and
//! event-relative measurements — and gets back handles: [`Event`] to trigger DAQ sampling,
//! [`CalSeg`] to read calibration values wait-free, [`Global`] to publish variables. A
//! [`Server`] answers an XCP master over any [`xcp_transport::Transport`], and the slave
//! describes itself in a runtime A2L that the master can upload (GET_ID 4).
//!
//! It deliberately does **not** open sockets (the transport crates do), keep process-global
//! state (many slaves live in one process), or ever dereference an address a master sends:
//! every address is decoded into registered memory and bounds-checked ([`memory`]).
//!
//! ## STIM
//!
//! A master may also *send* DTOs (a DAQ list in STIM direction, for bypassing or
//! stimulating values). The receive thread stores each STIM DTO for its ODT; at the list's
//! event the trigger writes the latest complete payload into the entries' memory before any
//! DAQ list of that event samples: global variables always, event-relative entries only when
//! the application triggers with a writable instance ([`Event::trigger_with_mut`]).
//! Calibration pages are never STIM targets (START answers ERR_WRITE_PROTECTED).
//!
//! ## Layers inside
//!
//! * [`Core`]: the command processor, sans-IO: command bytes in, response packets out.
//! * `sync`: the RCU calibration pages and the lock-free DAQ transmit queue (the only
//!   `unsafe` code of the workspace, in the calibration pages).
//! * [`Server`]: a receive thread running the core and a transmit thread draining the queue.
//!
//! ## Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use xcp_slave::{Meta, Slave, ElementType};
//!
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Params { gain: f32, offset: f32 }
//!
//! let mut b = Slave::builder("demo");
//! let tick = b.event("10ms", Some(Duration::from_millis(10)), 0)?;
//! let params = b.cal_segment("params", &Params { gain: 2.0, offset: 0.5 })?;
//! b.characteristic(&params, "gain", 0, ElementType::F32, xcp_slave::CharKind::Value, Meta::new("gain"))?;
//! let counter = b.global::<u32>("counter", Some(tick), Meta::new("cycle counter"))?;
//! let slave = b.build()?;
//!
//! // The application reads calibration values and triggers its event.
//! let event = slave.event(tick)?;
//! counter.set(1);
//! assert_eq!(params.read().gain, 2.0);
//! event.trigger();
//!
//! // A master's SHORT_UPLOAD of the counter, straight into the command processor.
//! let mut core = slave.core();
//! core.process(&[0xFF, 0], Instant::now()); // CONNECT
//! let a = counter.address();
//! let [b0, b1, b2, b3] = a.addr.to_le_bytes();
//! let out = core.process(&[0xF4, 4, 0, a.ext, b0, b1, b2, b3], Instant::now());
//! assert_eq!(out.packets().next(), Some(&[0xFF, 1, 0, 0, 0][..]));
//! # Ok::<(), xcp_slave::Error>(())
//! ```

pub mod a2l;
mod clock;
pub mod config;
mod core;
mod daq;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod memory;
mod mirror;
pub mod persist;
mod poll;
mod seedkey;
mod server;
mod shared;
mod slave;
pub mod sync;
mod types;

pub use a2l::A2lOptions;
pub use clock::SlaveClock;
pub use config::{
    ClockSource, DaqConfigType, FlashConfig, OverloadIndication, SlaveConfig, StaticList,
};
pub use core::{Core, Out};
pub use error::Error;
pub use mirror::{GATE_WAIT, MAX_PENDING, MirrorHandle, MirrorLock, MirrorRegion, MirrorWrite};
pub use seedkey::{DemoSeedKey, SeedKey};
pub use server::{Server, ServerStats};
pub use slave::{
    CalSeg, Event, EventId, Global, GlobalArray, PredefinedList, Slave, SlaveBuilder, SlaveStats,
    TransportDesc,
};
pub use sync::rcu::CalRead;
pub use types::{CharKind, Conversion, Field, Meta, Scalar, StructType};
pub use xcp_proto::ElementType;
