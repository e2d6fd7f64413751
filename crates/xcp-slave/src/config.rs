//! Slave configuration: protocol parameters, DAQ capacity, timestamps, protection.

use std::path::PathBuf;
use std::time::Duration;

use xcp_proto::{ByteOrder, ChecksumType, IdField, Resources};

/// How DAQ loss is reported to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverloadIndication {
    /// Not reported on the wire (still counted in [`crate::SlaveStats`]).
    None,
    /// The most significant bit of the next DTO's PID of an affected list is set.
    PidBit,
    /// `EV_DAQ_OVERLOAD` is sent once per overload episode.
    Event,
}

/// The slave clock used for DAQ timestamps and GET_DAQ_CLOCK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// `std::time::Instant` (about 26 ns per reading on a KVM guest).
    Monotonic,
    /// The x86 time-stamp counter calibrated against the monotonic clock (about 10 ns per
    /// reading); falls back to `Monotonic` where the TSC is missing or not invariant.
    Tsc,
    /// Simulation time set by the application with [`Slave::set_clock_ns`](crate::Slave::set_clock_ns)
    /// (an FMU's communication points): GET_DAQ_CLOCK answers it and [`Event::trigger_with`](crate::Event::trigger_with)
    /// stamps it; it starts at 0 and stands still between settings.
    Simulated,
}

/// Static DAQ configuration: lists the slave allocates itself (`DAQ_CONFIG_TYPE` static).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticList {
    /// ODTs in the list.
    pub odts: u8,
    /// Entries per ODT.
    pub entries_per_odt: u8,
}

/// DAQ configuration type and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaqConfigType {
    /// The master allocates lists with FREE_DAQ / ALLOC_DAQ / ALLOC_ODT / ALLOC_ODT_ENTRY.
    Dynamic,
    /// Fixed lists (after the predefined ones); the master only writes entries.
    Static(Vec<StaticList>),
}

/// Everything configurable about one slave.
#[derive(Debug, Clone)]
pub struct SlaveConfig {
    /// Byte order of multi-byte protocol fields (and of the DAQ identification field).
    pub byte_order: ByteOrder,
    /// MAX_CTO (8..=255).
    pub max_cto: u8,
    /// MAX_DTO; keep it at or below what the transport carries.
    pub max_dto: u16,
    /// Identification field type of DTOs.
    pub id_field: IdField,
    /// DTO timestamp size in bytes: 0, 1, 2 or 4.
    pub timestamp_size: u8,
    /// Timestamp unit in nanoseconds: a power of ten from 1 ns to 1 s.
    pub timestamp_unit_ns: u32,
    /// Clock.
    pub clock: ClockSource,
    /// A real clock's offset from the host's Unix time, in nanoseconds (0: none). With
    /// [`clock_rate_ppm`](Self::clock_rate_ppm) it stands for an ECU whose clock was never
    /// set and runs fast or slow, which a master must correlate away.
    pub clock_offset_ns: i64,
    /// How much faster (positive) or slower a real clock runs than the host's, in parts per
    /// million (0: at the host's rate).
    pub clock_rate_ppm: i32,
    /// Checksum algorithm BUILD_CHECKSUM uses.
    pub checksum: ChecksumType,
    /// Largest BUILD_CHECKSUM block, in bytes.
    pub max_checksum_block: u32,
    /// DAQ configuration type.
    pub daq_config: DaqConfigType,
    /// Most DAQ lists (dynamic: total, including predefined ones).
    pub max_daq_lists: u16,
    /// Most ODTs in all lists together.
    pub max_odts: u16,
    /// Most ODT entries in all lists together.
    pub max_entries: u32,
    /// Most DAQ lists that may run on one event at the same time.
    pub max_lists_per_event: u8,
    /// Largest ODT entry in bytes (MAX_ODT_ENTRY_SIZE_DAQ).
    pub max_entry_size: u8,
    /// How loss is reported.
    pub overload: OverloadIndication,
    /// Whether DAQ lists may run without an identification field (PID_OFF_SUPPORTED). A
    /// master can tell such DTOs apart only by the packet's own channel, so a transport that
    /// puts every list on one channel (XCP on CAN without DAQ identifiers) turns it off.
    pub pid_off: bool,
    /// Size of the DAQ transmit queue in bytes.
    pub queue_bytes: usize,
    /// Send once the DAQ queue has run dry (the default): packed DTOs go out when the
    /// transmit thread has found the queue empty through a short sleep (a quarter of
    /// `tx_poll`), so a DTO of a slow event leaves within about 1.25 `tx_poll` instead of
    /// waiting out the transport's flush interval, while a busy queue (never empty that long)
    /// still fills whole packets. Off: packets wait up to the transport's flush interval for company
    /// (fewer, fuller packets at low rates, at the price of that much latency).
    pub send_when_idle: bool,
    /// How often the transmit thread looks at an empty queue while DAQ runs.
    pub tx_poll: Duration,
    /// Resources protected by seed & key (need a [`crate::SeedKey`] on the builder).
    pub protected: Resources,
    /// Directory for frozen calibration pages and stored DAQ lists; `None` disables freeze.
    pub persist_dir: Option<PathBuf>,
    /// Master block mode: most DOWNLOAD_NEXT packets in a block (MAX_BS); 0 disables it.
    pub max_bs: u8,
    /// Minimum separation time between block packets in 100 µs units (MIN_ST).
    pub min_st: u8,
    /// Slave block mode for UPLOAD.
    pub slave_block_mode: bool,
    /// Simulated erase time per flash sector (EV_CMD_PENDING is sent for non-zero times).
    pub erase_time_per_sector: Duration,
    /// Text sent as SERV_TEXT after CONNECT; empty sends nothing.
    pub greeting: String,
    /// How long a poll of event-relative memory (SHORT_UPLOAD, UPLOAD or DOWNLOAD at
    /// address extension 2) waits for its event to fire before it is answered
    /// ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE (the event is not running).
    pub poll_timeout: Duration,
    /// While a poll waits, EV_CMD_PENDING is sent this often, so the master restarts its
    /// command timeout (first after this long, then again at the same interval).
    pub poll_pending_every: Duration,
}

impl Default for SlaveConfig {
    fn default() -> Self {
        Self {
            byte_order: ByteOrder::Intel,
            max_cto: 255,
            max_dto: 1468,
            id_field: IdField::RelativeOdtDaqWordAligned,
            timestamp_size: 4,
            timestamp_unit_ns: 1,
            clock: ClockSource::Tsc,
            clock_offset_ns: 0,
            clock_rate_ppm: 0,
            checksum: ChecksumType::Crc32,
            max_checksum_block: 16 << 20,
            daq_config: DaqConfigType::Dynamic,
            max_daq_lists: 256,
            max_odts: 1024,
            max_entries: 16 * 1024,
            max_lists_per_event: 16,
            max_entry_size: 255,
            overload: OverloadIndication::Event,
            pid_off: true,
            queue_bytes: 1 << 20,
            send_when_idle: true,
            tx_poll: Duration::from_micros(200),
            protected: Resources::NONE,
            persist_dir: None,
            max_bs: 255,
            min_st: 0,
            slave_block_mode: true,
            erase_time_per_sector: Duration::ZERO,
            greeting: String::new(),
            poll_timeout: Duration::from_secs(2),
            poll_pending_every: Duration::from_millis(200),
        }
    }
}

impl SlaveConfig {
    /// The timestamp unit as the 4-bit code of GET_DAQ_RESOLUTION_INFO, if it is one.
    pub(crate) fn timestamp_unit_code(&self) -> Option<u8> {
        self.timestamp_unit().map(xcp_proto::TimeUnit::code)
    }

    /// The timestamp unit, when `timestamp_unit_ns` is one (a power of ten, 1 ns … 1 s).
    pub(crate) fn timestamp_unit(&self) -> Option<xcp_proto::TimeUnit> {
        xcp_proto::TimeUnit::from_nanos(u64::from(self.timestamp_unit_ns))
    }
}

/// Flash memory that PROGRAM_* commands write (a simulation kept in RAM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashConfig {
    /// Absolute address (extension 1) of the first sector.
    pub base: u32,
    /// Sector size in bytes.
    pub sector_size: u32,
    /// Number of sectors.
    pub sectors: u8,
}

impl Default for FlashConfig {
    fn default() -> Self {
        Self {
            base: 0x0800_0000,
            sector_size: 16 * 1024,
            sectors: 8,
        }
    }
}

/// Choices for tools with different A2L support.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct A2lOptions {
    /// Emit the fields of structure instances as individual MEASUREMENTs (`inst.field`)
    /// instead of TYPEDEF_STRUCTURE + INSTANCE (for tools without typedef support).
    pub flatten_typedefs: bool,
}
