//! Flash images: Intel HEX and Motorola S-record text parsed into contiguous segments. The
//! master does no file I/O: the caller reads the file and hands over its text.

use crate::error::Error;

/// A memory image: contiguous segments in ascending address order, none overlapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// `(start address, bytes)`.
    pub segments: Vec<(u32, Vec<u8>)>,
    /// The entry point, when the file names one.
    pub entry: Option<u32>,
}

fn bad(file: &str, line: usize, what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{file}:{line}: {what}"))
}

fn hex_bytes(s: &str, file: &str, line: usize) -> Result<Vec<u8>, Error> {
    if !s.len().is_multiple_of(2) {
        return Err(bad(file, line, "odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(file, line, format!("not hex: {s:?}")))
        })
        .collect()
}

impl Image {
    /// Parses the text of an Intel HEX file (lines start with `:`) or an S-record file (lines
    /// start with `S`); `file` names it in errors.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the file and line of a bad record, checksum or
    /// overlap, or saying the text is neither format.
    pub fn parse(text: &str, file: &str) -> Result<Self, Error> {
        match text.trim_start().chars().next() {
            Some(':') => Self::parse_ihex(text, file),
            Some('S') => Self::parse_srec(text, file),
            _ => Err(Error::InvalidArgument(format!(
                "{file}: neither Intel HEX (':') nor S-record ('S')"
            ))),
        }
    }

    /// Parses Intel HEX (record types 00–05).
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_ihex(text: &str, file: &str) -> Result<Self, Error> {
        let mut chunks = Vec::new();
        let mut base = 0u32;
        let mut entry = None;
        let mut ended = false;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if ended {
                return Err(bad(file, n, "data after the end-of-file record"));
            }
            let body = line
                .strip_prefix(':')
                .ok_or_else(|| bad(file, n, "a record must start with ':'"))?;
            let b = hex_bytes(body, file, n)?;
            if b.len() < 5 || b.len() != usize::from(b[0]) + 5 {
                return Err(bad(file, n, "record length does not match its byte count"));
            }
            if b.iter().fold(0u8, |s, x| s.wrapping_add(*x)) != 0 {
                return Err(bad(file, n, "checksum mismatch"));
            }
            let addr = u32::from(u16::from_be_bytes([b[1], b[2]]));
            let data = &b[4..b.len() - 1];
            match b[3] {
                0 => chunks.push((n, base.wrapping_add(addr), data.to_vec())),
                1 => ended = true,
                2 if data.len() == 2 => {
                    base = u32::from(u16::from_be_bytes([data[0], data[1]])) << 4;
                }
                4 if data.len() == 2 => {
                    base = u32::from(u16::from_be_bytes([data[0], data[1]])) << 16;
                }
                3 | 5 if data.len() == 4 => {
                    entry = Some(u32::from_be_bytes([data[0], data[1], data[2], data[3]]));
                }
                t => {
                    return Err(bad(
                        file,
                        n,
                        format!("record type {t:02X} with {} data bytes", data.len()),
                    ));
                }
            }
        }
        Self::merge(chunks, entry, file)
    }

    /// Parses Motorola S-records (S0–S3 and S5–S9).
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_srec(text: &str, file: &str) -> Result<Self, Error> {
        let mut chunks = Vec::new();
        let mut entry = None;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let mut cs = line.chars();
            if cs.next() != Some('S') {
                return Err(bad(file, n, "a record must start with 'S'"));
            }
            let kind = cs
                .next()
                .and_then(|c| c.to_digit(10))
                .ok_or_else(|| bad(file, n, "missing record type"))?;
            let b = hex_bytes(line.get(2..).unwrap_or_default(), file, n)?;
            if b.is_empty() || b.len() != usize::from(b[0]) + 1 {
                return Err(bad(file, n, "record length does not match its byte count"));
            }
            let sum = b[..b.len() - 1].iter().fold(0u8, |s, x| s.wrapping_add(*x));
            if !sum != b[b.len() - 1] {
                return Err(bad(file, n, "checksum mismatch"));
            }
            let addr_len = match kind {
                0 | 1 | 5 | 9 => 2,
                2 | 6 | 8 => 3,
                3 | 7 => 4,
                _ => return Err(bad(file, n, format!("record type S{kind}"))),
            };
            let fields = &b[1..b.len() - 1];
            if fields.len() < addr_len {
                return Err(bad(file, n, "address missing"));
            }
            let addr = fields[..addr_len]
                .iter()
                .fold(0u32, |a, x| (a << 8) | u32::from(*x));
            let data = &fields[addr_len..];
            match kind {
                1..=3 => chunks.push((n, addr, data.to_vec())),
                7..=9 => entry = Some(addr),
                _ => {}
            }
        }
        Self::merge(chunks, entry, file)
    }

    fn merge(
        mut chunks: Vec<(usize, u32, Vec<u8>)>,
        entry: Option<u32>,
        file: &str,
    ) -> Result<Self, Error> {
        chunks.sort_by_key(|c| c.1);
        let mut segments: Vec<(u32, Vec<u8>)> = Vec::new();
        for (line, addr, data) in chunks {
            if data.is_empty() {
                continue;
            }
            if u64::from(addr) + data.len() as u64 > 1 << 32 {
                return Err(bad(file, line, "data runs past 0xFFFFFFFF"));
            }
            if let Some((start, bytes)) = segments.last_mut() {
                let end = u64::from(*start) + bytes.len() as u64;
                if u64::from(addr) < end {
                    return Err(bad(
                        file,
                        line,
                        format!("data at 0x{addr:08X} overlaps earlier data"),
                    ));
                }
                if u64::from(addr) == end {
                    bytes.extend_from_slice(&data);
                    continue;
                }
            }
            segments.push((addr, data));
        }
        Ok(Self { segments, entry })
    }

    /// The image as Intel HEX text: 16 data bytes a record, an extended linear address
    /// record (type 04) wherever the upper 16 address bits change, and the end record.
    pub fn to_ihex(&self) -> String {
        fn record(out: &mut String, kind: u8, addr: u16, data: &[u8]) {
            let [hi, lo] = addr.to_be_bytes();
            #[allow(clippy::cast_possible_truncation, reason = "at most 16 bytes a record")]
            let mut sum = (data.len() as u8)
                .wrapping_add(hi)
                .wrapping_add(lo)
                .wrapping_add(kind);
            out.push_str(&format!(":{:02X}{addr:04X}{kind:02X}", data.len()));
            for b in data {
                sum = sum.wrapping_add(*b);
                out.push_str(&format!("{b:02X}"));
            }
            out.push_str(&format!("{:02X}\n", sum.wrapping_neg()));
        }
        let mut out = String::new();
        let mut upper: Option<u16> = None;
        for (start, bytes) in &self.segments {
            let mut addr = *start;
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "the upper and lower halves"
                )]
                let (hi, lo) = ((addr >> 16) as u16, addr as u16);
                if upper != Some(hi) {
                    record(&mut out, 4, 0, &hi.to_be_bytes());
                    upper = Some(hi);
                }
                // A record ends at 16 bytes or where the lower 16 address bits wrap.
                let room = 0x1_0000 - usize::from(lo);
                let n = rest.len().min(16).min(room);
                record(&mut out, 0, lo, &rest[..n]);
                rest = &rest[n..];
                addr = addr.wrapping_add(u32::try_from(n).unwrap_or(16));
            }
        }
        record(&mut out, 1, 0, &[]);
        out
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.segments.iter().map(|(_, d)| d.len()).sum()
    }

    /// Whether the image holds no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Image;

    #[test]
    fn intel_hex_with_extended_linear_address() {
        // Two records at 0x0800_0000 and 0x0800_0004 (contiguous), then one at 0x0800_0100.
        let text = ":020000040800F2\n:0400000001020304F2\n:0400040005060708DE\n:02010000AABB98\n:00000001FF\n";
        let img = Image::parse_ihex(text, "t.hex").expect("parses");
        assert_eq!(
            img.segments,
            vec![
                (0x0800_0000, vec![1, 2, 3, 4, 5, 6, 7, 8]),
                (0x0800_0100, vec![0xAA, 0xBB])
            ]
        );
        let err = Image::parse_ihex(":0400000001020304F3\n", "t.hex").expect_err("bad sum");
        assert!(err.to_string().contains("t.hex:1: checksum"), "{err}");
    }

    #[test]
    fn intel_hex_written_reads_back() {
        let img = Image {
            segments: vec![
                (0x8000_FFF8, (0u8..40).collect()),
                (0x8001_0100, vec![0xAA, 0x55]),
            ],
            entry: None,
        };
        let text = img.to_ihex();
        assert!(text.starts_with(":0200000480007A\n"), "{text}");
        assert!(text.ends_with(":00000001FF\n"), "{text}");
        let back = Image::parse_ihex(&text, "t.hex").expect("parses");
        assert_eq!(back.segments, img.segments);
    }

    #[test]
    fn s_records_s3_with_entry_point() {
        // S3: 4-byte address 0x08000000, data 01 02 03; S7 entry 0x08000000.
        let text = "S0030000FC\nS30808000000010203E9\nS70508000000F2\n";
        let img = Image::parse_srec(text, "t.s19").expect("parses");
        assert_eq!(img.segments, vec![(0x0800_0000, vec![1, 2, 3])]);
        assert_eq!(img.entry, Some(0x0800_0000));
        let err = Image::parse_srec("S30808000000010203E8\n", "t.s19").expect_err("bad sum");
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn overlaps_are_refused() {
        let text = ":0400000001020304F2\n:0400020001020304F0\n";
        let err = Image::parse_ihex(text, "o.hex").expect_err("overlap");
        assert!(err.to_string().contains("overlaps"), "{err}");
    }
}
