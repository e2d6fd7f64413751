//! # xcp-master: an XCP master that drives any slave correctly and never hangs
//!
//! A [`Master`] is one session with one slave over any [`xcp_transport::Transport`]. A
//! receive thread per session reads the transport's receive half: it hands each response to
//! the command waiting for it (a response with no command waiting is discarded and counted,
//! never taken for the next command), queues events and service requests, decodes DAQ
//! packets, and enforces every deadline. A waiting command may read the receive half itself
//! for a short while ([`Config::spin`]) and does all of that the same way; one reader at a
//! time. Commands are `async` and run on any executor;
//! [`block_on`] runs one on the calling thread.
//!
//! | module | what it holds |
//! |---|---|
//! | `session` | [`Master`]: sending, waiting, the ASAM error handling (SYNCH and repeat after a timeout, wait T7 and repeat on ERR_CMD_BUSY, unlock and repeat on ERR_ACCESS_LOCKED), seed & key |
//! | `commands` | one typed method per XCP command |
//! | `memory` | upload/download of any length (SHORT_*, slave and master block modes), checksum verified against our own computation, freeze |
//! | [`daq`] | ODT packing within the slave's limits, dynamic and static configuration, the decoder and the bounded stream of rows, the raw-frame sink |
//! | [`time`] | timestamp linearisation, GET_DAQ_CLOCK correlation |
//! | `ffi` | [`SeedKeyLibrary`]: an ASAM seed & key shared library (`XCP_ComputeKeyFromSeed`), the crate's only `unsafe` |
//! | `image`, `pgm` | Intel HEX and S-record images; the programming sequence with progress |
//! | `link` | the receive thread and the command slot |
//!
//! Every wait is bounded by [`Config`]: T1–T7, repetitions, EV_CMD_PENDING extensions.
//!
//! ```
//! use xcp_master::{Config, Master, block_on};
//! use xcp_transport::mem;
//!
//! // A slave that never answers: CONNECT ends in a timeout after its repetitions.
//! let (master_end, _silent_slave) = mem::pair();
//! let mut config = Config::default();
//! config.timeouts.t6 = std::time::Duration::from_millis(20);
//! let mut m = Master::new(master_end, config).expect("receive thread starts");
//! let err = block_on(m.connect()).expect_err("nobody answers");
//! assert!(err.is_timeout(), "{err}");
//! ```
//!
//! Against a slave on TCP (here the virtual ECU, served in this process by `xcpkit-ecu`),
//! reading a value and measuring it with DAQ:
//!
//! ```
//! use xcp_master::{Config, DaqOptions, ElementType, ListRequest, Master, Signal, Value, block_on};
//! use xcp_proto::{Address, ByteOrder};
//! use xcp_transport_eth::{EthConfig, Protocol, connect};
//!
//! # let ecu = xcpkit_ecu::InProcess::start_tcp("127.0.0.1:0".parse()?)?;
//! # let addr = ecu.addr().expect("served on TCP"); // 127.0.0.1:5555 for `xcpkit ecu`
//! let link = connect(addr, Protocol::Tcp, &EthConfig::default())?;
//! let mut m = Master::new(link, Config::default())?;
//! block_on(m.connect())?;
//! let counter = Address::new(1, 0x0001_0000); // counter_1ms, u32
//! let before = u32::from_le_bytes(block_on(m.upload(counter, 4))?.try_into().expect("4 bytes"));
//! let list = ListRequest {
//!     event: 0, prescaler: 1, priority: 0, timestamps: true, stim: false,
//!     signals: vec![Signal {
//!         name: "counter_1ms".into(),
//!         addr: counter,
//!         ty: ElementType::U32,
//!         order: ByteOrder::Intel,
//!     }],
//! };
//! let rows = block_on(m.setup_daq(&[list], DaqOptions::default()))?;
//! block_on(m.start_daq())?;
//! let batch = rows.recv_timeout(std::time::Duration::from_secs(2))?.expect("rows within 2 s");
//! let first = batch.rows().next().expect("a row");
//! // DAQ samples the same counter later: never below what the upload read.
//! assert!(matches!(first.values[0], Value::Uint(n) if n >= u64::from(before)));
//! block_on(m.stop_daq())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod commands;
mod config;
pub mod daq;
mod error;
mod exec;
mod ffi;
mod image;
mod link;
mod memory;
mod pgm;
mod session;
pub mod time;

pub use commands::Identification;
pub use config::{Config, Timeouts};
pub use daq::{
    Batch, DaqLayoutInfo, DaqLimits, DaqOptions, DaqStats, DaqStream, ElementType, ListLayout,
    ListRequest, ListStats, RawSink, Row, Signal, SlowConsumer, Value,
};
pub use error::Error;
pub use exec::block_on;
pub use ffi::SeedKeyLibrary;
pub use image::Image;
pub use link::{LinkStats, SlaveEvent};
pub use memory::STORE_CAL_REQ;
pub use pgm::{Phase, ProgramReport, Progress};
pub use session::{Master, SeedKey};
pub use time::ClockCorrelation;
