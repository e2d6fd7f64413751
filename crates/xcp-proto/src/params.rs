//! Session parameters: the context every parse and emit needs.
//!
//! Byte order and address granularity come from the CONNECT response, MAX_CTO and MAX_DTO
//! too; the DAQ layout comes from GET_DAQ_PROCESSOR_INFO and GET_DAQ_RESOLUTION_INFO.
//! Nothing in this crate assumes little-endian or byte-granular memory.

use core::fmt;

/// Byte order of multi-byte protocol fields (CONNECT `COMM_MODE_BASIC` bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ByteOrder {
    /// Little-endian ("Intel"), bit value 0.
    #[default]
    Intel,
    /// Big-endian ("Motorola"), bit value 1.
    Motorola,
}

/// Address granularity: the size of one addressable element (CONNECT `COMM_MODE_BASIC` bits 1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AddressGranularity {
    /// One byte per element.
    #[default]
    Byte,
    /// Two bytes per element.
    Word,
    /// Four bytes per element.
    Dword,
}

impl AddressGranularity {
    /// Bytes per element: 1, 2 or 4.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Byte => 1,
            Self::Word => 2,
            Self::Dword => 4,
        }
    }

    /// The two-bit code used in `COMM_MODE_BASIC`.
    pub const fn code(self) -> u8 {
        match self {
            Self::Byte => 0,
            Self::Word => 1,
            Self::Dword => 2,
        }
    }

    /// Decodes the two-bit code; 3 is reserved and yields `None`.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Byte),
            1 => Some(Self::Word),
            2 => Some(Self::Dword),
            _ => None,
        }
    }
}

/// Identification field type of DAQ/STIM DTOs (DAQ key byte bits 6–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum IdField {
    /// Absolute ODT number in one byte (the PID).
    #[default]
    AbsoluteOdt,
    /// Relative ODT number byte, absolute DAQ list number byte.
    RelativeOdtDaqByte,
    /// Relative ODT number byte, absolute DAQ list number word.
    RelativeOdtDaqWord,
    /// Relative ODT number byte, a fill byte, absolute DAQ list number word (aligned).
    RelativeOdtDaqWordAligned,
}

impl IdField {
    /// Length of the identification field in bytes: 1, 2, 3 or 4.
    #[allow(
        clippy::len_without_is_empty,
        reason = "a field size, not a collection"
    )]
    pub const fn len(self) -> usize {
        match self {
            Self::AbsoluteOdt => 1,
            Self::RelativeOdtDaqByte => 2,
            Self::RelativeOdtDaqWord => 3,
            Self::RelativeOdtDaqWordAligned => 4,
        }
    }

    /// The two-bit code of the DAQ key byte (bits 6–7).
    pub const fn code(self) -> u8 {
        match self {
            Self::AbsoluteOdt => 0,
            Self::RelativeOdtDaqByte => 1,
            Self::RelativeOdtDaqWord => 2,
            Self::RelativeOdtDaqWordAligned => 3,
        }
    }

    /// Decodes the two-bit code (only the low two bits are used).
    pub const fn from_code(code: u8) -> Self {
        match code & 3 {
            0 => Self::AbsoluteOdt,
            1 => Self::RelativeOdtDaqByte,
            2 => Self::RelativeOdtDaqWord,
            _ => Self::RelativeOdtDaqWordAligned,
        }
    }
}

/// Size of the DTO timestamp field (GET_DAQ_RESOLUTION_INFO `TIMESTAMP_MODE` bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TimestampSize {
    /// The slave has no timestamps.
    #[default]
    None,
    /// One byte.
    Byte,
    /// Two bytes.
    Word,
    /// Four bytes.
    Dword,
}

impl TimestampSize {
    /// Length in bytes: 0, 1, 2 or 4.
    #[allow(
        clippy::len_without_is_empty,
        reason = "a field size, not a collection"
    )]
    pub const fn len(self) -> usize {
        match self {
            Self::None => 0,
            Self::Byte => 1,
            Self::Word => 2,
            Self::Dword => 4,
        }
    }

    /// Decodes the three-bit size code (0, 1, 2 or 4); other values are reserved.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::None),
            1 => Some(Self::Byte),
            2 => Some(Self::Word),
            4 => Some(Self::Dword),
            _ => None,
        }
    }

    /// The timestamp at the start of `bytes`, in `order`; `None` when there is none (size
    /// 0) or `bytes` is too short.
    pub fn read(self, bytes: &[u8], order: ByteOrder) -> Option<u32> {
        let b = bytes.get(..self.len())?;
        Some(match (b, order) {
            (&[a], _) => u32::from(a),
            (&[a, b], ByteOrder::Intel) => u32::from(u16::from_le_bytes([a, b])),
            (&[a, b], ByteOrder::Motorola) => u32::from(u16::from_be_bytes([a, b])),
            (&[a, b, c, d], ByteOrder::Intel) => u32::from_le_bytes([a, b, c, d]),
            (&[a, b, c, d], ByteOrder::Motorola) => u32::from_be_bytes([a, b, c, d]),
            _ => return None,
        })
    }

    /// The three-bit size code.
    pub const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Byte => 1,
            Self::Word => 2,
            Self::Dword => 4,
        }
    }
}

/// How DAQ and STIM DTOs are laid out in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqLayout {
    /// Identification field type.
    pub id_field: IdField,
    /// Timestamp size used by DAQ lists that have timestamps switched on.
    pub timestamp: TimestampSize,
    /// Overload is indicated by the most significant bit of the PID.
    pub overload_pid_msb: bool,
}

/// Everything a codec needs to know about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionParams {
    /// Byte order of multi-byte fields.
    pub byte_order: ByteOrder,
    /// Size of an addressable element.
    pub address_granularity: AddressGranularity,
    /// Maximum CTO length in bytes (8..=255).
    pub max_cto: u8,
    /// Maximum DTO length in bytes (8..=65535).
    pub max_dto: u16,
    /// DTO layout.
    pub daq: DaqLayout,
}

impl SessionParams {
    /// Parameters before CONNECT: Intel order, byte granularity, the largest lengths.
    ///
    /// CONNECT and its response decode the same under any parameters, so this is what a master
    /// uses until it knows better.
    pub const BEFORE_CONNECT: Self = Self {
        byte_order: ByteOrder::Intel,
        address_granularity: AddressGranularity::Byte,
        max_cto: 255,
        max_dto: u16::MAX,
        daq: DaqLayout {
            id_field: IdField::AbsoluteOdt,
            timestamp: TimestampSize::None,
            overload_pid_msb: false,
        },
    };

    /// Bytes per address-granularity element.
    pub const fn ag(&self) -> usize {
        self.address_granularity.bytes()
    }
}

impl Default for SessionParams {
    fn default() -> Self {
        Self::BEFORE_CONNECT
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SessionParams {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self {
            byte_order: u.arbitrary()?,
            address_granularity: u.arbitrary()?,
            max_cto: u.int_in_range(8..=255)?,
            max_dto: u.int_in_range(8..=u16::MAX)?,
            daq: u.arbitrary()?,
        })
    }
}

/// The A2L keyword: `BYTE_ORDER_MSB_LAST` (Intel) or `BYTE_ORDER_MSB_FIRST` (Motorola).
impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Intel => "BYTE_ORDER_MSB_LAST",
            Self::Motorola => "BYTE_ORDER_MSB_FIRST",
        })
    }
}

/// The A2L keyword: `ADDRESS_GRANULARITY_BYTE`, `_WORD` or `_DWORD`.
impl fmt::Display for AddressGranularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Byte => "ADDRESS_GRANULARITY_BYTE",
            Self::Word => "ADDRESS_GRANULARITY_WORD",
            Self::Dword => "ADDRESS_GRANULARITY_DWORD",
        })
    }
}

/// The A2L keyword: `IDENTIFICATION_FIELD_TYPE_ABSOLUTE`, `_RELATIVE_BYTE`,
/// `_RELATIVE_WORD` or `_RELATIVE_WORD_ALIGNED`.
impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AbsoluteOdt => "IDENTIFICATION_FIELD_TYPE_ABSOLUTE",
            Self::RelativeOdtDaqByte => "IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE",
            Self::RelativeOdtDaqWord => "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD",
            Self::RelativeOdtDaqWordAligned => "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD_ALIGNED",
        })
    }
}

impl fmt::Display for SessionParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte_order={} ag={} max_cto={} max_dto={}",
            match self.byte_order {
                ByteOrder::Intel => "intel",
                ByteOrder::Motorola => "motorola",
            },
            self.address_granularity.bytes(),
            self.max_cto,
            self.max_dto
        )
    }
}

/// A slave address: 32-bit address plus 8-bit address extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Address {
    /// Address extension.
    pub ext: u8,
    /// Address.
    pub addr: u32,
}

impl Address {
    /// An address with extension `ext`.
    pub const fn new(ext: u8, addr: u32) -> Self {
        Self { ext, addr }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "addr={:#010x} ext={}", self.addr, self.ext)
    }
}

/// DAQ list number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DaqListNumber(pub u16);

impl fmt::Display for DaqListNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl DaqListNumber {
    /// The number as an index into a table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// ODT number within a DAQ list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct OdtNumber(pub u8);

impl fmt::Display for OdtNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl OdtNumber {
    /// The number as an index into a table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Event channel number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EventChannel(pub u16);

impl fmt::Display for EventChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl EventChannel {
    /// The number as an index into a table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_in_their_size_and_byte_order() {
        let b = [0x12, 0x34, 0x56, 0x78, 0x9a];
        assert_eq!(
            TimestampSize::Byte.read(&b, ByteOrder::Motorola),
            Some(0x12)
        );
        assert_eq!(TimestampSize::Word.read(&b, ByteOrder::Intel), Some(0x3412));
        assert_eq!(
            TimestampSize::Word.read(&b, ByteOrder::Motorola),
            Some(0x1234)
        );
        assert_eq!(
            TimestampSize::Dword.read(&b, ByteOrder::Intel),
            Some(0x7856_3412)
        );
        assert_eq!(
            TimestampSize::Dword.read(&b, ByteOrder::Motorola),
            Some(0x1234_5678)
        );
        // No timestamp, or too few bytes: none, never a panic.
        assert_eq!(TimestampSize::None.read(&b, ByteOrder::Intel), None);
        assert_eq!(TimestampSize::Dword.read(&b[..3], ByteOrder::Intel), None);
    }
}
