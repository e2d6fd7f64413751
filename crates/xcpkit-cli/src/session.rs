//! The commands that talk to a slave: `info`, `fetch-a2l`, `read`, `write`, `upload`,
//! `download`, `flash`, `ping`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xcp_proto::{Nanos, TimeUnit};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use xcp_master::{Image, Phase, block_on};
use xcp_proto::{Address, IdType, Resources};
use xcpkit::{Options, Session};

use crate::a2l::emit;

/// Where the slave is and how to talk to it.
#[derive(Debug, Args, Clone)]
pub(crate) struct Conn {
    /// The slave: tcp://HOST:PORT, udp://HOST:PORT, or the name of a profile.
    #[arg(short = 't', long = "transport", value_name = "URL|PROFILE")]
    pub(crate) url: String,
    /// T1, the command timeout, in milliseconds (default: the profile's, else 1000).
    #[arg(long, value_name = "MS")]
    pub(crate) timeout_ms: Option<u64>,
    /// The A2L MODULE to use (default: the only one, else the one whose IF_DATA XCP
    /// describes this transport).
    #[arg(long, value_name = "NAME")]
    pub(crate) module: Option<String>,
}

impl Conn {
    /// The URL, timeout and A2L, resolving a profile name.
    pub(crate) fn resolve(&self) -> anyhow::Result<(String, u64, Option<PathBuf>)> {
        if self.url.contains("://") {
            return Ok((self.url.clone(), self.timeout_ms.unwrap_or(1000), None));
        }
        let p = crate::profile::find(&self.url)?;
        if !p.slaves.is_empty() {
            return Err(xcpkit::Error::Url {
                url: self.url.clone(),
                reason: format!(
                    "the profile lists several slaves ({}): `xcpkit record` records them together; other commands take one of them",
                    p.slaves.join(", ")
                ),
            }
            .into());
        }
        Ok((
            p.transport,
            self.timeout_ms.or(p.timeout_ms).unwrap_or(1000),
            p.a2l,
        ))
    }

    pub(crate) fn open(&self, a2l: Option<PathBuf>) -> anyhow::Result<Session> {
        let (url, timeout_ms, profile_a2l) = self.resolve()?;
        let mut options = Options {
            a2l: a2l.or(profile_a2l),
            module: self.module.clone(),
            ..Options::default()
        };
        let t = Duration::from_millis(timeout_ms.max(1));
        options.master.timeouts.t1 = t;
        options.master.timeouts.t6 = t;
        Ok(Session::open(&url, &options)?)
    }
}

/// `xcpkit info`.
#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    conn: Conn,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn resources(r: Resources) -> Vec<&'static str> {
    [
        (Resources::CAL_PAG, "CAL/PAG"),
        (Resources::DAQ, "DAQ"),
        (Resources::STIM, "STIM"),
        (Resources::PGM, "PGM"),
    ]
    .iter()
    .filter(|(b, _)| r.contains(*b))
    .map(|(_, n)| *n)
    .collect()
}

/// `xcpkit info`: what the slave is and offers.
pub(crate) fn info(args: &InfoArgs) -> anyhow::Result<()> {
    let mut s = args.conn.open(None)?;
    let epk = s.slave_epk().map(str::to_owned);
    let m = s.master();
    let connect = *m.connect_info().context("connected")?;
    let params = *m.params();
    let comm = block_on(m.get_comm_mode_info()).ok();
    let status = block_on(m.get_status())?;
    let version = block_on(m.get_version()).ok();
    let text = |m: &mut xcp_master::Master, t: u8| {
        block_on(m.identification(IdType::from_u8(t)))
            .ok()
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .trim_end_matches('\0')
                    .to_owned()
            })
    };
    let ascii = text(m, 0);
    let file = text(m, 1);
    let daq = block_on(m.get_daq_processor_info()).ok();
    let res = block_on(m.get_daq_resolution_info()).ok();
    let mut events = Vec::new();
    if let Some(d) = daq {
        for e in 0..d.max_event {
            let Ok(info) = block_on(m.get_daq_event_info(e)) else {
                break;
            };
            let name = block_on(m.upload_from_mta(usize::from(info.name_length)))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            events.push((e, name, info));
        }
    }
    let pag = block_on(m.get_pag_processor_info()).ok();
    let pgm = block_on(m.get_pgm_processor_info()).ok();
    let order = connect.byte_order().to_string();
    let ag = params.address_granularity;
    let tick = res.and_then(|r| r.tick_ns());
    if args.json {
        let v = json!({
            "transport": s.target().to_string(),
            "resources": resources(connect.resources),
            "protected": resources(status.protection),
            "byte_order": order,
            "address_granularity": params.ag(),
            "max_cto": params.max_cto,
            "max_dto": params.max_dto,
            "slave_block_mode": connect.slave_block_mode(),
            "master_block_mode": comm.map(|c| c.comm_mode_optional & 1 != 0),
            "max_bs": comm.map(|c| c.max_bs),
            "protocol_version": version.map(|v| format!("{}.{}", v.protocol_major, v.protocol_minor)),
            "transport_version": version.map(|v| format!("{}.{}", v.transport_major, v.transport_minor)),
            "id_ascii": ascii,
            "id_file": file,
            "epk": epk,
            "daq": daq.map(|d| json!({
                "dynamic": d.dynamic(),
                "max_daq": d.max_daq,
                "min_daq": d.min_daq,
                "max_event": d.max_event,
                "id_field": d.id_field().to_string(),
                "timestamp_bytes": res.and_then(|r| r.timestamp_size()).map(xcp_proto::TimestampSize::len),
                "timestamp_tick_ns": tick,
                "max_odt_entry_size": res.map(|r| r.max_size_daq),
            })),
            "events": events.iter().map(|(n, name, e)| json!({
                "channel": n, "name": name, "cycle": e.time_cycle, "unit": e.time_unit,
                "unit_name": TimeUnit::from_code(e.time_unit).map(TimeUnit::keyword),
                "cycle_ns": TimeUnit::from_code(e.time_unit)
                    .map(|u| u64::from(e.time_cycle) * u.nanos()),
                "priority": e.priority, "max_lists": e.max_daq_list,
            })).collect::<Vec<_>>(),
            "pag": pag.map(|(segments, props)| json!({"segments": segments, "freeze": props & 1 != 0})),
            "pgm": pgm.map(|p| json!({"properties": p.properties, "max_sector": p.max_sector})),
        });
        return emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut o = String::new();
    let _ = writeln!(o, "slave at {}", s.target());
    let _ = writeln!(o, "  identity     {}", ascii.as_deref().unwrap_or("?"));
    let _ = writeln!(o, "  file         {}", file.as_deref().unwrap_or("?"));
    let _ = writeln!(o, "  EPK          {}", epk.as_deref().unwrap_or("(none)"));
    if let Some(v) = version {
        let _ = writeln!(
            o,
            "  versions     protocol {}.{}, transport {}.{}",
            v.protocol_major, v.protocol_minor, v.transport_major, v.transport_minor
        );
    }
    let _ = writeln!(
        o,
        "  session      {order}, {ag}, MAX_CTO {}, MAX_DTO {}, slave block mode {}{}",
        params.max_cto,
        params.max_dto,
        on_off(connect.slave_block_mode()),
        comm.map_or_else(String::new, |c| format!(
            ", master block mode {}",
            if c.comm_mode_optional & 1 != 0 {
                format!("on (MAX_BS {})", c.max_bs)
            } else {
                "off".to_owned()
            }
        ))
    );
    let _ = writeln!(
        o,
        "  resources    {} (locked: {})",
        resources(connect.resources).join(", "),
        if status.protection == Resources::NONE {
            "none".to_owned()
        } else {
            resources(status.protection).join(", ")
        }
    );
    if let Some(d) = daq {
        let _ = writeln!(
            o,
            "  DAQ          {}, {} lists ({} predefined), {}, {}",
            if d.dynamic() { "DYNAMIC" } else { "STATIC" },
            d.max_daq,
            d.min_daq,
            d.id_field(),
            match (res.and_then(|r| r.timestamp_size()), tick) {
                (Some(size), Some(ns)) =>
                    format!("timestamps of {} bytes, {ns} ns a tick", size.len()),
                _ => "no timestamps".to_owned(),
            }
        );
    }
    for (n, name, e) in &events {
        let cycle = match TimeUnit::from_code(e.time_unit) {
            _ if e.time_cycle == 0 => "sporadic".to_owned(),
            Some(u) => format!("cycle {}", Nanos(u64::from(e.time_cycle) * u.nanos())),
            None => format!("cycle {} in unit code {}", e.time_cycle, e.time_unit),
        };
        let _ = writeln!(
            o,
            "    event {n:<3} {name:<12} {cycle}, priority {}",
            e.priority
        );
    }
    if let Some((segments, props)) = pag {
        let _ = writeln!(
            o,
            "  PAG          {segments} segment(s), freeze {}",
            if props & 1 != 0 {
                "supported"
            } else {
                "not supported"
            }
        );
    }
    if let Some(p) = pgm {
        let _ = writeln!(o, "  PGM          {} sector(s)", p.max_sector);
    }
    emit(&o)?;
    s.close()?;
    Ok(())
}

/// `xcpkit fetch-a2l`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    conn: Conn,
    /// Write it here instead of to stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `xcpkit fetch-a2l`: the A2L the slave serves (GET_ID 4).
pub(crate) fn fetch_a2l(args: &FetchArgs) -> anyhow::Result<()> {
    let mut s = args.conn.open(None)?;
    let text = s.fetch_a2l()?;
    for (line, name) in xcp_a2l::includes(&text) {
        eprintln!(
            "warning: the served A2L includes \"{name}\" (line {line}), which only the slave's \
             build has: loading it leniently puts the built-in XCP A2ML in place of a missing \
             .aml file; a served A2L should be self-contained"
        );
    }
    match &args.output {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("{} bytes written to {}", text.len(), p.display());
        }
        None => emit(&text)?,
    }
    s.close()?;
    Ok(())
}

/// `xcpkit read` / `xcpkit write`.
#[derive(Debug, Args)]
pub(crate) struct NamesArgs {
    #[command(flatten)]
    conn: Conn,
    /// The A2L file (default: fetched from the slave).
    #[arg(long, value_name = "FILE")]
    a2l: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Names (read) or NAME=VALUE pairs (write).
    #[arg(required = true)]
    items: Vec<String>,
}

fn open_named(args: &NamesArgs) -> anyhow::Result<Session> {
    let mut s = args.conn.open(args.a2l.clone())?;
    if s.a2l().is_none() {
        s.load_a2l_from_slave()?;
    }
    Ok(s)
}

/// `xcpkit read NAME…`: values in physical units.
pub(crate) fn read(args: &NamesArgs) -> anyhow::Result<()> {
    let mut s = open_named(args)?;
    let mut out = String::new();
    let mut obj = serde_json::Map::new();
    for name in &args.items {
        let r = s.read(name)?;
        if args.json {
            let values: Vec<serde_json::Value> = r
                .values
                .iter()
                .map(|v| match v {
                    xcp_a2l::Value::Number(n) => json!(n),
                    xcp_a2l::Value::Text(t) => json!(t),
                })
                .collect();
            let v = match (&r.text, values.as_slice()) {
                (Some(t), _) => json!(t),
                (None, [one]) if r.dims.is_empty() => one.clone(),
                _ => json!(values),
            };
            obj.insert(name.clone(), json!({ "value": v, "unit": r.unit }));
        } else {
            let _ = writeln!(out, "{name} = {r}");
        }
    }
    if args.json {
        out = format!("{}\n", serde_json::to_string_pretty(&obj)?);
    }
    emit(&out)?;
    s.close()?;
    Ok(())
}

/// `xcpkit write NAME=VALUE…`: in physical units, checked against the A2L's limits.
pub(crate) fn write(args: &NamesArgs) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    for item in &args.items {
        let (name, value) = item.split_once('=').ok_or_else(|| xcpkit::Error::Value {
            name: item.clone(),
            reason: "write takes NAME=VALUE".to_owned(),
        })?;
        pairs.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut s = open_named(args)?;
    for (name, value) in &pairs {
        s.write_str(name, value)?;
        eprintln!("{name} = {value}");
    }
    s.close()?;
    Ok(())
}

/// `xcpkit upload` / `xcpkit download`.
#[derive(Debug, Args)]
pub(crate) struct RawArgs {
    #[command(flatten)]
    conn: Conn,
    /// Address extension.
    #[arg(long, default_value_t = 0)]
    ext: u8,
    /// Address (0x… or decimal).
    #[arg(value_parser = parse_u32)]
    address: u32,
    /// upload: the number of bytes; download: the bytes as hex (`01ff…`).
    what: String,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .map_or_else(|| s.parse(), |h| u32::from_str_radix(h, 16));
    r.map_err(|e| format!("{s:?} is not an address: {e}"))
}

/// `xcpkit upload ADDR LEN`: a hex dump.
pub(crate) fn upload(args: &RawArgs) -> anyhow::Result<()> {
    let len: usize = args.what.parse().map_err(|_| xcpkit::Error::Value {
        name: "LEN".into(),
        reason: format!("{:?} is not a byte count", args.what),
    })?;
    let mut s = args.conn.open(None)?;
    let at = Address::new(args.ext, args.address);
    let data = block_on(s.master().upload(at, len))?;
    let mut o = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            o,
            "{:08x}  {}",
            u64::from(args.address) + (i * 16) as u64,
            hex.join(" ")
        );
    }
    emit(&o)?;
    s.close()?;
    Ok(())
}

/// `xcpkit download ADDR HEX`.
pub(crate) fn download(args: &RawArgs) -> anyhow::Result<()> {
    let hex = args.what.trim();
    if !hex.len().is_multiple_of(2) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(xcpkit::Error::Value {
            name: "DATA".into(),
            reason: format!("{hex:?} is not an even number of hex digits"),
        }
        .into());
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    let mut s = args.conn.open(None)?;
    block_on(
        s.master()
            .download(Address::new(args.ext, args.address), &bytes),
    )?;
    eprintln!("{} bytes written", bytes.len());
    s.close()?;
    Ok(())
}

/// `xcpkit flash`.
#[derive(Debug, Args)]
pub(crate) struct FlashArgs {
    #[command(flatten)]
    conn: Conn,
    /// Address extension of the flash.
    #[arg(long, default_value_t = 1)]
    ext: u8,
    /// Do not reset the slave afterwards.
    #[arg(long)]
    no_reset: bool,
    /// Intel HEX or S-record file.
    file: PathBuf,
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// `xcpkit flash FILE`: clear, program, verify, reset, with progress.
pub(crate) fn flash(args: &FlashArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the image {}", args.file.display()))?;
    let image = Image::parse(&text, &args.file.display().to_string())?;
    let mut s = args.conn.open(None)?;
    let mut last = (Phase::Reset, usize::MAX);
    let mut live = crate::live::Live::new();
    let report = block_on(
        s.master()
            .program_image(&image, args.ext, !args.no_reset, &mut |p| {
                let pct = (p.done * 100).checked_div(p.total).unwrap_or(100);
                if live.is_terminal() {
                    // A bar per phase, redrawn in place.
                    if p.phase != last.0 && last.1 != usize::MAX {
                        live.finish();
                    }
                    let bar = pct.min(100) / 5;
                    live.show(&format!(
                        "  {:<11} [{}{}] {pct:3} %",
                        p.phase.to_string(),
                        "#".repeat(bar),
                        ".".repeat(20 - bar)
                    ));
                    last = (p.phase, pct / 10);
                } else if (p.phase, pct / 10) != last {
                    // In a log: a line per tenth of each phase.
                    last = (p.phase, pct / 10);
                    eprintln!("  {} {pct:3} %", p.phase);
                }
            }),
    )?;
    live.finish();
    out!(
        "flashed {} bytes in {} segment(s), {} packets{}, verified with {}",
        report.bytes,
        report.segments,
        report.packets,
        if report.block_mode {
            " (master block mode)"
        } else {
            ""
        },
        report
            .verified_with
            .map_or_else(|| "a read-back".to_owned(), |t| t.to_string())
    );
    Ok(())
}

/// `xcpkit ping`.
#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    #[command(flatten)]
    conn: Conn,
    /// Number of commands.
    #[arg(short = 'n', default_value_t = 100)]
    count: usize,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `xcpkit ping`: GET_STATUS round trips, min/median/p99.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "percentile index"
)]
pub(crate) fn ping(args: &PingArgs) -> anyhow::Result<()> {
    let mut s = args.conn.open(None)?;
    let mut t = Vec::with_capacity(args.count);
    for _ in 0..args.count.max(1) {
        let t0 = Instant::now();
        block_on(s.master().get_status())?;
        t.push(t0.elapsed());
    }
    t.sort_unstable();
    let at = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    if args.json {
        emit(&format!(
            "{}\n",
            json!({"n": t.len(), "min_us": us(t[0]), "median_us": us(at(0.5)), "p99_us": us(at(0.99)), "max_us": us(t[t.len()-1])})
        ))?;
    } else {
        emit(&format!(
            "{} GET_STATUS to {}: min {:.1} µs, median {:.1} µs, p99 {:.1} µs, max {:.1} µs\n",
            t.len(),
            s.target(),
            us(t[0]),
            us(at(0.5)),
            us(at(0.99)),
            us(t[t.len() - 1])
        ))?;
    }
    s.close()?;
    Ok(())
}
