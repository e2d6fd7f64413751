//! `cargo xtask interop`: independent peers drive our code.
//!
//! pyXCP (PyPI `pyxcp`, pinned) is installed into its own venv under `target/interop/venv`
//! (once; later runs reuse it), then `xcpkit ecu` is started twice on 127.0.0.1 with
//! ephemeral ports, plain and with `--seed-key`, each serving TCP and UDP at once, and
//! `interop/pyxcp/ecu_session.py` runs over TCP and then over UDP against each. The ECU is
//! stopped with SIGINT and must exit cleanly.
//!
//! `interop/pyxcp/can_session.py` then drives `xcpkit ecu --can` through python-can's
//! `udp_multicast` bus, on classic CAN and CAN FD, and through python-can's `slcan`
//! interface on the pseudo-terminal of `xcpkit can emulate-slcan` (bridged to that bus),
//! inside a private network namespace (`unshare -rn`, loopback with multicast and a route
//! for 224.0.0.0/4; hop limit 1).
//!
//! `xcpkit record` then records from the plain ECU and exports MDF4 and CSV;
//! `interop/asammdf/compare.py` checks with asammdf (pinned, same venv) that the MDF4 holds the
//! CSV's values. `interop/pyxcp/cli_values.py` checks that `xcpkit read` and pyXCP see the same values
//! in the plain ECU and that pyXCP reads back what `xcpkit write` wrote.
//!
//! pya2ldb (PyPI `pya2ldb[compute]`, pinned, same venv) then reads the ECU's A2L, two
//! synthetic A2Ls with every conversion kind (Intel and Motorola, from `xcp-a2l`'s `synth`
//! example) and the shared public corpus; `interop/pya2l/compare.py` checks that it finds
//! what `xcpkit a2l list --json` finds, conversion sample points included.
//!
//! asamint (PyPI, pinned, in a venv of its own: it pins an older pyXCP and pya2ldb) then
//! writes a CDF from the calibration image `xcpkit cal save` took from the ECU
//! (`interop/asamint/cdf_from_image.py`); `xcpkit cal` must read it, find every value it
//! holds equal to its own, and load it into the ECU, a changed value included.
//!
//! lxml (same venv as pyXCP) validates the fmi-ls-xcp standard's example manifest and one
//! `fmi-ls-xcp` writes against the official schema (`interop/fmi/`). fmpy (PyPI, pinned,
//! same venv) finally validates and simulates the demo FMUs `cargo xtask fmu` builds, and
//! steps three instances in real time while xcpkit and pyXCP measure and calibrate them over
//! the FMUs' own XCP services (`interop/fmi/fmpy_fmu.py`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run};

/// The pyXCP release the checks are written against.
const PYXCP: &str = "pyxcp==0.29.20";
/// Its decoder needs numpy, which pyXCP does not declare.
const NUMPY: &str = "numpy";
/// The A2L reader checked against ours; `compute` brings scipy and numexpr for its
/// TAB_INTP and FORM conversions.
const PYA2LDB: &str = "pya2ldb[compute]==1.0.355";
/// The MDF reader our MDF4 export must satisfy.
const ASAMMDF: &str = "asammdf==8.8.28";
/// The Parquet readers our Parquet export must satisfy.
const PYARROW: &str = "pyarrow==26.0.1";
const DUCKDB: &str = "duckdb==2.0.0";
/// asamint, the ASAM MC toolkit that writes CDF files, with the objutils release whose image
/// API it calls (its own pin, objutils 0.8, lacks `read_asam_ndarray`).
const ASAMINT: &str = "asamint==0.2.2";
const ASAMINT_OBJUTILS: &str = "objutils==0.10.22";
/// The schema validator for fmi-ls-xcp manifests (asammdf brings it too; named here because
/// the check needs it).
const LXML: &str = "lxml";
/// python-can's `udp_multicast` bus packs its frames with msgpack, which python-can does not
/// install by itself.
const MSGPACK: &str = "msgpack";
/// The FMI importer the demo FMUs are checked with.
const FMPY: &str = "fmpy==0.3.32";

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/` of the workspace).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Creates (or reuses) the venv and returns its Python.
pub(crate) fn venv() -> Result<PathBuf> {
    let dir = target_dir().join("interop").join("venv");
    let python = dir.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                "import pyxcp, numpy, pya2l, scipy, numexpr, asammdf, pyarrow, duckdb, msgpack, lxml, fmpy",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ready {
        run(
            "create the interop venv",
            Command::new("python3").arg("-m").arg("venv").arg(&dir),
        )
        .context("python3 -m venv failed; on Debian install python3-venv")?;
        run(
            "install pyXCP, pya2ldb, asammdf, pyarrow, DuckDB and fmpy into the venv",
            Command::new(&python).args([
                "-m", "pip", "install", "-q", PYXCP, NUMPY, PYA2LDB, ASAMMDF, PYARROW, DUCKDB,
                MSGPACK, LXML, FMPY,
            ]),
        )?;
    }
    Ok(python)
}

/// Creates (or reuses) asamint's venv and returns its Python.
fn asamint_venv() -> Result<PathBuf> {
    let dir = target_dir().join("interop").join("asamint-venv");
    let python = dir.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                "import asamint.cdf, objutils.image; objutils.image.Image.read_asam_ndarray",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ready {
        run(
            "create asamint's venv",
            Command::new("python3").arg("-m").arg("venv").arg(&dir),
        )
        .context("python3 -m venv failed; on Debian install python3-venv")?;
        run(
            "install asamint into its venv",
            Command::new(&python).args(["-m", "pip", "install", "-q", ASAMINT]),
        )?;
        run(
            "install the objutils asamint calls",
            Command::new(&python).args(["-m", "pip", "install", "-q", ASAMINT_OBJUTILS]),
        )?;
    }
    Ok(python)
}

/// Runs `xcpkit ARGS`; its exit code and stdout.
fn xcpkit_out(bin: &Path, args: &[&str]) -> Result<(Option<i32>, String)> {
    let o = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !stderr.is_empty() {
        println!("    xcpkit {} | {}", args.join(" "), stderr.trim_end());
    }
    Ok((
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    ))
}

/// asamint writes a CDF from the ECU's calibration image; xcpkit reads and loads it.
fn asamint_cdf(bin: &Path, work: &Path) -> Result<()> {
    let python = asamint_venv()?;
    let a2l = work.join("ecu-cal.a2l");
    let ecu = Ecu::start_on(bin, &a2l, &["--tcp", "127.0.0.1:0"])?;
    let result = asamint_steps(
        &python,
        bin,
        work,
        &a2l,
        &format!("tcp://127.0.0.1:{}", ecu.tcp),
    );
    let stopped = ecu.stop();
    result.and(stopped)
}

fn asamint_steps(python: &Path, bin: &Path, work: &Path, a2l: &Path, url: &str) -> Result<()> {
    let path = |name: &str| work.join(name).display().to_string();
    let (ours, image, theirs) = (
        path("cal-ours.cdfx"),
        path("cal-ecu.hex"),
        path("cal-asamint.cdfx"),
    );
    for out in [&ours, &image] {
        run(
            &format!("xcpkit cal save -o {out}"),
            Command::new(bin).args(["cal", "save", "-t", url, "-o", out]),
        )?;
    }
    run(
        "asamint writes a CDF from the ECU's calibration image",
        Command::new("timeout")
            .arg("600")
            .arg(python)
            .arg(
                root()
                    .join("interop")
                    .join("asamint")
                    .join("cdf_from_image.py"),
            )
            .arg("--a2l")
            .arg(a2l)
            .args(["--hex", &image, "--out", &theirs]),
    )?;
    // Every value asamint wrote is ours; what it could not write is only in ours.
    let (code, diff) = xcpkit_out(bin, &["cal", "diff", &ours, &theirs])?;
    let foreign: Vec<&str> = diff
        .lines()
        .filter(|l| !l.ends_with(": only in the first"))
        .collect();
    if !matches!(code, Some(0 | 1)) || !foreign.is_empty() {
        bail!("xcpkit cal diff of our CDF and asamint's (exit {code:?}):\n{diff}");
    }
    let (_, converted) = xcpkit_out(
        bin,
        &["cal", "convert", &theirs, "-o", &path("cal-asamint.json")],
    )?;
    let n: usize = converted
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    if n < 15 {
        bail!("xcpkit read {n} parameter(s) from asamint's CDF, expected at least 15: {converted}");
    }
    // Loaded as it is: nothing changes. With idle_rpm changed in asamint's file: that one.
    let (code, out) = xcpkit_out(bin, &["cal", "load", "-t", url, &theirs])?;
    if code != Some(0) || !out.contains(&format!("0 of {n} parameter(s) changed")) {
        bail!("loading asamint's CDF (exit {code:?}): {out}");
    }
    let text = std::fs::read_to_string(&theirs)?;
    let at = text
        .find("<SHORT-NAME>idle_rpm</SHORT-NAME>")
        .context("asamint's CDF has no idle_rpm")?;
    let (head, tail) = text.split_at(at);
    let changed = format!("{head}{}", tail.replacen("<V>800.0</V>", "<V>850.0</V>", 1));
    let edited = path("cal-asamint-850.cdfx");
    std::fs::write(&edited, changed)?;
    let (code, out) = xcpkit_out(bin, &["cal", "load", "-t", url, &edited])?;
    if code != Some(0)
        || !out.contains("idle_rpm: 800 → 850 rpm")
        || !out.contains(&format!("1 of {n}"))
    {
        bail!("loading asamint's CDF with idle_rpm changed (exit {code:?}): {out}");
    }
    let (_, read) = xcpkit_out(bin, &["read", "-t", url, "idle_rpm"])?;
    if read.trim() != "idle_rpm = 850 rpm" {
        bail!("after loading asamint's CDF the ECU says {read}");
    }
    println!("==> asamint's CDF: {n} parameter(s), equal to ours, loaded, a change applied");
    Ok(())
}

/// A running `xcpkit ecu` and what it printed at start.
struct Ecu {
    child: Child,
    tcp: u16,
    udp: u16,
    /// The URL of `--sxi`'s line, as printed.
    sxi: Option<String>,
    lines: mpsc::Receiver<String>,
}

fn port_of(line: &str, scheme: &str) -> Option<u16> {
    line.strip_prefix(&format!("listening on {scheme}://"))?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

impl Ecu {
    fn start(bin: &Path, a2l: &Path, extra: &[&str]) -> Result<Self> {
        let mut args = vec!["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::start_on(bin, a2l, &args)
    }

    /// The ECU on `transport` (its options), waiting until it printed every address.
    fn start_on(bin: &Path, a2l: &Path, transport: &[&str]) -> Result<Self> {
        let mut child = Command::new(bin)
            .arg("ecu")
            .args(transport)
            .arg("--a2l-out")
            .arg(a2l)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("    ecu | {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let want = |flag: &str| transport.contains(&flag);
        let (mut tcp, mut udp, mut sxi) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while (want("--tcp") && tcp.is_none())
            || (want("--udp") && udp.is_none())
            || (want("--sxi") && sxi.is_none())
        {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                bail!("xcpkit ecu did not print where it listens within 20 s");
            };
            tcp = tcp.or_else(|| port_of(&line, "tcp"));
            udp = udp.or_else(|| port_of(&line, "udp"));
            sxi = sxi.or_else(|| {
                line.strip_prefix("listening on ")
                    .filter(|u| u.starts_with("sxi://"))
                    .map(str::to_owned)
            });
        }
        Ok(Self {
            child,
            tcp: tcp.unwrap_or_default(),
            udp: udp.unwrap_or_default(),
            sxi,
            lines,
        })
    }

    /// SIGINT, then a clean exit with its summary line within 10 s.
    fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        run(
            "SIGINT to xcpkit ecu",
            Command::new("kill").args(["-INT", &pid]),
        )?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("xcpkit ecu did not stop within 10 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            bail!("xcpkit ecu exited with {status} after SIGINT");
        }
        // Its last lines may still be on their way through the reading thread: take them
        // until it sees the end of the pipe (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut summary = false;
        while let Ok(l) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            summary |= l.starts_with("stopped:");
        }
        if !summary {
            bail!("xcpkit ecu stopped without its summary line");
        }
        Ok(())
    }
}

/// Builds `xcpkit`, then runs the pyXCP session over TCP and UDP against a plain and a
/// seed & key ECU.
pub(crate) fn interop() -> Result<()> {
    let python = venv()?;
    run(
        "build xcpkit",
        Command::new("cargo").args(["build", "-p", "xcpkit-cli"]),
    )?;
    let bin = target_dir().join("debug").join("xcpkit");
    let script = root().join("interop").join("pyxcp").join("ecu_session.py");
    let work = target_dir().join("interop").join("work");
    std::fs::create_dir_all(&work)?;
    for (label, extra) in [("plain", &[][..]), ("seed-key", &["--seed-key"][..])] {
        let a2l = work.join(format!("ecu-{label}.a2l"));
        let ecu = Ecu::start(&bin, &a2l, extra)?;
        for (protocol, port) in [("TCP", ecu.tcp), ("UDP", ecu.udp)] {
            // pyXCP bounds each command by its own timeout; this bounds the whole session.
            let mut cmd = Command::new("timeout");
            cmd.arg("300")
                .arg(&python)
                .arg(&script)
                .args(["--protocol", protocol, "--port", &port.to_string()])
                .arg("--a2l")
                .arg(&a2l)
                .arg("--workdir")
                .arg(&work)
                .env("COLUMNS", "120");
            if label == "seed-key" {
                cmd.arg("--seed-key");
            }
            let step = format!("pyXCP over {protocol} against xcpkit ecu ({label})");
            if let Err(e) = run(&step, &mut cmd) {
                let _ = ecu.stop();
                return Err(e);
            }
        }
        if label == "plain" {
            let mut cmd = Command::new("timeout");
            cmd.arg("300")
                .arg(&python)
                .arg(root().join("interop").join("pyxcp").join("cli_values.py"))
                .arg("--xcpkit")
                .arg(&bin)
                .args(["--port", &ecu.tcp.to_string()])
                .arg("--a2l")
                .arg(&a2l)
                .arg("--workdir")
                .arg(&work);
            if let Err(e) = run("pyXCP and xcpkit read/write agree", &mut cmd) {
                let _ = ecu.stop();
                return Err(e);
            }
            if let Err(e) = mdf4(&python, &bin, &work, ecu.tcp) {
                let _ = ecu.stop();
                return Err(e);
            }
        }
        ecu.stop()?;
    }
    // pyXCP's recordings of the sessions above, imported and decoded by xcpkit and by pyXCP.
    let mut cmd = Command::new("timeout");
    cmd.arg("600")
        .arg(&python)
        .arg(
            root()
                .join("interop")
                .join("pyxcp")
                .join("xmraw_compare.py"),
        )
        .arg("--xcpkit")
        .arg(&bin)
        .arg("--workdir")
        .arg(&work);
    for name in ["ecu_tcp", "ecu_udp", "ecu_tcp_again", "ecu_udp_again"] {
        cmd.arg(work.join(format!("{name}.xmraw")));
    }
    run(
        "xcpkit imports pyXCP's .xmraw recordings as pyXCP reads them",
        &mut cmd,
    )?;
    for (fd, slcan) in [(false, false), (true, false), (false, true)] {
        pyxcp_can(&python, &bin, &work, fd, slcan)?;
    }
    pyxcp_sxi(&python, &bin, &work)?;
    pya2ldb(&python, &bin, &work)?;
    asamint_cdf(&bin, &work)?;
    fmi_manifests(&python, &work)?;
    fmpy_fmus(&python, &bin, &work)
}

/// fmpy validates and simulates the demo FMUs (built by `cargo xtask fmu`) and steps three
/// instances in real time while xcpkit and pyXCP measure and calibrate them.
fn fmpy_fmus(python: &Path, bin: &Path, work: &Path) -> Result<()> {
    let fmus = crate::fmu()?;
    let [fmu3, fmu2, dma] = fmus.as_slice() else {
        bail!("cargo xtask fmu should build three FMUs");
    };
    let reference = root()
        .join("..")
        .join("shared")
        .join("reference")
        .join("fmi-ls-xcp");
    // fmpy, xcpkit and pyXCP bound their own waits; this bounds the whole run.
    let mut cmd = Command::new("timeout");
    cmd.arg("600")
        .arg(python)
        .arg(root().join("interop").join("fmi").join("fmpy_fmu.py"))
        .arg("--fmu3")
        .arg(fmu3)
        .arg("--fmu2")
        .arg(fmu2)
        .arg("--xcpkit")
        .arg(bin)
        .arg("--schema-dir")
        .arg(&reference)
        .arg("--workdir")
        .arg(work.join("fmu"));
    run(
        "fmpy simulates the demo FMUs while xcpkit and pyXCP measure and calibrate them",
        &mut cmd,
    )?;
    let mut cmd = Command::new("timeout");
    cmd.arg("300")
        .arg(python)
        .arg(root().join("interop").join("fmi").join("pyxcp_dma.py"))
        .arg("--xcpkit")
        .arg(bin)
        .arg("--fmu")
        .arg(dma)
        .arg("--workdir")
        .arg(work.join("fmu_dma"));
    run(
        "pyXCP measures and calibrates the DMA FMU served by xcpkit fmu serve; DAQ equals its FMI outputs",
        &mut cmd,
    )
}

/// lxml validates, against the official fmi-ls-xcp schema, the standard's example manifest
/// and one `fmi-ls-xcp` writes with every part of the format, and refuses a broken one.
fn fmi_manifests(python: &Path, work: &Path) -> Result<()> {
    let ours = work.join("fmi-ls-manifest.xml");
    run(
        "fmi-ls-xcp writes a manifest",
        Command::new("cargo")
            .args([
                "run",
                "-q",
                "-p",
                "fmi-ls-xcp",
                "--example",
                "manifest",
                "--",
            ])
            .arg(&ours),
    )?;
    let broken = work.join("fmi-ls-manifest-broken.xml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&ours)?.replace("XCPServiceTCPPort", "XCPServicePort"),
    )?;
    let reference = root()
        .join("..")
        .join("shared")
        .join("reference")
        .join("fmi-ls-xcp");
    run(
        "lxml validates fmi-ls-xcp manifests against the official schema",
        Command::new(python)
            .arg(
                root()
                    .join("interop")
                    .join("fmi")
                    .join("validate_manifest.py"),
            )
            .arg("--schema-dir")
            .arg(&reference)
            .arg(&ours)
            .arg(reference.join("fmi_ls_xcp_manifest_example.xml"))
            .arg("--broken")
            .arg(&broken),
    )
}

/// pyXCP's SxI transport drives `xcpkit ecu --sxi sxi://pty` through the pseudo-terminal
/// the ECU prints, for every header and checksum pyXCP offers (pyXCP has no SYNC/ESC
/// framing).
fn pyxcp_sxi(python: &Path, bin: &Path, work: &Path) -> Result<()> {
    let script = root().join("interop").join("pyxcp").join("sxi_session.py");
    for header in [
        "len_byte",
        "len_ctr_byte",
        "len_fill_byte",
        "len_word",
        "len_ctr_word",
        "len_fill_word",
    ] {
        for checksum in ["none", "byte", "word"] {
            let a2l = work.join("ecu-sxi.a2l");
            let url = format!("sxi://pty?baud=921600&header={header}&checksum={checksum}");
            let ecu = Ecu::start_on(bin, &a2l, &["--sxi", &url])?;
            let line = ecu.sxi.clone().unwrap_or_default();
            let device = line
                .split('?')
                .next()
                .unwrap_or_default()
                .trim_start_matches("sxi://");
            let mut cmd = Command::new("timeout");
            cmd.arg("300")
                .arg(python)
                .arg(&script)
                .args(["--port", device, "--header", header, "--checksum", checksum])
                .arg("--a2l")
                .arg(&a2l)
                .arg("--workdir")
                .arg(work)
                .current_dir(root().join("interop").join("pyxcp"));
            let step =
                format!("pyXCP over SxI ({header}, checksum {checksum}) against xcpkit ecu --sxi");
            if let Err(e) = run(&step, &mut cmd) {
                let _ = ecu.stop();
                return Err(e);
            }
            ecu.stop()?;
        }
    }
    Ok(())
}

/// pyXCP through python-can's `udp_multicast` bus drives `xcpkit ecu --can`, inside a
/// private network namespace (loopback with multicast and a route for 224.0.0.0/4), so
/// nothing leaves the machine. With `slcan`, pyXCP uses python-can's `slcan` interface on
/// the pseudo-terminal of `xcpkit can emulate-slcan`, which bridges to the same bus.
fn pyxcp_can(python: &Path, bin: &Path, work: &Path, fd: bool, slcan: bool) -> Result<()> {
    let url = format!(
        "can://udp_multicast/default?master=0x7E0&slave=0x7E1{}",
        if fd { "&fd=true" } else { "" }
    );
    let a2l = work.join(if fd { "ecu-can-fd.a2l" } else { "ecu-can.a2l" });
    let script = root().join("interop").join("pyxcp").join("can_session.py");
    // $1 xcpkit, $2 URL, $3 A2L, $4 python, $5 script, $6 work directory, $7 --fd or empty,
    // $8 "slcan" or empty.
    let inner = r#"set -e
ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo
"$1" -q ecu --can "$2" --a2l-out "$3" &
ecu=$!
emu=
trap 'kill -INT $ecu $emu 2>/dev/null; wait' EXIT
for _ in $(seq 100); do [ -s "$3" ] && break; sleep 0.1; done
peer="--interface udp_multicast --channel 239.74.163.2"
if [ "$8" = slcan ]; then
    "$1" can emulate-slcan --to can://udp_multicast/default > "$6/emulator.out" &
    emu=$!
    for _ in $(seq 100); do grep -q "^slcan adapter emulated on" "$6/emulator.out" && break; sleep 0.1; done
    pty=$(sed -n 's/^slcan adapter emulated on \([^,]*\),.*/\1/p' "$6/emulator.out")
    peer="--interface slcan --channel $pty"
fi
cd "$(dirname "$5")"
timeout 300 "$4" "$5" --a2l "$3" --workdir "$6" $7 $peer
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-rn", "sh", "-c", inner, "sh"])
        .arg(bin)
        .arg(&url)
        .arg(&a2l)
        .arg(python)
        .arg(&script)
        .arg(work)
        .arg(if fd { "--fd" } else { "" })
        .arg(if slcan { "slcan" } else { "" })
        .env("COLUMNS", "120");
    let step = format!(
        "pyXCP over {} (python-can {}) against xcpkit ecu --can",
        if fd { "CAN FD" } else { "classic CAN" },
        if slcan {
            "slcan on xcpkit can emulate-slcan"
        } else {
            "udp_multicast"
        }
    );
    run(&step, &mut cmd)
}

/// `xcpkit record` from the ECU, exported to MDF4 and CSV; asammdf reads the MDF4 and must
/// find the CSV's values.
fn mdf4(python: &Path, bin: &Path, work: &Path, port: u16) -> Result<()> {
    let rec = work.join("ecu.xcprec");
    let url = format!("tcp://127.0.0.1:{port}");
    let mut cmd = Command::new(bin);
    cmd.args(["record", "-t", &url, "--duration", "2", "-o"])
        .arg(&rec)
        .args([
            "-s",
            "engine_speed",
            "counter_1ms",
            "rev_limiter",
            "gear",
            "steering_angle",
            "yaw_rate",
            "oil_pressure",
            "wheel_speeds",
            "engine_cycles",
        ]);
    run("xcpkit record from the ECU", &mut cmd)?;
    export_and_compare(python, bin, &rec)?;
    several_slaves(python, bin, work, port)?;
    // Every element type in both byte orders, the slave's timestamp in either order.
    for session in ["Intel", "Motorola"] {
        let rec = work.join(format!("every-type-{session}.xcprec"));
        run(
            "the recorder's every-type recording",
            cargo(&[
                "run",
                "-q",
                "-p",
                "xcp-recorder",
                "--example",
                "every_type",
                "--",
            ])
            .arg(&rec)
            .args([session, "30000"]),
        )?;
        export_and_compare(python, bin, &rec)?;
    }
    Ok(())
}

/// `xcpkit record` of the ECU on `port` and a second ECU over UDP whose clock is 1.5 s ahead
/// and 2000 ppm fast, into one recording; asammdf reads the MDF4 with a data group per slave,
/// each naming its slave, and finds the merged CSV's values in it.
fn several_slaves(python: &Path, bin: &Path, work: &Path, port: u16) -> Result<()> {
    let a2l = work.join("ecu-rear.a2l");
    let rear = Ecu::start_on(
        bin,
        &a2l,
        &[
            "--udp",
            "127.0.0.1:0",
            "--clock-offset-ms",
            "1500",
            "--clock-ppm",
            "2000",
        ],
    )?;
    let rec = work.join("two-slaves.xcprec");
    let mut cmd = Command::new(bin);
    cmd.args(["record", "--duration", "2", "-o"])
        .arg(&rec)
        .args(["-t", &format!("front=tcp://127.0.0.1:{port}")])
        .args(["-s", "counter_1ms", "engine_speed", "gear", "wheel_speeds"])
        .args(["-t", &format!("rear=udp://127.0.0.1:{}", rear.udp)])
        .args(["-s", "counter_1ms", "engine_speed", "oil_pressure"]);
    let recorded = run("xcpkit record of two slaves into one file", &mut cmd);
    rear.stop()?;
    recorded?;
    mdf4_against_csv(python, bin, &rec, Some("front,rear"))
}

/// `xcpkit convert` of `rec` to MDF4 and CSV beside it; asammdf must find the CSV's values in
/// the MDF4 (and with `sources`, a recording of several slaves, each group's acquisition
/// source must name one of them).
fn mdf4_against_csv(python: &Path, bin: &Path, rec: &Path, sources: Option<&str>) -> Result<()> {
    let mf4 = rec.with_extension("mf4");
    let csv = rec.with_extension("csv");
    for (to, out) in [("mf4", &mf4), ("csv", &csv)] {
        run(
            &format!("xcpkit convert --to {to}"),
            Command::new(bin)
                .arg("convert")
                .arg(rec)
                .args(["--to", to, "-o"])
                .arg(out),
        )?;
    }
    let mut cmd = Command::new("timeout");
    cmd.arg("300")
        .arg(python)
        .arg(root().join("interop").join("asammdf").join("compare.py"))
        .arg("--mf4")
        .arg(&mf4)
        .arg("--csv")
        .arg(&csv);
    if let Some(s) = sources {
        cmd.args(["--sources", s]);
    }
    run(
        &format!(
            "asammdf reads our MDF4 with the CSV's values{}",
            sources.map_or_else(String::new, |s| format!(", a group per slave ({s})"))
        ),
        &mut cmd,
    )
}

/// [`mdf4_against_csv`], then Parquet: pyarrow and DuckDB must find the CSV's values in it.
fn export_and_compare(python: &Path, bin: &Path, rec: &Path) -> Result<()> {
    mdf4_against_csv(python, bin, rec, None)?;
    let csv = rec.with_extension("csv");
    // Parquet: one file per list, named on standard output; the default compression (Snappy)
    // and ZSTD.
    for (ext, compression) in [("parquet", None), ("zstd.parquet", Some("zstd"))] {
        let mut cmd = Command::new(bin);
        cmd.arg("convert")
            .arg(rec)
            .args(["--to", "parquet", "-o"])
            .arg(rec.with_extension(ext));
        if let Some(c) = compression {
            cmd.args(["--compression", c]);
        }
        let out = cmd.output().context("xcpkit convert --to parquet")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "xcpkit convert --to parquet failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let files: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(" rows to ").map(|(_, p)| p))
            .collect();
        let mut cmd = Command::new("timeout");
        cmd.arg("300")
            .arg(python)
            .arg(root().join("interop").join("parquet").join("compare.py"))
            .arg("--csv")
            .arg(&csv)
            .args(&files);
        run(
            &format!(
                "pyarrow and DuckDB read our Parquet ({}) with the CSV's values",
                compression.unwrap_or("snappy")
            ),
            &mut cmd,
        )?;
    }
    Ok(())
}

/// pya2ldb and `xcpkit a2l list --json` agree on the ECU's A2L, the synthetic ones and the
/// shared corpus.
fn pya2ldb(python: &Path, bin: &Path, work: &Path) -> Result<()> {
    let mut files = vec![work.join("ecu-plain.a2l")];
    for (name, extra) in [
        ("synth-intel.a2l", None),
        ("synth-motorola.a2l", Some("--motorola")),
    ] {
        let out = work.join(name);
        let mut cmd = Command::new("cargo");
        cmd.args(["run", "-q", "-p", "xcp-a2l", "--example", "synth", "--"])
            .arg(&out)
            .args(extra);
        run(&format!("write {name}"), &mut cmd)?;
        files.push(out);
    }
    let corpus = root().join("../shared/fixtures/a2l");
    let mut shared: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .with_context(|| format!("the shared corpus {} is not readable", corpus.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "a2l"))
        .collect();
    shared.sort();
    files.extend(shared);
    let script = root().join("interop").join("pya2l").join("compare.py");
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let json = work.join(format!("{name}.json"));
        let out = Command::new(bin)
            .args(["a2l", "list", "--json"])
            .arg(file)
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if !out.status.success() {
            bail!("xcpkit a2l list --json {} failed", file.display());
        }
        std::fs::write(&json, &out.stdout)?;
        let mut cmd = Command::new("timeout");
        cmd.arg("300")
            .arg(python)
            .arg(&script)
            .arg("--a2l")
            .arg(file)
            .arg("--ours")
            .arg(&json)
            .arg("--workdir")
            .arg(work.join("pya2l"))
            .env("COLUMNS", "120");
        run(&format!("pya2ldb reads {name} as xcpkit does"), &mut cmd)?;
    }
    Ok(())
}
