//! Connection profiles: `-t NAME` instead of a URL.
//!
//! Profiles live in a TOML file, searched in this order: `$XCPKIT_CONFIG`, `./xcpkit.toml`,
//! then `$XDG_CONFIG_HOME/xcpkit/xcpkit.toml` (or `~/.config/xcpkit/xcpkit.toml`). Each
//! `[profiles.NAME]` table holds `transport` (the URL) and optionally `a2l` and
//! `timeout_ms`. `xcpkit profile create` writes a commented template; `xcpkit profile convert`
//! reads a pyXCP configuration (the legacy TOML or JSON, or the Python/traitlets one) into a
//! profile.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::a2l::emit;

/// One profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The slave's URL.
    pub(crate) transport: String,
    /// The A2L file.
    pub(crate) a2l: Option<PathBuf>,
    /// T1 in milliseconds.
    pub(crate) timeout_ms: Option<u64>,
    /// The profiles of the slaves a bench of several holds (`slaves = ["front", "rear"]`):
    /// `xcpkit record` records them together, each labelled with its profile's name.
    pub(crate) slaves: Vec<String>,
}

/// The profile files, in search order, that exist.
fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("XCPKIT_CONFIG") {
        out.push(PathBuf::from(p));
    }
    out.push(PathBuf::from("xcpkit.toml"));
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(b) = base {
        out.push(b.join("xcpkit").join("xcpkit.toml"));
    }
    out.into_iter().filter(|p| p.is_file()).collect()
}

fn parse(path: &Path) -> anyhow::Result<Vec<(String, Profile)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let Some(profiles) = table.get("profiles").and_then(toml::Value::as_table) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, v) in profiles {
        let t = v
            .as_table()
            .with_context(|| format!("{}: profiles.{name} is not a table", path.display()))?;
        let slaves: Vec<String> = match t.get("slaves") {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect())
                .with_context(|| {
                    format!(
                        "{}: profiles.{name}.slaves must list profile names: slaves = [\"front\", \"rear\"]",
                        path.display()
                    )
                })?,
        };
        let transport = match t.get("transport").and_then(toml::Value::as_str) {
            Some(url) => url.to_owned(),
            None if !slaves.is_empty() => String::new(),
            None => anyhow::bail!(
                "{}: profiles.{name} needs transport = \"tcp://HOST:PORT\" (or slaves = [\"PROFILE\", …] for several)",
                path.display()
            ),
        };
        out.push((
            name.clone(),
            Profile {
                transport,
                a2l: t
                    .get("a2l")
                    .and_then(toml::Value::as_str)
                    .map(PathBuf::from),
                timeout_ms: t
                    .get("timeout_ms")
                    .and_then(toml::Value::as_integer)
                    .and_then(|v| u64::try_from(v).ok()),
                slaves,
            },
        ));
    }
    Ok(out)
}

/// The profile called `name`, from the first file that has it.
pub(crate) fn find(name: &str) -> anyhow::Result<Profile> {
    let searched = files();
    for f in &searched {
        if let Some((_, p)) = parse(f)?.into_iter().find(|(n, _)| n == name) {
            return Ok(p);
        }
    }
    Err(xcpkit::Error::Url {
        url: name.to_owned(),
        reason: format!(
            "no such profile (searched {}); create one with `xcpkit profile create`",
            if searched.is_empty() {
                "no profile file exists".to_owned()
            } else {
                searched
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    }
    .into())
}

/// `xcpkit profile …`.
#[derive(Debug, Args)]
pub(crate) struct ProfileArgs {
    #[command(subcommand)]
    command: ProfileCommand,
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Write a commented template of every setting.
    Create {
        /// Where (default: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The profile's name.
        #[arg(long, default_value = "ecu")]
        name: String,
        /// The slave's URL.
        #[arg(
            short = 't',
            long = "transport",
            default_value = "tcp://127.0.0.1:5555"
        )]
        url: String,
    },
    /// Read a pyXCP configuration (legacy TOML or JSON, or the Python one) into a profile.
    Convert {
        /// The pyXCP configuration.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        input: PathBuf,
        /// Where (default: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The profile's name.
        #[arg(long, default_value = "converted")]
        name: String,
    },
    /// List the profiles found, with their files.
    List,
}

fn template(name: &str, url: &str, a2l: Option<&str>, timeout_ms: u64, origin: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# xcpkit connection profiles{origin}.");
    let _ = writeln!(
        s,
        "# Use one with `-t {name}`. xcpkit reads $XCPKIT_CONFIG, then ./xcpkit.toml, then"
    );
    let _ = writeln!(
        s,
        "# $XDG_CONFIG_HOME/xcpkit/xcpkit.toml (~/.config/xcpkit/xcpkit.toml)."
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "[profiles.{name}]");
    let _ = writeln!(
        s,
        "# The slave: tcp://HOST:PORT or udp://HOST:PORT (XCP on Ethernet, port 5555 by default)."
    );
    let _ = writeln!(s, "transport = {}", toml::Value::from(url));
    let _ = writeln!(
        s,
        "# The A2L describing the slave; without it, commands fetch it from the slave (GET_ID 4)."
    );
    match a2l {
        Some(a) => {
            let _ = writeln!(s, "a2l = {}", toml::Value::from(a));
        }
        None => {
            let _ = writeln!(s, "# a2l = \"ecu.a2l\"");
        }
    }
    let _ = writeln!(
        s,
        "# T1, the command timeout, in milliseconds (the A2L's PROTOCOL_LAYER has the slave's)."
    );
    let _ = writeln!(s, "timeout_ms = {timeout_ms}");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# Several slaves, each one of the profiles above: `xcpkit record -t test_bench`"
    );
    let _ = writeln!(
        s,
        "# records them into one file, their signals named as `{name}.NAME` where not unique."
    );
    let _ = writeln!(s, "# [profiles.test_bench]");
    let _ = writeln!(s, "# slaves = [\"{name}\", \"other\"]");
    s
}

/// Reads a pyXCP configuration: (URL, timeout ms).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a positive timeout in milliseconds"
)]
fn convert(path: &Path) -> anyhow::Result<(String, Option<u64>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Keys, case-insensitive, from any section or nesting level.
    let mut keys: Vec<(String, String)> = Vec::new();
    fn walk_json(v: &serde_json::Value, keys: &mut Vec<(String, String)>) {
        if let Some(o) = v.as_object() {
            for (k, v) in o {
                match v {
                    serde_json::Value::Object(_) => walk_json(v, keys),
                    serde_json::Value::String(s) => keys.push((k.to_ascii_lowercase(), s.clone())),
                    other => keys.push((k.to_ascii_lowercase(), other.to_string())),
                }
            }
        }
    }
    fn walk_toml(t: &toml::Table, keys: &mut Vec<(String, String)>) {
        for (k, v) in t {
            match v {
                toml::Value::Table(t) => walk_toml(t, keys),
                toml::Value::String(s) => keys.push((k.to_ascii_lowercase(), s.clone())),
                other => keys.push((k.to_ascii_lowercase(), other.to_string())),
            }
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        walk_json(&v, &mut keys);
    } else if let Ok(t) = text.parse::<toml::Table>() {
        walk_toml(&t, &mut keys);
    } else {
        // The Python/traitlets form: c.Transport.Eth.host = "…"
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some((lhs, rhs)) = line.split_once('=')
                && let Some(key) = lhs.trim().rsplit('.').next()
            {
                let v = rhs.trim().trim_matches(['"', '\'']).to_owned();
                let k = key.to_ascii_lowercase();
                // c.Transport.layer is the transport.
                let k = if k == "layer" {
                    "transport".to_owned()
                } else {
                    k
                };
                keys.push((k, v));
            }
        }
    }
    let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let transport = get("transport").unwrap_or_else(|| "ETH".to_owned());
    if !transport.eq_ignore_ascii_case("eth") {
        return Err(xcpkit::Error::Value {
            name: path.display().to_string(),
            reason: format!(
                "uses XCP on {transport}; xcpkit profiles support ETH (TCP/UDP) so far"
            ),
        }
        .into());
    }
    let host = get("host").unwrap_or_else(|| "localhost".to_owned());
    let port = get("port").unwrap_or_else(|| "5555".to_owned());
    let protocol = get("protocol").unwrap_or_else(|| "TCP".to_owned());
    let scheme = if protocol.eq_ignore_ascii_case("udp") {
        "udp"
    } else {
        "tcp"
    };
    // pyXCP's timeout is in seconds.
    let timeout_ms = get("timeout")
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .map(|t| (t * 1000.0).round() as u64);
    Ok((format!("{scheme}://{host}:{port}"), timeout_ms))
}

fn write_out(output: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("profile written to {}", p.display());
            Ok(())
        }
        None => emit(text),
    }
}

/// Runs `xcpkit profile …`.
pub(crate) fn run(args: &ProfileArgs) -> anyhow::Result<()> {
    match &args.command {
        ProfileCommand::Create { output, name, url } => {
            write_out(output.as_ref(), &template(name, url, None, 1000, ""))
        }
        ProfileCommand::Convert {
            input,
            output,
            name,
        } => {
            let (url, timeout) = convert(input)?;
            let origin = format!(
                ", converted from the pyXCP configuration {}",
                input.display()
            );
            write_out(
                output.as_ref(),
                &template(name, &url, None, timeout.unwrap_or(1000), &origin),
            )
        }
        ProfileCommand::List => {
            let mut out = String::new();
            for f in files() {
                for (name, p) in parse(&f)? {
                    let _ = writeln!(out, "{name:<16} {:<28} {}", p.transport, f.display());
                }
            }
            emit(&out)
        }
    }
}
