//! `xcpkit cal`: parameter sets saved from a slave, loaded into one, compared, converted,
//! frozen.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use xcp_a2l::{A2l, LoadOptions as A2lOptions};
use xcp_cal::{Format, Image, ParamSet};
use xcpkit::{LoadOptions, Session};

use crate::a2l::emit;
use crate::session::Conn;

/// `xcpkit cal`.
#[derive(Debug, Args)]
pub(crate) struct CalArgs {
    #[command(subcommand)]
    command: CalCommand,
}

#[derive(Debug, Subcommand)]
enum CalCommand {
    /// Save every calibration object (or those --filter matches) from the slave to a DCM,
    /// CDFX, JSON file or a memory image (.hex, .bin).
    Save(SaveArgs),
    /// Load a parameter file or image into the slave: every check first, then the writes,
    /// then a read-back.
    Load(LoadArgs),
    /// What differs between two parameter files, or a file and the slave (-t).
    Diff(DiffArgs),
    /// Convert between DCM, CDFX, JSON and memory images (images need --a2l).
    Convert(ConvertArgs),
    /// Make the slave keep its working page across a restart (freeze, STORE_CAL_REQ).
    Freeze(FreezeArgs),
}

#[derive(Debug, Args)]
struct SaveArgs {
    #[command(flatten)]
    conn: Conn,
    /// The A2L file (default: fetched from the slave).
    #[arg(long, value_name = "FILE")]
    a2l: Option<PathBuf>,
    /// Only objects whose name this regular expression matches.
    #[arg(long, value_name = "REGEX")]
    filter: Option<String>,
    /// The file: .dcm, .cdfx, .json, .hex or .bin.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct LoadArgs {
    #[command(flatten)]
    conn: Conn,
    /// The A2L file (default: fetched from the slave).
    #[arg(long, value_name = "FILE")]
    a2l: Option<PathBuf>,
    /// Show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Load a file taken from another software version (EPK).
    #[arg(long)]
    ignore_epk: bool,
    /// The parameter file or image.
    file: PathBuf,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The slave to compare the first file with, instead of a second file.
    #[arg(short = 't', long = "transport", value_name = "URL|PROFILE")]
    url: Option<String>,
    /// The A2L (images need it; with -t, default: fetched from the slave).
    #[arg(long, value_name = "FILE")]
    a2l: Option<PathBuf>,
    /// The old side (with -t: the slave is the old side and this the new).
    a: PathBuf,
    /// The new side.
    b: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ConvertArgs {
    /// The A2L, for memory images.
    #[arg(long, value_name = "FILE")]
    a2l: Option<PathBuf>,
    /// The input file.
    input: PathBuf,
    /// The output file; its extension says the format.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct FreezeArgs {
    #[command(flatten)]
    conn: Conn,
    /// How long the slave may take to store, in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    wait_ms: u64,
}

pub(crate) fn run(args: &CalArgs) -> anyhow::Result<()> {
    match &args.command {
        CalCommand::Save(a) => save(a),
        CalCommand::Load(a) => load(a),
        CalCommand::Diff(a) => diff(a),
        CalCommand::Convert(a) => convert(a),
        CalCommand::Freeze(a) => freeze(a),
    }
}

fn open(conn: &Conn, a2l: Option<&Path>) -> anyhow::Result<Session> {
    let mut s = conn.open(a2l.map(Path::to_path_buf))?;
    if s.a2l().is_none() {
        s.load_a2l_from_slave()?;
    }
    Ok(s)
}

fn load_a2l(path: &Path) -> anyhow::Result<A2l> {
    let (a2l, _) = A2l::load(path, &A2lOptions::default())?;
    Ok(a2l)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A memory image file: Intel HEX / S-records, or raw (placed by the A2L's regions).
fn read_image(path: &Path, format: Format, a2l: Option<&A2l>) -> anyhow::Result<Image> {
    let file = path.display().to_string();
    if format == Format::Raw {
        let a2l = a2l.ok_or(xcp_cal::Error::NeedsA2l("a raw image"))?;
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {file}"))?;
        return Ok(Image::from_raw(a2l, &bytes)?);
    }
    let img = xcp_master::Image::parse(&read_text(path)?, &file)?;
    Ok(Image {
        segments: img
            .segments
            .into_iter()
            .map(|(addr, bytes)| (xcp_a2l::Address { ext: 0, addr }, bytes))
            .collect(),
    })
}

fn write_image(path: &Path, format: Format, image: &Image) -> anyhow::Result<()> {
    let bytes = if format == Format::Raw {
        image.to_raw().1
    } else {
        xcp_master::Image {
            segments: image
                .segments
                .iter()
                .map(|(a, b)| (a.addr, b.clone()))
                .collect(),
            entry: None,
        }
        .to_ihex()
        .into_bytes()
    };
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// A parameter set from a file; images through `a2l`.
fn read_set(path: &Path, a2l: Option<&A2l>) -> anyhow::Result<ParamSet> {
    let format = Format::of(path)?;
    if format.is_image() {
        let a2l = a2l.ok_or(xcp_cal::Error::NeedsA2l("a memory image"))?;
        let mut img = read_image(path, format, Some(a2l))?;
        let (set, _) = xcpkit::cal::params_from_image(a2l, &mut img, &|_| true)?;
        return Ok(set);
    }
    Ok(format.read(&read_text(path)?, &path.display().to_string())?)
}

fn write_set(path: &Path, set: &ParamSet) -> anyhow::Result<()> {
    let format = Format::of(path)?;
    if format.is_image() {
        anyhow::bail!(
            "{}: an image holds the whole calibration memory, which a parameter set does not; \
             save one from the slave (xcpkit cal save -o FILE.hex) or load the set and save",
            path.display()
        );
    }
    std::fs::write(path, format.write(set)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn save(args: &SaveArgs) -> anyhow::Result<()> {
    let format = Format::of(&args.output)?;
    let mut s = open(&args.conn, args.a2l.as_deref())?;
    let mut out = String::new();
    if format.is_image() {
        let img = s.save_image()?;
        write_image(&args.output, format, &img)?;
        let bytes: usize = img.segments.iter().map(|(_, b)| b.len()).sum();
        let _ = writeln!(
            out,
            "saved {bytes} bytes in {} region(s) as {format} to {}",
            img.segments.len(),
            args.output.display()
        );
    } else {
        let re = args
            .filter
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .context("--filter")?;
        let keep = |n: &str| re.as_ref().is_none_or(|r| r.is_match(n));
        let (set, skipped) = s.save_params(&keep)?;
        write_set(&args.output, &set)?;
        let _ = writeln!(
            out,
            "saved {} parameter(s) as {format} to {} (EPK {})",
            set.params.len(),
            args.output.display(),
            set.origin.epk.as_deref().unwrap_or("unknown")
        );
        for f in skipped {
            let _ = writeln!(out, "  passed over {f}");
        }
    }
    emit(&out)?;
    s.close()?;
    Ok(())
}

fn load(args: &LoadArgs) -> anyhow::Result<()> {
    let mut s = open(&args.conn, args.a2l.as_deref())?;
    let set = read_set(&args.file, s.a2l())?;
    let report = s.load_params(
        &set,
        LoadOptions {
            dry_run: args.dry_run,
            ignore_epk: args.ignore_epk,
        },
    )?;
    let mut out = String::new();
    for c in &report.plan.changes {
        let _ = writeln!(out, "{c}");
    }
    let changed = set.params.len() - report.plan.unchanged;
    if args.dry_run {
        let _ = writeln!(
            out,
            "dry run: {changed} of {} parameter(s) would change, in {} write(s); nothing written",
            set.params.len(),
            report.plan.blocks.len()
        );
    } else {
        if report.switched_to_working_page {
            out.push_str("switched XCP and the ECU to the working page (0) first\n");
        }
        let _ = writeln!(
            out,
            "loaded {}: {changed} of {} parameter(s) changed, {} byte(s) in {} download(s), read back equal",
            args.file.display(),
            set.params.len(),
            report.bytes,
            report.downloads
        );
    }
    emit(&out)?;
    s.close()?;
    Ok(())
}

/// Exit status 1 when the two sides differ, as diff(1).
fn diff(args: &DiffArgs) -> anyhow::Result<()> {
    let a2l_file = args.a2l.as_deref().map(load_a2l).transpose()?;
    let (old, new, session) = match (&args.url, &args.b) {
        (Some(url), None) => {
            let conn = Conn {
                url: url.clone(),
                timeout_ms: None,
                module: None,
            };
            let mut s = open(&conn, args.a2l.as_deref())?;
            let new = read_set(&args.a, s.a2l())?;
            let names: Vec<String> = new.params.iter().map(|p| p.name.clone()).collect();
            let (old, _) = s.save_params(&|n| names.iter().any(|x| x == n))?;
            (old, new, Some(s))
        }
        (None, Some(b)) => (
            read_set(&args.a, a2l_file.as_ref())?,
            read_set(b, a2l_file.as_ref())?,
            None,
        ),
        _ => anyhow::bail!("diff takes two files, or one file and -t URL"),
    };
    let diffs = old.diff(&new);
    let mut out = String::new();
    for d in &diffs {
        let _ = writeln!(out, "{d}");
    }
    if let (Some(a), Some(b)) = (&old.origin.epk, &new.origin.epk)
        && a != b
    {
        let _ = writeln!(out, "EPK: \"{a}\" → \"{b}\"");
    }
    emit(&out)?;
    if let Some(s) = session {
        s.close()?;
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        std::process::exit(1);
    }
}

fn convert(args: &ConvertArgs) -> anyhow::Result<()> {
    let a2l = args.a2l.as_deref().map(load_a2l).transpose()?;
    let (fin, fout) = (Format::of(&args.input)?, Format::of(&args.output)?);
    let mut out = String::new();
    if fin.is_image() && fout.is_image() {
        let img = read_image(&args.input, fin, a2l.as_ref())?;
        write_image(&args.output, fout, &img)?;
        let _ = writeln!(out, "wrote {} as {fout}", args.output.display());
    } else {
        let set = read_set(&args.input, a2l.as_ref())?;
        write_set(&args.output, &set)?;
        let _ = writeln!(
            out,
            "wrote {} parameter(s) as {fout} to {}",
            set.params.len(),
            args.output.display()
        );
    }
    emit(&out)
}

fn freeze(args: &FreezeArgs) -> anyhow::Result<()> {
    let mut s = args.conn.open(None)?;
    let r = s.freeze(Duration::from_millis(args.wait_ms))?;
    let segments = if r.frozen_segments > 0 {
        format!("{} segment(s) in FREEZE mode, ", r.frozen_segments)
    } else {
        String::new()
    };
    emit(&format!(
        "frozen: {segments}STORE_CAL_REQ done in {} ms\n",
        r.took.as_millis()
    ))?;
    s.close()?;
    Ok(())
}
