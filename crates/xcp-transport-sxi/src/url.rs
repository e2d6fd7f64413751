//! SxI URLs: `sxi:///dev/ttyUSB0?baud=115200&header=len_ctr_word&checksum=none&framing=sync_esc`.
//!
//! | part | meaning |
//! |---|---|
//! | `/dev/…` (or `COM3`) | the serial device |
//! | `pty` | a new pseudo-terminal (a slave's end: it prints the path a master opens) |
//! | `baud` | the line rate (default 115 200) |
//! | `header` | `len_byte`, `len_ctr_byte`, `len_fill_byte`, `len_word`, `len_ctr_word` (default), `len_fill_word`, or the A2L names |
//! | `checksum` | `none` (default), `byte`, `word`, or the A2L names |
//! | `framing` | `sync_esc` for SYNC/ESC framing, `none` (default) |
//! | `pace` | `true`: send no faster than `baud` allows (a pseudo-terminal is otherwise as fast as memory) |
//! | `spin_us` | after a packet, poll the line this many microseconds before blocking ([`SxiSettings::spin`]) |

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use xcp_proto::tl::sxi::SxiConfig;
use xcp_proto::tl::{HeaderFormat, Tail};

/// Which line a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    /// A serial device by path.
    Device(String),
    /// A new pseudo-terminal.
    Pty,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(p) if p.starts_with('/') => write!(f, "sxi://{p}"),
            Self::Device(p) => write!(f, "sxi:///{p}"),
            Self::Pty => f.write_str("sxi://pty"),
        }
    }
}

/// How a serial line carries XCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SxiSettings {
    /// Header, checksum tail and SYNC/ESC framing.
    pub framing: SxiConfig,
    /// The line rate in bit/s.
    pub baud: u32,
    /// Send no faster than the line rate allows (ten bits per byte).
    pub pace: bool,
    /// The largest XCP packet either side sends (MAX_CTO and MAX_DTO must not exceed it);
    /// the header's LEN field caps it (255 for the byte headers).
    pub max_packet: usize,
    /// How long a write may wait for the line to take bytes before the peer counts as
    /// stalled.
    pub write_timeout: Duration,
    /// Bytes of an unfinished frame are dropped (and counted) after the line has been
    /// quiet this long: a lost byte costs one frame, never the link.
    pub quiet: Duration,
    /// After a packet arrives, the receiver polls the line this long for the next one before
    /// it blocks: a command that follows within it is read without waking a thread, for a
    /// core busy at most this long per packet. Zero by default.
    pub spin: Duration,
}

impl Default for SxiSettings {
    fn default() -> Self {
        Self {
            framing: SxiConfig::default(),
            baud: 115_200,
            pace: false,
            max_packet: 1024,
            write_timeout: Duration::from_millis(500),
            quiet: Duration::from_millis(20),
            spin: Duration::ZERO,
        }
    }
}

impl SxiSettings {
    /// The largest packet the header can carry within [`max_packet`](Self::max_packet).
    pub fn packet_limit(&self) -> usize {
        self.max_packet
            .min(self.framing.header.max_packet_len())
            .max(1)
    }
}

impl fmt::Display for SxiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} Bd, {}, {}{}",
            self.baud,
            self.framing.header,
            self.framing.tail,
            if self.framing.sync_esc {
                ", SYNC/ESC framing"
            } else {
                ""
            }
        )
    }
}

/// A parsed SxI URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SxiUrl {
    /// The line.
    pub port: Port,
    /// The settings.
    pub settings: SxiSettings,
    /// Whether the URL said anything of the framing (`header`, `checksum`, `framing`; else
    /// a master may take them from the A2L's XCP_ON_SxI).
    pub framing_given: bool,
    /// Whether the URL gave `baud`.
    pub baud_given: bool,
}

pub use xcp_transport::UrlError;

impl FromStr for SxiUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix("sxi://")
            .ok_or_else(|| UrlError("an SxI URL starts with sxi://".to_owned()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let port = match path {
            "pty" | "/pty" => Port::Pty,
            "" | "/" => {
                return Err(UrlError(
                    "name the serial device: sxi:///dev/ttyUSB0, or sxi://pty for a new pseudo-terminal"
                        .to_owned(),
                ));
            }
            p if p.starts_with('/') => Port::Device(p.to_owned()),
            p => Port::Device(p.to_owned()),
        };
        let mut settings = SxiSettings::default();
        let mut framing_given = false;
        let mut baud_given = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| UrlError(format!("{pair}: write KEY=VALUE")))?;
            match k {
                "baud" => {
                    settings.baud = v
                        .parse()
                        .ok()
                        .filter(|&b| b > 0)
                        .ok_or_else(|| UrlError(format!("baud={v} is no line rate")))?;
                    baud_given = true;
                }
                "header" => {
                    settings.framing.header = HeaderFormat::from_name(v).ok_or_else(|| {
                        UrlError(format!(
                            "header={v}: use len_byte, len_ctr_byte, len_fill_byte, len_word, len_ctr_word or len_fill_word"
                        ))
                    })?;
                    framing_given = true;
                }
                "checksum" => {
                    settings.framing.tail = Tail::from_name(v)
                        .ok_or_else(|| UrlError(format!("checksum={v}: use none, byte or word")))?;
                    framing_given = true;
                }
                "framing" => {
                    settings.framing.sync_esc = match v {
                        "sync_esc" | "true" => true,
                        "none" | "false" => false,
                        _ => return Err(UrlError(format!("framing={v}: use sync_esc or none"))),
                    };
                    framing_given = true;
                }
                "pace" => {
                    settings.pace = match v {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(UrlError(format!("pace={v}: write true or false"))),
                    };
                }
                "spin_us" => {
                    settings.spin = Duration::from_micros(
                        v.parse()
                            .map_err(|_| UrlError(format!("spin_us={v} is no number")))?,
                    );
                }
                other => {
                    return Err(UrlError(format!(
                        "unknown SxI URL parameter {other:?} (baud, header, checksum, framing, pace, spin_us)"
                    )));
                }
            }
        }
        Ok(Self {
            port,
            settings,
            framing_given,
            baud_given,
        })
    }
}

impl fmt::Display for SxiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        write!(
            f,
            "{}?baud={}&header={}&checksum={}",
            self.port,
            s.baud,
            s.framing.header.a2l_name()["HEADER_".len()..].to_ascii_lowercase(),
            match s.framing.tail {
                Tail::None => "none",
                Tail::Byte => "byte",
                Tail::Word => "word",
            }
        )?;
        if s.framing.sync_esc {
            f.write_str("&framing=sync_esc")?;
        }
        if s.pace {
            f.write_str("&pace=true")?;
        }
        if !s.spin.is_zero() {
            write!(f, "&spin_us={}", s.spin.as_micros())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_and_print_back() {
        let u: SxiUrl =
            "sxi:///dev/ttyUSB0?baud=921600&header=len_ctr_byte&checksum=word&framing=sync_esc"
                .parse()
                .expect("parses");
        assert_eq!(u.port, Port::Device("/dev/ttyUSB0".to_owned()));
        assert_eq!(u.settings.baud, 921_600);
        assert_eq!(u.settings.framing.header, HeaderFormat::LenCtrByte);
        assert_eq!(u.settings.framing.tail, Tail::Word);
        assert!(u.settings.framing.sync_esc && u.framing_given && u.baud_given);
        assert_eq!(u.settings.packet_limit(), 255);
        assert_eq!(u.to_string().parse::<SxiUrl>(), Ok(u.clone()));
        let pty: SxiUrl = "sxi://pty".parse().expect("pty");
        assert_eq!(pty.port, Port::Pty);
        assert!(!pty.framing_given && !pty.baud_given);
        assert_eq!(
            pty.to_string(),
            "sxi://pty?baud=115200&header=len_ctr_word&checksum=none"
        );
        let a2l: SxiUrl = "sxi:///dev/ttyS0?header=HEADER_LEN_WORD&checksum=CHECKSUM_BYTE"
            .parse()
            .expect("A2L names");
        assert_eq!(a2l.settings.framing.header, HeaderFormat::LenWord);
        assert_eq!(a2l.settings.framing.tail, Tail::Byte);
    }

    #[test]
    fn bad_urls_say_what_to_fix() {
        let err = |u: &str| u.parse::<SxiUrl>().expect_err(u).to_string();
        assert!(err("serial:///dev/ttyS0").contains("sxi://"));
        assert!(err("sxi://").contains("name the serial device"));
        assert!(err("sxi:///dev/ttyS0?baud=fast").contains("no line rate"));
        assert!(err("sxi:///dev/ttyS0?header=len").contains("len_ctr_word"));
        assert!(err("sxi:///dev/ttyS0?checksum=crc").contains("none, byte or word"));
        assert!(err("sxi:///dev/ttyS0?framing=hdlc").contains("sync_esc"));
        assert!(err("sxi:///dev/ttyS0?parity=even").contains("unknown SxI URL parameter"));
        assert!(err("sxi:///dev/ttyS0?spin_us=-1").contains("spin_us=-1 is no number"));
        let spin: SxiUrl = "sxi:///dev/ttyS0?spin_us=100".parse().expect("spin");
        assert_eq!(spin.settings.spin, Duration::from_micros(100));
        assert!(spin.to_string().ends_with("&spin_us=100"));
    }
}
