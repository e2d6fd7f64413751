//! Records two signals of the virtual ECU for one second into a recording, then reads it
//! back. `cargo run -p xcpkit --example record -- OUT.xcprec`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::time::{Duration, Instant};

use xcpkit::recorder::{Reader, WriterOptions};
use xcpkit::{MeasureOptions, Options, Session};
use xcpkit_ecu::InProcess;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join("xcpkit-example.xcprec"),
        Into::into,
    );
    let ecu = InProcess::start_tcp("127.0.0.1:0".parse()?)?;
    let mut s = Session::open(&ecu.url(), &Options::default())?;
    s.load_a2l_from_slave()?;
    let rec = s.record(
        &["counter_1ms", "engine_speed"],
        &path,
        MeasureOptions::default(),
        WriterOptions::default().flush_within(Duration::from_millis(500)),
    )?;
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        rec.measurement().recv(Duration::from_millis(100))?;
    }
    let summary = rec.finish(&mut s)?;
    println!(
        "{} frames, {} bytes on disk, {} dropped, in {}",
        summary.frames,
        summary.file_bytes,
        summary.dropped_frames,
        path.display()
    );
    let mut r = Reader::open(&path)?;
    let mut frames = r.frames();
    let mut n = 0;
    while let Some(f) = frames.next_frame() {
        f?;
        n += 1;
    }
    println!("read back: {n} frames");
    s.close()?;
    Ok(())
}
