//! Slave→master CTOs: positive responses (RES), errors (ERR), events (EV) and service
//! requests (SERV), XCP part 2 §1.5.
//!
//! A positive response does not say which command it answers, so [`Response::parse`] takes the
//! [`Pending`] command; [`SlaveCto::parse`] dispatches on the PID first.

use core::fmt;

use crate::bits::{comm_mode_basic, daq_key_byte, daq_properties, timestamp_mode};
use crate::codes::{ChecksumType, CommandCode, ErrorCode, Level1Code, Resources, pid};
use crate::command::{OdtEntry, Pending, fmt_hex};
use crate::error::{DecodeError, EncodeError};
use crate::event::{Event, Serv};
use crate::params::{
    Address, AddressGranularity, ByteOrder, IdField, SessionParams, TimestampSize,
};
use crate::wire::{Reader, Writer, check_max, ensure};

/// CONNECT response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConnectInfo {
    /// Resources the slave offers.
    pub resources: Resources,
    /// COMM_MODE_BASIC: byte order (bit 0), AG (bits 1–2), slave block mode (bit 6),
    /// optional info available (bit 7).
    pub comm_mode_basic: u8,
    /// MAX_CTO.
    pub max_cto: u8,
    /// MAX_DTO, in the byte order given by `comm_mode_basic`.
    pub max_dto: u16,
    /// Protocol layer version, most significant byte.
    pub protocol_layer_version: u8,
    /// Transport layer version, most significant byte.
    pub transport_layer_version: u8,
}

impl ConnectInfo {
    /// Byte order announced by the slave.
    pub const fn byte_order(&self) -> ByteOrder {
        if self.comm_mode_basic & comm_mode_basic::BYTE_ORDER == 0 {
            ByteOrder::Intel
        } else {
            ByteOrder::Motorola
        }
    }

    /// Address granularity announced by the slave (`None` for the reserved code 3).
    pub const fn address_granularity(&self) -> Option<AddressGranularity> {
        AddressGranularity::from_code(
            (self.comm_mode_basic & comm_mode_basic::ADDRESS_GRANULARITY_MASK)
                >> comm_mode_basic::ADDRESS_GRANULARITY_SHIFT,
        )
    }

    /// Whether the slave offers slave block mode (UPLOAD of more than one packet).
    pub const fn slave_block_mode(&self) -> bool {
        self.comm_mode_basic & comm_mode_basic::SLAVE_BLOCK_MODE != 0
    }

    /// Whether GET_COMM_MODE_INFO gives more information.
    pub const fn optional(&self) -> bool {
        self.comm_mode_basic & comm_mode_basic::OPTIONAL != 0
    }

    /// Session parameters negotiated by this response, keeping `base`'s DAQ layout.
    pub fn session_params(&self, base: &SessionParams) -> SessionParams {
        SessionParams {
            byte_order: self.byte_order(),
            address_granularity: self.address_granularity().unwrap_or_default(),
            max_cto: self.max_cto,
            max_dto: self.max_dto,
            daq: base.daq,
        }
    }
}

/// GET_STATUS response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Status {
    /// Session status bits: STORE_CAL_REQ 0x01, STORE_DAQ_REQ 0x04, CLEAR_DAQ_REQ 0x08,
    /// DAQ_RUNNING 0x40, RESUME 0x80.
    pub session_status: u8,
    /// Resources currently protected by seed & key.
    pub protection: Resources,
    /// State number (XCP 1.4; reserved before).
    pub state_number: u8,
    /// Session configuration id.
    pub config_id: u16,
}

/// GET_COMM_MODE_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CommModeInfo {
    /// COMM_MODE_OPTIONAL: master block mode 0x01, interleaved mode 0x02.
    pub comm_mode_optional: u8,
    /// MAX_BS: largest block in master block mode.
    pub max_bs: u8,
    /// MIN_ST: minimum separation time in 100 µs units.
    pub min_st: u8,
    /// QUEUE_SIZE for interleaved mode.
    pub queue_size: u8,
    /// XCP driver version number.
    pub driver_version: u8,
}

/// GET_ID response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct IdInfo<'a> {
    /// Mode bit 0: the identification is in this response (else: UPLOAD it from the MTA);
    /// bit 1: compressed/encrypted.
    pub mode: u8,
    /// Length of the identification in bytes.
    pub length: u32,
    /// The identification bytes carried in this response (empty unless mode bit 0 is set).
    pub data: &'a [u8],
}

/// GET_SEED response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Seed<'a> {
    /// Remaining seed length, including this part (0: resource is unprotected).
    pub remaining: u8,
    /// Seed bytes in this packet.
    pub seed: &'a [u8],
}

/// BUILD_CHECKSUM response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ChecksumResult {
    /// Algorithm used.
    pub checksum_type: ChecksumType,
    /// Checksum.
    pub value: u32,
}

/// GET_SEGMENT_INFO response, by request mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SegmentInfo {
    /// Mode 0: basic address info (address or length).
    Basic {
        /// Address or length, as requested.
        info: u32,
    },
    /// Mode 1: standard info.
    Standard {
        /// Number of pages.
        max_pages: u8,
        /// Address extension of the segment.
        address_extension: u8,
        /// Number of address mappings.
        max_mapping: u8,
        /// Compression method.
        compression: u8,
        /// Encryption method.
        encryption: u8,
    },
    /// Mode 2: address mapping info.
    Mapping {
        /// Source address, destination address or length, as requested.
        info: u32,
    },
}

/// GET_DAQ_LIST_MODE response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqListModeInfo {
    /// Current mode: SELECTED 0x01, DIRECTION 0x02, DTO_CTR 0x08, TIMESTAMP 0x10,
    /// PID_OFF 0x20, RUNNING 0x40, RESUME 0x80.
    pub mode: u8,
    /// Current event channel.
    pub event: u16,
    /// Current prescaler.
    pub prescaler: u8,
    /// Current priority.
    pub priority: u8,
}

/// GET_DAQ_CLOCK response body, shared with EV_TIME_SYNC.
///
/// With `payload_fmt == 0` this is the legacy layout: one 32-bit slave timestamp.
/// Otherwise `payload_fmt` says which timestamps follow (bits 0–1 slave, 2–3 grandmaster,
/// 4–5 ECU; 1 = 32 bit, 2 = 64 bit), bit 6 adds the cluster id and counter, and a sync-state
/// byte closes the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqClock {
    /// TRIGGER_INFO (extended format).
    pub trigger_info: u8,
    /// PAYLOAD_FMT (0 = legacy).
    pub payload_fmt: u8,
    /// Slave (XCP) clock.
    pub slave: Option<u64>,
    /// Grandmaster clock.
    pub grandmaster: Option<u64>,
    /// ECU clock.
    pub ecu: Option<u64>,
    /// Cluster id and counter.
    pub cluster: Option<(u16, u8)>,
    /// SYNC_STATE (extended format).
    pub sync_state: Option<u8>,
}

impl DaqClock {
    /// A legacy-format clock reading.
    pub const fn legacy(timestamp: u32) -> Self {
        Self {
            trigger_info: 0,
            payload_fmt: 0,
            slave: Some(timestamp as u64),
            grandmaster: None,
            ecu: None,
            cluster: None,
            sync_state: None,
        }
    }

    fn field_size(fmt: u8, shift: u8) -> Option<usize> {
        match (fmt >> shift) & 3 {
            0 => Some(0),
            1 => Some(4),
            2 => Some(8),
            _ => None,
        }
    }

    pub(crate) fn parse_body(
        r: &mut Reader<'_>,
        packet: &'static str,
    ) -> Result<Self, DecodeError> {
        let trigger_info = r.u8("TRIGGER_INFO")?;
        let payload_fmt = r.u8("PAYLOAD_FMT")?;
        if payload_fmt == 0 {
            return Ok(Self {
                trigger_info,
                ..Self::legacy(r.u32("TIMESTAMP")?)
            });
        }
        if payload_fmt & 0x80 != 0 {
            return Err(DecodeError::InvalidField {
                packet,
                field: "PAYLOAD_FMT",
                value: u32::from(payload_fmt),
            });
        }
        let mut read = |shift: u8, field: &'static str| -> Result<Option<u64>, DecodeError> {
            match Self::field_size(payload_fmt, shift) {
                Some(0) => Ok(None),
                Some(4) => Ok(Some(u64::from(r.u32(field)?))),
                Some(_) => Ok(Some(r.u64(field)?)),
                None => Err(DecodeError::InvalidField {
                    packet,
                    field: "PAYLOAD_FMT",
                    value: u32::from(payload_fmt),
                }),
            }
        };
        let slave = read(0, "TIMESTAMP_XCP_SLAVE")?;
        let grandmaster = read(2, "TIMESTAMP_GRANDMASTER")?;
        let ecu = read(4, "TIMESTAMP_ECU")?;
        let cluster = if payload_fmt & 0x40 != 0 {
            Some((r.u16("CLUSTER_IDENTIFIER")?, r.u8("COUNTER")?))
        } else {
            None
        };
        let sync_state = Some(r.u8("SYNC_STATE")?);
        Ok(Self {
            trigger_info,
            payload_fmt,
            slave,
            grandmaster,
            ecu,
            cluster,
            sync_state,
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        if self.payload_fmt == 0 {
            return 2 + 4;
        }
        let size = |shift| Self::field_size(self.payload_fmt, shift).unwrap_or(0);
        2 + size(0) + size(2) + size(4) + if self.cluster.is_some() { 3 } else { 0 } + 1
    }

    pub(crate) fn emit_body(
        &self,
        w: &mut Writer<'_>,
        packet: &'static str,
    ) -> Result<(), EncodeError> {
        let fmt = self.payload_fmt;
        w.u8(self.trigger_info)?;
        w.u8(fmt)?;
        if fmt == 0 {
            let ts = self.slave.unwrap_or(u64::MAX);
            ensure(
                ts <= u64::from(u32::MAX)
                    && self.grandmaster.is_none()
                    && self.ecu.is_none()
                    && self.cluster.is_none()
                    && self.sync_state.is_none(),
                packet,
                "TIMESTAMP",
                ts,
            )?;
            #[allow(clippy::cast_possible_truncation, reason = "checked <= u32::MAX above")]
            return w.u32(ts as u32);
        }
        ensure(fmt & 0x80 == 0, packet, "PAYLOAD_FMT", u64::from(fmt))?;
        let mut put = |shift: u8, v: Option<u64>, field: &'static str| -> Result<(), EncodeError> {
            match (Self::field_size(fmt, shift), v) {
                (Some(0), None) => Ok(()),
                (Some(4), Some(v)) if v <= u64::from(u32::MAX) => {
                    w.u32(v.try_into().unwrap_or(u32::MAX))
                }
                (Some(8), Some(v)) => w.u64(v),
                _ => Err(EncodeError::InvalidField {
                    packet,
                    field,
                    value: v.unwrap_or(u64::from(fmt)),
                }),
            }
        };
        put(0, self.slave, "TIMESTAMP_XCP_SLAVE")?;
        put(2, self.grandmaster, "TIMESTAMP_GRANDMASTER")?;
        put(4, self.ecu, "TIMESTAMP_ECU")?;
        ensure(
            (fmt & 0x40 != 0) == self.cluster.is_some(),
            packet,
            "CLUSTER_IDENTIFIER",
            u64::from(fmt),
        )?;
        if let Some((id, counter)) = self.cluster {
            w.u16(id)?;
            w.u8(counter)?;
        }
        let state = self.sync_state.ok_or(EncodeError::InvalidField {
            packet,
            field: "SYNC_STATE",
            value: u64::from(fmt),
        })?;
        w.u8(state)
    }
}

impl fmt::Display for DaqClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = self.slave {
            write!(f, " timestamp={t}")?;
        }
        if self.payload_fmt != 0 {
            write!(
                f,
                " trigger={:#04x} fmt={:#04x}",
                self.trigger_info, self.payload_fmt
            )?;
        }
        if let Some(t) = self.grandmaster {
            write!(f, " grandmaster={t}")?;
        }
        if let Some(t) = self.ecu {
            write!(f, " ecu={t}")?;
        }
        if let Some((id, counter)) = self.cluster {
            write!(f, " cluster={id} counter={counter}")?;
        }
        if let Some(s) = self.sync_state {
            write!(f, " sync_state={s:#04x}")?;
        }
        Ok(())
    }
}

/// GET_DAQ_PROCESSOR_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqProcessorInfo {
    /// DAQ_PROPERTIES: dynamic config 0x01, prescaler 0x02, resume 0x04, bit STIM 0x08,
    /// timestamps 0x10, PID_OFF 0x20, overload indication bits 6–7 (1 = PID MSB, 2 = event).
    pub properties: u8,
    /// MAX_DAQ: total number of DAQ lists the slave can hold (capacity, not current count).
    pub max_daq: u16,
    /// MAX_EVENT_CHANNEL (0 = unknown).
    pub max_event: u16,
    /// MIN_DAQ: number of predefined DAQ lists.
    pub min_daq: u8,
    /// DAQ_KEY_BYTE: optimisation type (bits 0–3), address extension scope (bits 4–5),
    /// identification field type (bits 6–7).
    pub key_byte: u8,
}

impl DaqProcessorInfo {
    /// Identification field type from the key byte.
    pub const fn id_field(&self) -> IdField {
        IdField::from_code(self.key_byte >> daq_key_byte::IDENTIFICATION_FIELD_SHIFT)
    }

    /// Whether DAQ lists are allocated dynamically.
    pub const fn dynamic(&self) -> bool {
        self.properties & daq_properties::DYNAMIC != 0
    }

    /// Whether overload is indicated by the PID's most significant bit.
    pub const fn overload_pid_msb(&self) -> bool {
        self.properties & daq_properties::OVERLOAD_MASK == daq_properties::OVERLOAD_MSB
    }

    /// Whether overload is indicated by EV_DAQ_OVERLOAD.
    pub const fn overload_event(&self) -> bool {
        self.properties & daq_properties::OVERLOAD_MASK == daq_properties::OVERLOAD_EVENT
    }
}

/// GET_DAQ_RESOLUTION_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqResolutionInfo {
    /// Granularity of ODT entry sizes for DAQ.
    pub granularity_daq: u8,
    /// Largest ODT entry size for DAQ.
    pub max_size_daq: u8,
    /// Granularity of ODT entry sizes for STIM.
    pub granularity_stim: u8,
    /// Largest ODT entry size for STIM.
    pub max_size_stim: u8,
    /// TIMESTAMP_MODE: size (bits 0–2), fixed (bit 3), unit (bits 4–7).
    pub timestamp_mode: u8,
    /// Timestamp ticks per unit.
    pub timestamp_ticks: u16,
}

impl DaqResolutionInfo {
    /// Timestamp size (`None` for a reserved size code).
    pub const fn timestamp_size(&self) -> Option<TimestampSize> {
        TimestampSize::from_code(self.timestamp_mode & timestamp_mode::SIZE_MASK)
    }

    /// Nanoseconds per timestamp tick (`None` for a reserved unit code).
    pub fn tick_ns(&self) -> Option<f64> {
        let unit_ns = match self.timestamp_mode >> timestamp_mode::UNIT_SHIFT {
            0 => 1.0,
            1 => 10.0,
            2 => 100.0,
            3 => 1e3,
            4 => 1e4,
            5 => 1e5,
            6 => 1e6,
            7 => 1e7,
            8 => 1e8,
            9 => 1e9,
            10 => 1e-3,
            11 => 1e-2,
            12 => 1e-1,
            _ => return None,
        };
        Some(unit_ns * f64::from(self.timestamp_ticks))
    }
}

/// GET_DAQ_LIST_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqListInfo {
    /// Properties: predefined 0x01, event fixed 0x02, DAQ 0x04, STIM 0x08, packed 0x10.
    pub properties: u8,
    /// Number of ODTs.
    pub max_odt: u8,
    /// Entries per ODT.
    pub max_odt_entries: u8,
    /// The fixed event channel, if any.
    pub fixed_event: u16,
}

/// GET_DAQ_EVENT_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqEventInfo {
    /// Properties: DAQ 0x04, STIM 0x08, packed 0x10, consistency bits 6–7.
    pub properties: u8,
    /// Maximum number of DAQ lists on this event.
    pub max_daq_list: u8,
    /// Length of the event name (UPLOAD it from the MTA).
    pub name_length: u8,
    /// Event cycle in `time_unit` (0 = not cyclic).
    pub time_cycle: u8,
    /// Unit of `time_cycle`, as the timestamp unit codes.
    pub time_unit: u8,
    /// Priority.
    pub priority: u8,
}

/// PROGRAM_START response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ProgramStartInfo {
    /// COMM_MODE_PGM: master block mode 0x01, interleaved 0x02, slave block mode 0x40.
    pub comm_mode_pgm: u8,
    /// MAX_CTO during programming.
    pub max_cto_pgm: u8,
    /// MAX_BS during programming.
    pub max_bs_pgm: u8,
    /// MIN_ST during programming.
    pub min_st_pgm: u8,
    /// QUEUE_SIZE during programming.
    pub queue_size_pgm: u8,
}

/// GET_PGM_PROCESSOR_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PgmProcessorInfo {
    /// PGM_PROPERTIES.
    pub properties: u8,
    /// Number of sectors.
    pub max_sector: u8,
}

/// GET_SECTOR_INFO response, by request mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SectorInfo {
    /// Mode 0 (start address) or 1 (length).
    Info {
        /// Clear sequence number.
        clear_sequence: u8,
        /// Program sequence number.
        program_sequence: u8,
        /// Programming method.
        method: u8,
        /// Start address or length.
        info: u32,
    },
    /// Mode 2: length of the sector name.
    NameLength {
        /// Name length.
        len: u8,
    },
}

/// TIME_CORRELATION_PROPERTIES response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TimeCorrelationInfo {
    /// SLAVE_CONFIG.
    pub slave_config: u8,
    /// OBSERVABLE_CLOCKS.
    pub observable_clocks: u8,
    /// SYNC_STATE.
    pub sync_state: u8,
    /// CLOCK_INFO.
    pub clock_info: u8,
    /// CLUSTER_ID.
    pub cluster_id: u16,
}

/// DTO_CTR_PROPERTIES response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DtoCtrInfo {
    /// Properties.
    pub properties: u8,
    /// Related event channel.
    pub related_event: u16,
    /// Mode.
    pub mode: u8,
}

/// GET_VERSION response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Version {
    /// Protocol layer major version.
    pub protocol_major: u8,
    /// Protocol layer minor version.
    pub protocol_minor: u8,
    /// Transport layer major version.
    pub transport_major: u8,
    /// Transport layer minor version.
    pub transport_minor: u8,
}

/// GET_DAQ_LIST_PACKED_MODE response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PackedModeInfo {
    /// 0 = not packed, 1 = element grouped, 2 = event grouped.
    pub mode: u8,
    /// Timestamp mode in packed mode.
    pub timestamp_mode: u8,
    /// Samples per packet.
    pub sample_count: u16,
}

/// A positive response (PID 0xFF), decoded in the context of the command it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Response<'a> {
    /// A response that carries nothing but the PID.
    Ok,
    /// CONNECT.
    Connect(ConnectInfo),
    /// GET_STATUS.
    Status(Status),
    /// GET_COMM_MODE_INFO.
    CommModeInfo(CommModeInfo),
    /// GET_ID.
    Id(IdInfo<'a>),
    /// GET_SEED.
    Seed(Seed<'a>),
    /// UNLOCK: resources still protected.
    Unlock {
        /// Protection status after the unlock.
        protection: Resources,
    },
    /// UPLOAD or SHORT_UPLOAD: the data (without alignment bytes; in slave block mode one
    /// packet's part, possibly followed by transport padding the caller trims).
    Upload {
        /// Data.
        data: &'a [u8],
    },
    /// BUILD_CHECKSUM.
    Checksum(ChecksumResult),
    /// TRANSPORT_LAYER_CMD, USER_CMD or an unknown command: the bytes after the PID.
    Raw {
        /// Payload.
        data: &'a [u8],
    },
    /// GET_CAL_PAGE.
    CalPage {
        /// Logical page number.
        page: u8,
    },
    /// GET_PAG_PROCESSOR_INFO.
    PagProcessorInfo {
        /// Number of segments.
        max_segments: u8,
        /// PAG_PROPERTIES (FREEZE_SUPPORTED 0x01).
        properties: u8,
    },
    /// GET_SEGMENT_INFO.
    SegmentInfo(SegmentInfo),
    /// GET_PAGE_INFO.
    PageInfo {
        /// PAGE_PROPERTIES.
        properties: u8,
        /// Init segment.
        init_segment: u8,
    },
    /// GET_SEGMENT_MODE.
    SegmentMode {
        /// Mode bits (FREEZE 0x01).
        mode: u8,
    },
    /// GET_DAQ_LIST_MODE.
    DaqListMode(DaqListModeInfo),
    /// START_STOP_DAQ_LIST.
    StartStopDaqList {
        /// First PID of the DAQ list.
        first_pid: u8,
    },
    /// GET_DAQ_CLOCK.
    DaqClock(DaqClock),
    /// READ_DAQ.
    ReadDaq(OdtEntry),
    /// GET_DAQ_PROCESSOR_INFO.
    DaqProcessorInfo(DaqProcessorInfo),
    /// GET_DAQ_RESOLUTION_INFO.
    DaqResolutionInfo(DaqResolutionInfo),
    /// GET_DAQ_LIST_INFO.
    DaqListInfo(DaqListInfo),
    /// GET_DAQ_EVENT_INFO.
    DaqEventInfo(DaqEventInfo),
    /// PROGRAM_START.
    ProgramStart(ProgramStartInfo),
    /// GET_PGM_PROCESSOR_INFO.
    PgmProcessorInfo(PgmProcessorInfo),
    /// GET_SECTOR_INFO.
    SectorInfo(SectorInfo),
    /// TIME_CORRELATION_PROPERTIES.
    TimeCorrelation(TimeCorrelationInfo),
    /// DTO_CTR_PROPERTIES.
    DtoCtr(DtoCtrInfo),
    /// GET_VERSION.
    Version(Version),
    /// GET_DAQ_LIST_PACKED_MODE.
    PackedMode(PackedModeInfo),
}

const RES: &str = "RES";

impl<'a> Response<'a> {
    /// Decodes a positive response to `pending`.
    ///
    /// # Errors
    /// `UnexpectedPid` unless the PID is 0xFF, `TooLong` beyond MAX_CTO, `Truncated` when a
    /// field is missing, `InvalidField` for forbidden values (reserved AG code, reserved
    /// timestamp format, an unknown GET_SEGMENT_INFO/GET_SECTOR_INFO mode).
    pub fn parse(
        bytes: &'a [u8],
        pending: Pending,
        params: &SessionParams,
    ) -> Result<Self, DecodeError> {
        let Some(&p) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        if p != pid::RES {
            return Err(DecodeError::UnexpectedPid {
                pid: p,
                expected: "RES (0xFF)",
            });
        }
        let max = usize::from(params.max_cto);
        if bytes.len() > max {
            return Err(DecodeError::TooLong {
                packet: RES,
                len: bytes.len(),
                max,
            });
        }
        let packet = if pending.code.is_known() {
            pending.code.spec_name()
        } else {
            RES
        };
        let mut r = Reader::at(bytes, 1, params.byte_order, packet);
        use CommandCode as C;
        Ok(match pending.code {
            C::Connect => {
                let resources = Resources(r.u8("RESOURCE")?);
                let comm_mode_basic = r.u8("COMM_MODE_BASIC")?;
                if (comm_mode_basic >> 1) & 3 == 3 {
                    return Err(DecodeError::InvalidField {
                        packet,
                        field: "COMM_MODE_BASIC.ADDRESS_GRANULARITY",
                        value: u32::from(comm_mode_basic),
                    });
                }
                // MAX_DTO follows the byte order this very response announces.
                let order = if comm_mode_basic & 1 == 0 {
                    ByteOrder::Intel
                } else {
                    ByteOrder::Motorola
                };
                let max_cto = r.u8("MAX_CTO")?;
                let mut r2 = Reader::at(bytes, 4, order, packet);
                let max_dto = r2.u16("MAX_DTO")?;
                Self::Connect(ConnectInfo {
                    resources,
                    comm_mode_basic,
                    max_cto,
                    max_dto,
                    protocol_layer_version: r2.u8("PROTOCOL_LAYER_VERSION")?,
                    transport_layer_version: r2.u8("TRANSPORT_LAYER_VERSION")?,
                })
            }
            C::GetStatus => Self::Status(Status {
                session_status: r.u8("CURRENT_SESSION_STATUS")?,
                protection: Resources(r.u8("CURRENT_RESOURCE_PROTECTION_STATUS")?),
                state_number: r.u8("STATE_NUMBER")?,
                config_id: r.u16("SESSION_CONFIGURATION_ID")?,
            }),
            C::GetCommModeInfo => {
                r.skip(1, "RESERVED")?;
                let comm_mode_optional = r.u8("COMM_MODE_OPTIONAL")?;
                r.skip(1, "RESERVED")?;
                Self::CommModeInfo(CommModeInfo {
                    comm_mode_optional,
                    max_bs: r.u8("MAX_BS")?,
                    min_st: r.u8("MIN_ST")?,
                    queue_size: r.u8("QUEUE_SIZE")?,
                    driver_version: r.u8("XCP_DRIVER_VERSION_NUMBER")?,
                })
            }
            C::GetId => {
                let mode = r.u8("MODE")?;
                r.skip(2, "RESERVED")?;
                let length = r.u32("LENGTH")?;
                let data = if mode & 1 != 0 {
                    let rest = r.rest();
                    let n = usize::try_from(length)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    &rest[..n]
                } else {
                    &[]
                };
                Self::Id(IdInfo { mode, length, data })
            }
            C::GetSeed => {
                let remaining = r.u8("LENGTH")?;
                let rest = r.rest();
                let n = usize::from(remaining).min(rest.len());
                Self::Seed(Seed {
                    remaining,
                    seed: &rest[..n],
                })
            }
            C::Unlock => Self::Unlock {
                protection: Resources(r.u8("CURRENT_RESOURCE_PROTECTION_STATUS")?),
            },
            C::Upload | C::ShortUpload => {
                let ag = params.ag();
                r.skip(ag - 1, "ALIGNMENT")?;
                let rest = r.rest();
                Self::Upload {
                    data: &rest[..rest.len() - rest.len() % ag],
                }
            }
            C::BuildChecksum => {
                let checksum_type = ChecksumType::from_u8(r.u8("CHECKSUM_TYPE")?);
                r.skip(2, "RESERVED")?;
                Self::Checksum(ChecksumResult {
                    checksum_type,
                    value: r.u32("CHECKSUM")?,
                })
            }
            C::TransportLayerCmd | C::UserCmd | C::Unknown(_) => Self::Raw { data: r.rest() },
            C::GetCalPage => {
                r.skip(2, "RESERVED")?;
                Self::CalPage {
                    page: r.u8("LOGICAL_DATA_PAGE_NUMBER")?,
                }
            }
            C::GetPagProcessorInfo => Self::PagProcessorInfo {
                max_segments: r.u8("MAX_SEGMENT")?,
                properties: r.u8("PAG_PROPERTIES")?,
            },
            C::GetSegmentInfo => Self::SegmentInfo(match pending.sub {
                0 | 2 => {
                    r.skip(3, "RESERVED")?;
                    let info = r.u32("INFO")?;
                    if pending.sub == 0 {
                        SegmentInfo::Basic { info }
                    } else {
                        SegmentInfo::Mapping { info }
                    }
                }
                1 => SegmentInfo::Standard {
                    max_pages: r.u8("MAX_PAGES")?,
                    address_extension: r.u8("ADDRESS_EXTENSION")?,
                    max_mapping: r.u8("MAX_MAPPING")?,
                    compression: r.u8("COMPRESSION_METHOD")?,
                    encryption: r.u8("ENCRYPTION_METHOD")?,
                },
                other => {
                    return Err(DecodeError::InvalidField {
                        packet,
                        field: "MODE",
                        value: u32::from(other),
                    });
                }
            }),
            C::GetPageInfo => Self::PageInfo {
                properties: r.u8("PAGE_PROPERTIES")?,
                init_segment: r.u8("INIT_SEGMENT")?,
            },
            C::GetSegmentMode => {
                r.skip(1, "RESERVED")?;
                Self::SegmentMode {
                    mode: r.u8("MODE")?,
                }
            }
            C::GetDaqListMode => {
                let mode = r.u8("CURRENT_MODE")?;
                r.skip(2, "RESERVED")?;
                Self::DaqListMode(DaqListModeInfo {
                    mode,
                    event: r.u16("CURRENT_EVENT_CHANNEL_NUMBER")?,
                    prescaler: r.u8("CURRENT_PRESCALER")?,
                    priority: r.u8("CURRENT_DAQ_LIST_PRIORITY")?,
                })
            }
            C::StartStopDaqList => Self::StartStopDaqList {
                first_pid: r.u8("FIRST_PID")?,
            },
            C::GetDaqClock => {
                r.skip(1, "RESERVED")?;
                Self::DaqClock(DaqClock::parse_body(&mut r, packet)?)
            }
            C::ReadDaq => {
                let bit_offset = r.u8("BIT_OFFSET")?;
                let size = r.u8("SIZE_OF_DAQ_ELEMENT")?;
                let ext = r.u8("ADDRESS_EXTENSION")?;
                let addr = r.u32("ADDRESS")?;
                Self::ReadDaq(OdtEntry {
                    bit_offset,
                    size,
                    addr: Address { ext, addr },
                })
            }
            C::GetDaqProcessorInfo => Self::DaqProcessorInfo(DaqProcessorInfo {
                properties: r.u8("DAQ_PROPERTIES")?,
                max_daq: r.u16("MAX_DAQ")?,
                max_event: r.u16("MAX_EVENT_CHANNEL")?,
                min_daq: r.u8("MIN_DAQ")?,
                key_byte: r.u8("DAQ_KEY_BYTE")?,
            }),
            C::GetDaqResolutionInfo => Self::DaqResolutionInfo(DaqResolutionInfo {
                granularity_daq: r.u8("GRANULARITY_ODT_ENTRY_SIZE_DAQ")?,
                max_size_daq: r.u8("MAX_ODT_ENTRY_SIZE_DAQ")?,
                granularity_stim: r.u8("GRANULARITY_ODT_ENTRY_SIZE_STIM")?,
                max_size_stim: r.u8("MAX_ODT_ENTRY_SIZE_STIM")?,
                timestamp_mode: r.u8("TIMESTAMP_MODE")?,
                timestamp_ticks: r.u16("TIMESTAMP_TICKS")?,
            }),
            C::GetDaqListInfo => Self::DaqListInfo(DaqListInfo {
                properties: r.u8("DAQ_LIST_PROPERTIES")?,
                max_odt: r.u8("MAX_ODT")?,
                max_odt_entries: r.u8("MAX_ODT_ENTRIES")?,
                fixed_event: r.u16("FIXED_EVENT")?,
            }),
            C::GetDaqEventInfo => Self::DaqEventInfo(DaqEventInfo {
                properties: r.u8("DAQ_EVENT_PROPERTIES")?,
                max_daq_list: r.u8("MAX_DAQ_LIST")?,
                name_length: r.u8("EVENT_CHANNEL_NAME_LENGTH")?,
                time_cycle: r.u8("EVENT_CHANNEL_TIME_CYCLE")?,
                time_unit: r.u8("EVENT_CHANNEL_TIME_UNIT")?,
                priority: r.u8("EVENT_CHANNEL_PRIORITY")?,
            }),
            C::ProgramStart => {
                r.skip(1, "RESERVED")?;
                Self::ProgramStart(ProgramStartInfo {
                    comm_mode_pgm: r.u8("COMM_MODE_PGM")?,
                    max_cto_pgm: r.u8("MAX_CTO_PGM")?,
                    max_bs_pgm: r.u8("MAX_BS_PGM")?,
                    min_st_pgm: r.u8("MIN_ST_PGM")?,
                    queue_size_pgm: r.u8("QUEUE_SIZE_PGM")?,
                })
            }
            C::GetPgmProcessorInfo => Self::PgmProcessorInfo(PgmProcessorInfo {
                properties: r.u8("PGM_PROPERTIES")?,
                max_sector: r.u8("MAX_SECTOR")?,
            }),
            C::GetSectorInfo => Self::SectorInfo(match pending.sub {
                0 | 1 => SectorInfo::Info {
                    clear_sequence: r.u8("CLEAR_SEQUENCE_NUMBER")?,
                    program_sequence: r.u8("PROGRAM_SEQUENCE_NUMBER")?,
                    method: r.u8("PROGRAMMING_METHOD")?,
                    info: r.u32("SECTOR_INFO")?,
                },
                2 => SectorInfo::NameLength {
                    len: r.u8("SECTOR_NAME_LENGTH")?,
                },
                other => {
                    return Err(DecodeError::InvalidField {
                        packet,
                        field: "MODE",
                        value: u32::from(other),
                    });
                }
            }),
            C::TimeCorrelationProperties => {
                let slave_config = r.u8("SLAVE_CONFIG")?;
                let observable_clocks = r.u8("OBSERVABLE_CLOCKS")?;
                let sync_state = r.u8("SYNC_STATE")?;
                let clock_info = r.u8("CLOCK_INFO")?;
                r.skip(1, "RESERVED")?;
                Self::TimeCorrelation(TimeCorrelationInfo {
                    slave_config,
                    observable_clocks,
                    sync_state,
                    clock_info,
                    cluster_id: r.u16("CLUSTER_ID")?,
                })
            }
            C::DtoCtrProperties => Self::DtoCtr(DtoCtrInfo {
                properties: r.u8("PROPERTIES")?,
                related_event: r.u16("RELATED_EVENT_CHANNEL_NUMBER")?,
                mode: r.u8("MODE")?,
            }),
            C::Level1 => match Level1Code::from_u8(pending.sub) {
                Level1Code::GetVersion => {
                    r.skip(1, "RESERVED")?;
                    Self::Version(Version {
                        protocol_major: r.u8("PROTOCOL_LAYER_VERSION_MAJOR")?,
                        protocol_minor: r.u8("PROTOCOL_LAYER_VERSION_MINOR")?,
                        transport_major: r.u8("TRANSPORT_LAYER_VERSION_MAJOR")?,
                        transport_minor: r.u8("TRANSPORT_LAYER_VERSION_MINOR")?,
                    })
                }
                Level1Code::GetDaqListPackedMode => {
                    r.skip(1, "RESERVED")?;
                    let mode = r.u8("DPM_MODE")?;
                    let (timestamp_mode, sample_count) = if mode == 0 && r.remaining() < 3 {
                        (0, 0)
                    } else {
                        (r.u8("DPM_TIMESTAMP_MODE")?, r.u16("DPM_SAMPLE_COUNT")?)
                    };
                    Self::PackedMode(PackedModeInfo {
                        mode,
                        timestamp_mode,
                        sample_count,
                    })
                }
                Level1Code::SetDaqListPackedMode => Self::Ok,
                Level1Code::Unknown(_) => Self::Raw { data: r.rest() },
            },
            C::Disconnect
            | C::Synch
            | C::SetRequest
            | C::SetMta
            | C::Download
            | C::DownloadNext
            | C::DownloadMax
            | C::ShortDownload
            | C::ModifyBits
            | C::SetCalPage
            | C::SetSegmentMode
            | C::CopyCalPage
            | C::ClearDaqList
            | C::SetDaqPtr
            | C::WriteDaq
            | C::SetDaqListMode
            | C::StartStopSynch
            | C::FreeDaq
            | C::AllocDaq
            | C::AllocOdt
            | C::AllocOdtEntry
            | C::ProgramClear
            | C::Program
            | C::ProgramReset
            | C::ProgramPrepare
            | C::ProgramFormat
            | C::ProgramNext
            | C::ProgramMax
            | C::ProgramVerify
            | C::WriteDaqMultiple => Self::Ok,
        })
    }

    /// Number of bytes [`emit`](Self::emit) writes, PID included.
    pub fn buffer_len(&self, params: &SessionParams) -> usize {
        1 + match self {
            Self::Ok => 0,
            Self::Connect(_) | Self::Checksum(_) | Self::DaqListMode(_) => 7,
            Self::Status(_) | Self::DaqListInfo(_) | Self::Version(_) | Self::PackedMode(_) => 5,
            Self::CommModeInfo(_)
            | Self::DaqProcessorInfo(_)
            | Self::DaqResolutionInfo(_)
            | Self::ReadDaq(_)
            | Self::TimeCorrelation(_) => 7,
            Self::Id(id) => 7 + id.data.len(),
            Self::Seed(s) => 1 + s.seed.len(),
            Self::Unlock { .. } | Self::StartStopDaqList { .. } => 1,
            Self::Upload { data } => params.ag() - 1 + data.len(),
            Self::Raw { data } => data.len(),
            Self::CalPage { .. } => 3,
            Self::SegmentMode { .. } => 2,
            Self::PagProcessorInfo { .. } | Self::PageInfo { .. } | Self::PgmProcessorInfo(_) => 2,
            Self::SegmentInfo(SegmentInfo::Standard { .. }) => 5,
            Self::SegmentInfo(_) => 7,
            Self::DaqClock(c) => 1 + c.body_len(),
            Self::DaqEventInfo(_) | Self::ProgramStart(_) => 6,
            Self::SectorInfo(SectorInfo::Info { .. }) => 7,
            Self::SectorInfo(SectorInfo::NameLength { .. }) => 1,
            Self::DtoCtr(_) => 4,
        }
    }

    /// Encodes the response, PID included, and returns the number of bytes written.
    ///
    /// # Errors
    /// `BufferTooSmall`, `TooLong` beyond MAX_CTO, or `InvalidField` for values that cannot be
    /// represented (data not a whole number of elements, a reserved AG code, a clock reading
    /// that does not match its payload format).
    pub fn emit(&self, buf: &mut [u8], params: &SessionParams) -> Result<usize, EncodeError> {
        let len = self.buffer_len(params);
        check_max(RES, len, usize::from(params.max_cto))?;
        let mut w = Writer::new(buf, params.byte_order, RES);
        w.reserve(len)?;
        w.u8(pid::RES)?;
        match *self {
            Self::Ok => {}
            Self::Connect(c) => {
                ensure(
                    (c.comm_mode_basic >> 1) & 3 != 3,
                    "CONNECT",
                    "COMM_MODE_BASIC.ADDRESS_GRANULARITY",
                    u64::from(c.comm_mode_basic),
                )?;
                w.u8(c.resources.0)?;
                w.u8(c.comm_mode_basic)?;
                w.u8(c.max_cto)?;
                let dto = match c.byte_order() {
                    ByteOrder::Intel => c.max_dto.to_le_bytes(),
                    ByteOrder::Motorola => c.max_dto.to_be_bytes(),
                };
                w.bytes(&dto)?;
                w.u8(c.protocol_layer_version)?;
                w.u8(c.transport_layer_version)?;
            }
            Self::Status(s) => {
                w.u8(s.session_status)?;
                w.u8(s.protection.0)?;
                w.u8(s.state_number)?;
                w.u16(s.config_id)?;
            }
            Self::CommModeInfo(c) => {
                w.zeros(1)?;
                w.u8(c.comm_mode_optional)?;
                w.zeros(1)?;
                w.u8(c.max_bs)?;
                w.u8(c.min_st)?;
                w.u8(c.queue_size)?;
                w.u8(c.driver_version)?;
            }
            Self::Id(id) => {
                ensure(
                    id.data.is_empty() || id.mode & 1 != 0,
                    "GET_ID",
                    "MODE",
                    u64::from(id.mode),
                )?;
                ensure(
                    id.data.len() as u64 <= u64::from(id.length),
                    "GET_ID",
                    "LENGTH",
                    u64::from(id.length),
                )?;
                w.u8(id.mode)?;
                w.zeros(2)?;
                w.u32(id.length)?;
                w.bytes(id.data)?;
            }
            Self::Seed(s) => {
                ensure(
                    s.seed.len() <= usize::from(s.remaining),
                    "GET_SEED",
                    "LENGTH",
                    u64::from(s.remaining),
                )?;
                w.u8(s.remaining)?;
                w.bytes(s.seed)?;
            }
            Self::Unlock { protection } => w.u8(protection.0)?,
            Self::Upload { data } => {
                let ag = params.ag();
                ensure(
                    data.len() % ag == 0,
                    "UPLOAD",
                    "DATA_ELEMENTS",
                    data.len() as u64,
                )?;
                w.zeros(ag - 1)?;
                w.bytes(data)?;
            }
            Self::Checksum(c) => {
                w.u8(c.checksum_type.to_u8())?;
                w.zeros(2)?;
                w.u32(c.value)?;
            }
            Self::Raw { data } => w.bytes(data)?,
            Self::CalPage { page } => {
                w.zeros(2)?;
                w.u8(page)?;
            }
            Self::PagProcessorInfo {
                max_segments,
                properties,
            } => {
                w.u8(max_segments)?;
                w.u8(properties)?;
            }
            Self::SegmentInfo(SegmentInfo::Basic { info } | SegmentInfo::Mapping { info }) => {
                w.zeros(3)?;
                w.u32(info)?;
            }
            Self::SegmentInfo(SegmentInfo::Standard {
                max_pages,
                address_extension,
                max_mapping,
                compression,
                encryption,
            }) => {
                w.u8(max_pages)?;
                w.u8(address_extension)?;
                w.u8(max_mapping)?;
                w.u8(compression)?;
                w.u8(encryption)?;
            }
            Self::PageInfo {
                properties,
                init_segment,
            } => {
                w.u8(properties)?;
                w.u8(init_segment)?;
            }
            Self::SegmentMode { mode } => {
                w.zeros(1)?;
                w.u8(mode)?;
            }
            Self::DaqListMode(m) => {
                w.u8(m.mode)?;
                w.zeros(2)?;
                w.u16(m.event)?;
                w.u8(m.prescaler)?;
                w.u8(m.priority)?;
            }
            Self::StartStopDaqList { first_pid } => w.u8(first_pid)?,
            Self::DaqClock(ref c) => {
                w.zeros(1)?;
                c.emit_body(&mut w, "GET_DAQ_CLOCK")?;
            }
            Self::ReadDaq(e) => {
                w.u8(e.bit_offset)?;
                w.u8(e.size)?;
                w.u8(e.addr.ext)?;
                w.u32(e.addr.addr)?;
            }
            Self::DaqProcessorInfo(d) => {
                w.u8(d.properties)?;
                w.u16(d.max_daq)?;
                w.u16(d.max_event)?;
                w.u8(d.min_daq)?;
                w.u8(d.key_byte)?;
            }
            Self::DaqResolutionInfo(d) => {
                w.u8(d.granularity_daq)?;
                w.u8(d.max_size_daq)?;
                w.u8(d.granularity_stim)?;
                w.u8(d.max_size_stim)?;
                w.u8(d.timestamp_mode)?;
                w.u16(d.timestamp_ticks)?;
            }
            Self::DaqListInfo(d) => {
                w.u8(d.properties)?;
                w.u8(d.max_odt)?;
                w.u8(d.max_odt_entries)?;
                w.u16(d.fixed_event)?;
            }
            Self::DaqEventInfo(d) => {
                w.u8(d.properties)?;
                w.u8(d.max_daq_list)?;
                w.u8(d.name_length)?;
                w.u8(d.time_cycle)?;
                w.u8(d.time_unit)?;
                w.u8(d.priority)?;
            }
            Self::ProgramStart(p) => {
                w.zeros(1)?;
                w.u8(p.comm_mode_pgm)?;
                w.u8(p.max_cto_pgm)?;
                w.u8(p.max_bs_pgm)?;
                w.u8(p.min_st_pgm)?;
                w.u8(p.queue_size_pgm)?;
            }
            Self::PgmProcessorInfo(p) => {
                w.u8(p.properties)?;
                w.u8(p.max_sector)?;
            }
            Self::SectorInfo(SectorInfo::Info {
                clear_sequence,
                program_sequence,
                method,
                info,
            }) => {
                w.u8(clear_sequence)?;
                w.u8(program_sequence)?;
                w.u8(method)?;
                w.u32(info)?;
            }
            Self::SectorInfo(SectorInfo::NameLength { len }) => w.u8(len)?,
            Self::TimeCorrelation(t) => {
                w.u8(t.slave_config)?;
                w.u8(t.observable_clocks)?;
                w.u8(t.sync_state)?;
                w.u8(t.clock_info)?;
                w.zeros(1)?;
                w.u16(t.cluster_id)?;
            }
            Self::DtoCtr(d) => {
                w.u8(d.properties)?;
                w.u16(d.related_event)?;
                w.u8(d.mode)?;
            }
            Self::Version(v) => {
                w.zeros(1)?;
                w.u8(v.protocol_major)?;
                w.u8(v.protocol_minor)?;
                w.u8(v.transport_major)?;
                w.u8(v.transport_minor)?;
            }
            Self::PackedMode(p) => {
                w.zeros(1)?;
                w.u8(p.mode)?;
                w.u8(p.timestamp_mode)?;
                w.u16(p.sample_count)?;
            }
        }
        debug_assert_eq!(w.len(), len, "buffer_len disagrees with emit");
        Ok(w.len())
    }
}

impl fmt::Display for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RES")?;
        match *self {
            Self::Ok => Ok(()),
            Self::Connect(c) => write!(
                f,
                " resources={} comm_mode_basic={:#04x} max_cto={} max_dto={} protocol={} transport={}",
                c.resources,
                c.comm_mode_basic,
                c.max_cto,
                c.max_dto,
                c.protocol_layer_version,
                c.transport_layer_version
            ),
            Self::Status(s) => write!(
                f,
                " status={:#04x} protection={} state={} config_id={}",
                s.session_status, s.protection, s.state_number, s.config_id
            ),
            Self::CommModeInfo(c) => write!(
                f,
                " comm_mode_optional={:#04x} max_bs={} min_st={} queue_size={} driver_version={}",
                c.comm_mode_optional, c.max_bs, c.min_st, c.queue_size, c.driver_version
            ),
            Self::Id(id) => {
                write!(f, " mode={:#04x} length={}", id.mode, id.length)?;
                if !id.data.is_empty() {
                    f.write_str(" data=")?;
                    fmt_hex(f, id.data)?;
                }
                Ok(())
            }
            Self::Seed(s) => {
                write!(f, " len={} seed=", s.remaining)?;
                fmt_hex(f, s.seed)
            }
            Self::Unlock { protection } => write!(f, " protection={protection}"),
            Self::Upload { data } | Self::Raw { data } => {
                f.write_str(" data=")?;
                fmt_hex(f, data)
            }
            Self::Checksum(c) => write!(f, " type={} checksum={:#010x}", c.checksum_type, c.value),
            Self::CalPage { page } => write!(f, " page={page}"),
            Self::PagProcessorInfo {
                max_segments,
                properties,
            } => write!(
                f,
                " max_segments={max_segments} properties={properties:#04x}"
            ),
            Self::SegmentInfo(SegmentInfo::Basic { info }) => write!(f, " basic_info={info:#x}"),
            Self::SegmentInfo(SegmentInfo::Mapping { info }) => {
                write!(f, " mapping_info={info:#x}")
            }
            Self::SegmentInfo(SegmentInfo::Standard {
                max_pages,
                address_extension,
                max_mapping,
                compression,
                encryption,
            }) => write!(
                f,
                " max_pages={max_pages} ext={address_extension} max_mapping={max_mapping} compression={compression} encryption={encryption}"
            ),
            Self::PageInfo {
                properties,
                init_segment,
            } => write!(
                f,
                " properties={properties:#04x} init_segment={init_segment}"
            ),
            Self::SegmentMode { mode } => write!(f, " mode={mode:#04x}"),
            Self::DaqListMode(m) => write!(
                f,
                " mode={:#04x} event={} prescaler={} priority={}",
                m.mode, m.event, m.prescaler, m.priority
            ),
            Self::StartStopDaqList { first_pid } => write!(f, " first_pid={first_pid:#04x}"),
            Self::DaqClock(ref c) => write!(f, "{c}"),
            Self::ReadDaq(e) => write!(f, " {e}"),
            Self::DaqProcessorInfo(d) => write!(
                f,
                " properties={:#04x} max_daq={} max_event={} min_daq={} key_byte={:#04x}",
                d.properties, d.max_daq, d.max_event, d.min_daq, d.key_byte
            ),
            Self::DaqResolutionInfo(d) => write!(
                f,
                " granularity_daq={} max_size_daq={} granularity_stim={} max_size_stim={} timestamp_mode={:#04x} ticks={}",
                d.granularity_daq,
                d.max_size_daq,
                d.granularity_stim,
                d.max_size_stim,
                d.timestamp_mode,
                d.timestamp_ticks
            ),
            Self::DaqListInfo(d) => write!(
                f,
                " properties={:#04x} max_odt={} max_odt_entries={} fixed_event={}",
                d.properties, d.max_odt, d.max_odt_entries, d.fixed_event
            ),
            Self::DaqEventInfo(d) => write!(
                f,
                " properties={:#04x} max_daq_list={} name_length={} cycle={} unit={} priority={}",
                d.properties, d.max_daq_list, d.name_length, d.time_cycle, d.time_unit, d.priority
            ),
            Self::ProgramStart(p) => write!(
                f,
                " comm_mode_pgm={:#04x} max_cto_pgm={} max_bs_pgm={} min_st_pgm={} queue_size_pgm={}",
                p.comm_mode_pgm, p.max_cto_pgm, p.max_bs_pgm, p.min_st_pgm, p.queue_size_pgm
            ),
            Self::PgmProcessorInfo(p) => write!(
                f,
                " properties={:#04x} max_sector={}",
                p.properties, p.max_sector
            ),
            Self::SectorInfo(SectorInfo::Info {
                clear_sequence,
                program_sequence,
                method,
                info,
            }) => write!(
                f,
                " clear_seq={clear_sequence} program_seq={program_sequence} method={method} info={info:#x}"
            ),
            Self::SectorInfo(SectorInfo::NameLength { len }) => write!(f, " name_length={len}"),
            Self::TimeCorrelation(t) => write!(
                f,
                " slave_config={:#04x} observable_clocks={:#04x} sync_state={:#04x} clock_info={:#04x} cluster={}",
                t.slave_config, t.observable_clocks, t.sync_state, t.clock_info, t.cluster_id
            ),
            Self::DtoCtr(d) => write!(
                f,
                " properties={:#04x} related_event={} mode={:#04x}",
                d.properties, d.related_event, d.mode
            ),
            Self::Version(v) => write!(
                f,
                " protocol={}.{} transport={}.{}",
                v.protocol_major, v.protocol_minor, v.transport_major, v.transport_minor
            ),
            Self::PackedMode(p) => write!(
                f,
                " mode={} ts_mode={} samples={}",
                p.mode, p.timestamp_mode, p.sample_count
            ),
        }
    }
}

/// An ERR packet (PID 0xFE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ErrPacket<'a> {
    /// Error code.
    pub code: ErrorCode,
    /// Bytes after the code (command-specific extra information, or transport padding).
    pub info: &'a [u8],
}

impl fmt::Display for ErrPacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR {}", self.code)?;
        if !self.info.is_empty() {
            f.write_str(" info=")?;
            fmt_hex(f, self.info)?;
        }
        Ok(())
    }
}

/// Any slave→master CTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SlaveCto<'a> {
    /// Positive response.
    Res(Response<'a>),
    /// Error.
    Err(ErrPacket<'a>),
    /// Event.
    Ev(Event<'a>),
    /// Service request.
    Serv(Serv<'a>),
}

impl<'a> SlaveCto<'a> {
    /// Decodes a slave→master CTO; `pending` is the command awaiting its response.
    ///
    /// # Errors
    /// `UnexpectedPid` for a DTO PID (below 0xFC), plus whatever the packet decoder reports.
    pub fn parse(
        bytes: &'a [u8],
        pending: Pending,
        params: &SessionParams,
    ) -> Result<Self, DecodeError> {
        let Some(&p) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        match p {
            pid::RES => Response::parse(bytes, pending, params).map(Self::Res),
            pid::ERR => {
                let max = usize::from(params.max_cto);
                if bytes.len() > max {
                    return Err(DecodeError::TooLong {
                        packet: "ERR",
                        len: bytes.len(),
                        max,
                    });
                }
                let mut r = Reader::at(bytes, 1, params.byte_order, "ERR");
                Ok(Self::Err(ErrPacket {
                    code: ErrorCode::from_u8(r.u8("ERROR_CODE")?),
                    info: r.rest(),
                }))
            }
            pid::EV => Event::parse(bytes, params).map(Self::Ev),
            pid::SERV => Serv::parse(bytes, params).map(Self::Serv),
            other => Err(DecodeError::UnexpectedPid {
                pid: other,
                expected: "a CTO (RES, ERR, EV or SERV)",
            }),
        }
    }

    /// Encodes the packet and returns the number of bytes written.
    ///
    /// # Errors
    /// As the packet encoders.
    pub fn emit(&self, buf: &mut [u8], params: &SessionParams) -> Result<usize, EncodeError> {
        match self {
            Self::Res(r) => r.emit(buf, params),
            Self::Err(e) => {
                let len = 2 + e.info.len();
                check_max("ERR", len, usize::from(params.max_cto))?;
                let mut w = Writer::new(buf, params.byte_order, "ERR");
                w.reserve(len)?;
                w.u8(pid::ERR)?;
                w.u8(e.code.to_u8())?;
                w.bytes(e.info)?;
                Ok(w.len())
            }
            Self::Ev(e) => e.emit(buf, params),
            Self::Serv(s) => s.emit(buf, params),
        }
    }
}

impl fmt::Display for SlaveCto<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Res(r) => r.fmt(f),
            Self::Err(e) => e.fmt(f),
            Self::Ev(e) => e.fmt(f),
            Self::Serv(s) => s.fmt(f),
        }
    }
}
