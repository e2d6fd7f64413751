//! Master→slave commands (CTOs), XCP part 2 §1.6.
//!
//! [`Command::parse`] reads a command from the bytes of one CTO, [`Command::emit`] writes it.
//! Both take [`SessionParams`]: multi-byte fields follow its byte order, data lengths follow its
//! address granularity (AG), and nothing longer than MAX_CTO is accepted or produced.
//! Trailing bytes after a fixed-length command are ignored, because CAN pads frames.

use core::fmt;

use crate::codes::{CommandCode, IdType, Level1Code, Resources};
use crate::error::{DecodeError, EncodeError};
use crate::params::{Address, DaqListNumber, EventChannel, SessionParams};
use crate::wire::{Reader, Writer, check_max, ensure};

/// One ODT entry as written by WRITE_DAQ and read back by READ_DAQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct OdtEntry {
    /// Bit offset for bit-wise entries (0..=31), 0xFF for a whole element.
    pub bit_offset: u8,
    /// Size of the element in AG units.
    pub size: u8,
    /// Address of the element.
    pub addr: Address,
}

impl fmt::Display for OdtEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bit_offset={:#04x} size={} {}",
            self.bit_offset, self.size, self.addr
        )
    }
}

/// Capacity of [`OdtEntryList`]: the most entries one WRITE_DAQ_MULTIPLE can carry (MAX_CTO 255).
pub const MAX_WRITE_DAQ_MULTIPLE: usize = 31;

/// The entries of one WRITE_DAQ_MULTIPLE, stored inline so that parsing needs no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OdtEntryList {
    len: u8,
    items: [OdtEntry; MAX_WRITE_DAQ_MULTIPLE],
}

impl OdtEntryList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            len: 0,
            items: [OdtEntry {
                bit_offset: 0,
                size: 0,
                addr: Address { ext: 0, addr: 0 },
            }; MAX_WRITE_DAQ_MULTIPLE],
        }
    }

    /// Copies up to [`MAX_WRITE_DAQ_MULTIPLE`] entries.
    ///
    /// # Errors
    /// `TooLong` when more entries are given than one command can carry.
    pub fn from_slice(entries: &[OdtEntry]) -> Result<Self, EncodeError> {
        check_max("WRITE_DAQ_MULTIPLE", entries.len(), MAX_WRITE_DAQ_MULTIPLE)?;
        let mut list = Self::new();
        list.items[..entries.len()].copy_from_slice(entries);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked against MAX_WRITE_DAQ_MULTIPLE above"
        )]
        let len = entries.len() as u8;
        list.len = len;
        Ok(list)
    }

    /// Appends an entry; returns `false` when the list is full.
    pub fn push(&mut self, entry: OdtEntry) -> bool {
        let i = usize::from(self.len);
        if i >= MAX_WRITE_DAQ_MULTIPLE {
            return false;
        }
        self.items[i] = entry;
        self.len += 1;
        true
    }

    /// The entries.
    pub fn as_slice(&self) -> &[OdtEntry] {
        &self.items[..usize::from(self.len)]
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for OdtEntryList {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OdtEntryList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for OdtEntryList {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=MAX_WRITE_DAQ_MULTIPLE)?;
        let mut list = Self::new();
        for _ in 0..n {
            list.push(u.arbitrary()?);
        }
        Ok(list)
    }
}

/// A master→slave command.
///
/// Data-carrying variants borrow their payload from the received bytes.
/// `count` fields are element counts in AG units, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "WRITE_DAQ_MULTIPLE keeps its entries inline so that parsing never allocates"
)]
pub enum Command<'a> {
    /// CONNECT: `mode` 0 = normal, 1 = user defined.
    Connect {
        /// Connect mode.
        mode: u8,
    },
    /// DISCONNECT.
    Disconnect,
    /// GET_STATUS.
    GetStatus,
    /// SYNCH.
    Synch,
    /// GET_COMM_MODE_INFO.
    GetCommModeInfo,
    /// GET_ID.
    GetId {
        /// Requested identification type.
        id_type: IdType,
    },
    /// SET_REQUEST.
    SetRequest {
        /// Request bits (store calibration 0x01, store DAQ 0x02/0x04, clear DAQ 0x08, ...).
        mode: u8,
        /// Session configuration id.
        config_id: u16,
    },
    /// GET_SEED: `mode` 0 requests the first part for `resource`, 1 the remaining parts.
    GetSeed {
        /// 0 = first part, 1 = remaining part.
        mode: u8,
        /// Resource to unlock.
        resource: Resources,
    },
    /// UNLOCK: `remaining` is the key length still to be sent, `key` this packet's part.
    Unlock {
        /// Remaining key length including this part.
        remaining: u8,
        /// Key bytes in this packet.
        key: &'a [u8],
    },
    /// SET_MTA.
    SetMta {
        /// New memory transfer address.
        addr: Address,
    },
    /// UPLOAD `count` elements from the MTA.
    Upload {
        /// Number of elements.
        count: u8,
    },
    /// SHORT_UPLOAD `count` elements from `addr`.
    ShortUpload {
        /// Number of elements.
        count: u8,
        /// Source address.
        addr: Address,
    },
    /// BUILD_CHECKSUM over `block_size` elements from the MTA.
    BuildChecksum {
        /// Block size in elements.
        block_size: u32,
    },
    /// TRANSPORT_LAYER_CMD with a transport-specific sub-command.
    TransportLayerCmd {
        /// Sub-command code.
        sub: u8,
        /// Parameters, as sent.
        data: &'a [u8],
    },
    /// USER_CMD with a user-defined sub-command.
    UserCmd {
        /// Sub-command code.
        sub: u8,
        /// Parameters, as sent.
        data: &'a [u8],
    },
    /// DOWNLOAD: `count` elements in total, `data` this packet's part (block mode splits it).
    Download {
        /// Number of elements (in block mode: of the whole transfer).
        count: u8,
        /// Data in this packet.
        data: &'a [u8],
    },
    /// DOWNLOAD_NEXT: `count` elements still to come, `data` this packet's part.
    DownloadNext {
        /// Remaining number of elements.
        count: u8,
        /// Data in this packet.
        data: &'a [u8],
    },
    /// DOWNLOAD_MAX: a full packet of data.
    DownloadMax {
        /// Data.
        data: &'a [u8],
    },
    /// SHORT_DOWNLOAD `data` to `addr`.
    ShortDownload {
        /// Destination address.
        addr: Address,
        /// Data (its length gives the element count).
        data: &'a [u8],
    },
    /// MODIFY_BITS of the 32-bit word at the MTA.
    ModifyBits {
        /// Shift applied to both masks.
        shift: u8,
        /// AND mask.
        and_mask: u16,
        /// XOR mask.
        xor_mask: u16,
    },
    /// SET_CAL_PAGE.
    SetCalPage {
        /// Mode bits: ECU 0x01, XCP 0x02, all segments 0x80.
        mode: u8,
        /// Segment number.
        segment: u8,
        /// Page number.
        page: u8,
    },
    /// GET_CAL_PAGE.
    GetCalPage {
        /// Mode: ECU 0x01 or XCP 0x02.
        mode: u8,
        /// Segment number.
        segment: u8,
    },
    /// GET_PAG_PROCESSOR_INFO.
    GetPagProcessorInfo,
    /// GET_SEGMENT_INFO.
    GetSegmentInfo {
        /// 0 = basic address info, 1 = standard info, 2 = address mapping info.
        mode: u8,
        /// Segment number.
        segment: u8,
        /// Which info item (mode 0 and 2).
        segment_info: u8,
        /// Mapping index (mode 2).
        mapping_index: u8,
    },
    /// GET_PAGE_INFO.
    GetPageInfo {
        /// Segment number.
        segment: u8,
        /// Page number.
        page: u8,
    },
    /// SET_SEGMENT_MODE.
    SetSegmentMode {
        /// Mode bits: FREEZE 0x01.
        mode: u8,
        /// Segment number.
        segment: u8,
    },
    /// GET_SEGMENT_MODE.
    GetSegmentMode {
        /// Segment number.
        segment: u8,
    },
    /// COPY_CAL_PAGE.
    CopyCalPage {
        /// Source segment.
        src_segment: u8,
        /// Source page.
        src_page: u8,
        /// Destination segment.
        dst_segment: u8,
        /// Destination page.
        dst_page: u8,
    },
    /// CLEAR_DAQ_LIST.
    ClearDaqList {
        /// DAQ list.
        daq: DaqListNumber,
    },
    /// SET_DAQ_PTR.
    SetDaqPtr {
        /// DAQ list.
        daq: DaqListNumber,
        /// ODT in the list.
        odt: u8,
        /// Entry in the ODT.
        entry: u8,
    },
    /// WRITE_DAQ.
    WriteDaq {
        /// The entry to write at the DAQ pointer.
        entry: OdtEntry,
    },
    /// SET_DAQ_LIST_MODE.
    SetDaqListMode {
        /// Mode bits: ALTERNATING 0x01, DIRECTION 0x02, DTO_CTR 0x08, TIMESTAMP 0x10, PID_OFF 0x20.
        mode: u8,
        /// DAQ list.
        daq: DaqListNumber,
        /// Event channel.
        event: EventChannel,
        /// Transmission rate prescaler (1 = every event).
        prescaler: u8,
        /// DAQ list priority.
        priority: u8,
    },
    /// GET_DAQ_LIST_MODE.
    GetDaqListMode {
        /// DAQ list.
        daq: DaqListNumber,
    },
    /// START_STOP_DAQ_LIST: `mode` 0 = stop, 1 = start, 2 = select.
    StartStopDaqList {
        /// Mode.
        mode: u8,
        /// DAQ list.
        daq: DaqListNumber,
    },
    /// START_STOP_SYNCH: `mode` 0 = stop all, 1 = start selected, 2 = stop selected,
    /// 3 = prepare start selected.
    StartStopSynch {
        /// Mode.
        mode: u8,
    },
    /// GET_DAQ_CLOCK.
    GetDaqClock,
    /// READ_DAQ.
    ReadDaq,
    /// GET_DAQ_PROCESSOR_INFO.
    GetDaqProcessorInfo,
    /// GET_DAQ_RESOLUTION_INFO.
    GetDaqResolutionInfo,
    /// GET_DAQ_LIST_INFO.
    GetDaqListInfo {
        /// DAQ list.
        daq: DaqListNumber,
    },
    /// GET_DAQ_EVENT_INFO.
    GetDaqEventInfo {
        /// Event channel.
        event: EventChannel,
    },
    /// FREE_DAQ.
    FreeDaq,
    /// ALLOC_DAQ.
    AllocDaq {
        /// Number of DAQ lists.
        count: u16,
    },
    /// ALLOC_ODT.
    AllocOdt {
        /// DAQ list.
        daq: DaqListNumber,
        /// Number of ODTs.
        count: u8,
    },
    /// ALLOC_ODT_ENTRY.
    AllocOdtEntry {
        /// DAQ list.
        daq: DaqListNumber,
        /// ODT in the list.
        odt: u8,
        /// Number of entries.
        count: u8,
    },
    /// PROGRAM_START.
    ProgramStart,
    /// PROGRAM_CLEAR: `mode` 0 = absolute range, 1 = functional.
    ProgramClear {
        /// Access mode.
        mode: u8,
        /// Range to clear (length in elements, or functional bits).
        range: u32,
    },
    /// PROGRAM: `count` elements in total, `data` this packet's part.
    Program {
        /// Number of elements (in block mode: of the whole transfer).
        count: u8,
        /// Data in this packet.
        data: &'a [u8],
    },
    /// PROGRAM_RESET.
    ProgramReset,
    /// GET_PGM_PROCESSOR_INFO.
    GetPgmProcessorInfo,
    /// GET_SECTOR_INFO: `mode` 0 = start address, 1 = length, 2 = name length.
    GetSectorInfo {
        /// Mode.
        mode: u8,
        /// Sector number.
        sector: u8,
    },
    /// PROGRAM_PREPARE.
    ProgramPrepare {
        /// Size of the code to download for flash routines.
        code_size: u16,
    },
    /// PROGRAM_FORMAT.
    ProgramFormat {
        /// Compression method.
        compression: u8,
        /// Encryption method.
        encryption: u8,
        /// Programming method.
        programming: u8,
        /// Access method.
        access: u8,
    },
    /// PROGRAM_NEXT: `count` elements still to come, `data` this packet's part.
    ProgramNext {
        /// Remaining number of elements.
        count: u8,
        /// Data in this packet.
        data: &'a [u8],
    },
    /// PROGRAM_MAX: a full packet of data.
    ProgramMax {
        /// Data.
        data: &'a [u8],
    },
    /// PROGRAM_VERIFY.
    ProgramVerify {
        /// 0 = request internal routine, 1 = verification value follows.
        mode: u8,
        /// Verification type.
        verify_type: u16,
        /// Verification value.
        value: u32,
    },
    /// WRITE_DAQ_MULTIPLE.
    WriteDaqMultiple {
        /// Entries, written from the DAQ pointer on.
        entries: OdtEntryList,
    },
    /// TIME_CORRELATION_PROPERTIES.
    TimeCorrelationProperties {
        /// SET_PROPERTIES bits (response format, time-sync bridge, cluster id).
        set_properties: u8,
        /// GET_PROPERTIES_REQUEST bits (bit 0: clock info).
        get_properties_request: u8,
        /// Cluster id.
        cluster_id: u16,
    },
    /// DTO_CTR_PROPERTIES.
    DtoCtrProperties {
        /// Which fields to change.
        modifier: u8,
        /// Event channel.
        event: EventChannel,
        /// Related event channel.
        related_event: EventChannel,
        /// Mode bits.
        mode: u8,
    },
    /// GET_VERSION (level 1).
    GetVersion,
    /// SET_DAQ_LIST_PACKED_MODE (level 1).
    SetDaqListPackedMode {
        /// DAQ list.
        daq: DaqListNumber,
        /// 0 = not packed, 1 = element grouped, 2 = event grouped.
        mode: u8,
        /// Timestamp mode in packed mode.
        timestamp_mode: u8,
        /// Samples per packet.
        sample_count: u16,
    },
    /// GET_DAQ_LIST_PACKED_MODE (level 1).
    GetDaqListPackedMode {
        /// DAQ list.
        daq: DaqListNumber,
    },
    /// A command code (or level-1 sub-command) this crate does not know; `data` is everything
    /// after the code byte. A slave answers it with ERR_CMD_UNKNOWN or ERR_SUBCMD_UNKNOWN.
    Unknown {
        /// The command byte.
        code: u8,
        /// The rest of the packet.
        data: &'a [u8],
    },
}

/// What a response must be decoded against: the command code and, where the layout depends
/// on it, a sub-code (level-1 sub-command, GET_SEGMENT_INFO or GET_SECTOR_INFO mode,
/// transport-layer or user sub-command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Pending {
    /// Command code.
    pub code: CommandCode,
    /// Sub-code; 0 where none applies.
    pub sub: u8,
}

impl Pending {
    /// A pending command that has no sub-code.
    pub const fn new(code: CommandCode) -> Self {
        Self { code, sub: 0 }
    }
}

impl From<CommandCode> for Pending {
    fn from(code: CommandCode) -> Self {
        Self::new(code)
    }
}

impl From<&Command<'_>> for Pending {
    fn from(cmd: &Command<'_>) -> Self {
        let sub = match *cmd {
            Command::GetSegmentInfo { mode, .. } | Command::GetSectorInfo { mode, .. } => mode,
            Command::TransportLayerCmd { sub, .. } | Command::UserCmd { sub, .. } => sub,
            Command::GetVersion => Level1Code::GetVersion.to_u8(),
            Command::SetDaqListPackedMode { .. } => Level1Code::SetDaqListPackedMode.to_u8(),
            Command::GetDaqListPackedMode { .. } => Level1Code::GetDaqListPackedMode.to_u8(),
            Command::Unknown { code: 0xC0, data } => data.first().copied().unwrap_or(0),
            _ => 0,
        };
        Self {
            code: cmd.code(),
            sub,
        }
    }
}

/// Number of bytes between the count byte and the data of DOWNLOAD-like commands.
fn download_align(ag: usize) -> usize {
    if ag == 4 { 2 } else { 0 }
}

/// Data of a DOWNLOAD/PROGRAM(-NEXT) packet: `count` elements, or as many as the packet holds
/// in block mode.
fn take_counted<'a>(r: &mut Reader<'a>, count: u8, ag: usize) -> &'a [u8] {
    let rest = r.rest();
    let want = usize::from(count) * ag;
    let have = rest.len() - rest.len() % ag;
    &rest[..want.min(have)]
}

/// Data of a DOWNLOAD_MAX/PROGRAM_MAX packet: everything, in whole elements.
fn take_max<'a>(r: &mut Reader<'a>, ag: usize) -> &'a [u8] {
    let rest = r.rest();
    &rest[..rest.len() - rest.len() % ag]
}

impl<'a> Command<'a> {
    /// The command code of this command.
    pub fn code(&self) -> CommandCode {
        use CommandCode as C;
        match self {
            Self::Connect { .. } => C::Connect,
            Self::Disconnect => C::Disconnect,
            Self::GetStatus => C::GetStatus,
            Self::Synch => C::Synch,
            Self::GetCommModeInfo => C::GetCommModeInfo,
            Self::GetId { .. } => C::GetId,
            Self::SetRequest { .. } => C::SetRequest,
            Self::GetSeed { .. } => C::GetSeed,
            Self::Unlock { .. } => C::Unlock,
            Self::SetMta { .. } => C::SetMta,
            Self::Upload { .. } => C::Upload,
            Self::ShortUpload { .. } => C::ShortUpload,
            Self::BuildChecksum { .. } => C::BuildChecksum,
            Self::TransportLayerCmd { .. } => C::TransportLayerCmd,
            Self::UserCmd { .. } => C::UserCmd,
            Self::Download { .. } => C::Download,
            Self::DownloadNext { .. } => C::DownloadNext,
            Self::DownloadMax { .. } => C::DownloadMax,
            Self::ShortDownload { .. } => C::ShortDownload,
            Self::ModifyBits { .. } => C::ModifyBits,
            Self::SetCalPage { .. } => C::SetCalPage,
            Self::GetCalPage { .. } => C::GetCalPage,
            Self::GetPagProcessorInfo => C::GetPagProcessorInfo,
            Self::GetSegmentInfo { .. } => C::GetSegmentInfo,
            Self::GetPageInfo { .. } => C::GetPageInfo,
            Self::SetSegmentMode { .. } => C::SetSegmentMode,
            Self::GetSegmentMode { .. } => C::GetSegmentMode,
            Self::CopyCalPage { .. } => C::CopyCalPage,
            Self::ClearDaqList { .. } => C::ClearDaqList,
            Self::SetDaqPtr { .. } => C::SetDaqPtr,
            Self::WriteDaq { .. } => C::WriteDaq,
            Self::SetDaqListMode { .. } => C::SetDaqListMode,
            Self::GetDaqListMode { .. } => C::GetDaqListMode,
            Self::StartStopDaqList { .. } => C::StartStopDaqList,
            Self::StartStopSynch { .. } => C::StartStopSynch,
            Self::GetDaqClock => C::GetDaqClock,
            Self::ReadDaq => C::ReadDaq,
            Self::GetDaqProcessorInfo => C::GetDaqProcessorInfo,
            Self::GetDaqResolutionInfo => C::GetDaqResolutionInfo,
            Self::GetDaqListInfo { .. } => C::GetDaqListInfo,
            Self::GetDaqEventInfo { .. } => C::GetDaqEventInfo,
            Self::FreeDaq => C::FreeDaq,
            Self::AllocDaq { .. } => C::AllocDaq,
            Self::AllocOdt { .. } => C::AllocOdt,
            Self::AllocOdtEntry { .. } => C::AllocOdtEntry,
            Self::ProgramStart => C::ProgramStart,
            Self::ProgramClear { .. } => C::ProgramClear,
            Self::Program { .. } => C::Program,
            Self::ProgramReset => C::ProgramReset,
            Self::GetPgmProcessorInfo => C::GetPgmProcessorInfo,
            Self::GetSectorInfo { .. } => C::GetSectorInfo,
            Self::ProgramPrepare { .. } => C::ProgramPrepare,
            Self::ProgramFormat { .. } => C::ProgramFormat,
            Self::ProgramNext { .. } => C::ProgramNext,
            Self::ProgramMax { .. } => C::ProgramMax,
            Self::ProgramVerify { .. } => C::ProgramVerify,
            Self::WriteDaqMultiple { .. } => C::WriteDaqMultiple,
            Self::TimeCorrelationProperties { .. } => C::TimeCorrelationProperties,
            Self::DtoCtrProperties { .. } => C::DtoCtrProperties,
            Self::GetVersion
            | Self::SetDaqListPackedMode { .. }
            | Self::GetDaqListPackedMode { .. } => C::Level1,
            Self::Unknown { code, .. } => CommandCode::from_u8(*code),
        }
    }

    /// The spec name of this command (level-1 commands by their own name).
    pub fn spec_name(&self) -> &'static str {
        match self {
            Self::GetVersion => Level1Code::GetVersion.spec_name(),
            Self::SetDaqListPackedMode { .. } => Level1Code::SetDaqListPackedMode.spec_name(),
            Self::GetDaqListPackedMode { .. } => Level1Code::GetDaqListPackedMode.spec_name(),
            Self::Unknown { .. } => "UNKNOWN_COMMAND",
            other => other.code().spec_name(),
        }
    }

    /// Decodes one CTO.
    ///
    /// # Errors
    /// `Empty` for an empty packet, `TooLong` beyond MAX_CTO, `Truncated` when a field is
    /// missing, `InvalidField` for values the protocol forbids.
    pub fn parse(bytes: &'a [u8], params: &SessionParams) -> Result<Self, DecodeError> {
        let Some(&pid) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        let code = CommandCode::from_u8(pid);
        let packet = if code.is_known() {
            code.spec_name()
        } else {
            "UNKNOWN_COMMAND"
        };
        let max = usize::from(params.max_cto);
        if bytes.len() > max {
            return Err(DecodeError::TooLong {
                packet,
                len: bytes.len(),
                max,
            });
        }
        let ag = params.ag();
        let mut r = Reader::at(bytes, 1, params.byte_order, packet);
        use CommandCode as C;
        let cmd = match code {
            C::Connect => Self::Connect {
                mode: r.u8("MODE")?,
            },
            C::Disconnect => Self::Disconnect,
            C::GetStatus => Self::GetStatus,
            C::Synch => Self::Synch,
            C::GetCommModeInfo => Self::GetCommModeInfo,
            C::GetId => Self::GetId {
                id_type: IdType::from_u8(r.u8("REQUESTED_IDENTIFICATION_TYPE")?),
            },
            C::SetRequest => Self::SetRequest {
                mode: r.u8("MODE")?,
                config_id: r.u16("SESSION_CONFIGURATION_ID")?,
            },
            C::GetSeed => Self::GetSeed {
                mode: r.u8("MODE")?,
                resource: Resources(r.u8("RESOURCE")?),
            },
            C::Unlock => {
                let remaining = r.u8("LENGTH")?;
                let rest = r.rest();
                let n = usize::from(remaining).min(rest.len());
                Self::Unlock {
                    remaining,
                    key: &rest[..n],
                }
            }
            C::SetMta => {
                r.skip(2, "RESERVED")?;
                let ext = r.u8("ADDRESS_EXTENSION")?;
                let addr = r.u32("ADDRESS")?;
                Self::SetMta {
                    addr: Address { ext, addr },
                }
            }
            C::Upload => Self::Upload {
                count: r.u8("NUMBER_OF_DATA_ELEMENTS")?,
            },
            C::ShortUpload => {
                let count = r.u8("NUMBER_OF_DATA_ELEMENTS")?;
                r.skip(1, "RESERVED")?;
                let ext = r.u8("ADDRESS_EXTENSION")?;
                let addr = r.u32("ADDRESS")?;
                Self::ShortUpload {
                    count,
                    addr: Address { ext, addr },
                }
            }
            C::BuildChecksum => {
                r.skip(3, "RESERVED")?;
                Self::BuildChecksum {
                    block_size: r.u32("BLOCK_SIZE")?,
                }
            }
            C::TransportLayerCmd => Self::TransportLayerCmd {
                sub: r.u8("SUB_COMMAND_CODE")?,
                data: r.rest(),
            },
            C::UserCmd => Self::UserCmd {
                sub: r.u8("SUB_COMMAND_CODE")?,
                data: r.rest(),
            },
            C::Download | C::DownloadNext | C::Program | C::ProgramNext => {
                let count = r.u8("NUMBER_OF_DATA_ELEMENTS")?;
                r.skip(download_align(ag), "ALIGNMENT")?;
                let data = take_counted(&mut r, count, ag);
                match code {
                    C::Download => Self::Download { count, data },
                    C::DownloadNext => Self::DownloadNext { count, data },
                    C::Program => Self::Program { count, data },
                    _ => Self::ProgramNext { count, data },
                }
            }
            C::DownloadMax | C::ProgramMax => {
                r.skip(ag - 1, "ALIGNMENT")?;
                let data = take_max(&mut r, ag);
                if code == C::DownloadMax {
                    Self::DownloadMax { data }
                } else {
                    Self::ProgramMax { data }
                }
            }
            C::ShortDownload => {
                let count = r.u8("NUMBER_OF_DATA_ELEMENTS")?;
                r.skip(1, "RESERVED")?;
                let ext = r.u8("ADDRESS_EXTENSION")?;
                let addr = r.u32("ADDRESS")?;
                let data = r.bytes(usize::from(count) * ag, "DATA_ELEMENTS")?;
                Self::ShortDownload {
                    addr: Address { ext, addr },
                    data,
                }
            }
            C::ModifyBits => Self::ModifyBits {
                shift: r.u8("SHIFT_VALUE")?,
                and_mask: r.u16("AND_MASK")?,
                xor_mask: r.u16("XOR_MASK")?,
            },
            C::SetCalPage => Self::SetCalPage {
                mode: r.u8("MODE")?,
                segment: r.u8("LOGICAL_DATA_SEGMENT_NUMBER")?,
                page: r.u8("LOGICAL_DATA_PAGE_NUMBER")?,
            },
            C::GetCalPage => Self::GetCalPage {
                mode: r.u8("ACCESS_MODE")?,
                segment: r.u8("LOGICAL_DATA_SEGMENT_NUMBER")?,
            },
            C::GetPagProcessorInfo => Self::GetPagProcessorInfo,
            C::GetSegmentInfo => Self::GetSegmentInfo {
                mode: r.u8("MODE")?,
                segment: r.u8("SEGMENT_NUMBER")?,
                segment_info: r.u8("SEGMENT_INFO")?,
                mapping_index: r.u8("MAPPING_INDEX")?,
            },
            C::GetPageInfo => {
                r.skip(1, "RESERVED")?;
                Self::GetPageInfo {
                    segment: r.u8("SEGMENT_NUMBER")?,
                    page: r.u8("PAGE_NUMBER")?,
                }
            }
            C::SetSegmentMode => Self::SetSegmentMode {
                mode: r.u8("MODE")?,
                segment: r.u8("SEGMENT_NUMBER")?,
            },
            C::GetSegmentMode => {
                r.skip(1, "RESERVED")?;
                Self::GetSegmentMode {
                    segment: r.u8("SEGMENT_NUMBER")?,
                }
            }
            C::CopyCalPage => Self::CopyCalPage {
                src_segment: r.u8("SOURCE_SEGMENT")?,
                src_page: r.u8("SOURCE_PAGE")?,
                dst_segment: r.u8("DESTINATION_SEGMENT")?,
                dst_page: r.u8("DESTINATION_PAGE")?,
            },
            C::ClearDaqList => {
                r.skip(1, "RESERVED")?;
                Self::ClearDaqList {
                    daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                }
            }
            C::SetDaqPtr => {
                r.skip(1, "RESERVED")?;
                Self::SetDaqPtr {
                    daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                    odt: r.u8("ODT_NUMBER")?,
                    entry: r.u8("ODT_ENTRY_NUMBER")?,
                }
            }
            C::WriteDaq => {
                let bit_offset = r.u8("BIT_OFFSET")?;
                let size = r.u8("SIZE_OF_DAQ_ELEMENT")?;
                let ext = r.u8("ADDRESS_EXTENSION")?;
                let addr = r.u32("ADDRESS")?;
                Self::WriteDaq {
                    entry: OdtEntry {
                        bit_offset,
                        size,
                        addr: Address { ext, addr },
                    },
                }
            }
            C::SetDaqListMode => Self::SetDaqListMode {
                mode: r.u8("MODE")?,
                daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                event: EventChannel(r.u16("EVENT_CHANNEL_NUMBER")?),
                prescaler: r.u8("TRANSMISSION_RATE_PRESCALER")?,
                priority: r.u8("DAQ_LIST_PRIORITY")?,
            },
            C::GetDaqListMode => {
                r.skip(1, "RESERVED")?;
                Self::GetDaqListMode {
                    daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                }
            }
            C::StartStopDaqList => Self::StartStopDaqList {
                mode: r.u8("MODE")?,
                daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
            },
            C::StartStopSynch => Self::StartStopSynch {
                mode: r.u8("MODE")?,
            },
            C::GetDaqClock => Self::GetDaqClock,
            C::ReadDaq => Self::ReadDaq,
            C::GetDaqProcessorInfo => Self::GetDaqProcessorInfo,
            C::GetDaqResolutionInfo => Self::GetDaqResolutionInfo,
            C::GetDaqListInfo => {
                r.skip(1, "RESERVED")?;
                Self::GetDaqListInfo {
                    daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                }
            }
            C::GetDaqEventInfo => {
                r.skip(1, "RESERVED")?;
                Self::GetDaqEventInfo {
                    event: EventChannel(r.u16("EVENT_CHANNEL_NUMBER")?),
                }
            }
            C::FreeDaq => Self::FreeDaq,
            C::AllocDaq => {
                r.skip(1, "RESERVED")?;
                Self::AllocDaq {
                    count: r.u16("DAQ_COUNT")?,
                }
            }
            C::AllocOdt => {
                r.skip(1, "RESERVED")?;
                Self::AllocOdt {
                    daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                    count: r.u8("ODT_COUNT")?,
                }
            }
            C::AllocOdtEntry => {
                r.skip(1, "RESERVED")?;
                Self::AllocOdtEntry {
                    daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                    odt: r.u8("ODT_NUMBER")?,
                    count: r.u8("ODT_ENTRIES_COUNT")?,
                }
            }
            C::ProgramStart => Self::ProgramStart,
            C::ProgramClear => {
                let mode = r.u8("MODE")?;
                r.skip(2, "RESERVED")?;
                Self::ProgramClear {
                    mode,
                    range: r.u32("CLEAR_RANGE")?,
                }
            }
            C::ProgramReset => Self::ProgramReset,
            C::GetPgmProcessorInfo => Self::GetPgmProcessorInfo,
            C::GetSectorInfo => Self::GetSectorInfo {
                mode: r.u8("MODE")?,
                sector: r.u8("SECTOR_NUMBER")?,
            },
            C::ProgramPrepare => {
                r.skip(1, "RESERVED")?;
                Self::ProgramPrepare {
                    code_size: r.u16("CODESIZE")?,
                }
            }
            C::ProgramFormat => Self::ProgramFormat {
                compression: r.u8("COMPRESSION_METHOD")?,
                encryption: r.u8("ENCRYPTION_METHOD")?,
                programming: r.u8("PROGRAMMING_METHOD")?,
                access: r.u8("ACCESS_METHOD")?,
            },
            C::ProgramVerify => Self::ProgramVerify {
                mode: r.u8("MODE")?,
                verify_type: r.u16("VERIFICATION_TYPE")?,
                value: r.u32("VERIFICATION_VALUE")?,
            },
            C::WriteDaqMultiple => {
                let n = r.u8("NO_OF_DAQ_ELEMENTS")?;
                if usize::from(n) > MAX_WRITE_DAQ_MULTIPLE {
                    return Err(DecodeError::InvalidField {
                        packet,
                        field: "NO_OF_DAQ_ELEMENTS",
                        value: u32::from(n),
                    });
                }
                let mut entries = OdtEntryList::new();
                for _ in 0..n {
                    let bit_offset = r.u8("BIT_OFFSET")?;
                    let size = r.u8("SIZE")?;
                    let addr = r.u32("ADDRESS")?;
                    let ext = r.u8("ADDRESS_EXTENSION")?;
                    r.skip(1, "DUMMY")?;
                    entries.push(OdtEntry {
                        bit_offset,
                        size,
                        addr: Address { ext, addr },
                    });
                }
                Self::WriteDaqMultiple { entries }
            }
            C::TimeCorrelationProperties => {
                let set_properties = r.u8("SET_PROPERTIES")?;
                let get_properties_request = r.u8("GET_PROPERTIES_REQUEST")?;
                r.skip(1, "RESERVED")?;
                Self::TimeCorrelationProperties {
                    set_properties,
                    get_properties_request,
                    cluster_id: r.u16("CLUSTER_ID")?,
                }
            }
            C::DtoCtrProperties => Self::DtoCtrProperties {
                modifier: r.u8("MODIFIER")?,
                event: EventChannel(r.u16("EVENT_CHANNEL_NUMBER")?),
                related_event: EventChannel(r.u16("RELATED_EVENT_CHANNEL_NUMBER")?),
                mode: r.u8("MODE")?,
            },
            C::Level1 => {
                let sub = Level1Code::from_u8(r.u8("LEVEL_1_COMMAND_CODE")?);
                match sub {
                    Level1Code::GetVersion => Self::GetVersion,
                    Level1Code::SetDaqListPackedMode => {
                        let daq = DaqListNumber(r.u16("DAQ_LIST_NUMBER")?);
                        let mode = r.u8("DPM_MODE")?;
                        // The timestamp mode and sample count are present only in packed mode.
                        let (timestamp_mode, sample_count) = if r.remaining() >= 3 {
                            (r.u8("DPM_TIMESTAMP_MODE")?, r.u16("DPM_SAMPLE_COUNT")?)
                        } else if mode == 0 {
                            (0, 0)
                        } else {
                            (r.u8("DPM_TIMESTAMP_MODE")?, r.u16("DPM_SAMPLE_COUNT")?)
                        };
                        Self::SetDaqListPackedMode {
                            daq,
                            mode,
                            timestamp_mode,
                            sample_count,
                        }
                    }
                    Level1Code::GetDaqListPackedMode => Self::GetDaqListPackedMode {
                        daq: DaqListNumber(r.u16("DAQ_LIST_NUMBER")?),
                    },
                    Level1Code::Unknown(_) => Self::Unknown {
                        code: pid,
                        data: &bytes[1..],
                    },
                }
            }
            C::Unknown(_) => Self::Unknown {
                code: pid,
                data: r.rest(),
            },
        };
        Ok(cmd)
    }

    /// Encodes the command into `buf` and returns the number of bytes written.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buf` is too short, `TooLong` when the command would exceed
    /// MAX_CTO, `InvalidField` when a value cannot be represented (data not a whole number of
    /// elements, more data than `count` announces, an `Unknown` command with a known code).
    pub fn emit(&self, buf: &mut [u8], params: &SessionParams) -> Result<usize, EncodeError> {
        let packet = self.spec_name();
        let ag = params.ag();
        let max = usize::from(params.max_cto);
        let len = self.buffer_len(params);
        check_max(packet, len, max)?;
        let mut w = Writer::new(buf, params.byte_order, packet);
        w.reserve(len)?;
        w.u8(self.code().to_u8())?;
        let check_data = |data: &[u8], field: &'static str| {
            ensure(
                data.len().is_multiple_of(ag),
                packet,
                field,
                data.len() as u64,
            )
        };
        match *self {
            Self::Connect { mode } => w.u8(mode)?,
            Self::Disconnect
            | Self::GetStatus
            | Self::Synch
            | Self::GetCommModeInfo
            | Self::GetPagProcessorInfo
            | Self::GetDaqClock
            | Self::ReadDaq
            | Self::GetDaqProcessorInfo
            | Self::GetDaqResolutionInfo
            | Self::FreeDaq
            | Self::ProgramStart
            | Self::ProgramReset
            | Self::GetPgmProcessorInfo => {}
            Self::GetId { id_type } => w.u8(id_type.to_u8())?,
            Self::SetRequest { mode, config_id } => {
                w.u8(mode)?;
                w.u16(config_id)?;
            }
            Self::GetSeed { mode, resource } => {
                w.u8(mode)?;
                w.u8(resource.0)?;
            }
            Self::Unlock { remaining, key } => {
                ensure(
                    key.len() <= usize::from(remaining),
                    packet,
                    "LENGTH",
                    u64::from(remaining),
                )?;
                w.u8(remaining)?;
                w.bytes(key)?;
            }
            Self::SetMta { addr } => {
                w.zeros(2)?;
                w.u8(addr.ext)?;
                w.u32(addr.addr)?;
            }
            Self::Upload { count } => w.u8(count)?,
            Self::ShortUpload { count, addr } => {
                w.u8(count)?;
                w.zeros(1)?;
                w.u8(addr.ext)?;
                w.u32(addr.addr)?;
            }
            Self::BuildChecksum { block_size } => {
                w.zeros(3)?;
                w.u32(block_size)?;
            }
            Self::TransportLayerCmd { sub, data } | Self::UserCmd { sub, data } => {
                w.u8(sub)?;
                w.bytes(data)?;
            }
            Self::Download { count, data }
            | Self::DownloadNext { count, data }
            | Self::Program { count, data }
            | Self::ProgramNext { count, data } => {
                check_data(data, "DATA_ELEMENTS")?;
                ensure(
                    data.len() <= usize::from(count) * ag,
                    packet,
                    "NUMBER_OF_DATA_ELEMENTS",
                    u64::from(count),
                )?;
                w.u8(count)?;
                w.zeros(download_align(ag))?;
                w.bytes(data)?;
            }
            Self::DownloadMax { data } | Self::ProgramMax { data } => {
                check_data(data, "DATA_ELEMENTS")?;
                w.zeros(ag - 1)?;
                w.bytes(data)?;
            }
            Self::ShortDownload { addr, data } => {
                check_data(data, "DATA_ELEMENTS")?;
                let count =
                    u8::try_from(data.len() / ag).map_err(|_| EncodeError::InvalidField {
                        packet,
                        field: "NUMBER_OF_DATA_ELEMENTS",
                        value: (data.len() / ag) as u64,
                    })?;
                w.u8(count)?;
                w.zeros(1)?;
                w.u8(addr.ext)?;
                w.u32(addr.addr)?;
                w.bytes(data)?;
            }
            Self::ModifyBits {
                shift,
                and_mask,
                xor_mask,
            } => {
                w.u8(shift)?;
                w.u16(and_mask)?;
                w.u16(xor_mask)?;
            }
            Self::SetCalPage {
                mode,
                segment,
                page,
            } => {
                w.u8(mode)?;
                w.u8(segment)?;
                w.u8(page)?;
            }
            Self::GetCalPage { mode, segment } => {
                w.u8(mode)?;
                w.u8(segment)?;
            }
            Self::GetSegmentInfo {
                mode,
                segment,
                segment_info,
                mapping_index,
            } => {
                w.u8(mode)?;
                w.u8(segment)?;
                w.u8(segment_info)?;
                w.u8(mapping_index)?;
            }
            Self::GetPageInfo { segment, page } => {
                w.zeros(1)?;
                w.u8(segment)?;
                w.u8(page)?;
            }
            Self::SetSegmentMode { mode, segment } => {
                w.u8(mode)?;
                w.u8(segment)?;
            }
            Self::GetSegmentMode { segment } => {
                w.zeros(1)?;
                w.u8(segment)?;
            }
            Self::CopyCalPage {
                src_segment,
                src_page,
                dst_segment,
                dst_page,
            } => {
                w.u8(src_segment)?;
                w.u8(src_page)?;
                w.u8(dst_segment)?;
                w.u8(dst_page)?;
            }
            Self::ClearDaqList { daq }
            | Self::GetDaqListMode { daq }
            | Self::GetDaqListInfo { daq } => {
                w.zeros(1)?;
                w.u16(daq.0)?;
            }
            Self::SetDaqPtr { daq, odt, entry } => {
                w.zeros(1)?;
                w.u16(daq.0)?;
                w.u8(odt)?;
                w.u8(entry)?;
            }
            Self::WriteDaq { entry } => {
                w.u8(entry.bit_offset)?;
                w.u8(entry.size)?;
                w.u8(entry.addr.ext)?;
                w.u32(entry.addr.addr)?;
            }
            Self::SetDaqListMode {
                mode,
                daq,
                event,
                prescaler,
                priority,
            } => {
                w.u8(mode)?;
                w.u16(daq.0)?;
                w.u16(event.0)?;
                w.u8(prescaler)?;
                w.u8(priority)?;
            }
            Self::StartStopDaqList { mode, daq } => {
                w.u8(mode)?;
                w.u16(daq.0)?;
            }
            Self::StartStopSynch { mode } => w.u8(mode)?,
            Self::GetDaqEventInfo { event } => {
                w.zeros(1)?;
                w.u16(event.0)?;
            }
            Self::AllocDaq { count } => {
                w.zeros(1)?;
                w.u16(count)?;
            }
            Self::AllocOdt { daq, count } => {
                w.zeros(1)?;
                w.u16(daq.0)?;
                w.u8(count)?;
            }
            Self::AllocOdtEntry { daq, odt, count } => {
                w.zeros(1)?;
                w.u16(daq.0)?;
                w.u8(odt)?;
                w.u8(count)?;
            }
            Self::ProgramClear { mode, range } => {
                w.u8(mode)?;
                w.zeros(2)?;
                w.u32(range)?;
            }
            Self::GetSectorInfo { mode, sector } => {
                w.u8(mode)?;
                w.u8(sector)?;
            }
            Self::ProgramPrepare { code_size } => {
                w.zeros(1)?;
                w.u16(code_size)?;
            }
            Self::ProgramFormat {
                compression,
                encryption,
                programming,
                access,
            } => {
                w.u8(compression)?;
                w.u8(encryption)?;
                w.u8(programming)?;
                w.u8(access)?;
            }
            Self::ProgramVerify {
                mode,
                verify_type,
                value,
            } => {
                w.u8(mode)?;
                w.u16(verify_type)?;
                w.u32(value)?;
            }
            Self::WriteDaqMultiple { ref entries } => {
                w.u8(entries.len)?;
                for e in entries.as_slice() {
                    w.u8(e.bit_offset)?;
                    w.u8(e.size)?;
                    w.u32(e.addr.addr)?;
                    w.u8(e.addr.ext)?;
                    w.zeros(1)?;
                }
            }
            Self::TimeCorrelationProperties {
                set_properties,
                get_properties_request,
                cluster_id,
            } => {
                w.u8(set_properties)?;
                w.u8(get_properties_request)?;
                w.zeros(1)?;
                w.u16(cluster_id)?;
            }
            Self::DtoCtrProperties {
                modifier,
                event,
                related_event,
                mode,
            } => {
                w.u8(modifier)?;
                w.u16(event.0)?;
                w.u16(related_event.0)?;
                w.u8(mode)?;
            }
            Self::GetVersion => w.u8(Level1Code::GetVersion.to_u8())?,
            Self::SetDaqListPackedMode {
                daq,
                mode,
                timestamp_mode,
                sample_count,
            } => {
                w.u8(Level1Code::SetDaqListPackedMode.to_u8())?;
                w.u16(daq.0)?;
                w.u8(mode)?;
                w.u8(timestamp_mode)?;
                w.u16(sample_count)?;
            }
            Self::GetDaqListPackedMode { daq } => {
                w.u8(Level1Code::GetDaqListPackedMode.to_u8())?;
                w.u16(daq.0)?;
            }
            Self::Unknown { code, data } => {
                let known = match CommandCode::from_u8(code) {
                    CommandCode::Level1 => data
                        .first()
                        .is_none_or(|&s| Level1Code::from_u8(s).is_known()),
                    c => c.is_known(),
                };
                ensure(!known, packet, "COMMAND_CODE", u64::from(code))?;
                w.bytes(data)?;
            }
        }
        debug_assert_eq!(w.len(), len, "buffer_len disagrees with emit for {packet}");
        Ok(w.len())
    }

    /// Number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self, params: &SessionParams) -> usize {
        let ag = params.ag();
        match self {
            Self::Disconnect
            | Self::GetStatus
            | Self::Synch
            | Self::GetCommModeInfo
            | Self::GetPagProcessorInfo
            | Self::GetDaqClock
            | Self::ReadDaq
            | Self::GetDaqProcessorInfo
            | Self::GetDaqResolutionInfo
            | Self::FreeDaq
            | Self::ProgramStart
            | Self::ProgramReset
            | Self::GetPgmProcessorInfo => 1,
            Self::Connect { .. }
            | Self::GetId { .. }
            | Self::Upload { .. }
            | Self::StartStopSynch { .. }
            | Self::GetVersion => 2,
            Self::GetSeed { .. }
            | Self::GetCalPage { .. }
            | Self::SetSegmentMode { .. }
            | Self::GetSegmentMode { .. }
            | Self::GetSectorInfo { .. } => 3,
            Self::SetRequest { .. }
            | Self::SetCalPage { .. }
            | Self::GetPageInfo { .. }
            | Self::ClearDaqList { .. }
            | Self::GetDaqListMode { .. }
            | Self::StartStopDaqList { .. }
            | Self::GetDaqListInfo { .. }
            | Self::GetDaqEventInfo { .. }
            | Self::AllocDaq { .. }
            | Self::ProgramPrepare { .. }
            | Self::GetDaqListPackedMode { .. } => 4,
            Self::GetSegmentInfo { .. }
            | Self::CopyCalPage { .. }
            | Self::AllocOdt { .. }
            | Self::ProgramFormat { .. } => 5,
            Self::ModifyBits { .. }
            | Self::SetDaqPtr { .. }
            | Self::AllocOdtEntry { .. }
            | Self::TimeCorrelationProperties { .. } => 6,
            Self::DtoCtrProperties { .. } => 7,
            Self::SetMta { .. }
            | Self::ShortUpload { .. }
            | Self::BuildChecksum { .. }
            | Self::WriteDaq { .. }
            | Self::SetDaqListMode { .. }
            | Self::ProgramClear { .. }
            | Self::ProgramVerify { .. }
            | Self::SetDaqListPackedMode { .. } => 8,
            Self::Unlock { key, .. } => 2 + key.len(),
            Self::TransportLayerCmd { data, .. } | Self::UserCmd { data, .. } => 2 + data.len(),
            Self::Download { data, .. }
            | Self::DownloadNext { data, .. }
            | Self::Program { data, .. }
            | Self::ProgramNext { data, .. } => 2 + download_align(ag) + data.len(),
            Self::DownloadMax { data } | Self::ProgramMax { data } => ag + data.len(),
            Self::ShortDownload { data, .. } => 8 + data.len(),
            Self::WriteDaqMultiple { entries } => 2 + 8 * entries.len(),
            Self::Unknown { data, .. } => 1 + data.len(),
        }
    }
}

/// Writes `data` as space-separated hex, shortened after 16 bytes.
pub(crate) fn fmt_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    f.write_str("[")?;
    for (i, b) in data.iter().take(16).enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{b:02x}")?;
    }
    if data.len() > 16 {
        write!(f, " …+{}", data.len() - 16)?;
    }
    f.write_str("]")
}

impl fmt::Display for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_name())?;
        match *self {
            Self::Connect { mode } => write!(f, " mode={mode}"),
            Self::GetId { id_type } => write!(f, " type={id_type}"),
            Self::SetRequest { mode, config_id } => {
                write!(f, " mode={mode:#04x} config_id={config_id}")
            }
            Self::GetSeed { mode, resource } => write!(f, " mode={mode} resource={resource}"),
            Self::Unlock { remaining, key } => {
                write!(f, " len={remaining} key=")?;
                fmt_hex(f, key)
            }
            Self::SetMta { addr } => write!(f, " {addr}"),
            Self::Upload { count } => write!(f, " n={count}"),
            Self::ShortUpload { count, addr } => write!(f, " n={count} {addr}"),
            Self::BuildChecksum { block_size } => write!(f, " size={block_size}"),
            Self::TransportLayerCmd { sub, data } | Self::UserCmd { sub, data } => {
                write!(f, " sub={sub:#04x} data=")?;
                fmt_hex(f, data)
            }
            Self::Download { count, data }
            | Self::DownloadNext { count, data }
            | Self::Program { count, data }
            | Self::ProgramNext { count, data } => {
                write!(f, " n={count} data=")?;
                fmt_hex(f, data)
            }
            Self::DownloadMax { data } | Self::ProgramMax { data } => {
                f.write_str(" data=")?;
                fmt_hex(f, data)
            }
            Self::ShortDownload { addr, data } => {
                write!(f, " {addr} data=")?;
                fmt_hex(f, data)
            }
            Self::ModifyBits {
                shift,
                and_mask,
                xor_mask,
            } => write!(f, " shift={shift} and={and_mask:#06x} xor={xor_mask:#06x}"),
            Self::SetCalPage {
                mode,
                segment,
                page,
            } => write!(f, " mode={mode:#04x} segment={segment} page={page}"),
            Self::GetCalPage { mode, segment } => write!(f, " mode={mode:#04x} segment={segment}"),
            Self::GetSegmentInfo {
                mode,
                segment,
                segment_info,
                mapping_index,
            } => write!(
                f,
                " mode={mode} segment={segment} info={segment_info} mapping={mapping_index}"
            ),
            Self::GetPageInfo { segment, page } => write!(f, " segment={segment} page={page}"),
            Self::SetSegmentMode { mode, segment } => {
                write!(f, " mode={mode:#04x} segment={segment}")
            }
            Self::GetSegmentMode { segment } => write!(f, " segment={segment}"),
            Self::CopyCalPage {
                src_segment,
                src_page,
                dst_segment,
                dst_page,
            } => write!(
                f,
                " src={src_segment}/{src_page} dst={dst_segment}/{dst_page}"
            ),
            Self::ClearDaqList { daq }
            | Self::GetDaqListMode { daq }
            | Self::GetDaqListInfo { daq }
            | Self::GetDaqListPackedMode { daq } => write!(f, " daq={}", daq.0),
            Self::SetDaqPtr { daq, odt, entry } => {
                write!(f, " daq={} odt={odt} entry={entry}", daq.0)
            }
            Self::WriteDaq { entry } => write!(f, " {entry}"),
            Self::SetDaqListMode {
                mode,
                daq,
                event,
                prescaler,
                priority,
            } => write!(
                f,
                " mode={mode:#04x} daq={} event={} prescaler={prescaler} priority={priority}",
                daq.0, event.0
            ),
            Self::StartStopDaqList { mode, daq } => write!(f, " mode={mode} daq={}", daq.0),
            Self::StartStopSynch { mode } => write!(f, " mode={mode}"),
            Self::GetDaqEventInfo { event } => write!(f, " event={}", event.0),
            Self::AllocDaq { count } => write!(f, " count={count}"),
            Self::AllocOdt { daq, count } => write!(f, " daq={} count={count}", daq.0),
            Self::AllocOdtEntry { daq, odt, count } => {
                write!(f, " daq={} odt={odt} count={count}", daq.0)
            }
            Self::ProgramClear { mode, range } => write!(f, " mode={mode} range={range:#x}"),
            Self::GetSectorInfo { mode, sector } => write!(f, " mode={mode} sector={sector}"),
            Self::ProgramPrepare { code_size } => write!(f, " code_size={code_size}"),
            Self::ProgramFormat {
                compression,
                encryption,
                programming,
                access,
            } => write!(
                f,
                " compression={compression} encryption={encryption} programming={programming} access={access}"
            ),
            Self::ProgramVerify {
                mode,
                verify_type,
                value,
            } => write!(
                f,
                " mode={mode} type={verify_type:#06x} value={value:#010x}"
            ),
            Self::WriteDaqMultiple { ref entries } => {
                write!(f, " n={}", entries.len())?;
                for e in entries.as_slice() {
                    write!(f, " [{e}]")?;
                }
                Ok(())
            }
            Self::TimeCorrelationProperties {
                set_properties,
                get_properties_request,
                cluster_id,
            } => write!(
                f,
                " set={set_properties:#04x} get={get_properties_request:#04x} cluster={cluster_id}"
            ),
            Self::DtoCtrProperties {
                modifier,
                event,
                related_event,
                mode,
            } => write!(
                f,
                " modifier={modifier:#04x} event={} related={} mode={mode:#04x}",
                event.0, related_event.0
            ),
            Self::SetDaqListPackedMode {
                daq,
                mode,
                timestamp_mode,
                sample_count,
            } => write!(
                f,
                " daq={} mode={mode} ts_mode={timestamp_mode} samples={sample_count}",
                daq.0
            ),
            Self::Unknown { code, data } => {
                write!(f, " code={code:#04x} data=")?;
                fmt_hex(f, data)
            }
            Self::Disconnect
            | Self::GetStatus
            | Self::Synch
            | Self::GetCommModeInfo
            | Self::GetPagProcessorInfo
            | Self::GetDaqClock
            | Self::ReadDaq
            | Self::GetDaqProcessorInfo
            | Self::GetDaqResolutionInfo
            | Self::FreeDaq
            | Self::ProgramStart
            | Self::ProgramReset
            | Self::GetPgmProcessorInfo
            | Self::GetVersion => Ok(()),
        }
    }
}
