//! Measures three signals by name on the virtual ECU for one second and prints a few rows in
//! physical units. `cargo run -p xcpkit --example measure`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::time::{Duration, Instant};

use xcpkit::{MeasureOptions, Options, Session};
use xcpkit_ecu::InProcess;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ecu = InProcess::start_tcp("127.0.0.1:0".parse()?)?;
    let mut s = Session::open(&ecu.url(), &Options::default())?;
    s.load_a2l_from_slave()?; // GET_ID 4: the A2L the slave serves
    let names = ["engine_speed", "throttle", "counter_1ms"];
    let m = s.measure(&names, MeasureOptions::default())?;
    let until = Instant::now() + Duration::from_secs(1);
    let mut rows = 0;
    while Instant::now() < until {
        let Some(batch) = m.recv(Duration::from_millis(100))? else {
            continue;
        };
        for row in batch {
            if rows % 250 == 0 {
                // Each value with its column's name and unit.
                let cols = &m.columns()[row.list];
                let text: Vec<String> = cols
                    .iter()
                    .zip(&row.values)
                    .map(|(c, v)| format!("{} = {v} {}", c.name, c.unit))
                    .collect();
                println!("{}", text.join(", "));
            }
            rows += 1;
        }
    }
    s.stop()?;
    println!("{rows} rows in one second");
    ecu.stop();
    Ok(())
}
