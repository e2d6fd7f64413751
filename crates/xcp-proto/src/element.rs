//! Elements in ECU memory: their types (the A2L datatypes), the four byte orders an A2L can
//! give them, and the time units of event cycles and DAQ timestamps.
//!
//! Every crate of the workspace speaks of elements through these types: the A2L reader, the
//! slave that describes its memory, the master that measures it and the recorder that
//! decodes it again.
//!
//! ```
//! use xcp_proto::{ElementOrder, ElementType};
//!
//! let t = ElementType::from_keyword("SWORD").expect("an A2L datatype");
//! assert_eq!((t.size(), t.name()), (2, "I16"));
//! assert_eq!(t.decode(&[0xFF, 0xFE], ElementOrder::MsbFirst), Some(-2.0));
//! let (bytes, n) = ElementType::U32.encode(f64::from(0x1122_3344u32), ElementOrder::MsbFirstMswLast);
//! assert_eq!(&bytes[..n], [0x33, 0x44, 0x11, 0x22]);
//! ```

use core::fmt;

/// The type of one element (A2L `UBYTE` … `FLOAT64_IEEE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ElementType {
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

impl ElementType {
    /// Every type, in the order above.
    pub const ALL: [Self; 11] = [
        Self::U8,
        Self::I8,
        Self::U16,
        Self::I16,
        Self::U32,
        Self::I32,
        Self::U64,
        Self::I64,
        Self::F16,
        Self::F32,
        Self::F64,
    ];

    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 | Self::F16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// Whether the type holds integers.
    pub const fn is_integer(self) -> bool {
        !self.is_float()
    }

    /// Whether the type is a floating-point one.
    pub const fn is_float(self) -> bool {
        matches!(self, Self::F16 | Self::F32 | Self::F64)
    }

    /// Whether the type is a signed integer.
    pub const fn is_signed(self) -> bool {
        matches!(self, Self::I8 | Self::I16 | Self::I32 | Self::I64)
    }

    /// The A2L keyword (`UBYTE`, …, `FLOAT64_IEEE`).
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

    /// The type of an A2L keyword.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.keyword() == keyword)
    }

    /// The short name: `U8` … `I64`, `F16`, `F32`, `F64` (recordings store it).
    pub const fn name(self) -> &'static str {
        match self {
            Self::U8 => "U8",
            Self::I8 => "I8",
            Self::U16 => "U16",
            Self::I16 => "I16",
            Self::U32 => "U32",
            Self::I32 => "I32",
            Self::U64 => "U64",
            Self::I64 => "I64",
            Self::F16 => "F16",
            Self::F32 => "F32",
            Self::F64 => "F64",
        }
    }

    /// The type of a short name ([`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The smallest and largest value the type holds.
    #[allow(
        clippy::cast_precision_loss,
        reason = "the 64-bit extremes as the nearest doubles"
    )]
    pub fn range(self) -> (f64, f64) {
        match self {
            Self::U8 => (0.0, 255.0),
            Self::I8 => (-128.0, 127.0),
            Self::U16 => (0.0, 65535.0),
            Self::I16 => (-32768.0, 32767.0),
            Self::U32 => (0.0, 4_294_967_295.0),
            Self::I32 => (-2_147_483_648.0, 2_147_483_647.0),
            Self::U64 => (0.0, u64::MAX as f64),
            Self::I64 => (i64::MIN as f64, i64::MAX as f64),
            Self::F16 => (-65504.0, 65504.0),
            Self::F32 => (f32::MIN as f64, f32::MAX as f64),
            Self::F64 => (f64::MIN, f64::MAX),
        }
    }

    /// Decodes one element as a double; `None` when `bytes` is shorter than the type.
    /// 64-bit integers beyond 2^53 round to the nearest double.
    #[allow(
        clippy::cast_precision_loss,
        reason = "a double is the common value type; 64-bit integers round"
    )]
    pub fn decode(self, bytes: &[u8], order: ElementOrder) -> Option<f64> {
        let n = self.size();
        let mut b = [0u8; 8];
        b.get_mut(..n)?.copy_from_slice(bytes.get(..n)?);
        order.to_little(&mut b[..n]);
        Some(match self {
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
        })
    }

    /// Encodes one value (already rounded and range-checked by the caller; out-of-range
    /// values saturate): the bytes are the first `size()` of the array, in `order`.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "saturating float-to-int casts are the intent; callers check the range first"
    )]
    pub fn encode(self, value: f64, order: ElementOrder) -> ([u8; 8], usize) {
        let mut b = [0u8; 8];
        let n = self.size();
        match self {
            Self::U8 => b[0] = value as u8,
            Self::I8 => b[..1].copy_from_slice(&(value as i8).to_le_bytes()),
            Self::U16 => b[..2].copy_from_slice(&(value as u16).to_le_bytes()),
            Self::I16 => b[..2].copy_from_slice(&(value as i16).to_le_bytes()),
            Self::U32 => b[..4].copy_from_slice(&(value as u32).to_le_bytes()),
            Self::I32 => b[..4].copy_from_slice(&(value as i32).to_le_bytes()),
            Self::U64 => b.copy_from_slice(&(value as u64).to_le_bytes()),
            Self::I64 => b.copy_from_slice(&(value as i64).to_le_bytes()),
            Self::F16 => b[..2].copy_from_slice(&f64_to_f16(value).to_le_bytes()),
            Self::F32 => b[..4].copy_from_slice(&(value as f32).to_le_bytes()),
            Self::F64 => b.copy_from_slice(&value.to_le_bytes()),
        }
        order.from_little(&mut b[..n]);
        (b, n)
    }
}

/// The A2L keyword.
impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The byte order of an element in ECU memory (A2L `BYTE_ORDER`): besides the two plain
/// ones, two that mix the order of bytes in 16-bit words and of the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ElementOrder {
    /// `MSB_LAST` (and the pre-1.6 `LITTLE_ENDIAN`): Intel.
    #[default]
    MsbLast,
    /// `MSB_FIRST` (and the pre-1.6 `BIG_ENDIAN`): Motorola.
    MsbFirst,
    /// `MSB_FIRST_MSW_LAST`: bytes big-endian inside each 16-bit word, words little-endian.
    MsbFirstMswLast,
    /// `MSB_LAST_MSW_FIRST`: bytes little-endian inside each 16-bit word, words big-endian.
    MsbLastMswFirst,
}

impl ElementOrder {
    /// The A2L keyword (`MSB_LAST`, `MSB_FIRST`, …).
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::MsbLast => "MSB_LAST",
            Self::MsbFirst => "MSB_FIRST",
            Self::MsbFirstMswLast => "MSB_FIRST_MSW_LAST",
            Self::MsbLastMswFirst => "MSB_LAST_MSW_FIRST",
        }
    }

    /// The protocol's byte order, for the two plain orders; `None` for the mixed ones,
    /// which no XCP session uses.
    pub const fn plain(self) -> Option<crate::ByteOrder> {
        match self {
            Self::MsbLast => Some(crate::ByteOrder::Intel),
            Self::MsbFirst => Some(crate::ByteOrder::Motorola),
            Self::MsbFirstMswLast | Self::MsbLastMswFirst => None,
        }
    }

    /// Reorders element bytes into little-endian order.
    pub fn to_little(self, b: &mut [u8]) {
        match self {
            Self::MsbLast => {}
            Self::MsbFirst => b.reverse(),
            // Words already little-endian in order; swap the bytes inside each word.
            Self::MsbFirstMswLast => b.chunks_exact_mut(2).for_each(<[u8]>::reverse),
            // Bytes inside words little-endian, words big-endian: reverse the word order.
            Self::MsbLastMswFirst => {
                b.reverse();
                b.chunks_exact_mut(2).for_each(<[u8]>::reverse);
            }
        }
    }

    /// Reorders little-endian bytes into this order (each reordering is its own inverse).
    #[allow(clippy::wrong_self_convention, reason = "mirror of to_little")]
    pub fn from_little(self, b: &mut [u8]) {
        self.to_little(b);
    }
}

impl From<crate::ByteOrder> for ElementOrder {
    fn from(o: crate::ByteOrder) -> Self {
        match o {
            crate::ByteOrder::Intel => Self::MsbLast,
            crate::ByteOrder::Motorola => Self::MsbFirst,
        }
    }
}

/// The A2L keyword, with the processor family for the two plain orders.
impl fmt::Display for ElementOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Self::MsbLast => f.write_str(" (Intel)"),
            Self::MsbFirst => f.write_str(" (Motorola)"),
            Self::MsbFirstMswLast | Self::MsbLastMswFirst => Ok(()),
        }
    }
}

/// A time unit of XCP and A2L (GET_DAQ_EVENT_INFO's TIME_UNIT, GET_DAQ_RESOLUTION_INFO's
/// TIMESTAMP_MODE, the A2L's `UNIT_1US` …): codes 0 (1 ns) to 9 (1 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeUnit(u8);

impl TimeUnit {
    const KEYWORDS: [&'static str; 10] = [
        "UNIT_1NS",
        "UNIT_10NS",
        "UNIT_100NS",
        "UNIT_1US",
        "UNIT_10US",
        "UNIT_100US",
        "UNIT_1MS",
        "UNIT_10MS",
        "UNIT_100MS",
        "UNIT_1S",
    ];

    /// The unit of a code; `None` beyond 9.
    pub const fn from_code(code: u8) -> Option<Self> {
        if code <= 9 { Some(Self(code)) } else { None }
    }

    /// The unit of an A2L keyword (`UNIT_1US`).
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        let i = Self::KEYWORDS.iter().position(|k| *k == keyword)?;
        u8::try_from(i).ok().map(Self)
    }

    /// The unit that is exactly `ns` nanoseconds long (1, 10, … 10^9).
    pub fn from_nanos(ns: u64) -> Option<Self> {
        (0..=9u8).map(Self).find(|u| u.nanos() == ns)
    }

    /// The code (0 = 1 ns … 9 = 1 s).
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The A2L keyword.
    pub const fn keyword(self) -> &'static str {
        Self::KEYWORDS[self.0 as usize]
    }

    /// Its length in nanoseconds.
    pub const fn nanos(self) -> u64 {
        10u64.pow(self.0 as u32)
    }
}

/// The A2L keyword.
impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A number of nanoseconds in the largest unit that keeps it whole: `10 ms`, `250 us`,
/// `3 s`, `7 ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nanos(pub u64);

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("0 ns"),
            n if n % 1_000_000_000 == 0 => write!(f, "{} s", n / 1_000_000_000),
            n if n % 1_000_000 == 0 => write!(f, "{} ms", n / 1_000_000),
            n if n % 1_000 == 0 => write!(f, "{} us", n / 1_000),
            n => write!(f, "{n} ns"),
        }
    }
}

/// A half-precision float's bits as a double (exact: every half is a double).
fn f16_to_f64(h: u16) -> f64 {
    let negative = h & 0x8000 != 0;
    let exp = u64::from((h >> 10) & 0x1F);
    let frac = u64::from(h & 0x3FF);
    let sign = if negative { 1u64 << 63 } else { 0 };
    match exp {
        0 => {
            // Subnormal: frac units of 2^-24.
            let v = f64::from(h & 0x3FF) * f64::from_bits((1023 - 24) << 52);
            if negative { -v } else { v }
        }
        31 => f64::from_bits(sign | 0x7FF0_0000_0000_0000 | (frac << 42)),
        e => f64::from_bits(sign | ((e + 1023 - 15) << 52) | (frac << 42)),
    }
}

/// A double as the nearest half-precision float's bits (ties to even; beyond the range,
/// infinity; NaN as the quiet NaN 0x7E00).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the results are bounded (and non-negative) by the branches"
)]
fn f64_to_f16(x: f64) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    let exp = ((bits >> 52) & 0x7FF) as i32;
    let man = bits & ((1u64 << 52) - 1);
    if exp == 0x7FF {
        return if man != 0 { 0x7E00 } else { sign | 0x7C00 };
    }
    if exp == 0 {
        return sign; // a double subnormal is far below the smallest half
    }
    let full = man | (1u64 << 52);
    // The value is full · 2^(exp − 1075); the half's exponent field would be e.
    let e = exp - 1023 + 15;
    // Bits of `full` below the half's last mantissa bit: 42 for a normal half, more for a
    // subnormal one (whose unit is 2^-24).
    let drop = if e >= 1 { 42 } else { 42 + (1 - e) };
    if drop > 53 {
        return sign; // below half the smallest subnormal
    }
    let drop = drop as u32;
    let mut q = full >> drop;
    let rest = full & ((1u64 << drop) - 1);
    let half = 1u64 << (drop - 1);
    if rest > half || (rest == half && q & 1 == 1) {
        q += 1;
    }
    if e >= 1 {
        // q holds the implicit bit at 2^10; a carry to 2^11 moves the exponent up.
        let (e, q) = if q >> 11 != 0 {
            (e + 1, q >> 1)
        } else {
            (e, q)
        };
        if e >= 31 {
            return sign | 0x7C00;
        }
        sign | ((e as u16) << 10) | (q as u16 & 0x3FF)
    } else {
        // Subnormal (q may round up to 0x400, the smallest normal, which is the same bits).
        sign | q as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_decodes_the_same_value() {
        // 0x11223344 in each layout.
        let cases = [
            (ElementOrder::MsbLast, [0x44, 0x33, 0x22, 0x11]),
            (ElementOrder::MsbFirst, [0x11, 0x22, 0x33, 0x44]),
            (ElementOrder::MsbFirstMswLast, [0x33, 0x44, 0x11, 0x22]),
            (ElementOrder::MsbLastMswFirst, [0x22, 0x11, 0x44, 0x33]),
        ];
        for (order, bytes) in cases {
            assert_eq!(
                ElementType::U32.decode(&bytes, order),
                Some(f64::from(0x1122_3344u32)),
                "{order}"
            );
            let (b, n) = ElementType::U32.encode(f64::from(0x1122_3344u32), order);
            assert_eq!(b[..n], bytes);
        }
        assert_eq!(
            ElementType::I16.decode(&[0xFF, 0xFE], ElementOrder::MsbFirst),
            Some(-2.0)
        );
        assert_eq!(ElementType::U16.decode(&[1], ElementOrder::MsbLast), None);
    }

    #[test]
    fn half_floats_round_trip() {
        for (bits, v) in [
            (0x3C00u16, 1.0),
            (0xC000, -2.0),
            (0x7BFF, 65504.0),
            (0x0001, f64::from_bits((1023 - 24) << 52)),
            (0x0400, f64::from_bits((1023 - 14) << 52)),
            (0x3555, 0.333_251_953_125),
        ] {
            assert_eq!(f16_to_f64(bits), v, "{bits:#06x}");
            assert_eq!(f64_to_f16(v), bits, "{v}");
        }
        // Ties go to the even mantissa; 65520 and above round to infinity.
        assert_eq!(f64_to_f16(1.0 + 1.0 / 2048.0), 0x3C00);
        assert_eq!(f64_to_f16(1.0 + 3.0 / 2048.0), 0x3C02);
        assert_eq!(f64_to_f16(65520.0), 0x7C00);
        assert_eq!(f64_to_f16(-1e10), 0xFC00);
        assert_eq!(f64_to_f16(1e-10), 0);
        assert_eq!(f64_to_f16(f64::NAN), 0x7E00);
        let (b, n) = ElementType::F16.encode(0.5, ElementOrder::MsbFirst);
        assert_eq!(b[..n], [0x38, 0x00]);
    }

    #[test]
    fn names_keywords_and_units_map_both_ways() {
        for t in ElementType::ALL {
            assert_eq!(ElementType::from_keyword(t.keyword()), Some(t));
            assert_eq!(ElementType::from_name(t.name()), Some(t));
        }
        assert_eq!(ElementType::from_keyword("FLOAT32"), None);
        let us = TimeUnit::from_keyword("UNIT_1US").expect("a unit");
        assert_eq!((us.code(), us.nanos(), us.keyword()), (3, 1000, "UNIT_1US"));
        assert_eq!(TimeUnit::from_nanos(1_000_000), TimeUnit::from_code(6));
        assert_eq!(TimeUnit::from_code(10), None);
        extern crate std;
        use std::string::ToString;
        let words = |ns| Nanos(ns).to_string();
        assert_eq!(words(0), "0 ns");
        assert_eq!(words(10_000_000), "10 ms");
        assert_eq!(words(250_000), "250 us");
        assert_eq!(words(3_000_000_000), "3 s");
        assert_eq!(words(1_500), "1500 ns");
    }
}
