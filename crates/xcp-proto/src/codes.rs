//! Protocol codes: commands, errors, events, service requests, checksum types, resources.
//!
//! Every code enum decodes from any byte: values this crate does not know become
//! `Unknown(u8)`, so a vendor or future code is data rather than a failure.
//! Values follow `shared/docs/PROTOCOL-NOTES.md` (ASAM MCD-1 XCP 1.5, part 2).

use core::fmt;

/// Declares a code enum with an `Unknown` variant, byte conversions, spec names and `Display`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal => $spec:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc(alias = $spec)]
                $variant,
            )+
            /// A code this crate does not know; the byte is kept as received.
            Unknown(u8),
        }

        impl $name {
            /// Every known code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spec name of this code (`"UNKNOWN"` for unknown codes).
            pub const fn spec_name(self) -> &'static str {
                match self {
                    $($name::$variant => $spec,)+
                    $name::Unknown(_) => "UNKNOWN",
                }
            }

            /// The byte value on the wire.
            pub const fn to_u8(self) -> u8 {
                match self {
                    $($name::$variant => $value,)+
                    $name::Unknown(v) => v,
                }
            }

            /// Decodes a byte; never fails.
            pub const fn from_u8(v: u8) -> Self {
                match v {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }

            /// Whether this is a code the crate knows.
            pub const fn is_known(self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl From<u8> for $name {
            fn from(v: u8) -> Self {
                Self::from_u8(v)
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v.to_u8()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::Unknown(v) => write!(f, "UNKNOWN({v:#04x})"),
                    other => f.write_str(other.spec_name()),
                }
            }
        }

        #[cfg(feature = "arbitrary")]
        impl<'a> arbitrary::Arbitrary<'a> for $name {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                Ok(Self::from_u8(u8::arbitrary(u)?))
            }
        }
    };
}

code_enum! {
    /// Command codes (the PID of a master→slave CTO), XCP part 2 §1.6.
    pub enum CommandCode {
        /// CONNECT 0xFF: start a session (§1.6.1.1.1).
        Connect = 0xFF => "CONNECT",
        /// DISCONNECT 0xFE: end the session.
        Disconnect = 0xFE => "DISCONNECT",
        /// GET_STATUS 0xFD: session status and resource protection.
        GetStatus = 0xFD => "GET_STATUS",
        /// SYNCH 0xFC: resynchronise after a timeout; answered with ERR_CMD_SYNCH.
        Synch = 0xFC => "SYNCH",
        /// GET_COMM_MODE_INFO 0xFB: optional communication modes.
        GetCommModeInfo = 0xFB => "GET_COMM_MODE_INFO",
        /// GET_ID 0xFA: identification (ASCII, A2L name, file, EPK, ...).
        GetId = 0xFA => "GET_ID",
        /// SET_REQUEST 0xF9: store calibration or DAQ configuration, clear DAQ.
        SetRequest = 0xF9 => "SET_REQUEST",
        /// GET_SEED 0xF8: seed for a protected resource.
        GetSeed = 0xF8 => "GET_SEED",
        /// UNLOCK 0xF7: send the key for the last seed.
        Unlock = 0xF7 => "UNLOCK",
        /// SET_MTA 0xF6: set the memory transfer address.
        SetMta = 0xF6 => "SET_MTA",
        /// UPLOAD 0xF5: read from the MTA.
        Upload = 0xF5 => "UPLOAD",
        /// SHORT_UPLOAD 0xF4: read from an address given in the command.
        ShortUpload = 0xF4 => "SHORT_UPLOAD",
        /// BUILD_CHECKSUM 0xF3: checksum over a block starting at the MTA.
        BuildChecksum = 0xF3 => "BUILD_CHECKSUM",
        /// TRANSPORT_LAYER_CMD 0xF2: transport-specific sub-commands.
        TransportLayerCmd = 0xF2 => "TRANSPORT_LAYER_CMD",
        /// USER_CMD 0xF1: user-defined sub-commands.
        UserCmd = 0xF1 => "USER_CMD",
        /// DOWNLOAD 0xF0: write to the MTA.
        Download = 0xF0 => "DOWNLOAD",
        /// DOWNLOAD_NEXT 0xEF: further data in master block mode.
        DownloadNext = 0xEF => "DOWNLOAD_NEXT",
        /// DOWNLOAD_MAX 0xEE: write a full packet of data to the MTA.
        DownloadMax = 0xEE => "DOWNLOAD_MAX",
        /// SHORT_DOWNLOAD 0xED: write to an address given in the command.
        ShortDownload = 0xED => "SHORT_DOWNLOAD",
        /// MODIFY_BITS 0xEC: masked bit modification of a 32-bit word at the MTA.
        ModifyBits = 0xEC => "MODIFY_BITS",
        /// SET_CAL_PAGE 0xEB: select the active calibration page.
        SetCalPage = 0xEB => "SET_CAL_PAGE",
        /// GET_CAL_PAGE 0xEA: read the active calibration page.
        GetCalPage = 0xEA => "GET_CAL_PAGE",
        /// GET_PAG_PROCESSOR_INFO 0xE9: paging capabilities.
        GetPagProcessorInfo = 0xE9 => "GET_PAG_PROCESSOR_INFO",
        /// GET_SEGMENT_INFO 0xE8: segment properties.
        GetSegmentInfo = 0xE8 => "GET_SEGMENT_INFO",
        /// GET_PAGE_INFO 0xE7: page properties.
        GetPageInfo = 0xE7 => "GET_PAGE_INFO",
        /// SET_SEGMENT_MODE 0xE6: freeze mode of a segment.
        SetSegmentMode = 0xE6 => "SET_SEGMENT_MODE",
        /// GET_SEGMENT_MODE 0xE5: read the freeze mode of a segment.
        GetSegmentMode = 0xE5 => "GET_SEGMENT_MODE",
        /// COPY_CAL_PAGE 0xE4: copy one page to another.
        CopyCalPage = 0xE4 => "COPY_CAL_PAGE",
        /// CLEAR_DAQ_LIST 0xE3: clear one DAQ list.
        ClearDaqList = 0xE3 => "CLEAR_DAQ_LIST",
        /// SET_DAQ_PTR 0xE2: point at an ODT entry.
        SetDaqPtr = 0xE2 => "SET_DAQ_PTR",
        /// WRITE_DAQ 0xE1: write one ODT entry.
        WriteDaq = 0xE1 => "WRITE_DAQ",
        /// SET_DAQ_LIST_MODE 0xE0: mode, event, prescaler and priority of a DAQ list.
        SetDaqListMode = 0xE0 => "SET_DAQ_LIST_MODE",
        /// GET_DAQ_LIST_MODE 0xDF: read the mode of a DAQ list.
        GetDaqListMode = 0xDF => "GET_DAQ_LIST_MODE",
        /// START_STOP_DAQ_LIST 0xDE: start, stop or select one DAQ list.
        StartStopDaqList = 0xDE => "START_STOP_DAQ_LIST",
        /// START_STOP_SYNCH 0xDD: start or stop the selected or all DAQ lists at once.
        StartStopSynch = 0xDD => "START_STOP_SYNCH",
        /// GET_DAQ_CLOCK 0xDC: read the slave's DAQ clock.
        GetDaqClock = 0xDC => "GET_DAQ_CLOCK",
        /// READ_DAQ 0xDB: read back the ODT entry at the DAQ pointer.
        ReadDaq = 0xDB => "READ_DAQ",
        /// GET_DAQ_PROCESSOR_INFO 0xDA: DAQ capabilities.
        GetDaqProcessorInfo = 0xDA => "GET_DAQ_PROCESSOR_INFO",
        /// GET_DAQ_RESOLUTION_INFO 0xD9: ODT entry granularity and timestamp mode.
        GetDaqResolutionInfo = 0xD9 => "GET_DAQ_RESOLUTION_INFO",
        /// GET_DAQ_LIST_INFO 0xD8: properties of one DAQ list.
        GetDaqListInfo = 0xD8 => "GET_DAQ_LIST_INFO",
        /// GET_DAQ_EVENT_INFO 0xD7: properties of one event channel.
        GetDaqEventInfo = 0xD7 => "GET_DAQ_EVENT_INFO",
        /// FREE_DAQ 0xD6: free every dynamic DAQ list.
        FreeDaq = 0xD6 => "FREE_DAQ",
        /// ALLOC_DAQ 0xD5: allocate dynamic DAQ lists.
        AllocDaq = 0xD5 => "ALLOC_DAQ",
        /// ALLOC_ODT 0xD4: allocate ODTs in a DAQ list.
        AllocOdt = 0xD4 => "ALLOC_ODT",
        /// ALLOC_ODT_ENTRY 0xD3: allocate entries in an ODT.
        AllocOdtEntry = 0xD3 => "ALLOC_ODT_ENTRY",
        /// PROGRAM_START 0xD2: enter programming.
        ProgramStart = 0xD2 => "PROGRAM_START",
        /// PROGRAM_CLEAR 0xD1: erase memory.
        ProgramClear = 0xD1 => "PROGRAM_CLEAR",
        /// PROGRAM 0xD0: program data at the MTA.
        Program = 0xD0 => "PROGRAM",
        /// PROGRAM_RESET 0xCF: end programming and reset.
        ProgramReset = 0xCF => "PROGRAM_RESET",
        /// GET_PGM_PROCESSOR_INFO 0xCE: programming capabilities.
        GetPgmProcessorInfo = 0xCE => "GET_PGM_PROCESSOR_INFO",
        /// GET_SECTOR_INFO 0xCD: flash sector layout.
        GetSectorInfo = 0xCD => "GET_SECTOR_INFO",
        /// PROGRAM_PREPARE 0xCC: prepare non-volatile memory programming.
        ProgramPrepare = 0xCC => "PROGRAM_PREPARE",
        /// PROGRAM_FORMAT 0xCB: data format of the following PROGRAM commands.
        ProgramFormat = 0xCB => "PROGRAM_FORMAT",
        /// PROGRAM_NEXT 0xCA: further data in master block mode.
        ProgramNext = 0xCA => "PROGRAM_NEXT",
        /// PROGRAM_MAX 0xC9: program a full packet of data.
        ProgramMax = 0xC9 => "PROGRAM_MAX",
        /// PROGRAM_VERIFY 0xC8: verify programmed memory.
        ProgramVerify = 0xC8 => "PROGRAM_VERIFY",
        /// WRITE_DAQ_MULTIPLE 0xC7: write several ODT entries at once (XCP 1.1).
        WriteDaqMultiple = 0xC7 => "WRITE_DAQ_MULTIPLE",
        /// TIME_CORRELATION_PROPERTIES 0xC6: clock correlation setup (XCP 1.3).
        TimeCorrelationProperties = 0xC6 => "TIME_CORRELATION_PROPERTIES",
        /// DTO_CTR_PROPERTIES 0xC5: DTO counter behaviour (XCP 1.3).
        DtoCtrProperties = 0xC5 => "DTO_CTR_PROPERTIES",
        /// Level-1 command prefix 0xC0; the second byte is a [`Level1Code`] (XCP 1.4).
        Level1 = 0xC0 => "LEVEL_1_COMMAND",
    }
}

code_enum! {
    /// Level-1 sub-commands, the byte after the 0xC0 prefix (XCP 1.4).
    pub enum Level1Code {
        /// GET_VERSION 0x00: protocol and transport layer versions.
        GetVersion = 0x00 => "GET_VERSION",
        /// SET_DAQ_LIST_PACKED_MODE 0x01: packed-mode DAQ.
        SetDaqListPackedMode = 0x01 => "SET_DAQ_LIST_PACKED_MODE",
        /// GET_DAQ_LIST_PACKED_MODE 0x02: read packed-mode settings.
        GetDaqListPackedMode = 0x02 => "GET_DAQ_LIST_PACKED_MODE",
    }
}

code_enum! {
    /// Error codes carried by an ERR packet (PID 0xFE), XCP part 2 §1.7.
    pub enum ErrorCode {
        /// ERR_CMD_SYNCH 0x00: answer to SYNCH, not a failure.
        CmdSynch = 0x00 => "ERR_CMD_SYNCH",
        /// ERR_CMD_PENDING 0x01: the slave needs more time; wait for EV_CMD_PENDING or retry.
        CmdPending = 0x01 => "ERR_CMD_PENDING",
        /// ERR_CMD_IGNORED 0x02: the command was ignored.
        CmdIgnored = 0x02 => "ERR_CMD_IGNORED",
        /// ERR_CMD_BUSY 0x10: the slave is busy; repeat later.
        CmdBusy = 0x10 => "ERR_CMD_BUSY",
        /// ERR_DAQ_ACTIVE 0x11: rejected while DAQ runs.
        DaqActive = 0x11 => "ERR_DAQ_ACTIVE",
        /// ERR_PGM_ACTIVE 0x12: rejected while programming runs.
        PgmActive = 0x12 => "ERR_PGM_ACTIVE",
        /// ERR_CMD_UNKNOWN 0x20: unknown or unimplemented optional command.
        CmdUnknown = 0x20 => "ERR_CMD_UNKNOWN",
        /// ERR_CMD_SYNTAX 0x21: malformed command.
        CmdSyntax = 0x21 => "ERR_CMD_SYNTAX",
        /// ERR_OUT_OF_RANGE 0x22: a parameter is out of range.
        OutOfRange = 0x22 => "ERR_OUT_OF_RANGE",
        /// ERR_WRITE_PROTECTED 0x23: the memory is write protected.
        WriteProtected = 0x23 => "ERR_WRITE_PROTECTED",
        /// ERR_ACCESS_DENIED 0x24: the memory is not accessible.
        AccessDenied = 0x24 => "ERR_ACCESS_DENIED",
        /// ERR_ACCESS_LOCKED 0x25: seed & key needed first.
        AccessLocked = 0x25 => "ERR_ACCESS_LOCKED",
        /// ERR_PAGE_NOT_VALID 0x26: the page does not exist.
        PageNotValid = 0x26 => "ERR_PAGE_NOT_VALID",
        /// ERR_MODE_NOT_VALID 0x27: the page mode does not exist.
        ModeNotValid = 0x27 => "ERR_MODE_NOT_VALID",
        /// ERR_SEGMENT_NOT_VALID 0x28: the segment does not exist.
        SegmentNotValid = 0x28 => "ERR_SEGMENT_NOT_VALID",
        /// ERR_SEQUENCE 0x29: command out of sequence.
        Sequence = 0x29 => "ERR_SEQUENCE",
        /// ERR_DAQ_CONFIG 0x2A: invalid DAQ configuration.
        DaqConfig = 0x2A => "ERR_DAQ_CONFIG",
        /// ERR_MEMORY_OVERFLOW 0x30: out of memory in the slave.
        MemoryOverflow = 0x30 => "ERR_MEMORY_OVERFLOW",
        /// ERR_GENERIC 0x31: generic failure.
        Generic = 0x31 => "ERR_GENERIC",
        /// ERR_VERIFY 0x32: the slave's own verification failed.
        Verify = 0x32 => "ERR_VERIFY",
        /// ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE 0x33: resource temporarily unavailable.
        ResourceTemporaryNotAccessible = 0x33 => "ERR_RESOURCE_TEMPORARY_NOT_ACCESSIBLE",
        /// ERR_SUBCMD_UNKNOWN 0x34: unknown sub-command.
        SubcmdUnknown = 0x34 => "ERR_SUBCMD_UNKNOWN",
        /// ERR_TIMECORR_STATE_CHANGE 0x35: time-correlation state changed.
        TimecorrStateChange = 0x35 => "ERR_TIMECORR_STATE_CHANGE",
    }
}

code_enum! {
    /// Event codes carried by an EV packet (PID 0xFD), XCP part 2 §1.8.
    pub enum EventCode {
        /// EV_RESUME_MODE 0x00: the slave starts in resume mode.
        ResumeMode = 0x00 => "EV_RESUME_MODE",
        /// EV_CLEAR_DAQ 0x01: the stored DAQ configuration was cleared.
        ClearDaq = 0x01 => "EV_CLEAR_DAQ",
        /// EV_STORE_DAQ 0x02: the DAQ configuration was stored.
        StoreDaq = 0x02 => "EV_STORE_DAQ",
        /// EV_STORE_CAL 0x03: the calibration data was stored.
        StoreCal = 0x03 => "EV_STORE_CAL",
        /// EV_CMD_PENDING 0x05: a pending command may be repeated or its answer follows.
        CmdPending = 0x05 => "EV_CMD_PENDING",
        /// EV_DAQ_OVERLOAD 0x06: DAQ data was lost.
        DaqOverload = 0x06 => "EV_DAQ_OVERLOAD",
        /// EV_SESSION_TERMINATED 0x07: the slave ended the session.
        SessionTerminated = 0x07 => "EV_SESSION_TERMINATED",
        /// EV_TIME_SYNC 0x08: time synchronisation data.
        TimeSync = 0x08 => "EV_TIME_SYNC",
        /// EV_STIM_TIMEOUT 0x09: STIM data did not arrive in time.
        StimTimeout = 0x09 => "EV_STIM_TIMEOUT",
        /// EV_SLEEP 0x0A: the slave enters sleep mode.
        Sleep = 0x0A => "EV_SLEEP",
        /// EV_WAKE_UP 0x0B: the slave left sleep mode.
        WakeUp = 0x0B => "EV_WAKE_UP",
        /// EV_ECU_STATE_CHANGE 0x0C: the ECU state changed.
        EcuStateChange = 0x0C => "EV_ECU_STATE_CHANGE",
        /// EV_USER 0xFE: user-defined event.
        User = 0xFE => "EV_USER",
        /// EV_TRANSPORT 0xFF: transport-layer event.
        Transport = 0xFF => "EV_TRANSPORT",
    }
}

code_enum! {
    /// Service request codes carried by a SERV packet (PID 0xFC), XCP part 2 §1.9.
    pub enum ServCode {
        /// SERV_RESET 0x00: the slave asks to be reset.
        Reset = 0x00 => "SERV_RESET",
        /// SERV_TEXT 0x01: text from the slave.
        Text = 0x01 => "SERV_TEXT",
    }
}

code_enum! {
    /// BUILD_CHECKSUM algorithms, XCP part 2 (BUILD_CHECKSUM).
    pub enum ChecksumType {
        /// XCP_ADD_11 0x01: bytes summed into a byte.
        Add11 = 0x01 => "XCP_ADD_11",
        /// XCP_ADD_12 0x02: bytes summed into a word.
        Add12 = 0x02 => "XCP_ADD_12",
        /// XCP_ADD_14 0x03: bytes summed into a dword.
        Add14 = 0x03 => "XCP_ADD_14",
        /// XCP_ADD_22 0x04: words summed into a word.
        Add22 = 0x04 => "XCP_ADD_22",
        /// XCP_ADD_24 0x05: words summed into a dword.
        Add24 = 0x05 => "XCP_ADD_24",
        /// XCP_ADD_44 0x06: dwords summed into a dword.
        Add44 = 0x06 => "XCP_ADD_44",
        /// XCP_CRC_16 0x07: CRC-16 (polynomial 0x8005, reflected, init 0).
        Crc16 = 0x07 => "XCP_CRC_16",
        /// XCP_CRC_16_CITT 0x08: CRC-16-CCITT (polynomial 0x1021, init 0xFFFF).
        Crc16Citt = 0x08 => "XCP_CRC_16_CITT",
        /// XCP_CRC_32 0x09: CRC-32 (polynomial 0x04C11DB7, reflected).
        Crc32 = 0x09 => "XCP_CRC_32",
        /// XCP_USER_DEFINED 0xFF: computed by a user-supplied algorithm.
        UserDefined = 0xFF => "XCP_USER_DEFINED",
    }
}

code_enum! {
    /// GET_ID identification types.
    pub enum IdType {
        /// 0: ASCII text.
        Ascii = 0x00 => "ASCII",
        /// 1: ASAM-MC2 file name without path and extension.
        A2lName = 0x01 => "ASAM_MC2_NAME",
        /// 2: ASAM-MC2 file name with path.
        A2lPath = 0x02 => "ASAM_MC2_PATH",
        /// 3: URL where the ASAM-MC2 file can be found.
        A2lUrl = 0x03 => "ASAM_MC2_URL",
        /// 4: ASAM-MC2 file to upload.
        A2lUpload = 0x04 => "ASAM_MC2_UPLOAD",
        /// 5: EPK (software version identifier).
        Epk = 0x05 => "EPK",
        /// 6: ECU identifier.
        Ecu = 0x06 => "ECU",
        /// 7: system identifier.
        SysId = 0x07 => "SYSID",
    }
}

/// Resource bits as used by CONNECT, GET_STATUS, GET_SEED and UNLOCK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Resources(pub u8);

impl Resources {
    /// CAL/PAG 0x01: calibration and paging.
    pub const CAL_PAG: Self = Self(0x01);
    /// DAQ 0x04: data acquisition.
    pub const DAQ: Self = Self(0x04);
    /// STIM 0x08: stimulation.
    pub const STIM: Self = Self(0x08);
    /// PGM 0x10: programming.
    pub const PGM: Self = Self(0x10);
    /// DBG 0x20: debugging (XCP 1.5).
    pub const DBG: Self = Self(0x20);
    /// No resource.
    pub const NONE: Self = Self(0);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// `self` without the bits of `other`.
    #[must_use]
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Resources, &str); 5] = [
            (Resources::CAL_PAG, "CAL/PAG"),
            (Resources::DAQ, "DAQ"),
            (Resources::STIM, "STIM"),
            (Resources::PGM, "PGM"),
            (Resources::DBG, "DBG"),
        ];
        let mut first = true;
        for (bit, name) in NAMES {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let rest = self.0 & !0x3D;
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#04x}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Packet identifiers of slave→master CTOs.
pub mod pid {
    /// RES: positive response.
    pub const RES: u8 = 0xFF;
    /// ERR: error packet.
    pub const ERR: u8 = 0xFE;
    /// EV: event packet.
    pub const EV: u8 = 0xFD;
    /// SERV: service request packet.
    pub const SERV: u8 = 0xFC;
    /// The lowest PID of a slave→master CTO; everything below is a DAQ DTO.
    pub const FIRST_CTO: u8 = 0xFC;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_decodes_and_round_trips() {
        for v in 0..=u8::MAX {
            assert_eq!(CommandCode::from(v).to_u8(), v);
            assert_eq!(ErrorCode::from(v).to_u8(), v);
            assert_eq!(EventCode::from(v).to_u8(), v);
            assert_eq!(ServCode::from(v).to_u8(), v);
            assert_eq!(ChecksumType::from(v).to_u8(), v);
            assert_eq!(Level1Code::from(v).to_u8(), v);
        }
    }

    #[test]
    fn values_match_the_protocol_notes() {
        // Spot checks of values the pyXCP documentation gets wrong or that are easily confused.
        assert_eq!(ErrorCode::CmdIgnored.to_u8(), 0x02);
        assert_eq!(ErrorCode::SubcmdUnknown.to_u8(), 0x34);
        assert_eq!(ErrorCode::TimecorrStateChange.to_u8(), 0x35);
        assert_eq!(ErrorCode::ResourceTemporaryNotAccessible.to_u8(), 0x33);
        assert_eq!(EventCode::EcuStateChange.to_u8(), 0x0C);
        assert_eq!(CommandCode::DtoCtrProperties.to_u8(), 0xC5);
        assert_eq!(CommandCode::WriteDaqMultiple.to_u8(), 0xC7);
        assert_eq!(CommandCode::from(0xC0), CommandCode::Level1);
        assert_eq!(CommandCode::from(0xC4), CommandCode::Unknown(0xC4));
        // 0xC5..=0xFF are all assigned (59 codes), plus the level-1 prefix 0xC0.
        assert_eq!(CommandCode::ALL.len(), 60);
        assert_eq!(ErrorCode::ALL.len(), 23);
    }

    #[test]
    fn display_uses_spec_words() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            CommandCode::GetDaqProcessorInfo.to_string(),
            "GET_DAQ_PROCESSOR_INFO"
        );
        assert_eq!(ErrorCode::Unknown(0x7f).to_string(), "UNKNOWN(0x7f)");
        assert_eq!(
            Resources(0x15).to_string(),
            "CAL/PAG|DAQ|PGM",
            "bits 0x01|0x04|0x10"
        );
        assert_eq!(Resources(0).to_string(), "none");
    }
}
