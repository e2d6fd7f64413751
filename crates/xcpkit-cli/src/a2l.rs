//! `xcpkit a2l check | list | show`: look into an A2L file with `xcp-a2l`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use xcp_a2l::{A2l, Conversion, LoadOptions, Object, ObjectKind};

/// Options of `xcpkit a2l`.
#[derive(Debug, Args)]
pub(crate) struct A2lArgs {
    #[command(subcommand)]
    command: A2lCommand,
}

#[derive(Debug, Subcommand)]
enum A2lCommand {
    /// Load the file; print warnings and errors with their lines. Exits non-zero on errors
    /// (and, with --strict, on warnings).
    Check {
        /// The A2L file.
        file: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// List objects, one per line: kind, name, address.
    List {
        /// The A2L file.
        file: PathBuf,
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// Only names matching this regular expression.
        #[arg(long, value_name = "REGEX")]
        filter: Option<String>,
    },
    /// Everything resolved about one object (or `xcp` for the IF_DATA XCP and transports).
    Show {
        /// The A2L file.
        file: PathBuf,
        /// Object name (`inst.member[3].x` for instance members), or `xcp`.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Measurement,
    Characteristic,
    AxisPts,
    Blob,
}

impl Kind {
    fn matches(self, k: ObjectKind) -> bool {
        match self {
            Self::Measurement => k == ObjectKind::Measurement,
            Self::AxisPts => k == ObjectKind::AxisPts,
            Self::Blob => k == ObjectKind::Blob,
            Self::Characteristic => {
                k.is_characteristic() && !matches!(k, ObjectKind::AxisPts | ObjectKind::Blob)
            }
        }
    }
}

fn load(file: &PathBuf, strict: bool) -> anyhow::Result<A2l> {
    let (a2l, warnings) = A2l::load(
        file,
        &LoadOptions {
            strict,
            ..LoadOptions::default()
        },
    )?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    Ok(a2l)
}

/// Runs `xcpkit a2l …`.
pub(crate) fn run(args: &A2lArgs) -> anyhow::Result<()> {
    match &args.command {
        A2lCommand::Check { file, strict } => check(file, *strict),
        A2lCommand::List { file, kind, filter } => {
            let a2l = load(file, false)?;
            let re = filter
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .context("--filter is not a valid regular expression")?;
            let mut n = 0;
            for (name, k) in a2l.names() {
                if kind.is_some_and(|want| !want.matches(k))
                    || re.as_ref().is_some_and(|r| !r.is_match(&name))
                {
                    continue;
                }
                let addr = a2l
                    .object(&name)
                    .ok()
                    .and_then(|o| o.address)
                    .map_or_else(|| "-".to_owned(), |a| format!("{}:0x{:08X}", a.ext, a.addr));
                println!("{:<12} {name:<40} {addr}", k.keyword());
                n += 1;
            }
            eprintln!("{n} object(s)");
            Ok(())
        }
        A2lCommand::Show { file, name } => {
            let a2l = load(file, false)?;
            if name == "xcp" {
                print!("{}", show_xcp(&a2l));
            } else {
                print!("{}", show(&a2l.object(name)?));
            }
            Ok(())
        }
    }
}

fn check(file: &PathBuf, strict: bool) -> anyhow::Result<()> {
    let a2l = match A2l::load(
        file,
        &LoadOptions {
            strict,
            ..LoadOptions::default()
        },
    ) {
        Ok((a2l, warnings)) => {
            for w in &warnings {
                println!("warning: {w}");
            }
            a2l
        }
        Err(xcp_a2l::Error::Strict { warnings, .. }) => {
            for w in &warnings {
                println!("error (strict): {w}");
            }
            bail!("{} warning(s) in strict mode", warnings.len());
        }
        Err(e) => return Err(e.into()),
    };
    // Objects whose description is broken (dangling references, missing layouts) are errors.
    let mut errors = 0;
    for (name, _) in a2l.names() {
        if let Err(e) = a2l.object(&name) {
            println!("error: {e}");
            errors += 1;
        }
    }
    let c = a2l.counts();
    println!(
        "{}: module {}, ASAP2 {}, {} measurements, {} characteristics, {} axis points, {} blobs, {} instances",
        file.display(),
        a2l.module_name(),
        a2l.version()
            .map_or_else(|| "?".to_owned(), |(v, u)| format!("{v}.{u}")),
        c.measurements,
        c.characteristics,
        c.axis_pts,
        c.blobs,
        c.instances
    );
    if errors > 0 {
        bail!("{errors} object(s) cannot be resolved");
    }
    Ok(())
}

fn show(o: &Object) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} {}  \"{}\"", o.kind.keyword(), o.name, o.comment);
    match o.address {
        Some(a) => {
            let _ = writeln!(
                s,
                "  address      ext {} addr 0x{:08X}, {} bytes",
                a.ext,
                a.addr,
                o.size()
            );
        }
        None => {
            let _ = writeln!(s, "  address      none (virtual)");
        }
    }
    let _ = writeln!(s, "  type         {} {}", o.datatype, o.byte_order);
    if !o.dims.is_empty() {
        let _ = writeln!(s, "  dimensions   {:?}", o.dims);
    }
    if let Some(l) = &o.layout {
        let _ = writeln!(s, "  layout       {} {}", l.name, l.index_mode);
        for i in &l.items {
            let _ = writeln!(
                s,
                "    +{:<4} {} × {} {}",
                i.offset, i.count, i.datatype, i.what
            );
        }
    }
    for (n, a) in o.axes.iter().enumerate() {
        let _ = writeln!(
            s,
            "  axis {n}       {} input {} conversion {} ({}), {} points, [{}, {}]{}{}",
            a.attribute,
            a.input,
            a.compu.name,
            a.compu.kind(),
            a.max_points,
            a.limits.0,
            a.limits.1,
            a.axis_pts
                .as_ref()
                .map_or_else(String::new, |r| format!(", points in {r}")),
            a.fixed
                .as_ref()
                .map_or_else(String::new, |f| format!(", fixed {f:?}"))
        );
    }
    let _ = writeln!(
        s,
        "  conversion   {} ({}){}",
        o.compu.name,
        o.compu.kind(),
        describe(&o.compu.conversion)
    );
    if let Some(st) = &o.compu.status {
        let _ = writeln!(
            s,
            "  status texts {} ({} entries)",
            st.name,
            st.entries.len()
        );
    }
    let _ = writeln!(s, "  unit         {}", o.unit);
    let _ = writeln!(s, "  limits       [{}, {}]", o.limits.0, o.limits.1);
    if let Some((lo, hi)) = o.extended_limits {
        let _ = writeln!(s, "  extended     [{lo}, {hi}]");
    }
    let _ = writeln!(
        s,
        "  access       {}",
        if o.writable {
            "read/write"
        } else {
            "read-only"
        }
    );
    if let Some(m) = o.bit_mask {
        let _ = writeln!(s, "  bit mask     0x{m:X}");
    }
    if !o.events.is_empty() {
        let _ = writeln!(s, "  events       {:?}", o.events);
    }
    s
}

fn describe(c: &Conversion) -> String {
    match c {
        Conversion::Linear { a, b } => format!(": phys = {a}·raw + {b}"),
        Conversion::RatFunc { coeffs } => format!(
            ": raw = ({}p² + {}p + {}) / ({}p² + {}p + {})",
            coeffs[0], coeffs[1], coeffs[2], coeffs[3], coeffs[4], coeffs[5]
        ),
        Conversion::TabIntp { table, .. } | Conversion::TabNoIntp { table, .. } => {
            format!(": {table:?}")
        }
        Conversion::TabVerb(t) => format!(
            ": {}",
            t.entries
                .iter()
                .map(|(lo, hi, text)| if lo == hi {
                    format!("{lo}=\"{text}\"")
                } else {
                    format!("{lo}..{hi}=\"{text}\"")
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Conversion::Form { formula, inverse } => format!(
            ": f(X1) = {formula}{}",
            inverse.as_ref().map_or_else(
                || ", no FORMULA_INV (read-only)".to_owned(),
                |g| format!(", inverse {g}")
            )
        ),
        _ => String::new(),
    }
}

fn show_xcp(a2l: &A2l) -> String {
    let x = a2l.xcp();
    let mut s = String::new();
    if let Some((epk, addr)) = a2l.epk() {
        let _ = writeln!(
            s,
            "EPK {epk:?}{}",
            addr.map_or_else(String::new, |a| format!(" at 0x{a:08X}"))
        );
    }
    if let Some(p) = &x.protocol {
        let _ = writeln!(
            s,
            "PROTOCOL_LAYER MAX_CTO {:?} MAX_DTO {:?} {} {} T1..T7 {:?} ms",
            p.max_cto,
            p.max_dto,
            p.byte_order.as_deref().unwrap_or("?"),
            p.address_granularity.as_deref().unwrap_or("?"),
            p.timeouts_ms
        );
    }
    if let Some(d) = &x.daq {
        let _ = writeln!(
            s,
            "DAQ {} MAX_DAQ {:?} events {:?} {} timestamps {:?}",
            d.config_type.as_deref().unwrap_or("?"),
            d.max_daq,
            d.max_event_channel,
            d.id_field.as_deref().unwrap_or("?"),
            d.timestamp
        );
        for e in &d.events {
            let _ = writeln!(
                s,
                "  EVENT {:?} channel {:?} cycle {:?} unit {:?}",
                e.name, e.channel, e.time_cycle, e.time_unit
            );
        }
    }
    for t in &x.transports {
        let _ = writeln!(s, "{t}");
    }
    if x.unparsed {
        let _ = writeln!(
            s,
            "(some IF_DATA XCP did not match the A2ML and was skipped)"
        );
    }
    s
}
