//! `xcpkit demo`: the whole toolkit in one command, on the virtual ECU in this process.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use xcp_a2l::Value;
use xcp_master::block_on;
use xcp_proto::IdType;
use xcpkit::{MeasureOptions, Options, Session};

use xcpkit_ecu::InProcess;

/// Options of `xcpkit demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Where to write the recording (every DTO, in xcpkit's recording format; an MDF4 export
    /// goes beside it with the extension `.mf4`).
    #[arg(short, long, value_name = "FILE", default_value = "xcpkit_demo.xcprec")]
    output: PathBuf,
    /// Where to write the rows in physical units (CSV).
    #[arg(long, value_name = "FILE", default_value = "xcpkit_demo.csv")]
    csv: PathBuf,
    /// Serve the ECU on a CAN bus instead of TCP: an in-process bus by default
    /// (`can://virtual/demo?master=0x7E0&slave=0x7E1`), or the CAN URL given (classic frames of
    /// eight bytes: several ODTs a sample).
    #[arg(
        long,
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = "can://virtual/demo?master=0x7E0&slave=0x7E1"
    )]
    can: Option<String>,
}

/// A dozen signals of the ECU's three rasters, measured by name.
const SIGNALS: [&str; 12] = [
    "counter_1ms",
    "engine_speed",
    "throttle",
    "pedal",
    "torque",
    "lambda",
    "counter_10ms",
    "vehicle_speed",
    "sine_wave",
    "gear",
    "counter_100ms",
    "ambient_temp",
];

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Text(_) => None,
    }
}

/// Runs the demo.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "counters and progress figures"
)]
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let ecu = match &args.can {
        None => InProcess::start_tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .context("cannot serve the virtual ECU on 127.0.0.1")?,
        Some(u) => {
            let url: xcp_transport_can::CanUrl =
                u.parse()
                    .map_err(|e: xcp_transport_can::UrlError| xcpkit::Error::Url {
                        url: u.clone(),
                        reason: e.to_string(),
                    })?;
            InProcess::start_can(&url)
                .with_context(|| format!("cannot serve the virtual ECU on {url}"))?
        }
    };
    let url = ecu.url();
    out!("xcpkit demo: the virtual ECU runs in this process, serving XCP on {url}");

    let mut s = Session::open(&url, &Options::default())?;
    let ident = block_on(s.master().identification(IdType::from_u8(0)))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let m = s.master();
    let c = *m.connect_info().context("connected")?;
    let p = *m.params();
    out!(
        "connected: {ident}, EPK \"{}\"; {}, MAX_CTO {}, MAX_DTO {}, resources {}",
        s.slave_epk().unwrap_or("(none)"),
        c.byte_order(),
        p.max_cto,
        p.max_dto,
        c.resources
    );
    let text = s.fetch_a2l()?;
    s.load_a2l_from_slave()?;
    let counts = s.a2l().map(xcp_a2l::A2l::counts).context("the A2L")?;
    out!(
        "A2L fetched from the slave (GET_ID 4): {} bytes, {} measurements, {} characteristics, EPK checked",
        text.len(),
        counts.measurements,
        counts.characteristics
    );

    let rec = s.record(
        &SIGNALS,
        &args.output,
        MeasureOptions::default(),
        xcp_recorder::WriterOptions::default(),
    )?;
    let m = rec.measurement();
    let columns: Vec<String> = m
        .columns()
        .iter()
        .flatten()
        .map(|c| {
            if c.unit.is_empty() {
                c.name.clone()
            } else {
                format!("{} [{}]", c.name, c.unit)
            }
        })
        .collect();
    let offsets: Vec<usize> = m
        .columns()
        .iter()
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len();
            Some(here)
        })
        .collect();
    out!(
        "measuring {} signals by name on events {:?} for {} s …",
        columns.len(),
        m.events(),
        args.seconds
    );
    let file = std::fs::File::create(&args.csv)
        .with_context(|| format!("cannot create {}", args.csv.display()))?;
    let mut csv = std::io::BufWriter::new(file);
    writeln!(csv, "time_s,list,{}", columns.join(","))?;

    let find = |name: &str| {
        m.columns()
            .iter()
            .enumerate()
            .find_map(|(l, cols)| cols.iter().position(|c| c.name == name).map(|i| (l, i)))
    };
    let speed = find("engine_speed");
    let wave = find("sine_wave");
    let counter = find("counter_1ms");
    let total = Duration::from_secs_f64(args.seconds.max(0.5));
    let half = total / 2;
    let t0 = Instant::now();
    let first_ns = xcp_master::time::host_now_ns();
    let (mut rows, mut last_live) = (0u64, Instant::now());
    let mut live = crate::live::Live::new();
    let (mut peak_before, mut peak_after) = (0.0f64, 0.0f64);
    let mut calibrated: Option<(String, f64)> = None;
    let (mut last_counter, mut gaps) = (None::<f64>, 0u64);
    let mut latest_speed = f64::NAN;
    while t0.elapsed() < total {
        if calibrated.is_none() && t0.elapsed() >= half {
            let before = s.read("wave_amplitude")?;
            s.write_str("wave_amplitude", "3")?;
            calibrated = Some((before.to_string(), 3.0));
        }
        let Some(batch) = m.recv(Duration::from_millis(50))? else {
            continue;
        };
        for r in batch {
            rows += 1;
            let t = r
                .host_aligned_ns
                .unwrap_or(r.host_ns)
                .saturating_sub(first_ns);
            let mut line = format!("{:.6},{}", t as f64 / 1e9, r.list);
            let at = offsets.get(r.list).copied().unwrap_or(0);
            for (i, _) in columns.iter().enumerate() {
                line.push(',');
                if i >= at && i < at + r.values.len() {
                    let _ = write!(line, "{}", r.values[i - at]);
                }
            }
            writeln!(csv, "{line}")?;
            if let Some((l, i)) = wave
                && l == r.list
                && let Some(v) = r.values.get(i).and_then(number)
            {
                if calibrated.is_some() {
                    peak_after = peak_after.max(v.abs());
                } else {
                    peak_before = peak_before.max(v.abs());
                }
            }
            if let Some((l, i)) = speed
                && l == r.list
                && let Some(v) = r.values.get(i).and_then(number)
            {
                latest_speed = v;
            }
            if let Some((l, i)) = counter
                && l == r.list
                && let Some(v) = r.values.get(i).and_then(number)
            {
                if let Some(prev) = last_counter
                    && v - prev > 1.0
                {
                    gaps += (v - prev - 1.0) as u64;
                }
                last_counter = Some(v);
            }
        }
        if last_live.elapsed() >= Duration::from_millis(250) {
            last_live = Instant::now();
            let done = t0.elapsed().as_secs_f64() / total.as_secs_f64();
            let bar = (done * 20.0).round() as usize;
            live.show(&format!(
                "  [{}{}] {:4.1} s  {rows} rows ({:.0}/s)  engine_speed {latest_speed:7.1} rpm  sine_wave peak {:.2}",
                "#".repeat(bar.min(20)),
                ".".repeat(20 - bar.min(20)),
                t0.elapsed().as_secs_f64(),
                rows as f64 / t0.elapsed().as_secs_f64(),
                if calibrated.is_some() {
                    peak_after
                } else {
                    peak_before
                }
            ));
        }
    }
    live.finish();
    let stats = m.stats();
    let summary = rec.finish(&mut s)?;
    csv.flush()?;
    let secs = t0.elapsed().as_secs_f64();
    if let Some((before, after)) = &calibrated {
        out!(
            "calibrated wave_amplitude {before} -> {after}: sine_wave peak {peak_before:.2} before, {peak_after:.2} after"
        );
    }
    let lost: u64 = stats.lists.iter().map(|l| l.incomplete).sum::<u64>() + stats.dropped_rows;
    out!(
        "measured {rows} rows in {secs:.1} s ({:.0} rows/s); per list {:?}; lost {lost} (counter_1ms gaps {gaps}, overload events {})",
        rows as f64 / secs,
        stats.lists.iter().map(|l| l.rows).collect::<Vec<_>>(),
        stats.overload_events
    );
    let mf4 = args.output.with_extension("mf4");
    let exported = xcp_recorder::mdf4::export(&args.output, &mf4)?;
    out!(
        "recording {}: {} DTOs in {} block(s), {} bytes, {} dropped; as MDF4 {} ({} records, {} channels); physical values in {}",
        args.output.display(),
        summary.frames,
        summary.blocks,
        summary.file_bytes,
        summary.dropped_frames,
        mf4.display(),
        exported.records,
        exported.channels,
        args.csv.display()
    );
    s.close()?;
    let cycles = ecu.stop();
    out!(
        "done in {:.1} s; the ECU ran {} / {} / {} cycles of its 1 / 10 / 100 ms tasks",
        started.elapsed().as_secs_f64(),
        cycles.task_1ms,
        cycles.task_10ms,
        cycles.task_100ms
    );
    Ok(())
}
