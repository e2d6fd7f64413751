//! `xcpkit`: the xcpkit command line.
//!
//! `xcpkit demo` shows the whole toolkit on the built-in virtual ECU; `xcpkit ecu` serves that
//! ECU (an engine-and-vehicle model over XCP on TCP and/or UDP); `xcpkit a2l` checks, lists
//! and shows A2L files; `info`, `fetch-a2l`, `read`, `write`, `upload`, `download`, `flash` and
//! `ping` talk to any slave.
//!
//! Exit codes: 0 success, 1 other failures, 2 bad input (arguments, names, values, A2L, EPK,
//! files that are not recordings),
//! 3 no answer (unreachable, timeout), 4 negative response (the slave refused).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user on stdout and stderr"
)]

/// `println!` for commands: a closed standard output (the reader of a pipe went away, as in
/// `xcpkit convert … | head`) returns the broken-pipe error from the command, on which `main`
/// exits quietly, instead of panicking. Only in functions returning `anyhow::Result`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?;
    }};
}

mod a2l;
mod cal;
mod can;
mod demo;
mod discover;
mod ecu;
mod fmu;
mod live;
mod multi;
mod profile;
mod record;
mod session;
mod usb;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The xcpkit command line.
#[derive(Debug, Parser)]
#[command(
    name = "xcpkit",
    version,
    about = "XCP toolkit: measure and calibrate ECUs by name, a virtual ECU, A2L tools"
)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the whole toolkit on the built-in virtual ECU: connect, fetch the A2L, measure a
    /// dozen signals by name, calibrate, record, summarise.
    Demo(demo::DemoArgs),
    /// What a slave is and offers: identity, EPK, session parameters, resources and
    /// protection, DAQ, events, paging, programming.
    Info(session::InfoArgs),
    /// The A2L the slave serves (GET_ID 4).
    FetchA2l(session::FetchArgs),
    /// Read values by name, in physical units.
    Read(session::NamesArgs),
    /// Write values by name (NAME=VALUE), in physical units, within the A2L's limits.
    Write(session::NamesArgs),
    /// Read raw bytes at an address.
    Upload(session::RawArgs),
    /// Write raw bytes (hex) at an address.
    Download(session::RawArgs),
    /// Program an Intel HEX or S-record file into the slave's flash.
    Flash(session::FlashArgs),
    /// Command round trips (GET_STATUS): min, median, p99, like ping.
    Ping(session::PingArgs),
    /// Find slaves: GET_SLAVE_ID over Ethernet multicast, or on a CAN bus (--can URL).
    Discover(discover::DiscoverArgs),
    /// CAN: the backends this build has and what they see (probe), an emulated slcan
    /// adapter (emulate-slcan).
    Can(can::CanArgs),
    /// USB: the devices that look like XCP on USB (list).
    Usb(usb::UsbArgs),
    /// Connection profiles: create a template, convert a pyXCP configuration, list.
    Profile(profile::ProfileArgs),
    /// Record DAQ by signal name into a recording file, until the duration or Ctrl-C.
    Record(record::RecordArgs),
    /// What a recording holds: slave, A2L, lists, frames, time span, salvage report.
    InfoRec(record::InfoRecArgs),
    /// Export a recording: CSV of physical values, MDF4 (`--to mf4`) or Parquet (`--to parquet`).
    Convert(record::ConvertArgs),
    /// Run the virtual ECU: an engine-and-vehicle model measurable and calibratable over XCP.
    Ecu(ecu::EcuArgs),
    /// Look into an A2L file: check it, list its objects, show one resolved.
    A2l(a2l::A2lArgs),
    /// Calibration data: save, load, compare and convert parameter sets (DCM, CDFX, JSON,
    /// HEX images), freeze the working page.
    Cal(cal::CalArgs),
    /// FMUs with XCP (FMI layered standard fmi-ls-xcp): check one, describe it, extract its
    /// A2L.
    Fmu(fmu::FmuArgs),
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A second initialisation (never in this binary) would only lose the new settings.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Info(args) => session::info(&args),
        Command::FetchA2l(args) => session::fetch_a2l(&args),
        Command::Read(args) => session::read(&args),
        Command::Write(args) => session::write(&args),
        Command::Upload(args) => session::upload(&args),
        Command::Download(args) => session::download(&args),
        Command::Flash(args) => session::flash(&args),
        Command::Ping(args) => session::ping(&args),
        Command::Discover(args) => discover::run(&args),
        Command::Can(args) => can::run(&args),
        Command::Usb(args) => usb::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Record(args) => record::record(&args, matches.subcommand_matches("record")),
        Command::InfoRec(args) => record::info_rec(&args),
        Command::Convert(args) => record::convert(&args),
        Command::Ecu(args) => ecu::run(&args),
        Command::A2l(args) => a2l::run(&args),
        Command::Cal(args) => cal::run(&args),
        Command::Fmu(args) => fmu::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`xcpkit a2l list … | head`): nothing to report.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", chain_once(&e));
            exit_code(&e)
        }
    }
}

/// An error and its causes joined by ": ", each said once: a cause whose text the message
/// already holds (a layer that quotes its source and also returns it) is left out.
fn chain_once(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The exit code for an error: 2 bad input, 3 no answer, 4 negative response, 1 otherwise.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use xcpkit::Kind;
    let kind = e
        .downcast_ref::<xcpkit::Error>()
        .map(xcpkit::Error::kind)
        .or_else(|| {
            e.downcast_ref::<xcp_master::Error>()
                .map(xcpkit::master_kind)
        })
        .or_else(|| e.downcast_ref::<xcp_a2l::Error>().map(|_| Kind::BadInput))
        .or_else(|| e.downcast_ref::<xcp_cal::Error>().map(|_| Kind::BadInput))
        .or_else(|| e.downcast_ref::<fmu::Broken>().map(|_| Kind::BadInput))
        .or_else(|| e.downcast_ref::<a2l::Unresolved>().map(|_| Kind::BadInput))
        .or_else(|| {
            e.downcast_ref::<fmi_ls_xcp::Error>()
                .map(|_| Kind::BadInput)
        })
        .or_else(|| {
            e.downcast_ref::<xcp_recorder::Error>()
                .and_then(|r| match r {
                    xcp_recorder::Error::Io { .. } => None,
                    _ => Some(Kind::BadInput),
                })
        });
    match kind {
        Some(Kind::BadInput) => ExitCode::from(2),
        Some(Kind::NoAnswer) => ExitCode::from(3),
        Some(Kind::Negative) => ExitCode::from(4),
        None => ExitCode::FAILURE,
    }
}
