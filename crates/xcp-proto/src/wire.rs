//! Bounds-checked field readers and writers that honour the session byte order.

use crate::error::{DecodeError, EncodeError};
use crate::params::ByteOrder;

/// Reads fields front to back; every read checks the length first.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    order: ByteOrder,
    packet: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading at `pos` (used after the PID and code bytes were inspected).
    pub(crate) fn at(buf: &'a [u8], pos: usize, order: ByteOrder, packet: &'static str) -> Self {
        Self {
            buf,
            pos: pos.min(buf.len()),
            order,
            packet,
        }
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError::Truncated {
                packet: self.packet,
                field,
                needed: self.pos.saturating_add(n),
                available: self.buf.len(),
            }),
        }
    }

    pub(crate) fn skip(&mut self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        self.bytes(n, field).map(|_| ())
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.bytes(2, field)?;
        let a = [b[0], b[1]];
        Ok(match self.order {
            ByteOrder::Intel => u16::from_le_bytes(a),
            ByteOrder::Motorola => u16::from_be_bytes(a),
        })
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, field)?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(match self.order {
            ByteOrder::Intel => u32::from_le_bytes(a),
            ByteOrder::Motorola => u32::from_be_bytes(a),
        })
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.bytes(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(match self.order {
            ByteOrder::Intel => u64::from_le_bytes(a),
            ByteOrder::Motorola => u64::from_be_bytes(a),
        })
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Writes fields front to back; every write checks the space first.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    order: ByteOrder,
    packet: &'static str,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8], order: ByteOrder, packet: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            order,
            packet,
        }
    }

    /// Fails unless `total` bytes fit; call it first so a too-small buffer is reported once,
    /// with the full length needed.
    pub(crate) fn reserve(&self, total: usize) -> Result<(), EncodeError> {
        if total > self.buf.len() {
            return Err(EncodeError::BufferTooSmall {
                packet: self.packet,
                needed: total,
                available: self.buf.len(),
            });
        }
        Ok(())
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos + b.len();
        self.reserve(end)?;
        self.buf[self.pos..end].copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), EncodeError> {
        let end = self.pos + n;
        self.reserve(end)?;
        self.buf[self.pos..end].fill(0);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        match self.order {
            ByteOrder::Intel => self.bytes(&v.to_le_bytes()),
            ByteOrder::Motorola => self.bytes(&v.to_be_bytes()),
        }
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), EncodeError> {
        match self.order {
            ByteOrder::Intel => self.bytes(&v.to_le_bytes()),
            ByteOrder::Motorola => self.bytes(&v.to_be_bytes()),
        }
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), EncodeError> {
        match self.order {
            ByteOrder::Intel => self.bytes(&v.to_le_bytes()),
            ByteOrder::Motorola => self.bytes(&v.to_be_bytes()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pos
    }
}

/// Fails with `TooLong` when `len` exceeds `max`.
pub(crate) fn check_max(packet: &'static str, len: usize, max: usize) -> Result<(), EncodeError> {
    if len > max {
        return Err(EncodeError::TooLong { packet, len, max });
    }
    Ok(())
}

/// Fails with `InvalidField` unless `ok`.
pub(crate) fn ensure(
    ok: bool,
    packet: &'static str,
    field: &'static str,
    value: u64,
) -> Result<(), EncodeError> {
    if ok {
        Ok(())
    } else {
        Err(EncodeError::InvalidField {
            packet,
            field,
            value,
        })
    }
}
