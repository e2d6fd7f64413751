//! What every part of the slave shares once it is built: the frozen registry (events,
//! segments, measurements, characteristics, axes, instances), the DAQ tables, the poll
//! mailboxes, the transmit queue and the clock. The builder (`slave.rs`) makes it; the
//! command processor (`core`), the server, the A2L writer and persistence read it.

use std::sync::atomic::{AtomicU8, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use xcp_proto::Address;

use crate::clock::SlaveClock;
use crate::config::{FlashConfig, SlaveConfig};
use crate::daq::{DaqTables, Instance, TriggerCtx};
use crate::memory::Globals;
use crate::poll::PollSlot;
use crate::seedkey::SeedKey;
use crate::sync::queue::ByteQueue;
use crate::sync::rcu::RawPages;
use crate::types::{CharKind, EventId, Meta, StructType};
use xcp_proto::ElementType;

pub(crate) struct EventDef {
    pub(crate) name: String,
    pub(crate) period: Option<Duration>,
    pub(crate) priority: u8,
}

pub(crate) struct SegmentDef {
    pub(crate) name: String,
    /// `None` for the EPK segment (segment 0), whose bytes are the EPK string.
    pub(crate) pages: Option<Arc<RawPages>>,
    /// SET_SEGMENT_MODE bits (FREEZE 0x01).
    pub(crate) mode: AtomicU8,
    /// Logical page the XCP side accesses (0 working, 1 reference).
    pub(crate) xcp_page: AtomicU8,
}

impl SegmentDef {
    pub(crate) fn len(&self, epk: &str) -> usize {
        self.pages.as_ref().map_or(epk.len(), |p| p.len())
    }
}

pub(crate) struct MeasurementDef {
    pub(crate) name: String,
    pub(crate) ty: ElementType,
    pub(crate) len: u16,
    pub(crate) addr: Address,
    pub(crate) event: Option<u16>,
    pub(crate) meta: Meta,
}

pub(crate) struct CharacteristicDef {
    pub(crate) name: String,
    pub(crate) segment: u8,
    pub(crate) offset: u32,
    pub(crate) ty: ElementType,
    pub(crate) kind: CharKind,
    pub(crate) meta: Meta,
}

pub(crate) struct AxisDef {
    pub(crate) name: String,
    pub(crate) segment: u8,
    pub(crate) offset: u32,
    pub(crate) ty: ElementType,
    pub(crate) len: u16,
    pub(crate) meta: Meta,
}

pub(crate) struct InstanceDef {
    pub(crate) name: String,
    pub(crate) type_index: usize,
    pub(crate) event: u16,
    pub(crate) offset: u32,
}

/// A DAQ list the slave defines itself (predefined, `PREDEFINED` in GET_DAQ_LIST_INFO).
#[derive(Debug, Clone)]
pub struct PredefinedList {
    /// Event the list is fixed to.
    pub event: EventId,
    /// ODTs, each a list of (address, size in bytes).
    pub odts: Vec<Vec<(Address, u8)>>,
}

/// Transport details the runtime A2L describes in its IF_DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportDesc {
    /// XCP on TCP.
    Tcp(std::net::SocketAddr),
    /// XCP on UDP.
    Udp(std::net::SocketAddr),
    /// XCP on CAN: identifiers, CAN FD, MAX_DLC, padding.
    Can {
        /// The link settings (CAN_ID_MASTER, CAN_ID_SLAVE, CAN FD, MAX_DLC,
        /// MAX_DLC_REQUIRED).
        link: xcp_proto::tl::can::CanConfig,
        /// CAN_ID_BROADCAST.
        broadcast: Option<xcp_proto::tl::can::CanId>,
        /// BAUDRATE in bit/s, when known.
        bitrate: Option<u32>,
        /// CAN_FD_DATA_TRANSFER_BAUDRATE in bit/s, when known.
        data_bitrate: Option<u32>,
    },
    /// XCP on SxI: line rate, header, checksum, SYNC/ESC framing.
    Sxi {
        /// BAUDRATE in bit/s.
        baud: u32,
        /// Header, checksum tail and SYNC/ESC framing.
        framing: xcp_proto::tl::sxi::SxiConfig,
    },
}

/// Everything shared between application threads, the command processor and the threads of
/// the server. Built once; only the atomics inside change afterwards.
pub(crate) struct Shared {
    pub(crate) config: SlaveConfig,
    pub(crate) name: String,
    pub(crate) epk: String,
    pub(crate) segments: Vec<SegmentDef>,
    pub(crate) seg_pages: Vec<Option<Arc<RawPages>>>,
    pub(crate) globals: Arc<Globals>,
    pub(crate) globals_used: usize,
    /// Regions of the application's memory served from copies (`crate::mirror`).
    pub(crate) mirrors: crate::mirror::Mirrors,
    /// The A2L GET_ID 4 uploads when the application gives one (else it is generated).
    pub(crate) a2l_text: Mutex<Option<String>>,
    pub(crate) events: Vec<EventDef>,
    pub(crate) measurements: Vec<MeasurementDef>,
    pub(crate) characteristics: Vec<CharacteristicDef>,
    pub(crate) axes: Vec<AxisDef>,
    pub(crate) structs: Vec<StructType>,
    pub(crate) instances: Vec<InstanceDef>,
    pub(crate) predefined: Vec<PredefinedList>,
    pub(crate) flash: Option<FlashConfig>,
    pub(crate) seed_key: Option<Box<dyn SeedKey>>,
    pub(crate) daq: DaqTables,
    /// One poll mailbox per event, for polling its event-relative memory.
    pub(crate) polls: Box<[PollSlot]>,
    pub(crate) queue: ByteQueue,
    pub(crate) clock: SlaveClock,
    pub(crate) transports: Mutex<Vec<TransportDesc>>,
    /// Channels of the DAQ lists' DTOs, where the transport offers them (SET_DAQ_ID on CAN).
    pub(crate) dto_routes: Mutex<Option<Arc<xcp_transport::DtoRoutes>>>,
    pub(crate) a2l_options: crate::config::A2lOptions,
    pub(crate) commands: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// Timestamp ticks per nanosecond divisor (the unit).
    pub(crate) ts_unit: u64,
}

impl Shared {
    /// Runs `event` at `now_ns` (Unix ns): first a pending poll of its instance, then its
    /// DAQ lists.
    #[inline]
    pub(crate) fn trigger_at(&self, event: u16, mut instance: Instance<'_>, now_ns: u64) {
        if let Some(poll) = self.polls.get(usize::from(event))
            && poll.is_armed()
        {
            instance = serve_poll(poll, instance);
        }
        let ctx = TriggerCtx {
            queue: &self.queue,
            globals: &self.globals,
            mirrors: &self.mirrors.regions,
            segments: &self.seg_pages,
            id_field: self.config.id_field,
            byte_order: self.config.byte_order,
            timestamp_size: self.config.timestamp_size,
            overload_pid: self.config.overload == crate::config::OverloadIndication::PidBit,
        };
        self.daq
            .trigger(&ctx, event, instance, ticks_of(now_ns, self.ts_unit));
    }

    pub(crate) fn dto_routes(&self) -> Option<Arc<xcp_transport::DtoRoutes>> {
        self.dto_routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn transports(&self) -> Vec<TransportDesc> {
        self.transports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Carries out a poll waiting for this trigger: out of line, so the trigger's usual path
/// is the armed check alone, with the instance never taken by reference there.
#[cold]
#[inline(never)]
fn serve_poll<'a>(poll: &PollSlot, mut instance: Instance<'a>) -> Instance<'a> {
    poll.serve(&mut instance);
    instance
}

/// Nanoseconds to timestamp ticks; a 64-bit division costs ~10 ns, so the default 1 ns unit
/// skips it.
#[inline]
fn ticks_of(ns: u64, unit: u64) -> u32 {
    let ticks = if unit == 1 { ns } else { ns / unit.max(1) };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "DTO timestamps wrap by design"
    )]
    let ticks = ticks as u32;
    ticks
}
