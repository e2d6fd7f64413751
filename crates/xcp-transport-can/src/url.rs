//! CAN URLs: `can://BACKEND/CHANNEL?master=0x7E0&slave=0x7E1&…`, and opening the bus they
//! name.
//!
//! | part | meaning |
//! |---|---|
//! | `virtual/NAME` | the in-process bus NAME ([`VirtualBus::named`]) |
//! | `udp_multicast/GROUP[:PORT]` | python-can's multicast bus (GROUP may be `default`: 239.74.163.2, port 43113) |
//! | `socketcan/IFACE` | a SocketCAN interface (`can0`, `vcan0`; Linux) |
//! | `slcan/DEVICE` | a serial-line adapter (`slcan/dev/ttyACM0`; the path's leading `/` may be left out) at `bitrate` (default 500 000) and, for CAN FD, `data_bitrate` |
//! | `master`, `slave` | CAN_ID_MASTER and CAN_ID_SLAVE; bit 31 set marks a 29-bit identifier, as in A2L |
//! | `broadcast` | CAN_ID_BROADCAST |
//! | `fd`, `brs` | CAN FD frames, with bit-rate switch (`true`/`false`) |
//! | `dlc=required` | MAX_DLC_REQUIRED: every frame padded to MAX_DLC |
//! | `max_dlc` | MAX_DLC (8 classic; 8 to 64 FD, default 64) |
//! | `padding` | the padding byte (default 0x00) |
//! | `bitrate`, `data_bitrate` | bit rates (the virtual bus paces frames to them) |
//! | `daq` | identifiers for DAQ lists 0, 1, … (comma-separated): the master moves each list there with SET_DAQ_ID and listens there too |

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use xcp_proto::tl::can::CanConfig;
use xcp_transport::TransportError;

use crate::any::AnyBus;
use crate::frame::CanId;
use crate::udp_multicast::{DEFAULT_GROUP_V4, DEFAULT_PORT, UdpMulticastBus, UdpMulticastConfig};
use crate::virtual_bus::{VirtualBus, VirtualConfig};
use crate::xcp::XcpCan;

/// Which bus a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The in-process bus of this name.
    Virtual(String),
    /// python-can's `udp_multicast` bus.
    UdpMulticast {
        /// The group.
        group: IpAddr,
        /// The port.
        port: u16,
    },
    /// A SocketCAN interface.
    SocketCan(String),
    /// A serial-line (slcan) adapter at this device path.
    Slcan(String),
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Virtual(name) => write!(f, "virtual/{name}"),
            Self::UdpMulticast {
                group: IpAddr::V6(g),
                port,
            } => write!(f, "udp_multicast/[{g}]:{port}"),
            Self::UdpMulticast { group, port } => write!(f, "udp_multicast/{group}:{port}"),
            Self::SocketCan(iface) => write!(f, "socketcan/{iface}"),
            Self::Slcan(path) => write!(f, "slcan/{}", path.trim_start_matches('/')),
        }
    }
}

/// A parsed CAN URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanUrl {
    /// The bus.
    pub backend: Backend,
    /// The XCP-on-CAN settings.
    pub xcp: XcpCan,
    /// Whether the URL named the identifiers (else they come from the A2L, or the
    /// defaults 0x7E0/0x7E1).
    pub ids_given: bool,
    /// Whether the URL said anything of the frames (`fd`, `max_dlc`, `dlc`, `padding`;
    /// else they too may come from the A2L).
    pub frames_given: bool,
    /// Nominal bit rate.
    pub bitrate: Option<u32>,
    /// CAN FD data bit rate.
    pub data_bitrate: Option<u32>,
    /// `daq=`: the identifier of DAQ list 0, 1, … (SET_DAQ_ID).
    pub daq_ids: Vec<CanId>,
}

pub use xcp_transport::UrlError;

fn number(key: &str, v: &str) -> Result<u64, UrlError> {
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| UrlError(format!("{key}={v} is not a number")))
}

fn flag(key: &str, v: &str) -> Result<bool, UrlError> {
    match v {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(UrlError(format!("{key}={v}: write true or false"))),
    }
}

fn can_id(key: &str, v: &str) -> Result<CanId, UrlError> {
    let raw = u32::try_from(number(key, v)?)
        .map_err(|_| UrlError(format!("{key}={v} does not fit 32 bits")))?;
    CanId::from_a2l(raw).map_err(|_| {
        UrlError(format!(
            "{key}={v} is no CAN identifier (11 bits, or 29 bits with bit 31 set)"
        ))
    })
}

impl FromStr for CanUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix("can://")
            .ok_or_else(|| UrlError("a CAN URL starts with can://".to_owned()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (backend, channel) = path.split_once('/').ok_or_else(|| {
            UrlError(
                "name the bus: can://BACKEND/CHANNEL (socketcan, slcan, udp_multicast, virtual)"
                    .to_owned(),
            )
        })?;
        let backend = match backend {
            "virtual" if !channel.is_empty() => Backend::Virtual(channel.to_owned()),
            "virtual" => return Err(UrlError("name the virtual bus: can://virtual/NAME".into())),
            "udp_multicast" => {
                let (group, port) = udp_channel(channel)?;
                Backend::UdpMulticast { group, port }
            }
            "socketcan" if !channel.is_empty() => Backend::SocketCan(channel.to_owned()),
            "slcan" if !channel.is_empty() => {
                Backend::Slcan(format!("/{}", channel.trim_start_matches('/')))
            }
            "socketcan" | "slcan" => {
                return Err(UrlError(format!(
                    "name the {backend} channel: can://socketcan/can0, can://slcan/dev/ttyACM0"
                )));
            }
            other => {
                return Err(UrlError(format!(
                    "unknown CAN backend {other:?}; use socketcan, slcan, udp_multicast or virtual"
                )));
            }
        };
        let mut xcp = XcpCan::default();
        let mut ids = (false, false);
        let mut frames_given = false;
        let mut bitrate = None;
        let mut data_bitrate = None;
        let mut max_dlc = None;
        let mut daq_ids = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| UrlError(format!("{pair}: write KEY=VALUE")))?;
            frames_given |= matches!(k, "fd" | "max_dlc" | "dlc" | "padding");
            match k {
                "master" => {
                    xcp.link.cmd_id = can_id(k, v)?;
                    ids.0 = true;
                }
                "slave" => {
                    xcp.link.res_id = can_id(k, v)?;
                    ids.1 = true;
                }
                "broadcast" => xcp.broadcast = Some(can_id(k, v)?),
                "fd" => xcp.link.fd = flag(k, v)?,
                "brs" => xcp.brs = flag(k, v)?,
                "dlc" if v == "required" => xcp.link.max_dlc_required = true,
                "dlc" => return Err(UrlError(format!("dlc={v}: the only value is dlc=required"))),
                "max_dlc" => {
                    max_dlc = Some(
                        u8::try_from(number(k, v)?)
                            .map_err(|_| UrlError(format!("max_dlc={v} is above 64")))?,
                    );
                }
                "padding" => {
                    xcp.link.padding = u8::try_from(number(k, v)?)
                        .map_err(|_| UrlError(format!("padding={v} is not a byte")))?;
                }
                "bitrate" => bitrate = Some(rate(k, v)?),
                "data_bitrate" => data_bitrate = Some(rate(k, v)?),
                "daq" => {
                    daq_ids = v
                        .split(',')
                        .map(|id| can_id(k, id))
                        .collect::<Result<_, _>>()?;
                }
                other => {
                    return Err(UrlError(format!(
                        "unknown CAN URL parameter {other:?} (master, slave, broadcast, fd, brs, dlc, max_dlc, padding, bitrate, data_bitrate, daq)"
                    )));
                }
            }
        }
        if ids.0 != ids.1 {
            return Err(UrlError(
                "give both master= and slave= identifiers, or neither".to_owned(),
            ));
        }
        xcp.link.max_dlc = max_dlc.unwrap_or(if xcp.link.fd { 64 } else { 8 });
        xcp.check().map_err(|e| UrlError(e.to_string()))?;
        if let Some(clash) = daq_ids.iter().find(|&&id| {
            id == xcp.link.cmd_id || id == xcp.link.res_id || Some(id) == xcp.broadcast
        }) {
            return Err(UrlError(format!(
                "daq: {clash} is already CAN_ID_MASTER, CAN_ID_SLAVE or CAN_ID_BROADCAST"
            )));
        }
        Ok(Self {
            backend,
            xcp,
            ids_given: ids.0,
            frames_given,
            bitrate,
            data_bitrate,
            daq_ids,
        })
    }
}

fn rate(key: &str, v: &str) -> Result<u32, UrlError> {
    u32::try_from(number(key, v)?)
        .ok()
        .filter(|&r| r > 0)
        .ok_or_else(|| UrlError(format!("{key}={v} is no bit rate")))
}

fn udp_channel(channel: &str) -> Result<(IpAddr, u16), UrlError> {
    let bad = || {
        UrlError(format!(
            "udp_multicast/{channel}: write a group, GROUP:PORT or default"
        ))
    };
    if channel.is_empty() || channel == "default" {
        return Ok((IpAddr::V4(DEFAULT_GROUP_V4), DEFAULT_PORT));
    }
    if let Some(v6) = channel.strip_prefix('[') {
        let (addr, port) = v6.split_once(']').ok_or_else(bad)?;
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => DEFAULT_PORT,
        };
        return Ok((ip, port));
    }
    if let Ok(ip) = channel.parse::<IpAddr>() {
        return Ok((ip, DEFAULT_PORT));
    }
    let (addr, port) = channel.rsplit_once(':').ok_or_else(bad)?;
    let ip: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    Ok((IpAddr::V4(ip), port.parse().map_err(|_| bad())?))
}

impl fmt::Display for CanUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.xcp.link;
        write!(
            f,
            "can://{}?master={:#x}&slave={:#x}",
            self.backend,
            l.cmd_id.to_a2l(),
            l.res_id.to_a2l()
        )?;
        if let Some(b) = self.xcp.broadcast {
            write!(f, "&broadcast={:#x}", b.to_a2l())?;
        }
        if l.fd {
            f.write_str("&fd=true")?;
            if self.xcp.brs {
                f.write_str("&brs=true")?;
            }
            if l.max_dlc != 64 {
                write!(f, "&max_dlc={}", l.max_dlc)?;
            }
        }
        if l.max_dlc_required {
            write!(f, "&dlc=required&padding={:#04x}", l.padding)?;
        }
        if let Some(r) = self.bitrate {
            write!(f, "&bitrate={r}")?;
        }
        if let Some(r) = self.data_bitrate {
            write!(f, "&data_bitrate={r}")?;
        }
        for (i, id) in self.daq_ids.iter().enumerate() {
            let sep = if i == 0 { "&daq=" } else { "," };
            write!(f, "{sep}{:#x}", id.to_a2l())?;
        }
        Ok(())
    }
}

impl CanUrl {
    /// Attaches a node to the bus the URL names.
    ///
    /// # Errors
    /// The backend's: a multicast group that cannot be joined, and so on.
    pub fn open(&self) -> Result<AnyBus, TransportError> {
        match &self.backend {
            Backend::Virtual(name) => {
                let bus = VirtualBus::named(
                    name,
                    VirtualConfig {
                        fd: true,
                        bitrate: self.bitrate,
                        data_bitrate: self.data_bitrate,
                        ..VirtualConfig::default()
                    },
                );
                Ok(AnyBus::Virtual(bus.node()))
            }
            Backend::UdpMulticast { group, port } => {
                let bus = UdpMulticastBus::open(UdpMulticastConfig {
                    group: *group,
                    port: *port,
                    fd: self.xcp.link.fd,
                    ..UdpMulticastConfig::default()
                })?;
                Ok(AnyBus::UdpMulticast(bus))
            }
            Backend::Slcan(path) => Ok(AnyBus::Slcan(crate::slcan::SlcanBus::open(
                path,
                self.bitrate.unwrap_or(500_000),
                if self.xcp.link.fd {
                    self.data_bitrate
                } else {
                    None
                },
                self.xcp.link.fd,
            )?)),
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            Backend::SocketCan(iface) => Ok(AnyBus::SocketCan(
                crate::socketcan_bus::SocketCanBus::open(iface, self.xcp.link.fd)?,
            )),
            #[cfg(not(all(target_os = "linux", feature = "socketcan")))]
            Backend::SocketCan(iface) => Err(TransportError::Config(format!(
                "socketcan/{iface}: this build has no SocketCAN (Linux with the socketcan feature)"
            ))),
        }
    }

    /// The link settings with what the URL left out taken from `link` (the A2L's
    /// XCP_ON_CAN): the identifiers, and CAN FD, MAX_DLC, MAX_DLC_REQUIRED and the padding
    /// when the URL said nothing of the frames.
    pub fn with_defaults(&self, link: &CanConfig) -> XcpCan {
        let mut x = self.xcp;
        if !self.ids_given {
            x.link.cmd_id = link.cmd_id;
            x.link.res_id = link.res_id;
        }
        if !self.frames_given {
            x.link.fd = link.fd;
            x.link.max_dlc = link.max_dlc;
            x.link.max_dlc_required = link.max_dlc_required;
            x.link.padding = link.padding;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_and_print_back() {
        let u: CanUrl = "can://udp_multicast/239.74.163.2?master=0x7E0&slave=0x7E1"
            .parse()
            .expect("parses");
        assert_eq!(
            u.backend,
            Backend::UdpMulticast {
                group: IpAddr::V4(DEFAULT_GROUP_V4),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            u.to_string(),
            "can://udp_multicast/239.74.163.2:43113?master=0x7e0&slave=0x7e1"
        );
        let fd: CanUrl =
            "can://virtual/bench?master=0x80000100&slave=0x80000101&fd=true&brs=true&dlc=required&padding=0x55&bitrate=500000&data_bitrate=2000000"
                .parse()
                .expect("parses");
        assert!(fd.xcp.link.cmd_id.extended && fd.xcp.link.fd && fd.xcp.brs);
        assert_eq!(fd.xcp.link.max_dlc, 64);
        assert_eq!(fd.to_string().parse::<CanUrl>(), Ok(fd.clone()));
        let daq: CanUrl = "can://virtual/x?daq=0x100,0x80000200".parse().expect("daq");
        assert_eq!(
            daq.daq_ids,
            [
                CanId::standard(0x100).expect("id"),
                CanId::extended(0x200).expect("id")
            ]
        );
        assert_eq!(
            daq.to_string(),
            "can://virtual/x?master=0x7e0&slave=0x7e1&daq=0x100,0x80000200"
        );
    }

    #[test]
    fn bad_urls_say_what_to_fix() {
        let err = |u: &str| u.parse::<CanUrl>().expect_err(u).to_string();
        assert!(err("can://virtual/x?master=0x800&slave=1").contains("no CAN identifier"));
        assert!(err("can://virtual/x?master=0x7E0").contains("both"));
        assert!(err("can://virtual/x?max_dlc=12").contains("MAX_DLC 12"));
        assert!(err("can://pcan/1").contains("unknown CAN backend"));
        assert!(err("can://socketcan/").contains("name the socketcan channel"));
        let slcan: CanUrl = "can://slcan/dev/ttyACM0?bitrate=250000"
            .parse()
            .expect("slcan");
        assert_eq!(slcan.backend, Backend::Slcan("/dev/ttyACM0".to_owned()));
        assert_eq!(
            slcan.to_string(),
            "can://slcan/dev/ttyACM0?master=0x7e0&slave=0x7e1&bitrate=250000"
        );
        let sc: CanUrl = "can://socketcan/vcan0".parse().expect("socketcan");
        assert_eq!(sc.backend, Backend::SocketCan("vcan0".to_owned()));
        assert!(err("can://virtual/x?speed=1").contains("unknown CAN URL parameter"));
        assert!(err("can://virtual/x?master=0x7E0&slave=0x7E0").contains("must differ"));
        assert!(err("can://virtual/x?daq=0x100,0x7E1").contains("already CAN_ID_MASTER"));
        assert!(err("can://virtual/x?daq=0x100,").contains("daq= is not a number"));
    }
}
