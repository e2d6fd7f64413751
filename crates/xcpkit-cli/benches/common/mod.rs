//! Shared by the benches: the ECU process they measure.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each bench uses a different part; the items are public to the bench crates"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xcp_master::{ElementType, Signal};
use xcp_proto::{Address, ByteOrder};

/// The two ODT layouts measured: the stress signals in ODT order (the counter first, so it sits
/// right after the header), alone (40-byte DTOs) and with the 224-byte block (264-byte DTOs).
pub const LAYOUTS: [(&str, &[&str]); 2] = [
    ("small", &["stress_counter", "stress_time", "stress_values"]),
    (
        "bulk",
        &[
            "stress_counter",
            "stress_time",
            "stress_values",
            "stress_block",
        ],
    ),
];
/// How long the ECU may take to start and to stop.
pub const WAIT: Duration = Duration::from_secs(20);

/// The ECU process (`xcpkit -q ecu …`, the binary this package builds), stopped with SIGINT
/// when dropped if still running.
pub struct Ecu {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Its TCP address, when started with `--tcp`.
    pub tcp: Option<SocketAddr>,
    /// Its UDP address, when started with `--udp`.
    pub udp: Option<SocketAddr>,
    /// The URL of its serial line, when started with `--sxi`.
    pub sxi: Option<String>,
}

impl Ecu {
    /// Starts `xcpkit -q ecu ARGS --a2l-out A2L` and waits for its listening addresses.
    pub fn start(args: &[&str], a2l: &Path) -> Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xcpkit"))
            .args(["-q", "ecu"])
            .args(args)
            .arg("--a2l-out")
            .arg(a2l)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting xcpkit ecu")?;
        let stdout = child.stdout.take().context("the ECU's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut ecu = Self {
            child,
            lines,
            tcp: None,
            udp: None,
            sxi: None,
        };
        let want_tcp = args.contains(&"--tcp");
        let want_udp = args.contains(&"--udp");
        let mut want_can = args.contains(&"--can");
        let want_sxi = args.contains(&"--sxi");
        while (want_tcp && ecu.tcp.is_none())
            || (want_udp && ecu.udp.is_none())
            || (want_sxi && ecu.sxi.is_none())
            || want_can
        {
            let line = ecu
                .lines
                .recv_timeout(WAIT)
                .context("the ECU printed no listening address within 20 s")?;
            if let Some(a) = line.strip_prefix("listening on tcp://") {
                ecu.tcp = Some(a.parse().context("the ECU's TCP address")?);
            }
            if let Some(a) = line.strip_prefix("listening on udp://") {
                ecu.udp = Some(a.parse().context("the ECU's UDP address")?);
            }
            if line.starts_with("listening on can://") {
                want_can = false;
            }
            if let Some(u) = line.strip_prefix("listening on sxi://") {
                ecu.sxi = Some(format!("sxi://{u}"));
            }
        }
        Ok(ecu)
    }

    /// SIGINT, wait, and return the numbers of its summary: (DTOs sent, dropped, triggers).
    pub fn stop(mut self) -> Result<(u64, u64, u64)> {
        interrupt(&self.child)?;
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                bail!("the ECU did not stop within 20 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if !status.success() {
            bail!("the ECU exited with {status}");
        }
        // The process has exited, but its last lines may still be on their way through the
        // reading thread: take them until it sees the end of the pipe (bounded).
        let mut lines = Vec::new();
        let deadline = Instant::now() + WAIT;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        let number_after = |line: &str, key: &str| -> Option<u64> {
            let words: Vec<&str> = line.split_whitespace().collect();
            let i = words.iter().position(|w| *w == key)?;
            words.get(i.checked_sub(1)?)?.parse().ok()
        };
        let summary = lines
            .iter()
            .find(|l| l.starts_with("stopped:"))
            .context("no summary line from the ECU")?;
        let sent = number_after(summary, "DTOs").context("DTOs sent in the summary")?;
        let dropped = number_after(summary, "dropped").context("dropped in the summary")?;
        let triggers = lines
            .iter()
            .find_map(|l| number_after(l, "triggers"))
            .unwrap_or(0);
        Ok((sent, dropped, triggers))
    }
}

impl Drop for Ecu {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = interrupt(&self.child);
            let _ = self.child.wait();
        }
    }
}

fn interrupt(child: &Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -INT {} failed", child.id());
    }
    Ok(())
}

/// Samples missing by a wrapping 32-bit counter that steps by 1 per sample (`stress_counter`),
/// between the first and the last value seen.
#[derive(Debug, Default)]
pub struct Gaps {
    last: Option<u64>,
    /// Samples missing so far.
    pub missing: u64,
}

impl Gaps {
    /// The counter's next value.
    pub fn see(&mut self, counter: u64) {
        if let Some(l) = self.last {
            self.missing += (counter.wrapping_sub(l) & 0xFFFF_FFFF).saturating_sub(1);
        }
        self.last = Some(counter);
    }
}

/// An integer setting from the environment, `default` when unset or unreadable.
pub fn env(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interop venv's Python (`cargo xtask interop` creates it), when it exists.
pub fn python() -> Option<PathBuf> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let p = target.join("interop/venv/bin/python");
    p.exists().then_some(p)
}

/// Runs `interop/pyxcp/SCRIPT ARGS` in the venv (at most 15 minutes) and returns the last
/// JSON line it printed.
pub fn python_json(script: &str, args: &[String]) -> Result<serde_json::Value> {
    let Some(py) = python() else {
        bail!("pyXCP not installed (run `cargo xtask interop` once)");
    };
    let out = Command::new("timeout")
        .arg("900")
        .arg(py)
        .arg(root().join("interop/pyxcp").join(script))
        .args(args)
        .output()
        .with_context(|| format!("running {script}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| {
            format!(
                "{script} printed no result: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(serde_json::from_str(line)?)
}

/// Signals by A2L name; an array becomes one signal per element.
pub fn signals(a2l: &xcp_a2l::A2l, names: &[&str]) -> Result<Vec<Signal>> {
    let mut out = Vec::new();
    for name in names {
        let o = a2l.object(name)?;
        let a = o
            .address
            .with_context(|| format!("{name} has no address"))?;
        let order = match o.byte_order {
            xcp_a2l::ElementOrder::MsbFirst => ByteOrder::Motorola,
            _ => ByteOrder::Intel,
        };
        let (ty, count) = match (o.datatype.keyword(), o.count()) {
            // A byte block is measured as 64-bit words.
            ("UBYTE", n) if n >= 8 => (ElementType::U64, n / 8),
            ("UBYTE", n) => (ElementType::U8, n),
            ("ULONG", n) => (ElementType::U32, n),
            ("A_UINT64", n) => (ElementType::U64, n),
            ("FLOAT32_IEEE", n) => (ElementType::F32, n),
            ("FLOAT64_IEEE", n) => (ElementType::F64, n),
            (k, _) => bail!("{name}: type {k} not used by this bench"),
        };
        for i in 0..count {
            out.push(Signal {
                name: format!("{name}[{i}]"),
                addr: Address::new(a.ext, a.addr + u32::try_from(i * ty.size())?),
                ty,
                order,
            });
        }
    }
    Ok(out)
}

/// What one DAQ window of [`ingest`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    /// Rows decoded.
    pub rows: u64,
    /// ODTs of the list: frames per row.
    pub odts: u64,
    /// Length of the window.
    pub secs: f64,
    /// Samples missing by the first value (`stress_counter`).
    pub gaps: u64,
    /// Rows the master's stream dropped.
    pub stream_dropped: u64,
}

/// Sets up one timestamped list of `signals` (the first a wrapping u32 counter,
/// `stress_counter`) on the ECU's `stress` event (3), starts DAQ, lets it warm up for 200 ms,
/// counts rows and counter gaps for `window`, and stops DAQ.
pub fn ingest_stress(
    m: &mut xcp_master::Master,
    signals: Vec<Signal>,
    window: Duration,
) -> Result<Ingested> {
    use xcp_master::{DaqOptions, ListRequest, Value, block_on};
    let list = ListRequest {
        event: 3,
        prescaler: 1,
        priority: 0,
        timestamps: true,
        stim: false,
        signals,
    };
    let stream = block_on(m.setup_daq(&[list], DaqOptions::default()))?;
    block_on(m.start_daq())?;
    let odts = m
        .daq_layout()
        .and_then(|l| l.lists.first().map(|l| l.odts.len()))
        .unwrap_or(1) as u64;
    let warm = Instant::now() + Duration::from_millis(200);
    while Instant::now() < warm {
        let _ = stream.recv_timeout(Duration::from_millis(50))?;
    }
    let (mut rows, mut gaps) = (0u64, Gaps::default());
    let t0 = Instant::now();
    while t0.elapsed() < window {
        let Some(b) = stream.recv_timeout(Duration::from_millis(50))? else {
            continue;
        };
        for r in b.rows() {
            if let Some(Value::Uint(c)) = r.values.first() {
                gaps.see(*c);
            }
        }
        rows += b.len() as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    let stream_dropped = stream.stats().dropped_rows;
    block_on(m.stop_daq())?;
    Ok(Ingested {
        rows,
        odts,
        secs,
        gaps: gaps.missing,
        stream_dropped,
    })
}

/// The value at fraction `p` of `sorted`.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "statistics"
)]
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64
}

/// `n` SHORT_UPLOADs of 4 bytes after 500 for warm-up: the sorted round trips in ns.
pub fn round_trip_ns(m: &mut xcp_master::Master, addr: Address, n: usize) -> Result<Vec<u64>> {
    use xcp_master::block_on;
    for _ in 0..500 {
        block_on(m.short_upload(addr, 4))?;
    }
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        block_on(m.short_upload(addr, 4))?;
        t.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    t.sort_unstable();
    Ok(t)
}

/// Our round trips (`xcp-master p50 … µs, p99 … µs` after `what`), then pyXCP's through
/// `bench_peer.py rtt` with `transport` (its options for the bus) against the same address,
/// and the ratio of the medians.
#[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
pub fn compare_round_trips(
    what: &str,
    ours: &[u64],
    peer: &str,
    transport: &[&str],
    addr: Address,
    work: &Path,
) {
    let p50 = percentile(ours, 0.5) / 1e3;
    println!(
        "SHORT_UPLOAD round trip over {what}, {} commands: xcp-master p50 {p50:.1} µs, p99 {:.1} µs",
        ours.len(),
        percentile(ours, 0.99) / 1e3
    );
    let mut args: Vec<String> = vec!["rtt".into()];
    args.extend(transport.iter().map(ToString::to_string));
    args.extend([
        "--addr".into(),
        format!("{:#x}", addr.addr),
        "--ext".into(),
        addr.ext.to_string(),
        "-n".into(),
        "2000".into(),
        "--workdir".into(),
        work.display().to_string(),
    ]);
    match python_json("bench_peer.py", &args) {
        Ok(v) => {
            let py = v["p50_us"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  pyXCP ({peer}) p50 {py:.1} µs, p99 {:.1} µs -> xcp-master is {:.1}x faster (p50)",
                v["p99_us"].as_f64().unwrap_or(f64::NAN),
                py / p50
            );
        }
        Err(e) => println!("  pyXCP: {e:#}"),
    }
}
