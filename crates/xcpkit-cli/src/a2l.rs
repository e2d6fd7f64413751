//! `xcpkit a2l check | list | show | update`: look into an A2L file with `xcp-a2l`, and set
//! its addresses from a binary's symbols.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use xcp_a2l::{A2l, Conversion, ElementType, LoadOptions, Object, ObjectKind, Value};

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
        /// One JSON array instead: per object its kind, address, type, size, conversion, unit,
        /// limits and a few raw → physical sample points (for cross-checks with other tools).
        #[arg(long)]
        json: bool,
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
    /// Set every object's address from its SYMBOL_LINK through an ELF binary's symbol table
    /// (relative to the image base for a shared object, absolute for an executable).
    /// Objects without a SYMBOL_LINK keep theirs; a symbol the binary lacks is listed and
    /// makes the exit status 2 unless --lenient.
    Update {
        /// The A2L file.
        file: PathBuf,
        /// The ELF binary (shared object or executable) with its symbol table.
        #[arg(long, value_name = "BINARY")]
        elf: PathBuf,
        /// Where to write the updated A2L (default: over FILE).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Write the file even when symbols are missing.
        #[arg(long)]
        lenient: bool,
        /// Print every object updated, not only the count.
        #[arg(long)]
        list: bool,
    },
}

/// Symbols an A2L names that its binary lacks: exit status 2, as for other bad input.
#[derive(Debug)]
pub(crate) struct Unresolved(pub(crate) usize);

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} SYMBOL_LINK(s) not found in the binary; nothing written (--lenient writes the rest)",
            self.0
        )
    }
}

impl std::error::Error for Unresolved {}

fn update(
    file: &std::path::Path,
    elf: &std::path::Path,
    output: Option<&std::path::Path>,
    lenient: bool,
    list: bool,
) -> anyhow::Result<()> {
    let symbols = xcpkit_fmu::elf::Symbols::read(elf).map_err(anyhow::Error::msg)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let result = xcp_a2l::update_addresses(&text, &|name| symbols.resolve(name))
        .with_context(|| format!("{}", file.display()))?;
    for u in &result.unresolved {
        eprintln!("{}: {u}", file.display());
    }
    if list {
        for r in &result.resolved {
            println!("{r}");
        }
    }
    if !result.unresolved.is_empty() && !lenient {
        return Err(Unresolved(result.unresolved.len()).into());
    }
    let out = output.unwrap_or(file);
    std::fs::write(out, &result.text).with_context(|| format!("cannot write {}", out.display()))?;
    let changed = result
        .resolved
        .iter()
        .filter(|r| r.old != Some(r.new))
        .count();
    println!(
        "{}: {} address(es) from {} ({} changed, {}), {} object(s) without SYMBOL_LINK kept, {} symbol(s) not found",
        out.display(),
        result.resolved.len(),
        elf.display(),
        changed,
        if symbols.relative {
            "relative to the image base"
        } else {
            "absolute"
        },
        result.without_link,
        result.unresolved.len()
    );
    Ok(())
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

/// Every MODULE of the file (warnings on stderr).
fn load(file: &PathBuf, strict: bool) -> anyhow::Result<Vec<A2l>> {
    let (all, warnings) = A2l::load_all(
        file,
        &LoadOptions {
            strict,
            ..LoadOptions::default()
        },
    )?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    Ok(all)
}

/// Every object of every module as `(module index, name as shown, name in its module,
/// kind)`: a name defined in more than one module is shown as `MODULE::name`.
fn all_names(modules: &[A2l]) -> Vec<(usize, String, String, ObjectKind)> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut names = Vec::new();
    for (i, a2l) in modules.iter().enumerate() {
        for (name, kind) in a2l.names() {
            *seen.entry(name.clone()).or_default() += 1;
            names.push((i, name, kind));
        }
    }
    names
        .into_iter()
        .map(|(i, name, kind)| {
            let shown = if seen.get(&name).copied().unwrap_or(0) > 1 {
                format!("{}::{name}", modules[i].module_name())
            } else {
                name.clone()
            };
            (i, shown, name, kind)
        })
        .collect()
}

/// The module and object a name means: `MODULE::name`, or a name only one module has.
fn find<'a>(modules: &'a [A2l], name: &'a str) -> anyhow::Result<(&'a A2l, &'a str)> {
    if let Some((module, rest)) = name.split_once("::")
        && let Some(a2l) = modules.iter().find(|m| m.module_name() == module)
    {
        return Ok((a2l, rest));
    }
    let having: Vec<&A2l> = modules.iter().filter(|m| m.object(name).is_ok()).collect();
    match having[..] {
        [one] => Ok((one, name)),
        [] => {
            // The first module's error names similar objects.
            let first = modules.first().context("the file has no MODULE")?;
            first.object(name)?;
            Ok((first, name))
        }
        _ => bail!(
            "\"{name}\" is in {} MODULEs; name one: {}",
            having.len(),
            having
                .iter()
                .map(|m| format!("{}::{name}", m.module_name()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs `xcpkit a2l …`.
pub(crate) fn run(args: &A2lArgs) -> anyhow::Result<()> {
    match &args.command {
        A2lCommand::Check { file, strict } => check(file, *strict),
        A2lCommand::Update {
            file,
            elf,
            output,
            lenient,
            list,
        } => update(file, elf, output.as_deref(), *lenient, *list),
        A2lCommand::List {
            file,
            json,
            kind,
            filter,
        } => {
            let modules = load(file, false)?;
            let re = filter
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .context("--filter is not a valid regular expression")?;
            let names = all_names(&modules);
            let selected = names.iter().filter(|(_, shown, _, k)| {
                kind.is_none_or(|want| want.matches(*k))
                    && re.as_ref().is_none_or(|r| r.is_match(shown))
            });
            if *json {
                let list: Vec<_> = selected
                    .map(|(i, shown, name, _)| {
                        let mut v = json_entry(&modules[*i], name);
                        v["name"] = json!(shown);
                        v["module"] = json!(modules[*i].module_name());
                        v
                    })
                    .collect();
                let text = serde_json::to_string_pretty(&list)?;
                return emit(&format!("{text}\n"));
            }
            let mut out = String::new();
            let mut n = 0;
            for (i, shown, name, k) in selected {
                let addr = modules[*i]
                    .object(name)
                    .ok()
                    .and_then(|o| o.address)
                    .map_or_else(|| "-".to_owned(), |a| format!("{}:0x{:08X}", a.ext, a.addr));
                let _ = writeln!(out, "{:<12} {shown:<40} {addr}", k.keyword());
                n += 1;
            }
            emit(&out)?;
            eprintln!("{n} object(s)");
            Ok(())
        }
        A2lCommand::Show { file, name } => {
            let modules = load(file, false)?;
            if name == "xcp" {
                let several = modules.len() > 1;
                let mut text = String::new();
                for a2l in &modules {
                    if several {
                        let _ = writeln!(text, "MODULE {}", a2l.module_name());
                    }
                    text.push_str(&show_xcp(a2l));
                }
                emit(&text)
            } else {
                let (a2l, name) = find(&modules, name)?;
                emit(&show(&a2l.object(name)?))
            }
        }
    }
}

/// Writes to stdout; a closed pipe (`xcpkit a2l list … | head`) is an error `main` treats
/// as a quiet end.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Raw values at which `list --json` shows the conversion: small integers, a negative one
/// for signed types, a fraction for floats, and the type's extremes.
fn sample_raws(t: ElementType) -> Vec<f64> {
    let (lo, hi) = t.range();
    let mut raws = vec![0.0, 1.0, 2.0, 3.0, 7.0, 100.0, 1000.0, -1.0, -100.0, lo, hi];
    if !t.is_integer() {
        raws.extend([0.5, -2.25]);
    }
    raws.retain(|r| (lo..=hi).contains(r) && r.is_finite());
    raws.sort_by(f64::total_cmp);
    raws.dedup();
    raws
}

/// One object for `list --json`; an object that does not resolve carries its error.
fn json_entry(a2l: &A2l, name: &str) -> serde_json::Value {
    let o = match a2l.object(name) {
        Ok(o) => o,
        Err(e) => return json!({ "name": name, "error": e.to_string() }),
    };
    let samples: Vec<_> = sample_raws(o.datatype)
        .into_iter()
        .filter_map(|raw| match o.compu.to_physical(raw).ok()? {
            Value::Number(p) if p.is_finite() => Some(json!([raw, p])),
            Value::Number(_) => None,
            Value::Text(t) => Some(json!([raw, t])),
        })
        .collect();
    json!({
        "name": o.name,
        "kind": o.kind.keyword(),
        "ext": o.address.map(|a| a.ext),
        "address": o.address.map(|a| a.addr),
        "datatype": o.datatype.keyword(),
        "byte_order": o.byte_order.keyword(),
        "dims": o.dims,
        "size": o.size(),
        "conversion": o.compu.name,
        "conversion_kind": o.compu.kind(),
        "unit": o.unit,
        "limits": [o.limits.0, o.limits.1],
        "writable": o.writable,
        "events": o.events,
        "samples": samples,
    })
}

/// A limit or coefficient as people write it: `1e300`, not three hundred digits.
fn num(v: f64) -> String {
    if v != 0.0 && !(1e-4..1e12).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn check(file: &PathBuf, strict: bool) -> anyhow::Result<()> {
    let modules = match A2l::load_all(
        file,
        &LoadOptions {
            strict,
            ..LoadOptions::default()
        },
    ) {
        Ok((modules, warnings)) => {
            for w in &warnings {
                out!("warning: {w}");
            }
            modules
        }
        Err(xcp_a2l::Error::Strict { warnings, .. }) => {
            for w in &warnings {
                out!("error (strict): {w}");
            }
            bail!("{} warning(s) in strict mode", warnings.len());
        }
        Err(e) => return Err(e.into()),
    };
    // Objects whose description is broken (dangling references, missing layouts) are errors.
    let mut errors = 0;
    for a2l in &modules {
        for (name, _) in a2l.names() {
            if let Err(e) = a2l.object(&name) {
                out!("error: {}: {e}", a2l.module_name());
                errors += 1;
            }
        }
        let c = a2l.counts();
        out!(
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
    }
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
        let _ = writeln!(
            s,
            "  dimensions   {}",
            o.dims
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" × ")
        );
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
            num(a.limits.0),
            num(a.limits.1),
            a.axis_pts
                .as_ref()
                .map_or_else(String::new, |r| format!(", points in {r}")),
            a.fixed.as_ref().map_or_else(String::new, |f| {
                format!(
                    ", fixed {}",
                    f.iter().map(|v| num(*v)).collect::<Vec<_>>().join(", ")
                )
            })
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
    let _ = writeln!(
        s,
        "  limits       [{}, {}]",
        num(o.limits.0),
        num(o.limits.1)
    );
    if let Some((lo, hi)) = o.extended_limits {
        let _ = writeln!(s, "  extended     [{}, {}]", num(lo), num(hi));
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
        let _ = writeln!(
            s,
            "  events       {}",
            o.events
                .iter()
                .map(|e| format!("channel {e}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
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
            format!(
                ": {}",
                table
                    .iter()
                    .map(|(x, y)| format!("{} → {}", num(*x), num(*y)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
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
        let _ = writeln!(s, "{p}");
        if !p.optional_commands.is_empty() {
            let _ = writeln!(s, "  OPTIONAL_CMD {}", p.optional_commands.join(" "));
        }
    }
    if let Some(d) = &x.daq {
        let _ = writeln!(s, "{d}");
        for e in &d.events {
            let _ = writeln!(s, "  {e}");
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
