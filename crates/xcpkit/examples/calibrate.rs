//! Calibrates the virtual ECU by name: reads a parameter, writes a new value in physical
//! units, reads it back, and shows the signal it drives follow.
//! `cargo run -p xcpkit --example calibrate`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::time::Duration;

use xcpkit::a2l::Value;
use xcpkit::{Options, Session};
use xcpkit_ecu::InProcess;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ecu = InProcess::start_tcp("127.0.0.1:0".parse()?)?;
    let mut s = Session::open(&ecu.url(), &Options::default())?;
    s.load_a2l_from_slave()?;
    println!("before: {}", s.read("wave_amplitude")?);
    s.write_str("wave_amplitude", "2.5")?; // checked against the A2L's limits
    println!("after:  {}", s.read("wave_amplitude")?);
    // sine_wave (10 ms task) now swings between -2.5 and 2.5.
    let mut peak = 0.0f64;
    for _ in 0..50 {
        if let Some(Value::Number(v)) = s.read("sine_wave")?.values.first() {
            peak = peak.max(v.abs());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("sine_wave peak over 100 ms: {peak:.2}");
    s.close()?;
    Ok(())
}
