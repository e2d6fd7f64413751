//! Element types and byte orders: raw bytes of the ECU to numbers and back.

use std::fmt;

/// An A2L data type (`UBYTE` … `FLOAT64_IEEE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataType {
    /// `UBYTE`
    U8,
    /// `SBYTE`
    I8,
    /// `UWORD`
    U16,
    /// `SWORD`
    I16,
    /// `ULONG`
    U32,
    /// `SLONG`
    I32,
    /// `A_UINT64`
    U64,
    /// `A_INT64`
    I64,
    /// `FLOAT16_IEEE`
    F16,
    /// `FLOAT32_IEEE`
    F32,
    /// `FLOAT64_IEEE`
    F64,
}

impl DataType {
    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 | Self::F16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// Whether the type holds integers (raw values are rounded to it).
    pub const fn is_integer(self) -> bool {
        !matches!(self, Self::F16 | Self::F32 | Self::F64)
    }

    /// The smallest and largest raw value the type holds.
    pub fn range(self) -> (f64, f64) {
        match self {
            Self::U8 => (0.0, 255.0),
            Self::I8 => (-128.0, 127.0),
            Self::U16 => (0.0, 65535.0),
            Self::I16 => (-32768.0, 32767.0),
            Self::U32 => (0.0, f64::from(u32::MAX)),
            Self::I32 => (f64::from(i32::MIN), f64::from(i32::MAX)),
            Self::U64 => (0.0, u64::MAX as f64),
            Self::I64 => (i64::MIN as f64, i64::MAX as f64),
            Self::F16 => (-65504.0, 65504.0),
            Self::F32 => (f64::from(f32::MIN), f64::from(f32::MAX)),
            Self::F64 => (f64::MIN, f64::MAX),
        }
    }

    /// The A2L keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::U8 => "UBYTE",
            Self::I8 => "SBYTE",
            Self::U16 => "UWORD",
            Self::I16 => "SWORD",
            Self::U32 => "ULONG",
            Self::I32 => "SLONG",
            Self::U64 => "A_UINT64",
            Self::I64 => "A_INT64",
            Self::F16 => "FLOAT16_IEEE",
            Self::F32 => "FLOAT32_IEEE",
            Self::F64 => "FLOAT64_IEEE",
        }
    }

    pub(crate) fn from_a2l(t: &a2lfile::DataType) -> Self {
        use a2lfile::DataType as D;
        match t {
            D::Ubyte => Self::U8,
            D::Sbyte => Self::I8,
            D::Uword => Self::U16,
            D::Sword => Self::I16,
            D::Ulong => Self::U32,
            D::Slong => Self::I32,
            D::AUint64 => Self::U64,
            D::AInt64 => Self::I64,
            D::Float16Ieee => Self::F16,
            D::Float32Ieee => Self::F32,
            D::Float64Ieee => Self::F64,
        }
    }

    /// Decodes one element. `None` when `bytes` is shorter than the type.
    pub fn decode(self, bytes: &[u8], order: ByteOrder) -> Option<f64> {
        let n = self.size();
        let mut b = [0u8; 8];
        b.get_mut(..n)?.copy_from_slice(bytes.get(..n)?);
        order.to_little(&mut b[..n]);
        let v = match self {
            Self::U8 => f64::from(b[0]),
            Self::I8 => f64::from(i8::from_le_bytes([b[0]])),
            Self::U16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
            Self::I16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            Self::U32 => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::I32 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::U64 => u64::from_le_bytes(b) as f64,
            Self::I64 => i64::from_le_bytes(b) as f64,
            Self::F16 => f16_to_f64(u16::from_le_bytes([b[0], b[1]])),
            Self::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::F64 => f64::from_le_bytes(b),
        };
        Some(v)
    }

    /// Encodes one raw value (already rounded and range-checked by the caller; out-of-range
    /// values saturate) into `size()` bytes.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "saturating float-to-int casts are the intent; callers check the range first"
    )]
    pub fn encode(self, raw: f64, order: ByteOrder) -> Vec<u8> {
        let mut b: Vec<u8> = match self {
            Self::U8 => vec![raw as u8],
            Self::I8 => (raw as i8).to_le_bytes().to_vec(),
            Self::U16 => (raw as u16).to_le_bytes().to_vec(),
            Self::I16 => (raw as i16).to_le_bytes().to_vec(),
            Self::U32 => (raw as u32).to_le_bytes().to_vec(),
            Self::I32 => (raw as i32).to_le_bytes().to_vec(),
            Self::U64 => (raw as u64).to_le_bytes().to_vec(),
            Self::I64 => (raw as i64).to_le_bytes().to_vec(),
            Self::F16 => f64_to_f16(raw).to_le_bytes().to_vec(),
            Self::F32 => (raw as f32).to_le_bytes().to_vec(),
            Self::F64 => raw.to_le_bytes().to_vec(),
        };
        order.from_little(&mut b);
        b
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// Byte order of an element in ECU memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// `MSB_LAST` (and the pre-1.6 `LITTLE_ENDIAN`): Intel.
    #[default]
    Intel,
    /// `MSB_FIRST` (and the pre-1.6 `BIG_ENDIAN`): Motorola.
    Motorola,
    /// `MSB_FIRST_MSW_LAST`: bytes big-endian inside each 16-bit word, words little-endian.
    MsbFirstMswLast,
    /// `MSB_LAST_MSW_FIRST`: bytes little-endian inside each 16-bit word, words big-endian.
    MsbLastMswFirst,
}

impl ByteOrder {
    pub(crate) fn from_a2l(o: &a2lfile::ByteOrderEnum) -> Self {
        use a2lfile::ByteOrderEnum as B;
        match o {
            B::LittleEndian | B::MsbLast => Self::Intel,
            B::BigEndian | B::MsbFirst => Self::Motorola,
            B::MsbFirstMswLast => Self::MsbFirstMswLast,
            B::MsbLastMswFirst => Self::MsbLastMswFirst,
        }
    }

    /// The A2L keyword (`MSB_LAST`, `MSB_FIRST`, …).
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Intel => "MSB_LAST",
            Self::Motorola => "MSB_FIRST",
            Self::MsbFirstMswLast => "MSB_FIRST_MSW_LAST",
            Self::MsbLastMswFirst => "MSB_LAST_MSW_FIRST",
        }
    }

    /// Reorders ECU bytes into little-endian order.
    fn to_little(self, b: &mut [u8]) {
        match self {
            Self::Intel => {}
            Self::Motorola => b.reverse(),
            // Words already little-endian in order; swap the bytes inside each word.
            Self::MsbFirstMswLast => b.chunks_exact_mut(2).for_each(<[u8]>::reverse),
            // Bytes inside words little-endian, words big-endian: reverse the word order.
            Self::MsbLastMswFirst => {
                b.reverse();
                b.chunks_exact_mut(2).for_each(<[u8]>::reverse);
            }
        }
    }

    /// Reorders little-endian bytes into ECU order (each reordering is its own inverse).
    #[allow(clippy::wrong_self_convention, reason = "mirror of to_little")]
    fn from_little(self, b: &mut [u8]) {
        self.to_little(b);
    }
}

impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Self::Intel => f.write_str(" (Intel)"),
            Self::Motorola => f.write_str(" (Motorola)"),
            Self::MsbFirstMswLast | Self::MsbLastMswFirst => Ok(()),
        }
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1F);
    let frac = f64::from(h & 0x3FF);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the mantissa and exponent are bounded by the branches"
)]
fn f64_to_f16(x: f64) -> u16 {
    let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
    let a = x.abs();
    if a.is_nan() {
        return 0x7E00;
    }
    if a >= 65520.0 {
        return sign | 0x7C00;
    }
    if a < 2f64.powi(-14) {
        return sign | (a / 2f64.powi(-24)).round() as u16;
    }
    let e = a.log2().floor() as i32;
    let m = (a / 2f64.powi(e) - 1.0) * 1024.0;
    let mut m = m.round() as u32;
    let mut e = e + 15;
    if m == 1024 {
        m = 0;
        e += 1;
    }
    sign | ((e as u16) << 10) | m as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_decodes_the_same_value() {
        // 0x11223344 in each layout.
        let cases = [
            (ByteOrder::Intel, [0x44, 0x33, 0x22, 0x11]),
            (ByteOrder::Motorola, [0x11, 0x22, 0x33, 0x44]),
            (ByteOrder::MsbFirstMswLast, [0x33, 0x44, 0x11, 0x22]),
            (ByteOrder::MsbLastMswFirst, [0x22, 0x11, 0x44, 0x33]),
        ];
        for (order, bytes) in cases {
            assert_eq!(
                DataType::U32.decode(&bytes, order),
                Some(f64::from(0x1122_3344u32)),
                "{order}"
            );
            assert_eq!(
                DataType::U32.encode(f64::from(0x1122_3344u32), order),
                bytes
            );
        }
        assert_eq!(
            DataType::I16.decode(&[0xFF, 0xFE], ByteOrder::Motorola),
            Some(-2.0)
        );
        assert_eq!(DataType::U16.decode(&[1], ByteOrder::Intel), None);
    }

    #[test]
    fn half_floats_round_trip() {
        for (bits, v) in [
            (0x3C00u16, 1.0),
            (0xC000, -2.0),
            (0x7BFF, 65504.0),
            (0x0001, 2f64.powi(-24)),
        ] {
            assert_eq!(f16_to_f64(bits), v);
            assert_eq!(f64_to_f16(v), bits);
        }
        let b = DataType::F16.encode(0.5, ByteOrder::Motorola);
        assert_eq!(b, [0x38, 0x00]);
    }
}
