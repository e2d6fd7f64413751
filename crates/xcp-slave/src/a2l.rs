//! The runtime A2L: a description of exactly what this slave serves.
//!
//! Generated from the registry and the configuration, so the IF_DATA XCP blocks say what the
//! protocol reports (MAX_CTO/MAX_DTO, byte order, identification field, timestamps, overload
//! indication, events, segments, checksum, transports). The output is deterministic for the
//! same registrations, self-contained (no `/include`; the A2ML is inline) and ASAP2 1.71.
//!
//! The A2ML is `xcp_proto::a2ml::XCP_A2ML`, our declaration of the XCP IF_DATA grammar laid
//! out as in the standard's common A2ML, so tools that read IF_DATA by the standard's
//! structure read ours.

use std::fmt::Write as _;

use crate::config::{DaqConfigType, OverloadIndication};
use crate::core::cycle_and_unit;
use crate::memory::segment_address;
use crate::shared::{Shared, TransportDesc};
use crate::types::{CharKind, Conversion, Meta, a2l_limits};
use xcp_proto::ElementType;

pub use crate::config::A2lOptions;

/// Commands this slave serves beyond the mandatory four, for OPTIONAL_CMD.
const OPTIONAL: &[&str] = &[
    "GET_COMM_MODE_INFO",
    "GET_ID",
    "SET_REQUEST",
    "GET_SEED",
    "UNLOCK",
    "SET_MTA",
    "UPLOAD",
    "SHORT_UPLOAD",
    "BUILD_CHECKSUM",
    "USER_CMD",
    "DOWNLOAD",
    "DOWNLOAD_NEXT",
    "DOWNLOAD_MAX",
    "SHORT_DOWNLOAD",
    "MODIFY_BITS",
    "SET_CAL_PAGE",
    "GET_CAL_PAGE",
    "GET_PAG_PROCESSOR_INFO",
    "GET_SEGMENT_INFO",
    "GET_PAGE_INFO",
    "SET_SEGMENT_MODE",
    "GET_SEGMENT_MODE",
    "COPY_CAL_PAGE",
    "CLEAR_DAQ_LIST",
    "SET_DAQ_PTR",
    "WRITE_DAQ",
    "SET_DAQ_LIST_MODE",
    "GET_DAQ_LIST_MODE",
    "START_STOP_DAQ_LIST",
    "START_STOP_SYNCH",
    "GET_DAQ_CLOCK",
    "READ_DAQ",
    "GET_DAQ_PROCESSOR_INFO",
    "GET_DAQ_RESOLUTION_INFO",
    "GET_DAQ_LIST_INFO",
    "GET_DAQ_EVENT_INFO",
    "WRITE_DAQ_MULTIPLE",
    "TIME_CORRELATION_PROPERTIES",
    "DTO_CTR_PROPERTIES",
    "GET_VERSION",
];

const DYNAMIC_ONLY: &[&str] = &["FREE_DAQ", "ALLOC_DAQ", "ALLOC_ODT", "ALLOC_ODT_ENTRY"];

const PGM_CMDS: &[&str] = &[
    "PROGRAM_START",
    "PROGRAM_CLEAR",
    "PROGRAM",
    "PROGRAM_RESET",
    "GET_PGM_PROCESSOR_INFO",
    "GET_SECTOR_INFO",
    "PROGRAM_PREPARE",
    "PROGRAM_FORMAT",
    "PROGRAM_NEXT",
    "PROGRAM_MAX",
    "PROGRAM_VERIFY",
];

/// A number as A2L writes it: integers plainly, others in exponent form.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:e}")
    }
}

/// An A2L string literal.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Limits in physical units: the given ones, or the datatype's range through the conversion.
fn limits(ty: ElementType, meta: &Meta) -> (f64, f64) {
    if let Some(l) = meta.limits {
        return l;
    }
    let (lo, hi) = a2l_limits(ty);
    match &meta.conversion {
        Some(Conversion::Linear { factor, offset }) => {
            let (a, b) = (factor * lo + offset, factor * hi + offset);
            (a.min(b), a.max(b))
        }
        _ => (lo, hi),
    }
}

struct Gen<'a> {
    s: &'a Shared,
    out: String,
    compu: Vec<String>,
}

impl Gen<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// The COMPU_METHOD name for an object, creating it (and its table) when needed.
    fn compu(&mut self, owner: &str, meta: &Meta) -> String {
        let Some(conv) = &meta.conversion else {
            return "NO_COMPU_METHOD".to_owned();
        };
        let name = format!("{owner}.conv");
        let unit = quoted(&meta.unit);
        let mut text = String::new();
        match conv {
            Conversion::Identical => {
                let _ = writeln!(
                    text,
                    "    /begin COMPU_METHOD {name} \"\" IDENTICAL \"%.6g\" {unit} /end COMPU_METHOD"
                );
            }
            Conversion::Linear { factor, offset } => {
                let _ = writeln!(
                    text,
                    "    /begin COMPU_METHOD {name} \"\" LINEAR \"%.6g\" {unit}\n      COEFFS_LINEAR {} {}\n    /end COMPU_METHOD",
                    num(*factor),
                    num(*offset)
                );
            }
            Conversion::Verbal { table, default } => {
                let tab = format!("{owner}.table");
                let _ = writeln!(
                    text,
                    "    /begin COMPU_METHOD {name} \"\" TAB_VERB \"%.0f\" {unit}\n      COMPU_TAB_REF {tab}\n    /end COMPU_METHOD"
                );
                let _ = writeln!(
                    text,
                    "    /begin COMPU_VTAB {tab} \"\" TAB_VERB {}",
                    table.len()
                );
                for (v, s) in table {
                    let _ = writeln!(text, "      {v} {}", quoted(s));
                }
                let _ = writeln!(
                    text,
                    "      DEFAULT_VALUE {}\n    /end COMPU_VTAB",
                    quoted(default)
                );
            }
        }
        self.compu.push(text);
        name
    }

    fn if_data_event(&mut self, indent: usize, event: Option<u16>) {
        if let Some(e) = event {
            self.line(
                indent,
                &format!(
                    "/begin IF_DATA XCP /begin DAQ_EVENT FIXED_EVENT_LIST EVENT {e} /end DAQ_EVENT /end IF_DATA"
                ),
            );
        }
    }
}

fn short_name(name: &str) -> String {
    name.chars().take(8).collect()
}

/// Generates the A2L text.
#[allow(
    clippy::too_many_lines,
    reason = "one section after the other, in file order"
)]
/// The A2L the slave serves: the application's ([`crate::Slave::set_a2l_text`]), else the
/// generated one.
pub(crate) fn text(s: &Shared) -> String {
    let given = s
        .a2l_text
        .lock()
        .map_or_else(|p| p.into_inner().clone(), |g| g.clone());
    given.unwrap_or_else(|| generate(s))
}

/// The MODULE's IF_DATA XCP block alone (protocol layer, DAQ and events, paging, the
/// transports), as [`generate`] writes it, for an application that serves an A2L of its own.
pub(crate) fn if_data(s: &Shared) -> String {
    let mut g = Gen {
        s,
        out: String::with_capacity(8 * 1024),
        compu: Vec::new(),
    };
    if_data_xcp(&mut g);
    g.out
}

pub(crate) fn generate(s: &Shared) -> String {
    let c = &s.config;
    let mut g = Gen {
        s,
        out: String::with_capacity(64 * 1024),
        compu: Vec::new(),
    };
    let module = &s.name;
    g.line(0, "ASAP2_VERSION 1 71");
    g.line(0, &format!("/begin PROJECT {module} \"\""));
    g.line(
        1,
        &format!(
            "/begin HEADER \"generated by xcp-slave {}\" VERSION {} PROJECT_NO ACSDD /end HEADER",
            env!("CARGO_PKG_VERSION"),
            quoted(&s.epk)
        ),
    );
    g.line(1, &format!("/begin MODULE {module} \"\""));
    g.line(2, "/begin A2ML");
    for l in xcp_proto::a2ml::XCP_A2ML.lines() {
        g.line(3, l);
    }
    g.line(2, "/end A2ML");

    // MOD_PAR: EPK and the memory segments.
    g.line(2, "/begin MOD_PAR \"\"");
    g.line(3, &format!("EPK {}", quoted(&s.epk)));
    g.line(3, &format!("ADDR_EPK {:#010X}", segment_address(0, 0)));
    let checksum = c.checksum.spec_name();
    for (i, seg) in s.segments.iter().enumerate() {
        let n = u8::try_from(i).unwrap_or(u8::MAX);
        let (class, len, write) = match &seg.pages {
            None => ("FLASH", s.epk.len(), "XCP_WRITE_ACCESS_NOT_ALLOWED"),
            Some(p) => ("RAM", p.len(), "XCP_WRITE_ACCESS_DONT_CARE"),
        };
        g.line(
            3,
            &format!(
                "/begin MEMORY_SEGMENT {} \"\" DATA {class} INTERN {:#010X} {len:#X} -1 -1 -1 -1 -1",
                seg.name,
                segment_address(n, 0)
            ),
        );
        g.line(4, &format!("/begin IF_DATA XCP /begin SEGMENT {n} 2 0 0 0"));
        g.line(
            5,
            &format!(
                "/begin CHECKSUM {checksum} MAX_BLOCK_SIZE {:#X} /end CHECKSUM",
                c.max_checksum_block
            ),
        );
        g.line(
            5,
            &format!(
                "/begin PAGE 0 ECU_ACCESS_DONT_CARE XCP_READ_ACCESS_DONT_CARE {write} /end PAGE"
            ),
        );
        g.line(
            5,
            "/begin PAGE 1 ECU_ACCESS_DONT_CARE XCP_READ_ACCESS_DONT_CARE XCP_WRITE_ACCESS_NOT_ALLOWED /end PAGE",
        );
        g.line(4, "/end SEGMENT /end IF_DATA");
        g.line(3, "/end MEMORY_SEGMENT");
    }
    g.line(2, "/end MOD_PAR");

    // MOD_COMMON: data layout (native little-endian, packed).
    g.line(2, "/begin MOD_COMMON \"\"");
    g.line(3, "BYTE_ORDER MSB_LAST");
    for a in [
        "ALIGNMENT_BYTE",
        "ALIGNMENT_WORD",
        "ALIGNMENT_LONG",
        "ALIGNMENT_INT64",
        "ALIGNMENT_FLOAT32_IEEE",
        "ALIGNMENT_FLOAT64_IEEE",
    ] {
        g.line(3, &format!("{a} 1"));
    }
    g.line(2, "/end MOD_COMMON");

    if_data_xcp(&mut g);

    emit_objects(&mut g);

    // Record layouts for every datatype in use (emitting all keeps the text independent of
    // which types happen to be registered).
    // Every type a slave can register (no half floats), in `ElementType::ALL`'s order.
    for ty in ElementType::ALL
        .into_iter()
        .filter(|t| *t != ElementType::F16)
    {
        let t = ty.keyword();
        g.line(
            2,
            &format!(
                "/begin RECORD_LAYOUT RL.{t} FNC_VALUES 1 {t} ROW_DIR DIRECT /end RECORD_LAYOUT"
            ),
        );
        g.line(
            2,
            &format!(
                "/begin RECORD_LAYOUT RL.MAP.{t} FNC_VALUES 1 {t} COLUMN_DIR DIRECT /end RECORD_LAYOUT"
            ),
        );
        g.line(
            2,
            &format!("/begin RECORD_LAYOUT RL.AXIS.{t} AXIS_PTS_X 1 {t} INDEX_INCR DIRECT /end RECORD_LAYOUT"),
        );
    }
    for text in std::mem::take(&mut g.compu) {
        g.out.push_str(&text);
    }
    g.line(1, "/end MODULE");
    g.line(0, "/end PROJECT");
    g.out
}

/// The MODULE-level IF_DATA XCP block: what the protocol reports.
#[allow(
    clippy::too_many_lines,
    reason = "one part of the block after the other, in file order"
)]
fn if_data_xcp(g: &mut Gen<'_>) {
    let s = g.s;
    let c = &s.config;
    g.line(2, "/begin IF_DATA XCP");
    let order = match c.byte_order {
        xcp_proto::ByteOrder::Intel => "BYTE_ORDER_MSB_LAST",
        xcp_proto::ByteOrder::Motorola => "BYTE_ORDER_MSB_FIRST",
    };
    g.line(
        3,
        &format!(
            "/begin PROTOCOL_LAYER 0x0105 1000 2000 2000 10000 5000 0 0 {} {} {order} ADDRESS_GRANULARITY_BYTE",
            c.max_cto, c.max_dto
        ),
    );
    let mut cmds: Vec<&str> = OPTIONAL.to_vec();
    if c.daq_config == DaqConfigType::Dynamic {
        cmds.extend_from_slice(DYNAMIC_ONLY);
    }
    if s.flash.is_some() {
        cmds.extend_from_slice(PGM_CMDS);
    }
    for cmd in cmds {
        g.line(4, &format!("OPTIONAL_CMD {cmd}"));
    }
    if c.max_bs > 0 || c.slave_block_mode {
        let slave = if c.slave_block_mode { "SLAVE " } else { "" };
        let master = if c.max_bs > 0 {
            format!("MASTER {} {}", c.max_bs, c.min_st)
        } else {
            String::new()
        };
        g.line(
            4,
            &format!("COMMUNICATION_MODE_SUPPORTED BLOCK {slave}{master}"),
        );
    }
    g.line(3, "/end PROTOCOL_LAYER");

    let predefined = s.predefined.len();
    let (kind, max_daq) = match &c.daq_config {
        DaqConfigType::Dynamic => ("DYNAMIC", usize::from(c.max_daq_lists)),
        DaqConfigType::Static(l) => ("STATIC", predefined + l.len()),
    };
    let idf = match c.id_field {
        xcp_proto::IdField::AbsoluteOdt => "IDENTIFICATION_FIELD_TYPE_ABSOLUTE",
        xcp_proto::IdField::RelativeOdtDaqByte => "IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE",
        xcp_proto::IdField::RelativeOdtDaqWord => "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD",
        xcp_proto::IdField::RelativeOdtDaqWordAligned => {
            "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD_ALIGNED"
        }
    };
    let overload = match c.overload {
        OverloadIndication::None => "NO_OVERLOAD_INDICATION",
        OverloadIndication::PidBit => "OVERLOAD_INDICATION_PID",
        OverloadIndication::Event => "OVERLOAD_INDICATION_EVENT",
    };
    g.line(
        3,
        &format!(
            "/begin DAQ {kind} {max_daq} {} {predefined} OPTIMISATION_TYPE_DEFAULT ADDRESS_EXTENSION_FREE {idf} GRANULARITY_ODT_ENTRY_SIZE_DAQ_BYTE {} {overload}",
            s.events.len(),
            c.max_entry_size
        ),
    );
    g.line(4, "PRESCALER_SUPPORTED");
    if c.persist_dir.is_some() {
        g.line(4, "RESUME_SUPPORTED");
    }
    g.line(4, "PID_OFF_SUPPORTED");
    g.line(
        4,
        &format!(
            "STIM GRANULARITY_ODT_ENTRY_SIZE_STIM_BYTE {} BIT_STIM_SUPPORTED",
            c.max_entry_size
        ),
    );
    if c.timestamp_size > 0 {
        let size = match c.timestamp_size {
            1 => "SIZE_BYTE",
            2 => "SIZE_WORD",
            _ => "SIZE_DWORD",
        };
        // The builder refuses a timestamp unit that is not a power of ten.
        let unit = c
            .timestamp_unit()
            .map_or("UNIT_1NS", xcp_proto::TimeUnit::keyword);
        g.line(
            4,
            &format!("/begin TIMESTAMP_SUPPORTED 1 {size} {unit} /end TIMESTAMP_SUPPORTED"),
        );
    }
    for (n, p) in s.predefined.iter().enumerate() {
        g.line(
            4,
            &format!(
                "/begin DAQ_LIST {n} DAQ_LIST_TYPE DAQ MAX_ODT {} EVENT_FIXED {}",
                p.odts.len(),
                p.event.0
            ),
        );
        g.line(5, "/begin PREDEFINED");
        for (o, entries) in p.odts.iter().enumerate() {
            g.line(6, &format!("/begin ODT {o}"));
            for (i, (addr, size)) in entries.iter().enumerate() {
                g.line(
                    7,
                    &format!("ODT_ENTRY {i} {:#010X} {} {size} 255", addr.addr, addr.ext),
                );
            }
            g.line(6, "/end ODT");
        }
        g.line(5, "/end PREDEFINED");
        g.line(4, "/end DAQ_LIST");
    }
    for (i, e) in s.events.iter().enumerate() {
        let (cycle, unit) = e.period.map_or((0, 0), cycle_and_unit);
        g.line(
            4,
            &format!(
                "/begin EVENT {} {} {i} DAQ_STIM {} {cycle} {unit} {} CONSISTENCY DAQ /end EVENT",
                quoted(&e.name),
                quoted(&short_name(&e.name)),
                c.max_lists_per_event,
                e.priority
            ),
        );
    }
    g.line(3, "/end DAQ");
    let freeze = if c.persist_dir.is_some() {
        " FREEZE_SUPPORTED"
    } else {
        ""
    };
    g.line(
        3,
        &format!("/begin PAG {}{freeze} /end PAG", s.segments.len()),
    );
    if let Some(f) = &s.flash {
        g.line(
            3,
            &format!(
                "/begin PGM PGM_MODE_ABSOLUTE_AND_FUNCTIONAL {} {}",
                f.sectors, c.max_cto
            ),
        );
        for i in 0..f.sectors {
            g.line(
                4,
                &format!(
                    "/begin SECTOR \"sector{i}\" {i} {:#010X} {:#X} 0 0 0 /end SECTOR",
                    f.base + u32::from(i) * f.sector_size,
                    f.sector_size
                ),
            );
        }
        g.line(3, "/end PGM");
    }
    for t in s.transports() {
        let (tag, addr) = match t {
            TransportDesc::Tcp(a) => ("XCP_ON_TCP_IP", a),
            TransportDesc::Udp(a) => ("XCP_ON_UDP_IP", a),
            TransportDesc::Can {
                link,
                broadcast,
                bitrate,
                data_bitrate,
            } => {
                g.line(3, &can_block(&link, broadcast, bitrate, data_bitrate));
                continue;
            }
            TransportDesc::Sxi { baud, framing } => {
                g.line(3, &sxi_block(baud, framing));
                continue;
            }
        };
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) => format!("ADDRESS \"{ip}\""),
            std::net::IpAddr::V6(ip) => format!("IPV6 \"{ip}\""),
        };
        g.line(
            3,
            &format!("/begin {tag} 0x0105 {} {host} /end {tag}", addr.port()),
        );
    }
    g.line(2, "/end IF_DATA");
}

/// The XCP_ON_SxI block of a serial line (asynchronous full duplex, 8N1).
fn sxi_block(baud: u32, framing: xcp_proto::tl::sxi::SxiConfig) -> String {
    let sync_esc = if framing.sync_esc {
        format!(
            " /begin FRAMING {:#04X} {:#04X} /end FRAMING",
            xcp_proto::tl::sxi::SYNC,
            xcp_proto::tl::sxi::ESC
        )
    } else {
        String::new()
    };
    format!(
        "/begin XCP_ON_SxI 0x0100 {baud} ASYNCH_FULL_DUPLEX_MODE PARITY_NONE ONE_STOP_BIT{sync_esc} {} {} /end XCP_ON_SxI",
        framing.header.a2l_name(),
        framing.tail.a2l_name()
    )
}

/// The XCP_ON_CAN block of a CAN link (identifiers with bit 31 for 29 bits, as A2L writes them).
fn can_block(
    link: &xcp_proto::tl::can::CanConfig,
    broadcast: Option<xcp_proto::tl::can::CanId>,
    bitrate: Option<u32>,
    data_bitrate: Option<u32>,
) -> String {
    let mut b = format!(
        "/begin XCP_ON_CAN 0x0104 CAN_ID_MASTER {:#X} CAN_ID_SLAVE {:#X}",
        link.cmd_id.to_a2l(),
        link.res_id.to_a2l()
    );
    if let Some(id) = broadcast {
        b.push_str(&format!(" CAN_ID_BROADCAST {:#X}", id.to_a2l()));
    }
    b.push_str(&format!(" BAUDRATE {}", bitrate.unwrap_or(500_000)));
    if link.max_dlc_required {
        b.push_str(" MAX_DLC_REQUIRED");
    }
    if link.fd {
        b.push_str(&format!(" /begin CAN_FD MAX_DLC {}", link.max_dlc));
        if let Some(r) = data_bitrate {
            b.push_str(&format!(" CAN_FD_DATA_TRANSFER_BAUDRATE {r}"));
        }
        if link.max_dlc_required {
            b.push_str(" MAX_DLC_REQUIRED");
        }
        b.push_str(" /end CAN_FD");
    }
    b.push_str(" /end XCP_ON_CAN");
    b
}

fn emit_objects(g: &mut Gen<'_>) {
    let s = g.s;
    for m in &s.measurements {
        let conv = g.compu(&m.name, &m.meta);
        let (lo, hi) = limits(m.ty, &m.meta);
        g.line(
            2,
            &format!(
                "/begin MEASUREMENT {} {} {} {conv} 0 0 {} {}",
                m.name,
                quoted(&m.meta.comment),
                m.ty.keyword(),
                num(lo),
                num(hi)
            ),
        );
        g.line(3, &format!("ECU_ADDRESS {:#010X}", m.addr.addr));
        g.line(3, &format!("ECU_ADDRESS_EXTENSION {}", m.addr.ext));
        if m.len > 1 {
            g.line(3, &format!("MATRIX_DIM {}", m.len));
        }
        if !m.meta.unit.is_empty() {
            g.line(3, &format!("PHYS_UNIT {}", quoted(&m.meta.unit)));
        }
        g.if_data_event(3, m.event);
        g.line(2, "/end MEASUREMENT");
    }
    // Structure instances: typedefs, or flattened measurements.
    if s.a2l_options.flatten_typedefs {
        for inst in &s.instances {
            let ty = &s.structs[inst.type_index];
            for f in &ty.fields {
                let name = format!("{}.{}", inst.name, f.name);
                let conv = g.compu(&name, &f.meta);
                let (lo, hi) = limits(f.ty, &f.meta);
                let addr = crate::memory::event_address(
                    inst.event,
                    u16::try_from(inst.offset + f.offset).unwrap_or(u16::MAX),
                );
                g.line(
                    2,
                    &format!(
                        "/begin MEASUREMENT {name} {} {} {conv} 0 0 {} {}",
                        quoted(&f.meta.comment),
                        f.ty.keyword(),
                        num(lo),
                        num(hi)
                    ),
                );
                g.line(3, &format!("ECU_ADDRESS {addr:#010X}"));
                g.line(
                    3,
                    &format!("ECU_ADDRESS_EXTENSION {}", crate::memory::EXT_EVENT),
                );
                if f.len > 1 {
                    g.line(3, &format!("MATRIX_DIM {}", f.len));
                }
                if !f.meta.unit.is_empty() {
                    g.line(3, &format!("PHYS_UNIT {}", quoted(&f.meta.unit)));
                }
                g.if_data_event(3, Some(inst.event));
                g.line(2, "/end MEASUREMENT");
            }
        }
    } else {
        let used: Vec<usize> = {
            let mut v: Vec<usize> = s.instances.iter().map(|i| i.type_index).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for t in used {
            let ty = &s.structs[t];
            for f in &ty.fields {
                let tname = format!("{}.{}.t", ty.name, f.name);
                let conv = g.compu(&tname, &f.meta);
                let (lo, hi) = limits(f.ty, &f.meta);
                let mut extra = String::new();
                if !f.meta.unit.is_empty() {
                    extra = format!(" PHYS_UNIT {}", quoted(&f.meta.unit));
                }
                g.line(
                    2,
                    &format!(
                        "/begin TYPEDEF_MEASUREMENT {tname} {} {} {conv} 0 0 {} {}{extra} /end TYPEDEF_MEASUREMENT",
                        quoted(&f.meta.comment),
                        f.ty.keyword(),
                        num(lo),
                        num(hi)
                    ),
                );
            }
            g.line(
                2,
                &format!("/begin TYPEDEF_STRUCTURE {} \"\" {:#X}", ty.name, ty.size),
            );
            for f in &ty.fields {
                let dim = if f.len > 1 {
                    format!(" MATRIX_DIM {}", f.len)
                } else {
                    String::new()
                };
                g.line(
                    3,
                    &format!(
                        "/begin STRUCTURE_COMPONENT {} {}.{}.t {:#X}{dim} /end STRUCTURE_COMPONENT",
                        f.name, ty.name, f.name, f.offset
                    ),
                );
            }
            g.line(2, "/end TYPEDEF_STRUCTURE");
        }
        for inst in &s.instances {
            let ty = &s.structs[inst.type_index];
            let addr = crate::memory::event_address(
                inst.event,
                u16::try_from(inst.offset).unwrap_or(u16::MAX),
            );
            g.line(
                2,
                &format!(
                    "/begin INSTANCE {} \"\" {} {addr:#010X}",
                    inst.name, ty.name
                ),
            );
            g.line(
                3,
                &format!("ECU_ADDRESS_EXTENSION {}", crate::memory::EXT_EVENT),
            );
            g.if_data_event(3, Some(inst.event));
            g.line(2, "/end INSTANCE");
        }
    }
    for a in &s.axes {
        let conv = g.compu(&a.name, &a.meta);
        let (lo, hi) = limits(a.ty, &a.meta);
        let addr = segment_address(a.segment, u16::try_from(a.offset).unwrap_or(u16::MAX));
        g.line(
            2,
            &format!(
                "/begin AXIS_PTS {} {} {addr:#010X} NO_INPUT_QUANTITY RL.AXIS.{} 0 {conv} {} {} {}",
                a.name,
                quoted(&a.meta.comment),
                a.ty.keyword(),
                a.len,
                num(lo),
                num(hi)
            ),
        );
        g.line(3, "ECU_ADDRESS_EXTENSION 0");
        if !a.meta.unit.is_empty() {
            g.line(3, &format!("PHYS_UNIT {}", quoted(&a.meta.unit)));
        }
        g.line(2, "/end AXIS_PTS");
    }
    for ch in &s.characteristics {
        let conv = g.compu(&ch.name, &ch.meta);
        let (lo, hi) = limits(ch.ty, &ch.meta);
        let addr = segment_address(ch.segment, u16::try_from(ch.offset).unwrap_or(u16::MAX));
        let kind = match &ch.kind {
            CharKind::Value => "VALUE",
            CharKind::Array { .. } => "VAL_BLK",
            CharKind::Curve { .. } => "CURVE",
            CharKind::Map { .. } => "MAP",
            CharKind::Ascii { .. } => "ASCII",
        };
        // A map's values are stored x by x (`[x][y]`): COLUMN_DIR, y ascending first.
        let layout = if matches!(ch.kind, CharKind::Map { .. }) {
            "RL.MAP"
        } else {
            "RL"
        };
        g.line(
            2,
            &format!(
                "/begin CHARACTERISTIC {} {} {kind} {addr:#010X} {layout}.{} 0 {conv} {} {}",
                ch.name,
                quoted(&ch.meta.comment),
                ch.ty.keyword(),
                num(lo),
                num(hi)
            ),
        );
        g.line(3, "ECU_ADDRESS_EXTENSION 0");
        match &ch.kind {
            CharKind::Array { len } => g.line(3, &format!("MATRIX_DIM {len}")),
            CharKind::Ascii { len } => g.line(3, &format!("NUMBER {len}")),
            CharKind::Curve { axis } => axis_descr(g, axis),
            CharKind::Map { x_axis, y_axis } => {
                axis_descr(g, x_axis);
                axis_descr(g, y_axis);
            }
            CharKind::Value => {}
        }
        if !ch.meta.unit.is_empty() {
            g.line(3, &format!("PHYS_UNIT {}", quoted(&ch.meta.unit)));
        }
        g.line(2, "/end CHARACTERISTIC");
    }
}

fn axis_descr(g: &mut Gen<'_>, axis: &str) {
    let Some(a) = g.s.axes.iter().find(|a| a.name == axis) else {
        return;
    };
    let conv = if a.meta.conversion.is_some() {
        format!("{}.conv", a.name)
    } else {
        "NO_COMPU_METHOD".to_owned()
    };
    let (lo, hi) = limits(a.ty, &a.meta);
    let text = format!(
        "/begin AXIS_DESCR COM_AXIS NO_INPUT_QUANTITY {conv} {} {} {} AXIS_PTS_REF {} /end AXIS_DESCR",
        a.len,
        num(lo),
        num(hi),
        a.name
    );
    g.line(3, &text);
}
