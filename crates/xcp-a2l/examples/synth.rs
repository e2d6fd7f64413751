//! Writes a synthetic A2L (every conversion kind, typedef chains, IF_DATA XCP) to a file,
//! for tools outside this workspace to read: `cargo run -p xcp-a2l --example synth -- OUT.a2l
//! [--motorola]`.
#![allow(
    clippy::print_stderr,
    reason = "a command-line example reports to its user"
)]

use std::process::ExitCode;

use xcp_a2l::synth::Spec;

fn main() -> ExitCode {
    let mut out = None;
    let mut spec = Spec::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--motorola" => spec.motorola = true,
            _ if out.is_none() => out = Some(arg),
            _ => out = None,
        }
    }
    let Some(out) = out else {
        eprintln!("usage: synth OUT.a2l [--motorola]");
        return ExitCode::from(2);
    };
    match std::fs::write(&out, spec.generate()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
