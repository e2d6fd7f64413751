//! Typed access to `IF_DATA XCP`: what a master needs to connect and configure DAQ.
//!
//! `a2lfile` parses IF_DATA generically against the file's A2ML (or our built-in one); this
//! module reads that tree by the standard's layout: positional values of a block in order,
//! optional parts by tag. Fields a file leaves out are `None`; values of the wrong type are
//! skipped, never a panic.

use a2lfile::{GenericIfData, GenericIfDataTaggedItem};
use xcp_proto::{Nanos, TimeUnit};

/// A value of the generic tree, flattened.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Num(f64),
    Text(String),
    Enum(String),
}

fn number(g: &GenericIfData) -> Option<f64> {
    Some(match g {
        GenericIfData::Char(_, (v, _)) => f64::from(*v),
        GenericIfData::Int(_, (v, _)) => f64::from(*v),
        GenericIfData::Long(_, (v, _)) => f64::from(*v),
        GenericIfData::Int64(_, (v, _)) => *v as f64,
        GenericIfData::UChar(_, (v, _)) => f64::from(*v),
        GenericIfData::UInt(_, (v, _)) => f64::from(*v),
        GenericIfData::ULong(_, (v, _)) => f64::from(*v),
        GenericIfData::UInt64(_, (v, _)) => *v as f64,
        GenericIfData::Float(_, v) => f64::from(*v),
        GenericIfData::Double(_, v) => *v,
        _ => return None,
    })
}

/// Positional values in order, not descending into tagged parts.
fn leaves(g: &GenericIfData, out: &mut Vec<Leaf>) {
    match g {
        GenericIfData::String(_, s) => out.push(Leaf::Text(s.clone())),
        GenericIfData::EnumItem(_, s) => out.push(Leaf::Enum(s.clone())),
        GenericIfData::Struct(_, _, items)
        | GenericIfData::Sequence(items)
        | GenericIfData::Block { items, .. } => {
            items.iter().for_each(|i| leaves(i, out));
        }
        GenericIfData::Array(items) => {
            // char[n] arrives as an array of chars in some versions: make it a text.
            let chars: Option<String> = items
                .iter()
                .map(|i| number(i).and_then(|v| u(Some(v))).and_then(char::from_u32))
                .collect();
            match chars {
                Some(s) if !items.is_empty() => {
                    out.push(Leaf::Text(s.trim_end_matches('\0').to_owned()))
                }
                _ => items.iter().for_each(|i| leaves(i, out)),
            }
        }
        other => {
            if let Some(v) = number(other) {
                out.push(Leaf::Num(v));
            }
        }
    }
}

fn flat(g: &GenericIfData) -> Vec<Leaf> {
    let mut v = Vec::new();
    leaves(g, &mut v);
    v
}

/// Tagged items named `tag` anywhere below `g`, not descending into items named in `stop`.
fn find<'a>(
    g: &'a GenericIfData,
    tag: &str,
    stop: &[&str],
    out: &mut Vec<&'a GenericIfDataTaggedItem>,
) {
    match g {
        GenericIfData::TaggedStruct(map) | GenericIfData::TaggedUnion(map) => {
            for (k, items) in map {
                for item in items {
                    if k == tag {
                        out.push(item);
                    }
                    if !stop.contains(&k.as_str()) {
                        find(&item.data, tag, stop, out);
                    }
                }
            }
        }
        GenericIfData::Struct(_, _, items)
        | GenericIfData::Sequence(items)
        | GenericIfData::Block { items, .. }
        | GenericIfData::Array(items) => {
            items.iter().for_each(|i| find(i, tag, stop, out));
        }
        _ => {}
    }
}

fn all<'a>(g: &'a GenericIfData, tag: &str, stop: &[&str]) -> Vec<&'a GenericIfDataTaggedItem> {
    let mut v = Vec::new();
    find(g, tag, stop, &mut v);
    v
}

fn first<'a>(
    g: &'a GenericIfData,
    tag: &str,
    stop: &[&str],
) -> Option<&'a GenericIfDataTaggedItem> {
    all(g, tag, stop).into_iter().next()
}

fn num_at(l: &[Leaf], i: usize) -> Option<f64> {
    match l.get(i) {
        Some(Leaf::Num(v)) => Some(*v),
        _ => None,
    }
}

fn enum_at(l: &[Leaf], i: usize) -> Option<String> {
    match l.get(i) {
        Some(Leaf::Enum(s)) => Some(s.clone()),
        _ => None,
    }
}

fn text_at(l: &[Leaf], i: usize) -> Option<String> {
    match l.get(i) {
        Some(Leaf::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "values from u8..u32 fields of the grammar"
)]
fn u(v: Option<f64>) -> Option<u32> {
    v.filter(|v| *v >= 0.0 && *v <= f64::from(u32::MAX))
        .map(|v| v as u32)
}

fn u16v(v: Option<f64>) -> Option<u16> {
    u(v).and_then(|v| u16::try_from(v).ok())
}

fn tagged_num(g: &GenericIfData, tag: &str) -> Option<u32> {
    first(g, tag, &[]).and_then(|i| u(num_at(&flat(&i.data), 0)))
}

/// The event channels a measurement's `IF_DATA XCP` lists (FIXED_EVENT_LIST, or the
/// AVAILABLE/DEFAULT lists of VARIABLE).
pub(crate) fn daq_events(d: &a2lfile::IfData) -> Vec<u16> {
    let Some(g) = &d.ifdata_items else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for block in all(g, "DAQ_EVENT", &[]) {
        for e in all(&block.data, "EVENT", &[]) {
            if let Some(v) = u16v(num_at(&flat(&e.data), 0)) {
                out.push(v);
            }
        }
    }
    out
}

/// PROTOCOL_LAYER.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProtocolLayer {
    /// Protocol layer version.
    pub version: Option<u16>,
    /// T1 … T7 in ms.
    pub timeouts_ms: [Option<u16>; 7],
    /// MAX_CTO.
    pub max_cto: Option<u16>,
    /// MAX_DTO.
    pub max_dto: Option<u16>,
    /// `BYTE_ORDER_MSB_LAST` (Intel) or `BYTE_ORDER_MSB_FIRST` (Motorola).
    pub byte_order: Option<String>,
    /// `ADDRESS_GRANULARITY_BYTE`, `_WORD` or `_DWORD`.
    pub address_granularity: Option<String>,
    /// OPTIONAL_CMD entries.
    pub optional_commands: Vec<String>,
}

/// One EVENT of the DAQ block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// EVENT_CHANNEL_NAME.
    pub name: String,
    /// EVENT_CHANNEL_SHORT_NAME.
    pub short_name: String,
    /// EVENT_CHANNEL_NUMBER.
    pub channel: Option<u16>,
    /// `DAQ`, `STIM` or `DAQ_STIM`.
    pub direction: Option<String>,
    /// MAX_DAQ_LIST.
    pub max_daq_lists: Option<u16>,
    /// TIME_CYCLE (0 for sporadic).
    pub time_cycle: Option<u16>,
    /// TIME_UNIT.
    pub time_unit: Option<TimeUnit>,
    /// PRIORITY.
    pub priority: Option<u16>,
}

/// The DAQ block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Daq {
    /// `STATIC` or `DYNAMIC`.
    pub config_type: Option<String>,
    /// MAX_DAQ.
    pub max_daq: Option<u16>,
    /// MAX_EVENT_CHANNEL.
    pub max_event_channel: Option<u16>,
    /// MIN_DAQ.
    pub min_daq: Option<u16>,
    /// The identification field type (`IDENTIFICATION_FIELD_TYPE_ABSOLUTE`, …).
    pub id_field: Option<String>,
    /// MAX_ODT_ENTRY_SIZE_DAQ.
    pub max_odt_entry_size: Option<u16>,
    /// The overload indication.
    pub overload: Option<String>,
    /// TIMESTAMP_SUPPORTED: ticks, size (`SIZE_DWORD`, …) and unit (`None` when the file
    /// names none this crate knows).
    pub timestamp: Option<(u16, String, Option<TimeUnit>)>,
    /// PRESCALER_SUPPORTED.
    pub prescaler: bool,
    /// RESUME_SUPPORTED.
    pub resume: bool,
    /// The events.
    pub events: Vec<Event>,
}

/// A transport-layer block and the connection it describes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Transport {
    /// XCP_ON_TCP_IP or XCP_ON_UDP_IP.
    Ip {
        /// `"TCP"` or `"UDP"`.
        protocol: &'static str,
        /// Transport layer version.
        version: Option<u16>,
        /// Port.
        port: Option<u16>,
        /// ADDRESS, HOST_NAME or IPV6.
        host: Option<String>,
    },
    /// XCP_ON_CAN.
    Can {
        /// Transport layer version.
        version: Option<u16>,
        /// CAN_ID_MASTER (master → slave) without the flag bits.
        cmd_id: Option<u32>,
        /// CAN_ID_SLAVE (slave → master) without the flag bits.
        res_id: Option<u32>,
        /// CAN_ID_BROADCAST.
        broadcast_id: Option<u32>,
        /// Bit 31 of CAN_ID_MASTER: a 29-bit identifier.
        extended: bool,
        /// BAUDRATE in bit/s.
        baudrate: Option<u32>,
        /// MAX_DLC_REQUIRED: pad every frame.
        max_dlc_required: bool,
        /// CAN FD: MAX_DLC and the data-phase bit rate.
        fd: Option<(Option<u16>, Option<u32>)>,
        /// DAQ_LIST_CAN_ID blocks: which DAQ list goes out on an identifier of its own.
        daq_lists: Vec<DaqListCanId>,
    },
    /// XCP_ON_SxI.
    Sxi {
        /// Transport layer version.
        version: Option<u16>,
        /// Baud rate.
        baudrate: Option<u32>,
        /// Header format (`HEADER_LEN_CTR_WORD`, …).
        header: Option<String>,
        /// Checksum (`NO_CHECKSUM`, `CHECKSUM_BYTE`, `CHECKSUM_WORD`).
        checksum: Option<String>,
        /// A FRAMING block: SYNC/ESC framing with these SYNC and ESC bytes.
        framing: Option<(u8, u8)>,
    },
    /// XCP_ON_USB.
    Usb {
        /// Transport layer version.
        version: Option<u16>,
        /// Vendor ID.
        vendor_id: Option<u16>,
        /// Product ID.
        product_id: Option<u16>,
        /// Interface number.
        interface: Option<u8>,
        /// Header format.
        header: Option<String>,
        /// The command endpoint's packing (`MESSAGE_PACKING_SINGLE`, `…_MULTIPLE`,
        /// `…_STREAMING`).
        packing: Option<String>,
        /// The command endpoint's alignment (`ALIGNMENT_8_BIT` … `ALIGNMENT_64_BIT`).
        alignment: Option<String>,
        /// OUT_EP_CMD_STIM's endpoint number (commands and STIM).
        out_endpoint: Option<u8>,
        /// The IN endpoints: IN_EP_RESERR_DAQ_EVSERV's, then IN_EP_ONLY_DAQ's and
        /// IN_EP_ONLY_EVSERV's.
        in_endpoints: Vec<u8>,
    },
}

/// One DAQ_LIST_CAN_ID block of XCP_ON_CAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaqListCanId {
    /// The DAQ list.
    pub list: u16,
    /// FIXED: the identifier the list always goes out on, as A2L writes it (bit 31 for 29
    /// bits); `None` for VARIABLE (the master may move it with SET_DAQ_ID).
    pub fixed: Option<u32>,
}

impl std::fmt::Display for DaqListCanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.fixed {
            Some(id) if id & 0x8000_0000 != 0 => write!(
                f,
                "DAQ list {} on 0x{:X} (29-bit, fixed)",
                self.list,
                id & 0x1FFF_FFFF
            ),
            Some(id) => write!(f, "DAQ list {} on 0x{id:X} (fixed)", self.list),
            None => write!(f, "DAQ list {} on a variable identifier", self.list),
        }
    }
}

impl Transport {
    /// Which bus: `TCP`, `UDP`, `CAN`, `SxI` or `USB`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ip { protocol, .. } => protocol,
            Self::Can { .. } => "CAN",
            Self::Sxi { .. } => "SxI",
            Self::Usb { .. } => "USB",
        }
    }
}

/// `PROTOCOL_LAYER` in the A2L's words, without its OPTIONAL_CMD list; values the file
/// leaves out are left out.
impl std::fmt::Display for ProtocolLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PROTOCOL_LAYER")?;
        if let Some(v) = self.version {
            write!(f, " version 0x{v:04X}")?;
        }
        for (i, t) in self.timeouts_ms.iter().enumerate() {
            if let Some(ms) = t {
                write!(f, " T{} {ms} ms", i + 1)?;
            }
        }
        if let Some(v) = self.max_cto {
            write!(f, " MAX_CTO {v}")?;
        }
        if let Some(v) = self.max_dto {
            write!(f, " MAX_DTO {v}")?;
        }
        for k in [&self.byte_order, &self.address_granularity]
            .into_iter()
            .flatten()
        {
            write!(f, " {k}")?;
        }
        Ok(())
    }
}

/// The DAQ block's header line in the A2L's words (the events are lines of their own).
impl std::fmt::Display for Daq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DAQ")?;
        if let Some(c) = &self.config_type {
            write!(f, " {c}")?;
        }
        let numbers = [
            ("MAX_DAQ", self.max_daq),
            ("MAX_EVENT_CHANNEL", self.max_event_channel),
            ("MIN_DAQ", self.min_daq),
            ("MAX_ODT_ENTRY_SIZE_DAQ", self.max_odt_entry_size),
        ];
        for (k, v) in numbers {
            if let Some(v) = v {
                write!(f, " {k} {v}")?;
            }
        }
        for k in [&self.id_field, &self.overload].into_iter().flatten() {
            write!(f, " {k}")?;
        }
        if let Some((ticks, size, unit)) = &self.timestamp {
            write!(f, " TIMESTAMP_SUPPORTED {ticks} {size}")?;
            match unit {
                Some(u) => write!(f, " {u}")?,
                None => f.write_str(" (unknown unit)")?,
            }
        }
        if self.prescaler {
            f.write_str(" PRESCALER_SUPPORTED")?;
        }
        if self.resume {
            f.write_str(" RESUME_SUPPORTED")?;
        }
        Ok(())
    }
}

/// One EVENT: its name, channel, cycle (in time, where the unit is known) and priority.
impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EVENT \"{}\"", self.name)?;
        if let Some(c) = self.channel {
            write!(f, " channel {c}")?;
        }
        if let Some(d) = &self.direction {
            write!(f, " {d}")?;
        }
        match (self.time_cycle, self.time_unit) {
            (Some(0), _) => f.write_str(" sporadic")?,
            (Some(c), Some(u)) => write!(f, " cycle {}", Nanos(u64::from(c) * u.nanos()))?,
            (Some(c), None) => write!(f, " cycle {c} in an unknown unit")?,
            (None, _) => {}
        }
        if let Some(p) = self.priority {
            write!(f, " priority {p}")?;
        }
        if let Some(m) = self.max_daq_lists {
            write!(f, " MAX_DAQ_LIST {m}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_owned());
        match self {
            Self::Ip {
                protocol,
                port,
                host,
                ..
            } => match (host, port) {
                (Some(h), Some(p)) => write!(f, "XCP on {protocol}: {h}:{p}"),
                (None, Some(p)) => write!(f, "XCP on {protocol}: port {p} (no address given)"),
                (Some(h), None) => write!(f, "XCP on {protocol}: {h} (no port given)"),
                (None, None) => write!(f, "XCP on {protocol} (no address or port given)"),
            },
            Self::Can {
                cmd_id,
                res_id,
                extended,
                baudrate,
                fd,
                daq_lists,
                ..
            } => {
                let id = |v: &Option<u32>| v.map_or_else(|| "?".to_owned(), |v| format!("0x{v:X}"));
                write!(
                    f,
                    "XCP on CAN{}: master→slave (CAN_ID_MASTER) {}, slave→master (CAN_ID_SLAVE) {}{}, {} bit/s",
                    if fd.is_some() { " FD" } else { "" },
                    id(cmd_id),
                    id(res_id),
                    if *extended { " (29-bit)" } else { "" },
                    baudrate.map_or_else(|| "?".to_owned(), |b| b.to_string())
                )?;
                for d in daq_lists {
                    write!(f, "; {d}")?;
                }
                Ok(())
            }
            Self::Sxi {
                baudrate,
                header,
                checksum,
                framing,
                ..
            } => write!(
                f,
                "XCP on SxI: {} Bd, {}, {}{}",
                baudrate.map_or_else(|| "?".to_owned(), |b| b.to_string()),
                o(header),
                o(checksum),
                framing.map_or_else(String::new, |(sync, esc)| format!(
                    ", SYNC/ESC framing (SYNC 0x{sync:02X}, ESC 0x{esc:02X})"
                ))
            ),
            Self::Usb {
                vendor_id,
                product_id,
                interface,
                header,
                packing,
                alignment,
                ..
            } => {
                write!(
                    f,
                    "XCP on USB: {:04x}:{:04x}",
                    vendor_id.unwrap_or(0),
                    product_id.unwrap_or(0)
                )?;
                if let Some(i) = interface {
                    write!(f, ", interface {i}")?;
                }
                for v in [header, packing, alignment].into_iter().flatten() {
                    write!(f, ", {v}")?;
                }
                Ok(())
            }
        }
    }
}

/// The module's `IF_DATA XCP`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Xcp {
    /// PROTOCOL_LAYER.
    pub protocol: Option<ProtocolLayer>,
    /// DAQ.
    pub daq: Option<Daq>,
    /// PAG: MAX_SEGMENTS and FREEZE_SUPPORTED.
    pub pag: Option<(u16, bool)>,
    /// Transport blocks, in file order.
    pub transports: Vec<Transport>,
    /// Whether an IF_DATA XCP was found but did not match the grammar (kept as text only).
    pub unparsed: bool,
}

const TRANSPORTS: [&str; 5] = [
    "XCP_ON_TCP_IP",
    "XCP_ON_UDP_IP",
    "XCP_ON_CAN",
    "XCP_ON_SxI",
    "XCP_ON_USB",
];

impl Xcp {
    pub(crate) fn from_module(m: &a2lfile::Module) -> Self {
        let mut x = Self::default();
        for d in &m.if_data {
            let Some(g) = &d.ifdata_items else {
                continue;
            };
            if !d.ifdata_valid {
                x.unparsed = true;
            }
            if x.protocol.is_none() {
                x.protocol = first(g, "PROTOCOL_LAYER", &TRANSPORTS).map(|i| protocol(&i.data));
            }
            if x.daq.is_none() {
                x.daq = first(g, "DAQ", &TRANSPORTS).map(|i| daq(&i.data));
            }
            if x.pag.is_none() {
                x.pag = first(g, "PAG", &TRANSPORTS).map(|i| {
                    (
                        u16v(num_at(&flat(&i.data), 0)).unwrap_or(0),
                        first(&i.data, "FREEZE_SUPPORTED", &[]).is_some(),
                    )
                });
            }
            for tag in TRANSPORTS {
                for item in all(g, tag, &[]) {
                    x.transports.push(transport(tag, &item.data));
                }
            }
        }
        x
    }
}

fn protocol(g: &GenericIfData) -> ProtocolLayer {
    let l = flat(g);
    let mut timeouts_ms = [None; 7];
    for (i, t) in timeouts_ms.iter_mut().enumerate() {
        *t = u16v(num_at(&l, 1 + i));
    }
    ProtocolLayer {
        version: u16v(num_at(&l, 0)),
        timeouts_ms,
        max_cto: u16v(num_at(&l, 8)),
        max_dto: u16v(num_at(&l, 9)),
        byte_order: enum_at(&l, 10),
        address_granularity: enum_at(&l, 11),
        optional_commands: all(g, "OPTIONAL_CMD", &[])
            .iter()
            .filter_map(|i| enum_at(&flat(&i.data), 0))
            .collect(),
    }
}

fn daq(g: &GenericIfData) -> Daq {
    let l = flat(g);
    let events = all(g, "EVENT", &[])
        .iter()
        .filter_map(|e| {
            let f = flat(&e.data);
            // DAQ_EVENT lists hold bare numbers under "EVENT"; the DAQ block's EVENTs start
            // with the name.
            let name = text_at(&f, 0)?;
            Some(Event {
                name,
                short_name: text_at(&f, 1).unwrap_or_default(),
                channel: u16v(num_at(&f, 2)),
                direction: enum_at(&f, 3),
                max_daq_lists: u16v(num_at(&f, 4)),
                time_cycle: u16v(num_at(&f, 5)),
                time_unit: u16v(num_at(&f, 6))
                    .and_then(|c| u8::try_from(c).ok())
                    .and_then(TimeUnit::from_code),
                priority: u16v(num_at(&f, 7)),
            })
        })
        .collect();
    Daq {
        config_type: enum_at(&l, 0),
        max_daq: u16v(num_at(&l, 1)),
        max_event_channel: u16v(num_at(&l, 2)),
        min_daq: u16v(num_at(&l, 3)),
        id_field: enum_at(&l, 6),
        max_odt_entry_size: u16v(num_at(&l, 8)),
        overload: enum_at(&l, 9),
        timestamp: first(g, "TIMESTAMP_SUPPORTED", &[]).map(|t| {
            let f = flat(&t.data);
            (
                u16v(num_at(&f, 0)).unwrap_or(0),
                enum_at(&f, 1).unwrap_or_default(),
                enum_at(&f, 2).and_then(|k| TimeUnit::from_keyword(&k)),
            )
        }),
        prescaler: first(g, "PRESCALER_SUPPORTED", &[]).is_some(),
        resume: first(g, "RESUME_SUPPORTED", &[]).is_some(),
        events,
    }
}

fn transport(tag: &str, g: &GenericIfData) -> Transport {
    let l = flat(g);
    match tag {
        "XCP_ON_TCP_IP" | "XCP_ON_UDP_IP" => Transport::Ip {
            protocol: if tag == "XCP_ON_TCP_IP" { "TCP" } else { "UDP" },
            version: u16v(num_at(&l, 0)),
            port: u16v(num_at(&l, 1)),
            host: ["ADDRESS", "HOST_NAME", "IPV6"]
                .iter()
                .find_map(|t| first(g, t, &[]).and_then(|i| text_at(&flat(&i.data), 0))),
        },
        "XCP_ON_CAN" => {
            let master = tagged_num(g, "CAN_ID_MASTER");
            let fd = first(g, "CAN_FD", &[]).map(|b| {
                (
                    u16v(first(&b.data, "MAX_DLC", &[]).and_then(|i| num_at(&flat(&i.data), 0))),
                    tagged_num(&b.data, "CAN_FD_DATA_TRANSFER_BAUDRATE"),
                )
            });
            Transport::Can {
                version: u16v(num_at(&l, 0)),
                cmd_id: master.map(|v| v & 0x1FFF_FFFF),
                res_id: tagged_num(g, "CAN_ID_SLAVE").map(|v| v & 0x1FFF_FFFF),
                broadcast_id: tagged_num(g, "CAN_ID_BROADCAST").map(|v| v & 0x1FFF_FFFF),
                extended: master.is_some_and(|v| v & 0x8000_0000 != 0),
                baudrate: tagged_num(g, "BAUDRATE"),
                max_dlc_required: first(g, "MAX_DLC_REQUIRED", &["CAN_FD"]).is_some(),
                fd,
                daq_lists: all(g, "DAQ_LIST_CAN_ID", &[])
                    .into_iter()
                    .filter_map(|b| {
                        Some(DaqListCanId {
                            list: u16v(num_at(&flat(&b.data), 0))?,
                            fixed: tagged_num(&b.data, "FIXED"),
                        })
                    })
                    .collect(),
            }
        }
        "XCP_ON_SxI" => {
            let enums: Vec<String> = l
                .iter()
                .filter_map(|x| match x {
                    Leaf::Enum(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            Transport::Sxi {
                version: u16v(num_at(&l, 0)),
                baudrate: u(num_at(&l, 1)),
                header: enums.iter().find(|e| e.starts_with("HEADER_")).cloned(),
                checksum: enums.iter().find(|e| e.contains("CHECKSUM")).cloned(),
                framing: first(g, "FRAMING", &[]).and_then(|b| {
                    let l = flat(&b.data);
                    let byte = |i| u(num_at(&l, i)).and_then(|v| u8::try_from(v).ok());
                    Some((byte(0)?, byte(1)?))
                }),
            }
        }
        _ => {
            let ep = first(g, "OUT_EP_CMD_STIM", &[]).map(|b| flat(&b.data));
            let ep_enum = |prefix: &str| {
                ep.as_ref().and_then(|l| {
                    l.iter().find_map(|x| match x {
                        Leaf::Enum(e) if e.starts_with(prefix) => Some(e.clone()),
                        _ => None,
                    })
                })
            };
            let ep_number = |b: &GenericIfDataTaggedItem| {
                u(num_at(&flat(&b.data), 0)).and_then(|v| u8::try_from(v).ok())
            };
            let in_endpoints = [
                "IN_EP_RESERR_DAQ_EVSERV",
                "IN_EP_ONLY_DAQ",
                "IN_EP_ONLY_EVSERV",
            ]
            .iter()
            .flat_map(|tag| all(g, tag, &[]))
            .filter_map(ep_number)
            .collect();
            Transport::Usb {
                out_endpoint: first(g, "OUT_EP_CMD_STIM", &[]).and_then(ep_number),
                in_endpoints,
                version: u16v(num_at(&l, 0)),
                vendor_id: u16v(num_at(&l, 1)),
                product_id: u16v(num_at(&l, 2)),
                interface: u(num_at(&l, 3)).and_then(|v| u8::try_from(v).ok()),
                header: enum_at(&l, 4),
                packing: ep_enum("MESSAGE_PACKING_"),
                alignment: ep_enum("ALIGNMENT_"),
            }
        }
    }
}
