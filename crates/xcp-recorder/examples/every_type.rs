//! Writes the every-type recording of the recorder's tests (a signal of each element type in
//! both byte orders) for the interop run, which exports it and lets asammdf read it.
//!
//! `cargo run -p xcp-recorder --example every_type -- OUT.xcprec [Intel|Motorola] [ROWS]`

#![allow(clippy::print_stderr, reason = "a command-line example")]

#[path = "../tests/common/every_type.rs"]
mod every_type;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: every_type OUT.xcprec [Intel|Motorola] [ROWS]")?;
    let session = args.next().unwrap_or_else(|| "Intel".to_owned());
    let rows = args.next().map_or(Ok(1_000), |r| r.parse())?;
    every_type::write(std::path::Path::new(&out), rows, &session)?;
    eprintln!("{out}: {rows} rows of every element type, slave byte order {session}");
    Ok(())
}
