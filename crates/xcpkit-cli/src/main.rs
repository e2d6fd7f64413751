//! `xcpkit`: the xcpkit command line.
//!
//! `xcpkit ecu` runs the built-in virtual ECU (an engine-and-vehicle model served over XCP on
//! TCP and/or UDP); `xcpkit a2l` checks, lists and shows A2L files; the other subcommands
//! arrive with the master and the recorder.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its user on stdout and stderr"
)]

mod a2l;
mod ecu;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The xcpkit command line.
#[derive(Debug, Parser)]
#[command(
    name = "xcpkit",
    version,
    about = "XCP toolkit: virtual ECU and A2L tools, more to come"
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
    /// Run the virtual ECU: an engine-and-vehicle model measurable and calibratable over XCP.
    Ecu(ecu::EcuArgs),
    /// Look into an A2L file: check it, list its objects, show one resolved.
    A2l(a2l::A2lArgs),
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
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Ecu(args) => ecu::run(&args),
        Command::A2l(args) => a2l::run(&args),
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
