//! The part of MessagePack that python-can's `udp_multicast` frames use: one map of string
//! keys to nil, booleans, integers, floats, strings and byte strings (arrays of small
//! integers are read as bytes too). Decoding never panics; anything else is an error.

use std::borrow::Cow;
use std::fmt;

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
    /// Borrowed from the datagram, except an array's bytes.
    Bytes(Cow<'a, [u8]>),
}

/// Why bytes are not a frame map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgpackError(pub(crate) String);

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a python-can frame: {}", self.0)
    }
}

impl std::error::Error for MsgpackError {}

fn err<T>(what: impl Into<String>) -> Result<T, MsgpackError> {
    Err(MsgpackError(what.into()))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MsgpackError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return err(format!(
                "{n} bytes wanted at offset {}, {} left",
                self.at,
                self.b.len() - self.at
            ));
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self, n: usize) -> Result<u64, MsgpackError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, MsgpackError> {
        usize::try_from(self.uint(n)?).or_else(|_| err("a length beyond memory"))
    }

    fn str(&mut self, n: usize) -> Result<&'a str, MsgpackError> {
        std::str::from_utf8(self.take(n)?).or_else(|_| err("a string that is not UTF-8"))
    }

    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        reason = "the signed formats are the two's complement of their 1, 2, 4 or 8 bytes"
    )]
    fn value(&mut self, depth: u8) -> Result<Value<'a>, MsgpackError> {
        let t = self.byte()?;
        Ok(match t {
            0x00..=0x7F => Value::Int(i128::from(t)),
            0xE0..=0xFF => Value::Int(i128::from(t as i8)),
            0xA0..=0xBF => Value::Str(self.str(usize::from(t & 0x1F))?),
            0x90..=0x9F => self.array(usize::from(t & 0x0F), depth)?,
            0xC0 => Value::Nil,
            0xC2 => Value::Bool(false),
            0xC3 => Value::Bool(true),
            0xC4 => {
                let n = self.len(1)?;
                Value::Bytes(Cow::Borrowed(self.take(n)?))
            }
            0xC5 => {
                let n = self.len(2)?;
                Value::Bytes(Cow::Borrowed(self.take(n)?))
            }
            0xC6 => {
                let n = self.len(4)?;
                Value::Bytes(Cow::Borrowed(self.take(n)?))
            }
            0xCA => Value::Float(f64::from(f32::from_bits(
                u32::try_from(self.uint(4)?).unwrap_or(0),
            ))),
            0xCB => Value::Float(f64::from_bits(self.uint(8)?)),
            0xCC => Value::Int(i128::from(self.uint(1)?)),
            0xCD => Value::Int(i128::from(self.uint(2)?)),
            0xCE => Value::Int(i128::from(self.uint(4)?)),
            0xCF => Value::Int(i128::from(self.uint(8)?)),
            0xD0 => Value::Int(i128::from(self.uint(1)? as u8 as i8)),
            0xD1 => Value::Int(i128::from(self.uint(2)? as u16 as i16)),
            0xD2 => Value::Int(i128::from(self.uint(4)? as u32 as i32)),
            0xD3 => Value::Int(i128::from(self.uint(8)? as i64)),
            0xD9 => {
                let n = self.len(1)?;
                Value::Str(self.str(n)?)
            }
            0xDA => {
                let n = self.len(2)?;
                Value::Str(self.str(n)?)
            }
            0xDC => {
                let n = self.len(2)?;
                self.array(n, depth)?
            }
            other => return err(format!("MessagePack type {other:#04x} is not expected")),
        })
    }

    /// An array of integers 0–255, as python-can may send `data` as a list.
    fn array(&mut self, n: usize, depth: u8) -> Result<Value<'a>, MsgpackError> {
        if depth > 0 {
            return err("nested arrays");
        }
        let mut out = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            match self.value(depth + 1)? {
                Value::Int(v) => {
                    out.push(u8::try_from(v).or_else(|_| err("a data byte above 255"))?);
                }
                _ => return err("an array that is not bytes"),
            }
        }
        Ok(Value::Bytes(Cow::Owned(out)))
    }
}

/// Decodes one map of string keys; calls `f` for each entry.
pub(crate) fn decode_map<'a>(
    b: &'a [u8],
    mut f: impl FnMut(&'a str, Value<'a>) -> Result<(), MsgpackError>,
) -> Result<(), MsgpackError> {
    let mut r = Reader { b, at: 0 };
    let t = r.byte()?;
    let n = match t {
        0x80..=0x8F => usize::from(t & 0x0F),
        0xDE => r.len(2)?,
        _ => return err(format!("a map was expected, found type {t:#04x}")),
    };
    for _ in 0..n {
        let Value::Str(key) = r.value(0)? else {
            return err("a map key that is not a string");
        };
        let v = r.value(0)?;
        f(key, v)?;
    }
    if r.at != b.len() {
        return err(format!("{} bytes after the map", b.len() - r.at));
    }
    Ok(())
}

/// Writes MessagePack values into a buffer.
pub(crate) struct Writer<'w>(pub(crate) &'w mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn map(&mut self, n: u8) {
        debug_assert!(n < 16, "fixmap holds up to 15 entries");
        self.0.push(0x80 | (n & 0x0F));
    }

    pub(crate) fn str(&mut self, s: &str) {
        let n = s.len();
        if n < 32 {
            self.0.push(0xA0 | u8::try_from(n).unwrap_or(0));
        } else {
            self.0.push(0xD9);
            self.0.push(u8::try_from(n).unwrap_or(u8::MAX));
        }
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.0.push(if v { 0xC3 } else { 0xC2 });
    }

    pub(crate) fn nil(&mut self) {
        self.0.push(0xC0);
    }

    pub(crate) fn uint(&mut self, v: u64) {
        match v {
            0..=0x7F => self.0.push(u8::try_from(v).unwrap_or(0)),
            0x80..=0xFF => {
                self.0.push(0xCC);
                self.0.push(u8::try_from(v).unwrap_or(0));
            }
            0x100..=0xFFFF => {
                self.0.push(0xCD);
                self.0
                    .extend_from_slice(&u16::try_from(v).unwrap_or(0).to_be_bytes());
            }
            0x1_0000..=0xFFFF_FFFF => {
                self.0.push(0xCE);
                self.0
                    .extend_from_slice(&u32::try_from(v).unwrap_or(0).to_be_bytes());
            }
            _ => {
                self.0.push(0xCF);
                self.0.extend_from_slice(&v.to_be_bytes());
            }
        }
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.0.push(0xCB);
        self.0.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    pub(crate) fn bin(&mut self, b: &[u8]) {
        self.0.push(0xC4);
        self.0.push(u8::try_from(b.len()).unwrap_or(u8::MAX));
        self.0.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let mut buf = Vec::new();
        let mut w = Writer(&mut buf);
        w.map(6);
        w.str("a");
        w.uint(300);
        w.str("b");
        w.bin(&[1, 2, 3]);
        w.str("c");
        w.f64(1.5);
        w.str("d");
        w.nil();
        w.str("e");
        w.bool(true);
        w.str("a_key_of_more_than_thirty_two_bytes");
        w.uint(u64::from(u32::MAX) + 1);
        let mut seen = Vec::new();
        decode_map(&buf, |k, v| {
            seen.push((k.to_owned(), v));
            Ok(())
        })
        .expect("decodes");
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), Value::Int(300)),
                ("b".to_owned(), Value::Bytes(vec![1, 2, 3].into())),
                ("c".to_owned(), Value::Float(1.5)),
                ("d".to_owned(), Value::Nil),
                ("e".to_owned(), Value::Bool(true)),
                (
                    "a_key_of_more_than_thirty_two_bytes".to_owned(),
                    Value::Int(1 << 32)
                ),
            ]
        );
    }

    #[test]
    fn truncated_and_foreign_input_is_an_error() {
        // A map of one entry whose value is cut off.
        assert!(decode_map(&[0x81, 0xA1, b'a', 0xCD, 0x01], |_, _| Ok(())).is_err());
        assert!(decode_map(&[0x91, 0x01], |_, _| Ok(())).is_err());
        assert!(decode_map(&[], |_, _| Ok(())).is_err());
        // Trailing bytes.
        assert!(decode_map(&[0x80, 0x00], |_, _| Ok(())).is_err());
        // Every prefix of a valid map fails cleanly.
        let full = [
            0x82, 0xA1, b'x', 0xCB, 0, 0, 0, 0, 0, 0, 0, 0, 0xA1, b'y', 0x92, 1, 2,
        ];
        assert!(decode_map(&full, |_, _| Ok(())).is_ok());
        for n in 0..full.len() {
            assert!(decode_map(&full[..n], |_, _| Ok(())).is_err(), "prefix {n}");
        }
    }
}
