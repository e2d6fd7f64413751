//! `xcpkit-fmu-pack LIBRARY OUT_DIR`: writes `xcpkit_ecu.fmu` (FMI 3.0) and
//! `xcpkit_ecu_fmi2.fmu` (FMI 2.0) around the built `cdylib` (`cargo xtask fmu` runs it).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool"
)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [library, out] = args.as_slice() else {
        eprintln!("usage: xcpkit-fmu-pack LIBRARY OUT_DIR");
        return ExitCode::from(2);
    };
    match xcpkit_fmu::files::pack(library, out) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xcpkit-fmu-pack: {e}");
            ExitCode::FAILURE
        }
    }
}
