//! USB URLs: `usb://VID:PID[?serial=…][&interface=N][&header=…][&packing=…][&alignment=…]`.
//!
//! | part | meaning |
//! |---|---|
//! | `VID:PID` | vendor and product ID, hexadecimal (`1234:5678`) |
//! | `serial` | the device's serial number string, when several match |
//! | `interface` | the interface with the XCP endpoints (default: the first vendor-specific one with bulk endpoints both ways) |
//! | `header` | `len_byte` … `len_fill_word` (default `len_ctr_word`), or the A2L names |
//! | `packing` | `single` (default), `multiple` or `streaming` |
//! | `alignment` | 8 (default), 16, 32 or 64 bits, for `multiple` |
//! | `transfer` | the longest transfer in bytes (default 512) |
//! | `out_ep`, `in_ep` | the bulk OUT endpoint for commands and STIM, the bulk IN endpoints to read (comma-separated), e.g. `out_ep=0x01&in_ep=0x81,0x82` (default: the interface's) |

use std::fmt;
use std::str::FromStr;

use xcp_proto::tl::HeaderFormat;
use xcp_proto::tl::usb::{Alignment, Packing};

use crate::link::UsbSettings;

/// A parsed USB URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbUrl {
    /// Vendor ID.
    pub vendor: u16,
    /// Product ID.
    pub product: u16,
    /// Serial number to pick one of several devices.
    pub serial: Option<String>,
    /// The interface number.
    pub interface: Option<u8>,
    /// The bulk OUT endpoint for commands and STIM (default: the interface's first).
    pub out_endpoint: Option<u8>,
    /// The bulk IN endpoints to read (default: all of the interface's).
    pub in_endpoints: Vec<u8>,
    /// How transfers carry packets.
    pub settings: UsbSettings,
    /// Whether the URL said anything of the header, packing or alignment (else a master may
    /// take them from the A2L's XCP_ON_USB, as it takes the interface).
    pub framing_given: bool,
}

pub use xcp_transport::UrlError;

fn hex16(what: &str, v: &str) -> Result<u16, UrlError> {
    u16::from_str_radix(v.trim_start_matches("0x"), 16)
        .map_err(|_| UrlError(format!("{what} {v:?} is not a hexadecimal 16-bit ID")))
}

fn endpoint(key: &str, v: &str) -> Result<u8, UrlError> {
    let n = match v.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => v.parse(),
    };
    n.map_err(|_| UrlError(format!("{key}={v} is no endpoint address (0x01, 0x81)")))
}

impl FromStr for UsbUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix("usb://")
            .ok_or_else(|| UrlError("a USB URL starts with usb://".to_owned()))?;
        let (ids, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (v, p) = ids
            .split_once(':')
            .ok_or_else(|| UrlError("name the device: usb://VID:PID (hexadecimal)".to_owned()))?;
        let mut u = Self {
            vendor: hex16("the vendor ID", v)?,
            product: hex16("the product ID", p)?,
            serial: None,
            interface: None,
            out_endpoint: None,
            in_endpoints: Vec::new(),
            settings: UsbSettings::default(),
            framing_given: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| UrlError(format!("{pair}: write KEY=VALUE")))?;
            u.framing_given |= matches!(k, "header" | "packing" | "alignment");
            match k {
                "serial" => u.serial = Some(v.to_owned()),
                "interface" => {
                    u.interface =
                        Some(v.parse().map_err(|_| {
                            UrlError(format!("interface={v} is no interface number"))
                        })?);
                }
                "header" => {
                    u.settings.config.header = HeaderFormat::from_name(v).ok_or_else(|| {
                        UrlError(format!(
                            "header={v}: use len_byte, len_ctr_byte, len_fill_byte, len_word, len_ctr_word or len_fill_word"
                        ))
                    })?;
                }
                "packing" => {
                    u.settings.config.packing = match v {
                        "single" => Packing::Single,
                        "multiple" => Packing::Multiple,
                        "streaming" => Packing::Streaming,
                        _ => {
                            return Err(UrlError(format!(
                                "packing={v}: use single, multiple or streaming"
                            )));
                        }
                    };
                }
                "alignment" => {
                    u.settings.config.alignment = match v {
                        "8" => Alignment::Bits8,
                        "16" => Alignment::Bits16,
                        "32" => Alignment::Bits32,
                        "64" => Alignment::Bits64,
                        _ => return Err(UrlError(format!("alignment={v}: use 8, 16, 32 or 64"))),
                    };
                }
                "out_ep" => u.out_endpoint = Some(endpoint(k, v)?),
                "in_ep" => {
                    u.in_endpoints = v
                        .split(',')
                        .map(|e| endpoint(k, e))
                        .collect::<Result<_, _>>()?;
                }
                "transfer" => {
                    u.settings.transfer = v
                        .parse()
                        .ok()
                        .filter(|&n: &usize| (8..=65_536).contains(&n))
                        .ok_or_else(|| {
                            UrlError(format!("transfer={v}: a length from 8 to 65536 bytes"))
                        })?;
                }
                other => {
                    return Err(UrlError(format!(
                        "unknown USB URL parameter {other:?} (serial, interface, header, packing, alignment, transfer, out_ep, in_ep)"
                    )));
                }
            }
        }
        Ok(u)
    }
}

impl fmt::Display for UsbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.settings.config;
        write!(
            f,
            "usb://{:04x}:{:04x}?header={}&packing={}",
            self.vendor,
            self.product,
            c.header.a2l_name()["HEADER_".len()..].to_ascii_lowercase(),
            match c.packing {
                Packing::Single => "single",
                Packing::Multiple => "multiple",
                Packing::Streaming => "streaming",
            }
        )?;
        if c.packing == Packing::Multiple {
            write!(f, "&alignment={}", c.alignment.bytes() * 8)?;
        }
        if let Some(s) = &self.serial {
            write!(f, "&serial={s}")?;
        }
        if let Some(i) = self.interface {
            write!(f, "&interface={i}")?;
        }
        if let Some(e) = self.out_endpoint {
            write!(f, "&out_ep=0x{e:02x}")?;
        }
        for (i, e) in self.in_endpoints.iter().enumerate() {
            let sep = if i == 0 { "&in_ep=" } else { "," };
            write!(f, "{sep}0x{e:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_and_print_back() {
        let u: UsbUrl = "usb://1234:abcd?serial=X1&interface=2&header=len_fill_word&packing=multiple&alignment=32&transfer=64"
            .parse()
            .expect("parses");
        assert_eq!((u.vendor, u.product), (0x1234, 0xABCD));
        assert_eq!(u.serial.as_deref(), Some("X1"));
        assert_eq!(u.interface, Some(2));
        assert_eq!(u.settings.config.header, HeaderFormat::LenFillWord);
        assert_eq!(u.settings.config.packing, Packing::Multiple);
        assert_eq!(u.settings.config.alignment, Alignment::Bits32);
        assert_eq!(u.settings.transfer, 64);
        assert_eq!(
            u.to_string(),
            "usb://1234:abcd?header=len_fill_word&packing=multiple&alignment=32&serial=X1&interface=2"
        );
    }

    #[test]
    fn bad_urls_say_what_to_fix() {
        let err = |u: &str| u.parse::<UsbUrl>().expect_err(u).to_string();
        assert!(err("usb:1234:5678").contains("usb://"));
        assert!(err("usb://1234").contains("usb://VID:PID"));
        assert!(err("usb://12g4:5678").contains("vendor ID"));
        assert!(err("usb://1234:5678?packing=bulk").contains("single, multiple or streaming"));
        assert!(err("usb://1234:5678?alignment=12").contains("8, 16, 32 or 64"));
        assert!(err("usb://1234:5678?transfer=4").contains("8 to 65536"));
        assert!(err("usb://1234:5678?speed=high").contains("unknown USB URL parameter"));
        assert!(err("usb://1234:5678?in_ep=0x81,x").contains("no endpoint address"));
        let eps: UsbUrl = "usb://1234:5678?out_ep=0x02&in_ep=0x81,0x83"
            .parse()
            .expect("endpoints");
        assert_eq!(
            (eps.out_endpoint, eps.in_endpoints.as_slice()),
            (Some(2), &[0x81, 0x83][..])
        );
        assert!(eps.to_string().ends_with("&out_ep=0x02&in_ep=0x81,0x83"));
    }
}
