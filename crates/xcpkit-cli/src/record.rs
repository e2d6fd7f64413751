//! `xcpkit record` and `xcpkit info-rec`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use xcp_recorder::{Codec, Reader, Source, WriterOptions};
use xcpkit::MeasureOptions;

use crate::a2l::emit;

/// `xcpkit record`.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The slave: tcp://HOST:PORT, udp://HOST:PORT, can://…, or the name of a profile. Give it
    /// once per slave to record several into one file, each followed by its own `--a2l` and
    /// `-s`, labelled `LABEL=URL` (default: the profile's name, else slave1, slave2, …).
    #[arg(
        short = 't',
        long = "transport",
        value_name = "[LABEL=]URL|PROFILE",
        required = true
    )]
    pub(crate) targets: Vec<String>,
    /// T1, the command timeout, in milliseconds (default: the profile's, else 1000).
    #[arg(long, value_name = "MS")]
    pub(crate) timeout_ms: Option<u64>,
    /// The A2L MODULE to use (default: the only one, else the one whose IF_DATA XCP
    /// describes this transport).
    #[arg(long, value_name = "NAME")]
    pub(crate) module: Option<String>,
    /// The A2L file of the slave it follows (default: the profile's, else fetched from the
    /// slave).
    #[arg(long, value_name = "FILE")]
    pub(crate) a2l: Vec<PathBuf>,
    /// Signals to record, by A2L name, of the slave they follow (repeat the option or give
    /// several); `LABEL.NAME` names a slave's signal wherever it stands.
    #[arg(long = "signal", short = 's', value_name = "NAME", required = true, num_args = 1..)]
    pub(crate) signals: Vec<String>,
    /// Record every signal on this event instead of the one its A2L object names.
    #[arg(long, value_name = "N")]
    pub(crate) event: Option<u16>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "S")]
    pub(crate) duration: Option<f64>,
    /// The recording file.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Block compression: lz4 (fast, the default), zstd (smaller files) or none.
    #[arg(long, default_value = "lz4", value_parser = parse_codec)]
    codec: Codec,
    /// zstd level, 1 (fastest) to 22 (smallest).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
    zstd_level: i32,
    /// Every frame is written to the file within this many milliseconds of its arrival, at
    /// any rate: a crash of this process (even SIGKILL) loses at most that much.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    flush_ms: u64,
    /// Sync the file to the disk at most this many milliseconds after a write, so a power
    /// loss takes at most about `--flush-ms` plus this; 0 syncs only at the end.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    sync_ms: u64,
}

fn parse_codec(s: &str) -> Result<Codec, String> {
    Codec::parse(s).ok_or_else(|| format!("{s:?} is not a codec (lz4, zstd or none)"))
}

/// The writer's options from the command line.
pub(crate) fn writer_options(args: &RecordArgs) -> WriterOptions {
    WriterOptions {
        codec: args.codec,
        zstd_level: args.zstd_level,
        sync_every: (args.sync_ms > 0).then(|| Duration::from_millis(args.sync_ms)),
        ..WriterOptions::default()
    }
    .flush_within(Duration::from_millis(args.flush_ms))
}

/// A flag Ctrl-C sets.
pub(crate) fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    Ok(stop)
}

/// `xcpkit record`: DAQ by name into a recording, with a live line, until the duration is
/// over or Ctrl-C; nothing queued is lost on the way out. Several `-t` record several slaves
/// into one file. `matches` places each `--a2l` and `-s` after its `-t`.
pub(crate) fn record(args: &RecordArgs, matches: Option<&clap::ArgMatches>) -> anyhow::Result<()> {
    let targets = crate::multi::targets(args, matches)?;
    if let [one] = &targets[..]
        && !one.grouped
    {
        return record_one(args, one);
    }
    crate::multi::record(args, targets)
}

/// One slave's recording.
fn record_one(args: &RecordArgs, target: &crate::multi::Target) -> anyhow::Result<()> {
    let mut s = target.conn(args).open(target.a2l.clone())?;
    let result = record_in(args, target, &mut s);
    // Left disconnected either way: a slave keeps a master that left without DISCONNECT.
    let closed = s.close();
    result?;
    Ok(closed?)
}

#[allow(clippy::cast_precision_loss, reason = "rates for the live line")]
fn record_in(
    args: &RecordArgs,
    target: &crate::multi::Target,
    s: &mut xcpkit::Session,
) -> anyhow::Result<()> {
    if s.a2l().is_none() {
        s.load_a2l_from_slave()?;
    }
    let names: Vec<&str> = target.signals.iter().map(String::as_str).collect();
    let options = MeasureOptions {
        event: args.event,
        ..MeasureOptions::default()
    };
    let rec = s.record(&names, &args.output, options, writer_options(args))?;
    let stop = stop_flag()?;
    eprintln!(
        "recording {} column(s) on event(s) {:?} to {}{}",
        rec.measurement()
            .columns()
            .iter()
            .map(Vec::len)
            .sum::<usize>(),
        rec.measurement().events(),
        args.output.display(),
        args.duration
            .map_or_else(|| " until Ctrl-C".to_owned(), |d| format!(" for {d} s"))
    );
    let t0 = Instant::now();
    let limit = args.duration.map(|d| Duration::from_secs_f64(d.max(0.0)));
    let (mut rows, mut last) = (0u64, Instant::now());
    let mut live = crate::live::Live::new();
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|l| t0.elapsed() < l) {
        if let Some(batch) = rec.measurement().recv(Duration::from_millis(50))? {
            rows += batch.len() as u64;
        }
        if last.elapsed() >= Duration::from_millis(500) {
            last = Instant::now();
            let st = rec.measurement().stats();
            let lost: u64 = st.lists.iter().map(|l| l.incomplete).sum::<u64>() + st.dropped_rows;
            live.show(&format!(
                "  {:6.1} s  {rows} rows ({:.0}/s)  lost {lost}  overload events {}",
                t0.elapsed().as_secs_f64(),
                rows as f64 / t0.elapsed().as_secs_f64(),
                st.overload_events
            ));
        }
    }
    live.finish();
    let summary = rec.finish(s)?;
    written("", &summary, &args.output)
}

/// The closing line of a recording: `recorded {what}N frames …`.
pub(crate) fn written(
    what: &str,
    summary: &xcp_recorder::Summary,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    out!(
        "recorded {what}{} frames ({} bytes before compression) in {} blocks, {} bytes on disk, {} dropped by the writer, to {}",
        summary.frames,
        summary.bytes,
        summary.blocks,
        summary.file_bytes,
        summary.dropped_frames,
        output.display()
    );
    Ok(())
}

/// `xcpkit info-rec`.
#[derive(Debug, Args)]
pub(crate) struct InfoRecArgs {
    /// The recording.
    file: PathBuf,
}

/// `xcpkit info-rec FILE`: what a recording holds and what could be salvaged.
#[allow(clippy::cast_precision_loss, reason = "seconds for display")]
pub(crate) fn info_rec(args: &InfoRecArgs) -> anyhow::Result<()> {
    if is_xmraw(&args.file) {
        return Err(xcpkit::Error::Value {
            name: args.file.display().to_string(),
            reason: "a pyXCP .xmraw recording: `xcpkit convert FILE --to xcprec` imports it".into(),
        }
        .into());
    }
    let mut r = Reader::open(&args.file)?;
    let mut o = String::new();
    let _ = writeln!(o, "{}", args.file.display());
    if xcp_recorder::multi::is_multi(r.meta()) {
        let slaves = xcp_recorder::multi::Slaves::scan(&mut r)?;
        describe_slaves(&mut o, &slaves, r.time_span().map_or(0, |(a, _)| a));
    }
    let m = r.meta();
    let s = r.salvage();
    if !xcp_recorder::multi::is_multi(m) {
        describe_slave(&mut o, m, "");
    }
    let mut codecs: Vec<&str> = Vec::new();
    for b in r.blocks() {
        let name = match b.header.codec {
            Codec::None => "uncompressed",
            Codec::Lz4 => "LZ4",
            Codec::Zstd => "zstd",
        };
        if !codecs.contains(&name) {
            codecs.push(name);
        }
    }
    let _ = writeln!(
        o,
        "  frames       {} in {} block(s) ({}); {} dropped by the writer",
        s.frames,
        s.blocks,
        codecs.join(", "),
        s.dropped_frames
    );
    if let Some((a, b)) = r.time_span() {
        let _ = writeln!(
            o,
            "  time span    {:.3} s (host clock, Unix ns {a} .. {b})",
            (b - a) as f64 / 1e9
        );
    }
    let _ = writeln!(
        o,
        "  state        {}",
        if s.closed {
            "closed normally (index present)".to_owned()
        } else {
            format!(
                "not closed (the writer stopped early); salvaged {} block(s){}",
                s.blocks,
                s.truncated_at.map_or_else(String::new, |t| format!(
                    ", an unfinished block at byte {t} skipped"
                ))
            )
        }
    );
    for (at, why) in &s.damaged {
        let _ = writeln!(o, "  damaged      at byte {at}: {why}");
    }
    emit(&o)
}

/// The slave, A2L and lists of one slave's metadata, each line indented by `indent`.
fn describe_slave(o: &mut String, m: &serde_json::Value, indent: &str) {
    let _ = writeln!(
        o,
        "{indent}  slave        {} (EPK {})",
        m["slave"]["transport"].as_str().unwrap_or("?"),
        m["slave"]["epk"].as_str().unwrap_or("?")
    );
    if m["a2l"].is_object() {
        let _ = writeln!(
            o,
            "{indent}  A2L          module {} file {} crc32 {}",
            m["a2l"]["module"].as_str().unwrap_or("?"),
            m["a2l"]["file"].as_str().unwrap_or("?"),
            m["a2l"]["crc32"].as_str().unwrap_or("-")
        );
    }
    for l in m["daq"]["lists"].as_array().into_iter().flatten() {
        let names: Vec<&str> = l["signals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect();
        let _ = writeln!(
            o,
            "{indent}  list {:<3}     event {}, {} ODT(s): {}",
            l["number"],
            l["event"],
            l["odts"].as_array().map_or(0, Vec::len),
            names.join(", ")
        );
    }
}

/// Each slave of a recording of several: what it is, its frames and losses, its clock.
#[allow(clippy::cast_precision_loss, reason = "seconds for display")]
fn describe_slaves(o: &mut String, slaves: &xcp_recorder::multi::Slaves, first_ns: u64) {
    let secs = |ns: u64| ns.saturating_sub(first_ns) as f64 / 1e9;
    let _ = writeln!(o, "  slaves       {}", slaves.slaves.len());
    for s in &slaves.slaves {
        let _ = writeln!(o, "  slave {}", s.label);
        describe_slave(o, &s.meta, "  ");
        let lost = s.lost().map_or_else(
            || "not known (the recording was not closed)".to_owned(),
            |n| n.to_string(),
        );
        let span = s.span.map_or_else(
            || "none".to_owned(),
            |(a, b)| format!("{:.3} s to {:.3} s", secs(a), secs(b)),
        );
        let _ = writeln!(o, "    frames       {}, lost {lost}; from {span}", s.frames);
        let worst = s.clock.iter().map(|c| c.uncertainty_ns).max().unwrap_or(0);
        match (s.offset_ns(), s.drift_ppm()) {
            (Some(off), Some(ppm)) => {
                let wrap = s
                    .wrap_ns()
                    .filter(|w| {
                        s.clock
                            .first()
                            .and_then(|c| c.slave_ns)
                            .is_some_and(|x| x < *w)
                    })
                    .map_or_else(String::new, |w| {
                        format!(" (modulo the clock's {:.3} s range)", w / 1e9)
                    });
                let _ = writeln!(
                    o,
                    "    clock        offset {:+.6} s{wrap}, drift {ppm:+.1} ppm, {} readings (within {:.1} µs)",
                    off / 1e9,
                    s.clock.len(),
                    worst as f64 / 1e3
                );
            }
            _ => {
                let _ = writeln!(
                    o,
                    "    clock        {} reading(s): {}",
                    s.clock.len(),
                    if s.clock.is_empty() {
                        "no correlation (its lists are timed by the host's arrival)"
                    } else {
                        "too few for a drift"
                    }
                );
            }
        }
        if let Some((at, why)) = &s.dropped_out {
            let _ = writeln!(o, "    dropped out  at {:.3} s: {why}", secs(*at));
        }
    }
    if slaves.bad_notes > 0 || slaves.stray_frames > 0 {
        let _ = writeln!(
            o,
            "  unreadable   {} note(s), {} frame(s) of no slave",
            slaves.bad_notes, slaves.stray_frames
        );
    }
}

/// `xcpkit convert`.
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The recording: ours (.xcprec) or pyXCP's (.xmraw, imported on the way).
    input: PathBuf,
    /// Output format: csv, mf4, parquet, or xcprec (a pyXCP .xmraw imported as a recording).
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    to: String,
    /// Output file (default: the input with the format's extension).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Parquet column compression: snappy (the default, read everywhere), zstd or zstd:LEVEL
    /// (smaller files, slower), lz4 (LZ4_RAW) or none.
    #[arg(long, value_name = "CODEC")]
    compression: Option<String>,
    /// CSV: one file per DAQ list (`OUT-STEM.LIST.csv`, time and the list's columns) instead
    /// of one merged file.
    #[arg(long)]
    per_list: bool,
    /// Export only the frames from this many seconds after the recording's first frame on
    /// (host time; the exports' time axis still starts at the first frame).
    #[arg(long, value_name = "SECONDS")]
    from: Option<f64>,
    /// Export only the frames before this many seconds after the recording's first frame.
    #[arg(long, value_name = "SECONDS")]
    until: Option<f64>,
}

/// `--from` and `--until` as host times, with the recording's first frame at `first`; `None`
/// when neither is given.
fn window_of(args: &ConvertArgs, first: Option<u64>) -> anyhow::Result<Option<(u64, Option<u64>)>> {
    if args.from.is_none() && args.until.is_none() {
        return Ok(None);
    }
    let at = |name: &str, secs: f64| -> Result<u64, xcpkit::Error> {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(xcpkit::Error::Value {
                name: name.into(),
                reason: format!("{secs} is not a number of seconds from the recording's start"),
            });
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "finite, not negative; past u64 saturates, as a time past the end"
        )]
        let ns = (secs * 1e9).round() as u64;
        Ok(first.unwrap_or(0).saturating_add(ns))
    };
    let from = args.from.map(|s| at("--from", s)).transpose()?.unwrap_or(0);
    let until = args.until.map(|s| at("--until", s)).transpose()?;
    if until.is_some_and(|u| u <= from) {
        return Err(xcpkit::Error::Value {
            name: "--until".into(),
            reason: "the window ends before it starts: --until must be greater than --from".into(),
        }
        .into());
    }
    Ok(Some((from, until)))
}

/// `xcpkit convert IN --to csv`: the rows in physical units, one merged CSV with a header row
/// (host time in seconds from the first frame, list, then every list's columns), or one CSV
/// per list with `--per-list`.
pub(crate) fn convert(args: &ConvertArgs) -> anyhow::Result<()> {
    if args.per_list && args.to != "csv" {
        return Err(xcpkit::Error::Value {
            name: "--per-list".into(),
            reason: format!(
                "applies to --to csv only (Parquet is always one file per list, MDF4 one data group per list; --to {})",
                args.to
            ),
        }
        .into());
    }
    if args.compression.is_some() && args.to != "parquet" {
        return Err(xcpkit::Error::Value {
            name: "--compression".into(),
            reason: format!(
                "applies to --to parquet only (the other formats are not compressed; --to {})",
                args.to
            ),
        }
        .into());
    }
    if !is_xmraw(&args.input) {
        if args.to == "xcprec" {
            return Err(xcpkit::Error::Value {
                name: args.input.display().to_string(),
                reason: "--to xcprec imports pyXCP .xmraw files; this one is not".into(),
            }
            .into());
        }
        let mut r = Reader::open(&args.input)?;
        let first = r.time_span().map(|(a, _)| a);
        return match window_of(args, first)? {
            Some((from, until)) => export_from(
                args,
                &mut xcp_recorder::Window::new(&mut r, from, until),
                &args.input,
            ),
            None => export_from(args, &mut r, &args.input),
        };
    }
    let out_path = output_of(args, &args.input);
    if args.to == "xcprec" {
        if args.from.is_some() || args.until.is_some() {
            return Err(xcpkit::Error::Value {
                name: "--from/--until".into(),
                reason: "apply to exports; --to xcprec imports the whole .xmraw".into(),
            }
            .into());
        }
        let s = xcp_recorder::xmraw::import(&args.input, &out_path, WriterOptions::default())?;
        out!("{} to {}", s.describe(), out_path.display());
        return Ok(());
    }
    // Converted in place: the exports read pyXCP's containers directly.
    let mut src = xcp_recorder::xmraw::XmrawSource::open(&args.input)?;
    match window_of(args, src.first_ns())? {
        Some((from, until)) => export_from(
            args,
            &mut xcp_recorder::Window::new(&mut src, from, until),
            &args.input,
        )?,
        None => export_from(args, &mut src, &args.input)?,
    }
    if let Some(found) = src.last_pass() {
        eprintln!("read {}", found.describe());
    }
    Ok(())
}

#[cfg(feature = "parquet")]
fn parquet(
    args: &ConvertArgs,
    src: &mut dyn Source,
    input: &std::path::Path,
) -> anyhow::Result<()> {
    let out_path = output_of(args, input);
    let compression = match &args.compression {
        None => xcp_recorder::parquet::Compression::default(),
        Some(c) => {
            xcp_recorder::parquet::Compression::parse(c).ok_or_else(|| xcpkit::Error::Value {
                name: c.clone(),
                reason: "not a Parquet compression (snappy, zstd, zstd:1 to zstd:22, lz4 or none)"
                    .into(),
            })?
        }
    };
    let s = xcp_recorder::parquet::export_from(src, &out_path, compression)?;
    for (path, rows) in &s.files {
        out!("{rows} rows to {}", path.display());
    }
    Ok(())
}

#[cfg(not(feature = "parquet"))]
fn parquet(
    args: &ConvertArgs,
    _src: &mut dyn Source,
    _input: &std::path::Path,
) -> anyhow::Result<()> {
    Err(xcpkit::Error::Value {
        name: args.to.clone(),
        reason: "this xcpkit was built without the `parquet` feature".into(),
    }
    .into())
}

/// Whether `path` starts with pyXCP's `.xmraw` magic.
fn is_xmraw(path: &std::path::Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == xcp_recorder::xmraw::MAGIC
}

/// `--output`, else `input` with the extension of the format `--to` names.
fn output_of(args: &ConvertArgs, input: &std::path::Path) -> PathBuf {
    args.output.clone().unwrap_or_else(|| {
        input.with_extension(match args.to.as_str() {
            "mdf" => "mf4",
            other => other,
        })
    })
}

/// Exports the frames of `src`; output names default to `input`'s with the format's extension.
fn export_from(
    args: &ConvertArgs,
    src: &mut dyn Source,
    input: &std::path::Path,
) -> anyhow::Result<()> {
    if args.to == "mf4" || args.to == "mdf" {
        let out_path = output_of(args, input);
        let s = xcp_recorder::mdf4::export_from(src, &out_path)?;
        out!(
            "{} records in {} data group(s), {} channels, to {}",
            s.records,
            s.groups,
            s.channels,
            out_path.display()
        );
        return Ok(());
    }
    if args.to == "parquet" {
        return parquet(args, src, input);
    }
    if args.to != "csv" {
        return Err(xcpkit::Error::Value {
            name: args.to.clone(),
            reason: "the formats are csv, mf4 and parquet (and xcprec for pyXCP .xmraw files)"
                .into(),
        }
        .into());
    }
    let out_path = output_of(args, input);
    let layout = if args.per_list {
        xcp_recorder::csv::Layout::PerList
    } else {
        xcp_recorder::csv::Layout::Merged
    };
    let s = xcp_recorder::csv::export_with(src, &out_path, layout)?;
    for (path, rows) in &s.files {
        out!("{rows} rows to {}", path.display());
    }
    out!(
        "in all: {} rows; {} incomplete, {} unknown frames, {} damaged block(s)",
        s.rows,
        s.incomplete,
        s.unknown,
        s.damaged
    );
    Ok(())
}
