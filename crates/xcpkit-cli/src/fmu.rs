//! `xcpkit fmu`: FMUs that follow the FMI layered standard for XCP: check one, describe
//! it, extract its A2L.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Args, Subcommand};
use fmi_ls_xcp::{Fmu, Report, check};
use xcpkit_fmu::import::{ServeOptions, Served};

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
    /// Run an FMI 3.0 or 2.0 Co-Simulation FMU whose interface supports direct memory access and
    /// serve its memory over XCP (fmi-ls-xcp section 5): only the A2L objects' extents are
    /// reachable, reads and writes fall between steps, one event per communication point
    /// with simulation-time timestamps. Runs until the stop time or Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The `.fmu` archive or an unpacked FMU's directory.
    file: PathBuf,
    /// The manifest's interface (default: the first with direct memory access).
    #[arg(long, value_name = "N")]
    interface: Option<usize>,
    /// Serve XCP on TCP at this address (default 127.0.0.1:5555 unless --udp is given; port
    /// 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// Serve XCP on UDP at this address.
    #[arg(long, value_name = "ADDR")]
    udp: Option<SocketAddr>,
    /// Communication step size in seconds (default: the model's, else 0.001).
    #[arg(long, value_name = "S")]
    step: Option<f64>,
    /// Start time in seconds (default: the model's, else 0).
    #[arg(long, value_name = "T")]
    start_time: Option<f64>,
    /// Stop time in seconds (default: the model's, else run until Ctrl-C).
    #[arg(long, value_name = "T")]
    stop_time: Option<f64>,
    /// Pace simulation time to the wall clock, 1 s per second (the default).
    #[arg(long, conflicts_with = "speed")]
    realtime: bool,
    /// Simulation seconds per wall-clock second; 0 runs as fast as the FMU steps.
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
    /// Set a variable's start value before initialisation (repeatable).
    #[arg(long = "start", value_name = "NAME=VALUE")]
    starts: Vec<String>,
    /// Write the A2L the service uploads (GET_ID 4) to this file.
    #[arg(long, value_name = "FILE")]
    a2l_out: Option<PathBuf>,
    /// Write the FMU's Float64 (FMI 2.0: Real) outputs at every communication point to this
    /// CSV file (read through the FMI API).
    #[arg(long, value_name = "FILE")]
    outputs: Option<PathBuf>,
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
        FmuCommand::Serve(a) => serve(a),
    }
}

#[allow(
    clippy::print_stderr,
    reason = "the FMU's log lines go to stderr, beside the tool's own log"
)]
fn serve(a: &ServeArgs) -> anyhow::Result<()> {
    let starts = a
        .starts
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(n, v)| (n.trim().to_owned(), v.to_owned()))
                .with_context(|| format!("--start {s}: NAME=VALUE expected"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let speed = match a.speed {
        Some(x) if !(x.is_finite() && x >= 0.0) => {
            anyhow::bail!("--speed {x}: a number of 0 or more expected")
        }
        Some(0.0) => None,
        Some(x) => Some(x),
        None => Some(1.0),
    };
    let tcp = match (a.tcp, a.udp) {
        (None, None) => Some(xcpkit_fmu::import::DEFAULT_TCP),
        (t, _) => t,
    };
    let options = ServeOptions {
        interface: a.interface,
        tcp,
        udp: a.udp,
        step: a.step,
        start_time: a.start_time,
        stop_time: a.stop_time,
        starts,
    };
    let mut served = Served::open(&a.file, &options)?;
    if let Some(path) = &a.a2l_out {
        std::fs::write(path, served.a2l())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let (base, len) = served.image();
    let model = served.model().clone();
    out!(
        "{} (FMI {}): image at 0x{base:X}, {len} bytes; step {} s",
        model.model_name,
        model.fmi_version,
        served.step_size()
    );
    for r in served.regions() {
        out!(
            "  serving 0x{:X}..0x{:X} ({} bytes, {} object(s), {})",
            r.offset,
            r.offset as usize + r.len,
            r.len,
            r.objects,
            if r.writable {
                "read-write"
            } else {
                "read-only"
            }
        );
    }
    for n in served.notes() {
        out!("  note: {n}");
    }
    for d in served.serving() {
        match d {
            xcp_slave::TransportDesc::Tcp(x) => out!("listening on tcp://{x}"),
            xcp_slave::TransportDesc::Udp(x) => out!("listening on udp://{x}"),
            _ => {}
        }
    }
    let outputs: Vec<String> = model
        .variables
        .iter()
        .filter(|v| v.causality == "output" && xcpkit_fmu::import::is_float64(&v.ty) && v.scalar)
        .map(|v| v.name.clone())
        .collect();
    let names: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let mut csv = match &a.outputs {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let mut w = std::io::BufWriter::new(f);
            writeln!(w, "time,{}", outputs.join(","))?;
            Some(w)
        }
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("cannot install the Ctrl-C handler")?;
    }
    out!(
        "running{}; press Ctrl-C to stop",
        a.stop_time
            .or(served.model().default_stop)
            .filter(|t| t.is_finite())
            .map_or_else(String::new, |t| format!(" to {t} s"))
    );
    let mut failure: Option<anyhow::Error> = None;
    let wall = std::time::Instant::now();
    let steps = served.run(speed, &stop, |s| {
        let (lines, dropped) = s.take_log();
        for l in lines {
            eprintln!("FMU: {l}");
        }
        if dropped > 0 {
            eprintln!("FMU: {dropped} log line(s) dropped");
        }
        if failure.is_some() {
            return;
        }
        if let Some(w) = csv.as_mut() {
            let row = s
                .get_f64(&names)
                .map_err(anyhow::Error::from)
                .and_then(|v| {
                    let mut line = s.time().to_string();
                    for x in v {
                        line.push(',');
                        line.push_str(&x.to_string());
                    }
                    writeln!(w, "{line}").map_err(anyhow::Error::from)
                });
            if let Err(e) = row {
                failure = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    if let Some(w) = csv.as_mut() {
        w.flush()?;
    }
    let stats = served.slave().stats();
    let time = served.time();
    served.terminate()?;
    let steps = steps?;
    if let Some(e) = failure {
        return Err(e.context("writing the outputs"));
    }
    out!(
        "{steps} steps to {time} s in {:.3} s; {} DTOs sent, {} dropped",
        wall.elapsed().as_secs_f64(),
        stats.dtos_dequeued,
        stats.dtos_dropped
    );
    Ok(())
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
