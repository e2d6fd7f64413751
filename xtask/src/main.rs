//! # xtask: project automation for xcpkit
//!
//! `cargo xtask ci` is the single entry point for every check CI runs; `.ci/run` calls only
//! it. Other subcommands: `interop` (pyXCP against `xcpkit ecu`, pya2ldb against `xcpkit a2l`; also part of `ci`), `fuzz`
//! (libFuzzer, needs nightly and cargo-fuzz) and `bench`.
//! The tidy tests (`cargo test -p xtask`) keep the house rules true: the crate layering of
//! STYLE.md §2, where `unsafe` may appear, crate docs and lints, and test hygiene.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool"
)]

mod interop;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "xcpkit project automation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every CI check: fmt, clippy, tests, docs, cargo-deny, fuzz-corpus replay, tidy.
    Ci,
    /// Run a fuzz target with cargo-fuzz (nightly) for a while.
    Fuzz {
        /// Target name (command, response, event, dto, eth_stream, sxi, can, usb).
        target: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        secs: u64,
    },
    /// Run the criterion benchmarks.
    Bench,
    /// Interop with independent peers: pyXCP drives `xcpkit ecu` over TCP and UDP.
    Interop,
    /// Build the demo FMUs: `target/fmu/xcpkit_ecu.fmu` (FMI 3.0) and
    /// `target/fmu/xcpkit_ecu_fmi2.fmu` (FMI 2.0), the virtual ECU with its XCP service, and
    /// `target/fmu/xcpkit_ecu_dma.fmu` (FMI 3.0) for `xcpkit fmu serve`.
    Fmu,
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Ci => ci(),
        Cmd::Fuzz { target, secs } => run(
            "cargo fuzz",
            Command::new("cargo")
                .args(["+nightly", "fuzz", "run", &target, "--"])
                .arg(format!("-max_total_time={secs}"))
                .current_dir(root().join("fuzz")),
        ),
        Cmd::Interop => interop::interop(),
        Cmd::Fmu => fmu().map(|_| ()),
        Cmd::Bench => run(
            "benchmarks",
            Command::new("cargo").args(["bench", "--workspace"]),
        ),
    }
}

/// The workspace root (the parent of this crate).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn run(step: &str, cmd: &mut Command) -> Result<()> {
    let start = Instant::now();
    println!("==> {step}");
    let status = cmd
        .current_dir_if_unset(root())
        .status()
        .with_context(|| format!("could not start {step}; is cargo on PATH?"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    println!("==> {step}: ok in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

trait CurrentDirIfUnset {
    fn current_dir_if_unset(&mut self, dir: PathBuf) -> &mut Self;
}

impl CurrentDirIfUnset for Command {
    fn current_dir_if_unset(&mut self, dir: PathBuf) -> &mut Self {
        if self.get_current_dir().is_none() {
            self.current_dir(dir);
        }
        self
    }
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.args(args);
    c
}

/// Builds the FMU crate (release) and packs both FMUs into `target/fmu/`; their paths.
pub(crate) fn fmu() -> Result<Vec<PathBuf>> {
    run(
        "build the FMU binary (release)",
        &mut cargo(&["build", "--release", "-p", "xcpkit-fmu"]),
    )?;
    let release = interop::target_dir().join("release");
    let library = release.join(format!(
        "{}xcpkit_fmu{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let out = interop::target_dir().join("fmu");
    run(
        "pack the FMUs",
        Command::new(release.join("xcpkit-fmu-pack"))
            .arg(&library)
            .arg(&out),
    )?;
    let paths = vec![
        out.join("xcpkit_ecu.fmu"),
        out.join("xcpkit_ecu_fmi2.fmu"),
        out.join("xcpkit_ecu_dma.fmu"),
    ];
    for p in &paths {
        println!("    {}", p.display());
    }
    Ok(paths)
}

fn has_cargo_tool(name: &str) -> bool {
    Command::new("cargo")
        .args([name, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> Result<()> {
    let start = Instant::now();
    run("rustfmt", &mut cargo(&["fmt", "--all", "--check"]))?;
    run(
        "clippy",
        &mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "xcp-proto without default features (no alloc)",
        &mut cargo(&["check", "-p", "xcp-proto", "--no-default-features"]),
    )?;
    let nextest = has_cargo_tool("nextest");
    if nextest {
        run(
            "tests (nextest)",
            &mut cargo(&[
                "nextest",
                "run",
                "--all-features",
                "--no-fail-fast",
                "-E",
                "not binary(corpus)",
            ]),
        )?;
    } else {
        run(
            "tests (cargo test; nextest not installed)",
            &mut cargo(&["test", "--all-features", "--", "--skip", "corpus_replays"]),
        )?;
    }
    run(
        "doc tests",
        &mut cargo(&["test", "--doc", "--all-features"]),
    )?;
    run(
        "fuzz-corpus replay",
        &mut cargo(&[
            "test",
            "--all-features",
            "-p",
            "xcp-proto",
            "-p",
            "xcp-transport-can",
            "--test",
            "corpus",
        ]),
    )?;
    interop::interop()?;
    // The stress benchmark end to end in a debug build, so it cannot rot: one short run per
    // protocol must configure DAQ and receive DTOs. Its numbers mean nothing here.
    let mut stress = cargo(&["test", "-p", "xcpkit-cli", "--bench", "ecu_stress"]);
    stress
        .env("XCP_BENCH_RUNS", "1")
        .env("XCP_BENCH_WINDOW_MS", "200");
    run("ECU stress bench, smoke run (debug build)", &mut stress)?;
    // The master bench likewise: round trips, DAQ ingest and latency against the ECU, pyXCP
    // included (its venv exists after the interop step).
    let mut master = cargo(&["test", "-p", "xcpkit-cli", "--bench", "master"]);
    master
        .env("XCP_BENCH_RUNS", "1")
        .env("XCP_BENCH_WINDOW_MS", "200")
        .env("XCP_BENCH_RTT", "300");
    run("master bench, smoke run (debug build)", &mut master)?;
    // And the recorder bench: pyXCP records, both sides write and convert the same frames.
    let mut recorder = cargo(&["test", "-p", "xcpkit-cli", "--bench", "recorder"]);
    recorder
        .env("XCP_BENCH_RUNS", "1")
        .env("XCP_BENCH_SECONDS", "1")
        .env("XCP_BENCH_REPEAT", "1");
    run("recorder bench, smoke run (debug build)", &mut recorder)?;
    // And two stress ECUs into one recording against each alone.
    let mut multi = cargo(&["test", "-p", "xcpkit-cli", "--bench", "multi_record"]);
    multi.env("XCP_BENCH_RUNS", "1").env("XCP_BENCH_MS", "300");
    run(
        "several-slave recording bench, smoke run (debug build)",
        &mut multi,
    )?;
    // And the CAN bench: the in-process bus, udp_multicast with python-can and pyXCP.
    let mut can = cargo(&["test", "-p", "xcpkit-cli", "--bench", "can"]);
    can.env("XCP_BENCH_RUNS", "1")
        .env("XCP_BENCH_WINDOW_MS", "200")
        .env("XCP_BENCH_RTT", "200");
    run("CAN bench, smoke run (debug build)", &mut can)?;
    // And the serial bench: a pseudo-terminal, the in-process USB device, pyXCP over SxI.
    let mut serial = cargo(&["test", "-p", "xcpkit-cli", "--bench", "serial"]);
    serial
        .env("XCP_BENCH_RUNS", "1")
        .env("XCP_BENCH_WINDOW_MS", "200")
        .env("XCP_BENCH_RTT", "200");
    run("serial bench, smoke run (debug build)", &mut serial)?;
    // The README's first command, exactly: the main job on the built-in virtual ECU.
    run(
        "xcpkit demo, as the README says",
        &mut cargo(&["run", "--release", "-p", "xcpkit-cli", "--", "demo"]),
    )?;
    // The binary `xcpkit` (xcpkit-cli) and the library `xcpkit` write to the same doc folder
    // (cargo#6313); documented in one run they race on it and the run fails now and then.
    // The binary first, then everything else, so the library's pages are the ones kept.
    for (what, args) in [
        ("rustdoc (the command line)", &["-p", "xcpkit-cli"][..]),
        (
            "rustdoc (the libraries)",
            &["--workspace", "--exclude", "xcpkit-cli"][..],
        ),
    ] {
        let mut doc = cargo(&["doc", "--no-deps", "--all-features"]);
        doc.args(args).env("RUSTDOCFLAGS", "-D warnings");
        run(what, &mut doc)?;
    }
    if !has_cargo_tool("deny") {
        run(
            "install cargo-deny",
            &mut cargo(&["install", "cargo-deny", "--locked"]),
        )?;
    }
    // Advisories need the RustSec database from the network; licenses, bans and sources
    // need only the lock file.
    run(
        "cargo-deny",
        &mut cargo(&["deny", "check", "licenses", "bans", "sources"]),
    )?;
    if has_cargo_tool("hack") {
        run(
            "feature powerset",
            &mut cargo(&["hack", "check", "--each-feature", "--no-dev-deps"]),
        )?;
    } else {
        println!("==> cargo-hack not installed: skipping the per-feature check");
    }
    println!(
        "==> all checks passed in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
