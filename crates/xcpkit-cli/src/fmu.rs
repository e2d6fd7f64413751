//! `xcpkit fmu`: FMUs that follow the FMI layered standard for XCP: check one, describe
//! it, extract its A2L.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use fmi_ls_xcp::{Fmu, Report, check};

use crate::a2l::emit;

/// `xcpkit fmu`.
#[derive(Debug, Args)]
pub(crate) struct FmuArgs {
    #[command(subcommand)]
    command: FmuCommand,
}

#[derive(Debug, Subcommand)]
enum FmuCommand {
    /// Check an FMU (or an unpacked one) against fmi-ls-xcp: the manifest, the role
    /// variables, every interface's A2L for this platform. Exit status 2 when a rule is
    /// broken.
    Check(FileArgs),
    /// What an FMU offers: FMI version, interface types, XCP interfaces, role variables and
    /// their start values, the A2L files.
    Info(FileArgs),
    /// Extract an interface's A2L for this platform, ready for an MCD tool.
    A2l(A2lArgs),
}

#[derive(Debug, Args)]
struct FileArgs {
    /// The `.fmu` archive or an unpacked FMU's directory.
    file: PathBuf,
}

#[derive(Debug, Args)]
struct A2lArgs {
    /// The `.fmu` archive or an unpacked FMU's directory.
    file: PathBuf,
    /// The interface (1 for the manifest's first).
    #[arg(long, default_value_t = 1, value_name = "N")]
    interface: usize,
    /// Where to write it (default: the definition's file name in the current directory).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A rule broken: exit status 2, as for other bad input.
#[derive(Debug)]
pub(crate) struct Broken(pub(crate) usize);

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rule(s) of fmi-ls-xcp broken", self.0)
    }
}

impl std::error::Error for Broken {}

pub(crate) fn run(args: &FmuArgs) -> anyhow::Result<()> {
    match &args.command {
        FmuCommand::Check(a) => {
            let r = report(a)?;
            let mut out = String::new();
            for f in &r.findings {
                let _ = writeln!(out, "{f}");
            }
            if r.findings.is_empty() {
                let _ = writeln!(
                    out,
                    "{}: fmi-ls-xcp {} with {} interface(s), FMI {}, A2L for {} checked: no rule broken",
                    a.file.display(),
                    r.manifest.ls_version,
                    r.interfaces.len(),
                    r.model.fmi_version,
                    r.platform
                );
            }
            emit(&out)?;
            if r.findings.is_empty() {
                Ok(())
            } else {
                Err(Broken(r.findings.len()).into())
            }
        }
        FmuCommand::Info(a) => {
            let r = report(a)?;
            emit(&info(&r))
        }
        FmuCommand::A2l(a) => extract(a),
    }
}

fn report(a: &FileArgs) -> anyhow::Result<Report> {
    let mut fmu = Fmu::open(&a.file)?;
    Ok(check(&mut fmu)?)
}

fn info(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model        {}", r.model.model_name);
    let _ = writeln!(out, "FMI          {}", r.model.fmi_version);
    let _ = writeln!(out, "types        {}", r.model.interface_types.join(", "));
    let _ = writeln!(
        out,
        "platform     {} ({})",
        r.platform,
        if r.binary {
            "binary"
        } else {
            "no binary: source code FMU"
        }
    );
    let _ = writeln!(out, "fmi-ls-xcp   {}", r.manifest.ls_version);
    for (n, i) in r.interfaces.iter().enumerate() {
        let x = &i.interface;
        let mut what = Vec::new();
        if x.contains_xcp_service {
            what.push("its own XCP service");
        }
        if x.supports_direct_memory_access {
            what.push("direct memory access");
        }
        let _ = writeln!(
            out,
            "interface {}  {} ({})",
            n + 1,
            x.definition,
            what.join(", ")
        );
        if let Some(d) = &x.description {
            let _ = writeln!(out, "  {d}");
        }
        if !x.types.is_empty() {
            let _ = writeln!(out, "  for        {}", x.types.join(", "));
        }
        for role in &i.roles {
            let _ = writeln!(
                out,
                "  {:<27} {} = {} ({} {})",
                role.role.name(),
                role.name,
                role.start.as_deref().unwrap_or("no start value"),
                role.causality,
                role.variability
            );
        }
        match &i.a2l_path {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "  A2L        {p}: MODULE {}, EPK {}, {}",
                    i.a2l_module.as_deref().unwrap_or("?"),
                    i.a2l_epk.as_deref().unwrap_or("none"),
                    if i.transports.is_empty() {
                        "no IP transport".to_owned()
                    } else {
                        i.transports.join(", ")
                    }
                );
            }
            None => {
                let _ = writeln!(out, "  A2L        none for {}", r.platform);
            }
        }
    }
    if !r.findings.is_empty() {
        let _ = writeln!(
            out,
            "{} rule(s) broken (xcpkit fmu check lists them)",
            r.findings.len()
        );
    }
    out
}

fn extract(a: &A2lArgs) -> anyhow::Result<()> {
    let mut fmu = Fmu::open(&a.file)?;
    let r = check(&mut fmu)?;
    let i = a
        .interface
        .checked_sub(1)
        .and_then(|n| r.interfaces.get(n))
        .with_context(|| {
            format!(
                "the manifest has {} interface(s); --interface takes 1 to {}",
                r.interfaces.len(),
                r.interfaces.len()
            )
        })?;
    let path = i.a2l_path.as_deref().with_context(|| {
        format!(
            "interface {} ({}) has no A2L for {}",
            a.interface, i.interface.definition, r.platform
        )
    })?;
    let bytes = fmu
        .read(path)?
        .with_context(|| format!("{path} vanished from the FMU"))?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(path.rsplit('/').next().unwrap_or("interface.a2l")));
    std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    emit(&format!(
        "{} bytes of {path} written to {}\n",
        bytes.len(),
        out.display()
    ))
}
