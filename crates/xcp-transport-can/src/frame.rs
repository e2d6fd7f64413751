//! CAN frames: classic and FD, 11- and 29-bit identifiers.

use std::fmt;

pub use xcp_proto::tl::can::CanId;
use xcp_proto::tl::can::{FD_LENGTHS, dlc_for_len};

/// The most data bytes a frame carries (CAN FD).
pub const MAX_DATA: usize = 64;

/// One CAN or CAN FD data frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CanFrame {
    /// The identifier.
    pub id: CanId,
    data: [u8; MAX_DATA],
    len: u8,
    /// A CAN FD frame.
    pub fd: bool,
    /// CAN FD bit-rate switch: the data phase runs at the data bit rate.
    pub brs: bool,
    /// When the backend received it, in nanoseconds of its clock (`None` where it has none).
    pub timestamp_ns: Option<u64>,
}

/// Why bytes cannot be a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// More data than the frame kind carries.
    TooLong {
        /// The length asked for.
        len: usize,
        /// 8 for classic CAN, 64 for CAN FD.
        max: usize,
    },
    /// A CAN FD length that is not one of the DLC steps (0–8, 12, 16, 20, 24, 32, 48, 64).
    NotADlcStep(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len, max } => {
                write!(f, "{len} data bytes do not fit a frame of at most {max}")
            }
            Self::NotADlcStep(len) => write!(
                f,
                "{len} data bytes is no CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64)"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl CanFrame {
    /// A frame of `data`; `fd` frames take the CAN FD lengths, others at most 8 bytes.
    ///
    /// # Errors
    /// [`FrameError`] when `data` is no valid length for the frame kind.
    pub fn new(id: CanId, data: &[u8], fd: bool) -> Result<Self, FrameError> {
        let max = if fd { MAX_DATA } else { 8 };
        if data.len() > max {
            return Err(FrameError::TooLong {
                len: data.len(),
                max,
            });
        }
        if dlc_for_len(data.len(), fd).is_none() {
            return Err(FrameError::NotADlcStep(data.len()));
        }
        let mut bytes = [0u8; MAX_DATA];
        bytes[..data.len()].copy_from_slice(data);
        Ok(Self {
            id,
            data: bytes,
            len: u8::try_from(data.len()).unwrap_or(u8::MAX),
            fd,
            brs: false,
            timestamp_ns: None,
        })
    }

    /// The data bytes.
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    /// The data length code of the frame.
    pub fn dlc(&self) -> u8 {
        dlc_for_len(usize::from(self.len), self.fd).unwrap_or(0)
    }

    /// The data length of a DLC (`None` for codes above 15).
    pub fn len_of_dlc(dlc: u8) -> Option<usize> {
        FD_LENGTHS.get(usize::from(dlc)).map(|&l| usize::from(l))
    }
}

impl fmt::Debug for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CanFrame {
    /// `0x7e1 [3] ff 00 10`, `0x00012345x FD BRS [12] …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if self.fd {
            f.write_str(" FD")?;
            if self.brs {
                f.write_str(" BRS")?;
            }
        }
        write!(f, " [{}]", self.len)?;
        for b in self.data() {
            write!(f, " {b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_frame_kind() {
        let id = CanId::standard(0x7E1).expect("id");
        assert_eq!(
            CanFrame::new(id, &[0; 9], false),
            Err(FrameError::TooLong { len: 9, max: 8 })
        );
        assert_eq!(
            CanFrame::new(id, &[0; 9], true),
            Err(FrameError::NotADlcStep(9))
        );
        let f = CanFrame::new(id, &[0; 12], true).expect("FD 12");
        assert_eq!(f.dlc(), 9);
        assert_eq!(CanFrame::len_of_dlc(15), Some(64));
        assert_eq!(CanFrame::len_of_dlc(16), None);
        let f = CanFrame::new(id, &[0xFF, 0x00, 0x10], false).expect("classic");
        assert_eq!(f.to_string(), "0x7e1 [3] ff 00 10");
    }
}
