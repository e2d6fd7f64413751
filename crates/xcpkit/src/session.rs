//! A session by URL, with names and physical units.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use xcp_a2l::{A2l, LoadOptions, Object, ObjectKind};
use xcp_master::{
    Config, DaqOptions, DaqStats, DaqStream, ElementType, ListRequest, Master, Signal, block_on,
};
use xcp_proto::{Address, ByteOrder, IdType};
use xcp_transport_can::{CanTransport, CanUrl, XcpCan};
use xcp_transport_eth::{EthConfig, Protocol, connect};
use xcp_transport_sxi::{SxiSettings, SxiTransport, SxiUrl};
use xcp_transport_usb::UsbUrl;
use xcp_transport_usb::rusb_device::RusbDevice;

use crate::error::Error;

/// Where the slave is: `tcp://HOST:PORT`, `udp://HOST:PORT`, a CAN URL
/// (`can://BACKEND/CHANNEL?master=…&slave=…`, see [`CanUrl`]) or a serial line
/// (`sxi:///dev/ttyUSB0?baud=…&header=…&checksum=…`, see [`SxiUrl`]) or a USB device
/// (`usb://VID:PID?packing=…`, see [`UsbUrl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// XCP on TCP.
    Tcp(SocketAddr),
    /// XCP on UDP.
    Udp(SocketAddr),
    /// XCP on CAN.
    Can(Box<CanUrl>),
    /// XCP on SxI.
    Sxi(Box<SxiUrl>),
    /// XCP on USB.
    Usb(Box<UsbUrl>),
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        if scheme.eq_ignore_ascii_case("can") {
            let can: CanUrl = url
                .parse()
                .map_err(|e: xcp_transport_can::UrlError| bad(&e.to_string()))?;
            return Ok(Self::Can(Box::new(can)));
        }
        if scheme.eq_ignore_ascii_case("sxi") {
            let sxi: SxiUrl = url
                .parse()
                .map_err(|e: xcp_transport_sxi::UrlError| bad(&e.to_string()))?;
            if sxi.port == xcp_transport_sxi::Port::Pty {
                return Err(bad(
                    "a master opens a serial device (sxi:///dev/pts/N); sxi://pty makes a new one for a slave",
                ));
            }
            return Ok(Self::Sxi(Box::new(sxi)));
        }
        if scheme.eq_ignore_ascii_case("usb") {
            let usb: UsbUrl = url
                .parse()
                .map_err(|e: xcp_transport_usb::UrlError| bad(&e.to_string()))?;
            return Ok(Self::Usb(Box::new(usb)));
        }
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| bad(&format!("cannot resolve {rest}: {e}")))?
            .next()
            .ok_or_else(|| bad("the host has no address"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Self::Tcp(addr)),
            "udp" => Ok(Self::Udp(addr)),
            _ => Err(bad("unknown scheme")),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp://{a}"),
            Self::Udp(a) => write!(f, "udp://{a}"),
            Self::Can(c) => write!(f, "{c}"),
            Self::Sxi(x) => write!(f, "{x}"),
            Self::Usb(u) => write!(f, "{u}"),
        }
    }
}

/// How to open a session.
#[derive(Debug, Clone)]
pub struct Options {
    /// The A2L file; without one, [`Session::load_a2l_from_slave`] fetches it.
    pub a2l: Option<PathBuf>,
    /// Timeouts and repetitions of the master.
    pub master: Config,
    /// Socket settings.
    pub eth: EthConfig,
    /// Refuse an A2L whose EPK differs from the slave's (default `true`).
    pub check_epk: bool,
    /// The A2L MODULE to use; without it, the only one, else the one whose IF_DATA XCP
    /// describes the URL's transport.
    pub module: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            a2l: None,
            master: Config::default(),
            eth: EthConfig::default(),
            check_epk: true,
            module: None,
        }
    }
}

/// A value read by name: its physical values (one for a scalar), the array dimensions, and
/// the text of an ASCII string.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The object.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// Physical values, row-major.
    pub values: Vec<xcp_a2l::Value>,
    /// Dimensions (empty for a scalar).
    pub dims: Vec<usize>,
    /// The string, for an ASCII characteristic.
    pub text: Option<String>,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.text {
            return write!(f, "{t:?}");
        }
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        match self.values.as_slice() {
            [v] if self.dims.is_empty() => write!(f, "{v}{unit}"),
            vs => {
                let items: Vec<String> = vs.iter().map(ToString::to_string).collect();
                write!(f, "[{}]{unit}", items.join(", "))
            }
        }
    }
}

/// One measured column: a signal (or one element of an array) with its conversion.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name (`name[i]` for array elements).
    pub name: String,
    /// Unit.
    pub unit: String,
    compu: xcp_a2l::Compu,
}

impl Column {
    /// The conversion from raw to physical values.
    pub const fn compu(&self) -> &xcp_a2l::Compu {
        &self.compu
    }
}

/// One row in physical units.
#[derive(Debug, Clone, PartialEq)]
pub struct PhysRow {
    /// The DAQ list (index into [`Measurement::columns`]).
    pub list: usize,
    /// Slave timestamp in ns (linearised), when the list has timestamps.
    pub slave_ns: Option<u64>,
    /// The slave timestamp on the host clock, when the clock was correlated.
    pub host_aligned_ns: Option<u64>,
    /// Host time of arrival (Unix ns).
    pub host_ns: u64,
    /// One value per column.
    pub values: Vec<xcp_a2l::Value>,
}

/// Options of [`Session::measure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasureOptions {
    /// Measure every signal on this event instead of the one the A2L names.
    pub event: Option<u16>,
    /// Slave timestamps (default `true`).
    pub timestamps: bool,
    /// Correlate the slave clock with the host clock first, so rows carry
    /// [`PhysRow::host_aligned_ns`] (default `true`).
    pub correlate: bool,
    /// Stream options.
    pub daq: DaqOptions,
}

impl Default for MeasureOptions {
    fn default() -> Self {
        Self {
            event: None,
            timestamps: true,
            correlate: true,
            daq: DaqOptions::default(),
        }
    }
}

/// Running DAQ measurement by name.
#[derive(Debug)]
pub struct Measurement {
    stream: DaqStream,
    columns: Vec<Vec<Column>>,
    events: Vec<u16>,
}

impl Measurement {
    /// The columns of each list.
    pub fn columns(&self) -> &[Vec<Column>] {
        &self.columns
    }

    /// The event of each list.
    pub fn events(&self) -> &[u16] {
        &self.events
    }

    /// Waits up to `timeout` for rows, converted to physical values; `Ok(None)` when the time
    /// ran out.
    ///
    /// # Errors
    /// [`Error::Master`] once the stream has ended.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Vec<PhysRow>>, Error> {
        let Some(batch) = self.stream.recv_timeout(timeout)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(batch.len());
        for r in batch.rows() {
            let Some(cols) = self.columns.get(r.list) else {
                continue;
            };
            let values = cols
                .iter()
                .zip(r.values)
                .map(|(c, v)| {
                    c.compu
                        .to_physical(v.as_f64())
                        .unwrap_or(xcp_a2l::Value::Number(f64::NAN))
                })
                .collect();
            out.push(PhysRow {
                list: r.list,
                slave_ns: r.slave_ns,
                host_aligned_ns: r.host_aligned_ns,
                host_ns: r.host_ns,
                values,
            });
        }
        Ok(Some(out))
    }

    /// Counts: rows per list, drops, overloads.
    pub fn stats(&self) -> DaqStats {
        self.stream.stats()
    }
}

/// An XCP session by URL with an A2L: names in, physical values out.
#[derive(Debug)]
pub struct Session {
    pub(crate) master: Master,
    pub(crate) a2l: Option<A2l>,
    target: Target,
    slave_epk: Option<String>,
    check_epk: bool,
    /// CRC-32 of the A2L's text (recordings name the A2L they were made with).
    a2l_crc: Option<u32>,
    /// The A2L MODULE asked for.
    module: Option<String>,
}

fn text_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim_end().to_owned()
}

fn address(o: &Object) -> Result<Address, Error> {
    let a = o.address.ok_or_else(|| Error::Value {
        name: o.name.clone(),
        reason: "has no address in the A2L (virtual)".to_owned(),
    })?;
    Ok(Address::new(a.ext, a.addr))
}

/// The element type and the protocol byte order DAQ measures `o` with: the A2L's type as it
/// is, its byte order when it is one of the two plain ones.
fn signal_type(o: &Object) -> Result<(ElementType, ByteOrder), Error> {
    if o.datatype == ElementType::F16 {
        return Err(Error::Measure(format!(
            "{}: {} cannot be measured by DAQ here",
            o.name, o.datatype
        )));
    }
    let order = o.byte_order.plain().ok_or_else(|| {
        Error::Measure(format!(
            "{}: byte order {} is not supported for DAQ",
            o.name, o.byte_order
        ))
    })?;
    Ok((o.datatype, order))
}

/// The XCP-on-CAN settings of a CAN URL; what the URL leaves out (the identifiers; CAN FD,
/// MAX_DLC and MAX_DLC_REQUIRED) comes from the A2L's XCP_ON_CAN (its MODULE for CAN), else
/// the defaults (0x7E0/0x7E1, classic CAN).
fn can_settings(can: &CanUrl, a2l: Option<&A2l>) -> Result<XcpCan, Error> {
    if can.ids_given && can.frames_given {
        return Ok(can.xcp);
    }
    let Some(a2l) = a2l else {
        return Ok(can.xcp);
    };
    let found = a2l.xcp().transports.into_iter().find_map(|t| match t {
        xcp_a2l::ifdata::Transport::Can {
            cmd_id: Some(cmd),
            res_id: Some(res),
            extended,
            max_dlc_required,
            fd,
            ..
        } => Some((cmd, res, extended, max_dlc_required, fd)),
        _ => None,
    });
    let Some((cmd, res, extended, max_dlc_required, fd)) = found else {
        return Ok(can.xcp);
    };
    let id = |v: u32| {
        if extended {
            xcp_transport_can::CanId::extended(v)
        } else {
            xcp_transport_can::CanId::standard(v)
        }
    };
    let (Ok(cmd_id), Ok(res_id)) = (id(cmd), id(res)) else {
        return Err(Error::Url {
            url: can.to_string(),
            reason: format!(
                "the A2L's XCP_ON_CAN identifiers {cmd:#x}/{res:#x} are not CAN identifiers"
            ),
        });
    };
    let mut link = can.xcp.link;
    link.cmd_id = cmd_id;
    link.res_id = res_id;
    link.fd = fd.is_some();
    link.max_dlc = match fd {
        Some((Some(dlc), _)) => u8::try_from(dlc).unwrap_or(64).clamp(8, 64),
        Some((None, _)) => 64,
        None => 8,
    };
    link.max_dlc_required = max_dlc_required;
    let x = can.with_defaults(&link);
    x.check().map_err(|e| Error::Url {
        url: can.to_string(),
        reason: format!("with the A2L's XCP_ON_CAN: {e}"),
    })?;
    Ok(x)
}

/// The identifiers the A2L's XCP_ON_CAN fixes DAQ lists to (DAQ_LIST_CAN_ID … FIXED): a
/// master receives there as well as on CAN_ID_SLAVE.
fn fixed_daq_ids(a2l: Option<&A2l>) -> Vec<xcp_transport_can::CanId> {
    let Some(a2l) = a2l else {
        return Vec::new();
    };
    a2l.xcp()
        .transports
        .into_iter()
        .filter_map(|t| match t {
            xcp_a2l::ifdata::Transport::Can { daq_lists, .. } => Some(daq_lists),
            _ => None,
        })
        .flatten()
        .filter_map(|d| d.fixed)
        .filter_map(|id| xcp_transport_can::CanId::from_a2l(id).ok())
        .collect()
}

/// A name in the A2L's transport `block` that xcpkit has no setting for.
fn unknown_in_a2l(url: String, block: &str, what: &str, value: &str) -> Error {
    Error::Url {
        url,
        reason: format!("the A2L's {block} names {what} {value}, which xcpkit does not know"),
    }
}

/// The serial-line settings of an SxI URL; what the URL leaves out (header, checksum and
/// SYNC/ESC framing; the line rate) comes from the A2L's XCP_ON_SxI, else the defaults.
fn sxi_settings(sxi: &SxiUrl, a2l: Option<&A2l>) -> Result<SxiSettings, Error> {
    let mut s = sxi.settings;
    let found = a2l.and_then(|a| {
        a.xcp().transports.into_iter().find_map(|t| match t {
            xcp_a2l::ifdata::Transport::Sxi {
                baudrate,
                header,
                checksum,
                framing,
                ..
            } => Some((baudrate, header, checksum, framing)),
            _ => None,
        })
    });
    let Some((baud, header, checksum, framing)) = found else {
        return Ok(s);
    };
    let bad = |what: &str, v: &str| unknown_in_a2l(sxi.to_string(), "XCP_ON_SxI", what, v);
    if !sxi.framing_given {
        if let Some(h) = header {
            s.framing.header =
                xcp_proto::tl::HeaderFormat::from_name(&h).ok_or_else(|| bad("the header", &h))?;
        }
        if let Some(c) = checksum {
            s.framing.tail =
                xcp_proto::tl::Tail::from_name(&c).ok_or_else(|| bad("the checksum", &c))?;
        }
        if let Some((sync, esc)) = framing {
            if (sync, esc) != (xcp_proto::tl::sxi::SYNC, xcp_proto::tl::sxi::ESC) {
                return Err(bad(
                    "the framing bytes",
                    &format!(
                        "SYNC 0x{sync:02X}, ESC 0x{esc:02X} (xcpkit frames with 0x9A and 0x9B)"
                    ),
                ));
            }
            s.framing.sync_esc = true;
        }
    }
    if !sxi.baud_given
        && let Some(b) = baud.filter(|&b| b > 0)
    {
        s.baud = b;
    }
    Ok(s)
}

/// The USB settings of a USB URL; what the URL leaves out (header, packing and alignment;
/// the interface) comes from the A2L's XCP_ON_USB for the same device, else the defaults.
fn usb_settings(usb: &UsbUrl, a2l: Option<&A2l>) -> Result<UsbUrl, Error> {
    use xcp_proto::tl::usb::{Alignment, Packing};
    let mut u = usb.clone();
    let found = a2l.and_then(|a| {
        a.xcp().transports.into_iter().find_map(|t| match t {
            xcp_a2l::ifdata::Transport::Usb {
                vendor_id,
                product_id,
                interface,
                header,
                packing,
                alignment,
                out_endpoint,
                in_endpoints,
                ..
            } if vendor_id.is_none_or(|v| v == usb.vendor)
                && product_id.is_none_or(|p| p == usb.product) =>
            {
                Some((
                    interface,
                    header,
                    packing,
                    alignment,
                    out_endpoint,
                    in_endpoints,
                ))
            }
            _ => None,
        })
    });
    let Some((interface, header, packing, alignment, out_endpoint, in_endpoints)) = found else {
        return Ok(u);
    };
    let bad = |what: &str, v: &str| unknown_in_a2l(usb.to_string(), "XCP_ON_USB", what, v);
    u.interface = u.interface.or(interface);
    u.out_endpoint = u.out_endpoint.or(out_endpoint);
    if u.in_endpoints.is_empty() {
        u.in_endpoints = in_endpoints;
    }
    if !usb.framing_given {
        if let Some(h) = header {
            u.settings.config.header =
                xcp_proto::tl::HeaderFormat::from_name(&h).ok_or_else(|| bad("the header", &h))?;
        }
        if let Some(p) = packing {
            u.settings.config.packing = match p.as_str() {
                "MESSAGE_PACKING_SINGLE" => Packing::Single,
                "MESSAGE_PACKING_MULTIPLE" => Packing::Multiple,
                "MESSAGE_PACKING_STREAMING" => Packing::Streaming,
                _ => return Err(bad("the packing", &p)),
            };
        }
        if let Some(a) = alignment {
            u.settings.config.alignment = match a.as_str() {
                "ALIGNMENT_8_BIT" => Alignment::Bits8,
                "ALIGNMENT_16_BIT" => Alignment::Bits16,
                "ALIGNMENT_32_BIT" => Alignment::Bits32,
                "ALIGNMENT_64_BIT" => Alignment::Bits64,
                _ => return Err(bad("the alignment", &a)),
            };
        }
        u.framing_given = true;
    }
    Ok(u)
}

/// How an A2L is loaded for `target`: its MODULE by name, or by the URL's transport.
fn load_options(module: Option<String>, target: &Target) -> LoadOptions {
    LoadOptions {
        module,
        transport: Some(
            match target {
                Target::Tcp(_) => "TCP",
                Target::Udp(_) => "UDP",
                Target::Can(_) => "CAN",
                Target::Sxi(_) => "SxI",
                Target::Usb(_) => "USB",
            }
            .to_owned(),
        ),
        ..LoadOptions::default()
    }
}

impl Session {
    /// Connects to `url` (`tcp://HOST:PORT` or `udp://HOST:PORT`), sends CONNECT, reads the
    /// slave's EPK, and loads the A2L of `options` (checking its EPK).
    ///
    /// # Errors
    /// [`Error::Url`], [`Error::Connect`], the master's errors, [`Error::A2l`] and
    /// [`Error::EpkMismatch`].
    pub fn open(url: &str, options: &Options) -> Result<Self, Error> {
        let target: Target = url.parse()?;
        // The A2L is read once, before connecting: a CAN link may take its settings from it.
        let loaded = match &options.a2l {
            Some(path) => {
                let (a2l, warnings) =
                    A2l::load(path, &load_options(options.module.clone(), &target))?;
                for w in warnings {
                    tracing::warn!("{}: {w}", path.display());
                }
                let crc = std::fs::read(path).ok().map(|b| crc32fast::hash(&b));
                Some((a2l, crc))
            }
            None => None,
        };
        // A serial line takes what its URL leaves out from the A2L; the session (and a
        // recording's metadata) names the settings in force.
        let mut target = target;
        if let Target::Sxi(sxi) = &mut target {
            sxi.settings = sxi_settings(sxi, loaded.as_ref().map(|(a2l, _)| a2l))?;
            sxi.framing_given = true;
            sxi.baud_given = true;
        }
        if let Target::Usb(usb) = &mut target {
            **usb = usb_settings(usb, loaded.as_ref().map(|(a2l, _)| a2l))?;
        }
        let connect_error = |source| Error::Connect {
            url: url.to_owned(),
            source,
        };
        let mut master = match &target {
            Target::Tcp(a) | Target::Udp(a) => {
                let protocol = if matches!(target, Target::Tcp(_)) {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                };
                let link = connect(*a, protocol, &options.eth).map_err(connect_error)?;
                Master::new(link, options.master.clone())?
            }
            Target::Can(can) => {
                // The bus is opened for the settings in force, the A2L's included.
                // DAQ lists the URL moves (SET_DAQ_ID) or the A2L fixes to identifiers of
                // their own are received there too.
                let mut can = (**can).clone();
                let a2l = loaded.as_ref().map(|(a2l, _)| a2l);
                can.xcp = can_settings(&can, a2l)?;
                let xcp = can.xcp;
                let mut listen = can.daq_ids.clone();
                listen.extend(fixed_daq_ids(a2l));
                let bus = can.open().map_err(connect_error)?;
                let link = CanTransport::master(bus, xcp)
                    .map_err(connect_error)?
                    .listen_also(&listen);
                let mut config = options.master.clone();
                config.daq_can_ids.clone_from(&can.daq_ids);
                Master::new(link, config)?
            }
            Target::Sxi(sxi) => {
                let link = SxiTransport::from_url(sxi).map_err(connect_error)?;
                Master::new(link, options.master.clone())?
            }
            Target::Usb(usb) => {
                let device = RusbDevice::open(usb).map_err(connect_error)?;
                let link =
                    xcp_transport_usb::master(device, usb.settings).map_err(connect_error)?;
                Master::new(link, options.master.clone())?
            }
        };
        block_on(master.connect())?;
        // GET_ID 5 is the EPK; slaves without it simply have none to compare.
        let slave_epk = block_on(master.identification(IdType::from_u8(5)))
            .ok()
            .map(|b| text_of(&b));
        let mut s = Self {
            master,
            a2l: None,
            target,
            slave_epk,
            check_epk: options.check_epk,
            a2l_crc: None,
            module: options.module.clone(),
        };
        if let Some((a2l, crc)) = loaded {
            s.set_a2l(a2l)?;
            s.a2l_crc = crc;
        }
        Ok(s)
    }

    /// How this session's A2L is loaded: its MODULE by name, or by the URL's transport.
    fn load_options(&self) -> LoadOptions {
        load_options(self.module.clone(), &self.target)
    }

    /// Uses `a2l`, checking its EPK against the slave's.
    ///
    /// # Errors
    /// [`Error::EpkMismatch`].
    pub fn set_a2l(&mut self, a2l: A2l) -> Result<(), Error> {
        if self.check_epk
            && let (Some(slave), Some((epk, _))) = (&self.slave_epk, a2l.epk())
            && epk.trim() != slave.trim()
        {
            return Err(Error::EpkMismatch {
                a2l: epk,
                slave: slave.clone(),
            });
        }
        self.a2l = Some(a2l);
        Ok(())
    }

    /// The A2L text the slave serves (GET_ID 4, then UPLOAD).
    ///
    /// # Errors
    /// The master's errors; [`xcp_master::Error::Unsupported`] when the slave serves none.
    pub fn fetch_a2l(&mut self) -> Result<String, Error> {
        let bytes = block_on(self.master.identification(IdType::from_u8(4)))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Fetches the slave's A2L and uses it.
    ///
    /// # Errors
    /// As [`fetch_a2l`](Self::fetch_a2l) and the A2L's own.
    pub fn load_a2l_from_slave(&mut self) -> Result<(), Error> {
        let text = self.fetch_a2l()?;
        let (a2l, _) = A2l::from_text(&text, &self.load_options())?;
        self.set_a2l(a2l)?;
        self.a2l_crc = Some(crc32fast::hash(text.as_bytes()));
        Ok(())
    }

    /// Where the slave is.
    pub const fn target(&self) -> &Target {
        &self.target
    }

    /// The slave's EPK (GET_ID 5), when it reports one.
    pub fn slave_epk(&self) -> Option<&str> {
        self.slave_epk.as_deref()
    }

    /// CRC-32 of the A2L's text, when one is in use.
    pub const fn a2l_crc(&self) -> Option<u32> {
        self.a2l_crc
    }

    /// The A2L in use.
    pub const fn a2l(&self) -> Option<&A2l> {
        self.a2l.as_ref()
    }

    /// The master, for everything by address.
    pub const fn master(&mut self) -> &mut Master {
        &mut self.master
    }

    /// The A2L object `name`.
    ///
    /// # Errors
    /// No A2L yet, or no such object (with suggestions).
    pub fn object(&self, name: &str) -> Result<Object, Error> {
        let a2l = self.a2l.as_ref().ok_or_else(|| Error::Value {
            name: name.to_owned(),
            reason: "no A2L: give one, or fetch it from the slave".to_owned(),
        })?;
        Ok(a2l.object(name)?)
    }

    /// Reads `name` and converts it to physical values.
    ///
    /// # Errors
    /// As [`object`](Self::object) and the upload.
    pub fn read(&mut self, name: &str) -> Result<Reading, Error> {
        let o = self.object(name)?;
        let at = address(&o)?;
        let bytes = block_on(self.master.upload(at, o.size()))?;
        let values_at = bytes.get(o.values_offset()..).unwrap_or_default();
        if matches!(o.kind, ObjectKind::Ascii) {
            return Ok(Reading {
                name: o.name.clone(),
                unit: o.unit.clone(),
                values: Vec::new(),
                dims: o.dims.clone(),
                text: Some(text_of(values_at)),
            });
        }
        let values = (0..o.count())
            .map(|i| o.physical_at(values_at, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Reading {
            name: o.name.clone(),
            unit: o.unit.clone(),
            values,
            dims: o.dims.clone(),
            text: None,
        })
    }

    /// Writes physical `values` (one per element; text for verbal conversions) to `name`.
    ///
    /// # Errors
    /// Read-only objects, a wrong number of values, values out of the limits or not
    /// invertible ([`Error::A2l`]), and the download's errors.
    pub fn write(&mut self, name: &str, values: &[xcp_a2l::Value]) -> Result<(), Error> {
        let o = self.object(name)?;
        if !o.writable {
            return Err(Error::Value {
                name: o.name,
                reason: "is read-only in the A2L".to_owned(),
            });
        }
        if values.len() != o.count() {
            return Err(Error::Value {
                name: o.name.clone(),
                reason: format!("takes {} value(s), {} given", o.count(), values.len()),
            });
        }
        let mut bytes = Vec::with_capacity(o.count() * o.datatype.size());
        for v in values {
            bytes.extend_from_slice(&o.encode(v)?);
        }
        let at = address(&o)?;
        let at = self.master.offset(at, o.values_offset())?;
        block_on(self.master.download(at, &bytes))?;
        Ok(())
    }

    /// Writes a value given as text: a number, a verbal value, `[a, b, …]` for arrays, or the
    /// string itself for an ASCII characteristic.
    ///
    /// # Errors
    /// As [`write`](Self::write); a text that is none of these.
    pub fn write_str(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let o = self.object(name)?;
        if matches!(o.kind, ObjectKind::Ascii) {
            let mut bytes = text.as_bytes().to_vec();
            if bytes.len() > o.size() {
                return Err(Error::Value {
                    reason: format!("holds {} bytes, the text has {}", o.size(), bytes.len()),
                    name: o.name,
                });
            }
            bytes.resize(o.size(), 0);
            if !o.writable {
                return Err(Error::Value {
                    name: o.name,
                    reason: "is read-only in the A2L".to_owned(),
                });
            }
            let at = address(&o)?;
            block_on(self.master.download(at, &bytes))?;
            return Ok(());
        }
        let inner = text
            .trim()
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        let values: Vec<xcp_a2l::Value> = inner
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<f64>().map_or_else(
                    |_| xcp_a2l::Value::Text(t.trim_matches('"').to_owned()),
                    xcp_a2l::Value::Number,
                )
            })
            .collect();
        self.write(name, &values)
    }

    /// Starts DAQ on `names` (arrays become one column per element), each on the event its
    /// A2L object names (or `options.event`), one list per event.
    ///
    /// # Errors
    /// A name without address or event, a type DAQ cannot carry, and the master's errors.
    pub fn measure(
        &mut self,
        names: &[&str],
        options: MeasureOptions,
    ) -> Result<Measurement, Error> {
        let (m, _) = self.prepare_measure(names, options)?;
        block_on(self.master.start_daq())?;
        Ok(m)
    }

    /// Everything of [`measure`](Self::measure) but starting: the lists written to the slave,
    /// the stream ready, and the clock correlation if one was made.
    pub(crate) fn prepare_measure(
        &mut self,
        names: &[&str],
        options: MeasureOptions,
    ) -> Result<(Measurement, Option<xcp_master::ClockCorrelation>), Error> {
        let mut lists: Vec<(u16, Vec<Signal>, Vec<Column>)> = Vec::new();
        for name in names {
            let o = self.object(name)?;
            let event = options
                .event
                .or_else(|| o.events.first().copied())
                .ok_or_else(|| {
                    Error::Measure(format!(
                        "{name} has no DAQ event in the A2L; choose one (--event N)"
                    ))
                })?;
            let (ty, order) = signal_type(&o)?;
            let at = address(&o)?;
            let n = o.count();
            let i = match lists.iter().position(|l| l.0 == event) {
                Some(i) => i,
                None => {
                    lists.push((event, Vec::new(), Vec::new()));
                    lists.len() - 1
                }
            };
            for k in 0..n {
                let elem = if n > 1 || !o.dims.is_empty() {
                    format!("{}[{k}]", o.name)
                } else {
                    o.name.clone()
                };
                let addr = self.master.offset(at, o.values_offset() + k * ty.size())?;
                lists[i].1.push(Signal {
                    name: elem.clone(),
                    addr,
                    ty,
                    order,
                });
                lists[i].2.push(Column {
                    name: elem,
                    unit: o.unit.clone(),
                    compu: o.compu.clone(),
                });
            }
        }
        let mut correlation = None;
        if options.correlate && options.timestamps {
            // Slaves without a clock measure all the same, on host time only.
            match block_on(self.master.correlate_clock(16)) {
                Ok(c) => correlation = Some(c),
                Err(e) => tracing::info!("no clock correlation: {e}"),
            }
        }
        let requests: Vec<ListRequest> = lists
            .iter()
            .map(|(event, signals, _)| ListRequest {
                event: *event,
                prescaler: 1,
                priority: 0,
                timestamps: options.timestamps,
                stim: false,
                signals: signals.clone(),
            })
            .collect();
        let stream = block_on(self.master.setup_daq(&requests, options.daq))?;
        Ok((
            Measurement {
                stream,
                events: lists.iter().map(|l| l.0).collect(),
                columns: lists.into_iter().map(|l| l.2).collect(),
            },
            correlation,
        ))
    }

    /// Stops DAQ.
    ///
    /// # Errors
    /// The master's.
    pub fn stop(&mut self) -> Result<(), Error> {
        block_on(self.master.stop_daq())?;
        Ok(())
    }

    /// DISCONNECT.
    ///
    /// # Errors
    /// The master's.
    pub fn close(mut self) -> Result<(), Error> {
        block_on(self.master.disconnect())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_a2ls_fixed_daq_list_identifiers_are_received() {
        let text = xcp_a2l::synth::Spec::default().generate();
        let (a2l, _) = A2l::from_text(&text, &LoadOptions::default()).expect("synth A2L");
        // DAQ_LIST_CAN_ID 0 FIXED 0x80000710; list 1 is VARIABLE and has no identifier yet.
        assert_eq!(
            fixed_daq_ids(Some(&a2l)),
            [xcp_transport_can::CanId::extended(0x710).expect("id")]
        );
        assert!(fixed_daq_ids(None).is_empty());
    }

    #[test]
    fn a_usb_url_takes_what_it_leaves_out_from_the_a2l() {
        use xcp_proto::tl::usb::{Alignment, Packing};
        let text = xcp_a2l::synth::Spec::default().generate();
        let (a2l, _) = A2l::from_text(&text, &LoadOptions::default()).expect("synth A2L");
        // XCP_ON_USB 1234:5678, interface 1, HEADER_LEN_FILL_WORD, multiple packing, 32 bits.
        let bare: UsbUrl = "usb://1234:5678".parse().expect("url");
        let u = usb_settings(&bare, Some(&a2l)).expect("from the A2L");
        assert_eq!(u.interface, Some(1));
        assert_eq!(
            (u.out_endpoint, u.in_endpoints.as_slice()),
            (Some(0x01), &[0x81][..])
        );
        assert_eq!(
            u.settings.config.header,
            xcp_proto::tl::HeaderFormat::LenFillWord
        );
        assert_eq!(u.settings.config.packing, Packing::Multiple);
        assert_eq!(u.settings.config.alignment, Alignment::Bits32);
        // What the URL says stands; another device's block is not taken.
        let given: UsbUrl = "usb://1234:5678?packing=streaming&interface=3"
            .parse()
            .expect("url");
        let u = usb_settings(&given, Some(&a2l)).expect("the URL's");
        assert_eq!(
            (u.interface, u.settings.config.packing),
            (Some(3), Packing::Streaming)
        );
        let other: UsbUrl = "usb://abcd:0001".parse().expect("url");
        assert_eq!(usb_settings(&other, Some(&a2l)).expect("unchanged"), other);
    }
}
