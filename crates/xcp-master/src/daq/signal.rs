//! What is measured: signal types (decoded in runs of one type), values, signals and list
//! requests.

use xcp_proto::{Address, ByteOrder, ElementOrder, ElementType};

/// Decodes one element of type `ty` (`bytes` holds exactly its size; missing bytes read as
/// zero) into a typed value.
#[inline]
pub fn decode_value(ty: ElementType, bytes: &[u8], order: ByteOrder) -> Value {
    let m = order == ByteOrder::Motorola;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "reinterpreting the element's own bits"
    )]
    match ty {
        ElementType::U8 => Value::Uint(u64::from(bytes.first().copied().unwrap_or(0))),
        ElementType::I8 => Value::Int(i64::from(bytes.first().copied().unwrap_or(0) as i8)),
        ElementType::U16 => Value::Uint(u64::from(u16::from_ne_bytes(fixed::<2>(bytes, m)))),
        ElementType::I16 => Value::Int(i64::from(i16::from_ne_bytes(fixed::<2>(bytes, m)))),
        ElementType::U32 => Value::Uint(u64::from(u32::from_ne_bytes(fixed::<4>(bytes, m)))),
        ElementType::I32 => Value::Int(i64::from(i32::from_ne_bytes(fixed::<4>(bytes, m)))),
        ElementType::U64 => Value::Uint(u64::from_ne_bytes(fixed::<8>(bytes, m))),
        ElementType::I64 => Value::Int(i64::from_ne_bytes(fixed::<8>(bytes, m))),
        ElementType::F16 => {
            let bits = u16::from_ne_bytes(fixed::<2>(bytes, m)).to_le_bytes();
            Value::Float(
                ElementType::F16
                    .decode(&bits, ElementOrder::MsbLast)
                    .unwrap_or(0.0),
            )
        }
        ElementType::F32 => Value::Float(f64::from(f32::from_ne_bytes(fixed::<4>(bytes, m)))),
        ElementType::F64 => Value::Float(f64::from_ne_bytes(fixed::<8>(bytes, m))),
    }
}

/// Groups adjacent signals of one type and byte order whose bytes follow each other.
pub(super) fn runs_of(
    types: &[(ElementType, ByteOrder, usize)],
) -> Vec<(ElementType, ByteOrder, usize, usize)> {
    let mut runs: Vec<(ElementType, ByteOrder, usize, usize)> = Vec::new();
    for &(ty, order, off) in types {
        match runs.last_mut() {
            Some((t, o, at, n)) if *t == ty && *o == order && *at + *n * ty.size() == off => {
                *n += 1;
            }
            _ => runs.push((ty, order, off, 1)),
        }
    }
    runs
}

/// Appends `n` values of type `ty` stored back to back in `bytes` (in `order`). The type and
/// byte order are matched once per run, so each loop is straight-line code; values `bytes`
/// is too short to hold decode as zero, as [`decode_value`] does.
pub(super) fn decode_run(
    ty: ElementType,
    order: ByteOrder,
    n: usize,
    bytes: &[u8],
    out: &mut Vec<Value>,
) {
    let size = ty.size();
    if bytes.len() < n * size {
        out.extend(
            (0..n).map(|i| decode_value(ty, bytes.get(i * size..).unwrap_or_default(), order)),
        );
        return;
    }
    let motorola = order == ByteOrder::Motorola;
    macro_rules! run {
        ($n:literal, $make:expr) => {{
            let elems = bytes.chunks_exact($n).take(n).map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                a
            });
            if motorola {
                out.extend(elems.map(|mut a| {
                    a.reverse();
                    $make(a)
                }));
            } else {
                out.extend(elems.map($make));
            }
        }};
    }
    match ty {
        ElementType::U8 => out.extend(bytes.iter().take(n).map(|&b| Value::Uint(u64::from(b)))),
        ElementType::I8 => out.extend(
            bytes
                .iter()
                .take(n)
                .map(|&b| Value::Int(i64::from(b.cast_signed()))),
        ),
        ElementType::U16 => run!(2, |a| Value::Uint(u64::from(u16::from_le_bytes(a)))),
        ElementType::I16 => run!(2, |a| Value::Int(i64::from(i16::from_le_bytes(a)))),
        ElementType::U32 => run!(4, |a| Value::Uint(u64::from(u32::from_le_bytes(a)))),
        ElementType::I32 => run!(4, |a| Value::Int(i64::from(i32::from_le_bytes(a)))),
        ElementType::U64 => run!(8, |a| Value::Uint(u64::from_le_bytes(a))),
        ElementType::I64 => run!(8, |a| Value::Int(i64::from_le_bytes(a))),
        ElementType::F16 => run!(2, |a: [u8; 2]| Value::Float(
            ElementType::F16
                .decode(&a, ElementOrder::MsbLast)
                .unwrap_or(0.0)
        )),
        ElementType::F32 => run!(4, |a| Value::Float(f64::from(f32::from_le_bytes(a)))),
        ElementType::F64 => run!(8, |a| Value::Float(f64::from_le_bytes(a))),
    }
}

/// The first `N` bytes of `bytes` (zero-padded when shorter) in this machine's byte order,
/// from the slave's (`motorola`: big-endian): fixed-size copies the compiler turns into one
/// load, where a copy of a run-time length calls `memcpy` per value.
#[inline]
pub(super) fn fixed<const N: usize>(bytes: &[u8], motorola: bool) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(b) = bytes.get(..N) {
        a.copy_from_slice(b);
    } else {
        a[..bytes.len()].copy_from_slice(bytes);
    }
    // `a` holds the slave's bytes; turn them into native order.
    let slave_is_le = !motorola;
    if slave_is_le != cfg!(target_endian = "little") {
        a.reverse();
    }
    a
}

/// Encodes `v` as an element of type `ty` in `order` (integers saturate, floats convert).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "conversion into the element type, documented as saturating"
)]
pub fn encode_value(ty: ElementType, v: Value, order: ByteOrder) -> Vec<u8> {
    let (u, i, f) = match v {
        Value::Uint(u) => (u, i64::try_from(u).unwrap_or(i64::MAX), u as f64),
        Value::Int(i) => (u64::try_from(i).unwrap_or(0), i, i as f64),
        Value::Float(f) => (f as u64, f as i64, f),
    };
    let le: Vec<u8> = match ty {
        ElementType::U8 => vec![u.min(0xFF) as u8],
        ElementType::I8 => vec![i.clamp(-128, 127) as i8 as u8],
        ElementType::U16 => (u.min(0xFFFF) as u16).to_le_bytes().to_vec(),
        ElementType::I16 => (i.clamp(-32768, 32767) as i16).to_le_bytes().to_vec(),
        ElementType::U32 => (u.min(0xFFFF_FFFF) as u32).to_le_bytes().to_vec(),
        ElementType::I32 => (i.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
            .to_le_bytes()
            .to_vec(),
        ElementType::U64 => u.to_le_bytes().to_vec(),
        ElementType::I64 => i.to_le_bytes().to_vec(),
        ElementType::F16 => {
            let (b, n) = ElementType::F16.encode(f, ElementOrder::MsbLast);
            b[..n].to_vec()
        }
        ElementType::F32 => (f as f32).to_le_bytes().to_vec(),
        ElementType::F64 => f.to_le_bytes().to_vec(),
    };
    let mut b = le;
    if order == ByteOrder::Motorola {
        b.reverse();
    }
    b
}

/// A decoded raw value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A float.
    Float(f64),
}

impl Value {
    /// The value as f64 (64-bit integers beyond 2^53 round).
    #[allow(clippy::cast_precision_loss, reason = "documented rounding")]
    pub const fn as_f64(self) -> f64 {
        match self {
            Self::Int(v) => v as f64,
            Self::Uint(v) => v as f64,
            Self::Float(v) => v,
        }
    }
}

/// One signal to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Name, for the user's reference.
    pub name: String,
    /// Address and extension.
    pub addr: Address,
    /// Element type.
    pub ty: ElementType,
    /// Byte order of the element in the ECU's memory (the A2L object's BYTE_ORDER; not
    /// necessarily the protocol's).
    pub order: ByteOrder,
}

/// One DAQ list to set up: signals sampled on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Event channel.
    pub event: u16,
    /// Prescaler (1: every event).
    pub prescaler: u8,
    /// Priority (0 lowest).
    pub priority: u8,
    /// Ask for a slave timestamp in the first ODT.
    pub timestamps: bool,
    /// A STIM list: the master sends the values ([`Master::stim`](crate::Master::stim)) and the slave writes them
    /// at the event; no rows arrive for it.
    pub stim: bool,
    /// The signals, in the order rows carry their values.
    pub signals: Vec<Signal>,
}
