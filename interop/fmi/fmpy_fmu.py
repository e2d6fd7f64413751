"""fmpy (an independent FMI importer) against the demo FMUs, with xcpkit and pyXCP measuring
and calibrating the FMUs' own XCP services while fmpy steps them.

1. fmpy validates both FMUs (FMI 3.0 and 2.0); lxml validates their manifests against the
   official schema; `xcpkit fmu check` finds no broken rule.
2. fmpy simulates each for 10 s in 1 ms steps, unpaced, with the service disabled: the
   simulated-to-real time ratio.
3. One process, three instances stepped in 1 ms steps paced to real time:
   A (FMI 3.0, port set in Configuration Mode), B (FMI 2.0, the default port 5555),
   C (FMI 3.0, XCPServiceTCPEnable = false).
   - xcpkit reads engine_speed by name from A, writes wave_amplitude = 2.5 and records DAQ;
     the recording's counters are unbroken and fmpy's sine_wave of A reaches 2.5;
   - pyXCP uploads B's A2L (GET_ID 4), which equals the A2L inside the FMU, calibrates
     wave_amplitude = 3.25 and records DAQ whose slave timestamps are simulation time: one
     millisecond apart for every step of the 1 ms counter, exactly; fmpy's sine_wave of B
     reaches 3.25;
   - nothing listens on C's port; after Terminate nothing listens on A's.
"""

import argparse
import csv
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pyxcp"))
sys.path.insert(0, str(HERE))

from ecu_session import check  # noqa: E402

DEFAULT_PORT = 5555


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def vrs(md):
    return {v.name: v.valueReference for v in md.modelVariables}


class Paced(threading.Thread):
    """Steps every instance by 1 ms per millisecond of real time; records sine_wave."""

    def __init__(self, instances, limit):
        super().__init__(daemon=True)
        self.instances = instances  # (label, fmu, get_wave)
        self.limit = limit
        self.stop = threading.Event()
        self.t = 0.0
        self.waves = {label: [] for label, _, _ in instances}
        self.error = None
        self.steps = 0

    def run(self):
        try:
            h = 0.001
            start = time.monotonic()
            while not self.stop.is_set() and self.t < self.limit:
                for label, fmu, get_wave in self.instances:
                    fmu.doStep(self.t, h)
                    self.waves[label].append((self.t + h, get_wave(fmu)))
                self.steps += 1
                self.t = round((self.steps) * h, 9)
                ahead = start + self.t - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        except Exception as e:  # reported by the main thread
            self.error = e


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    if out.returncode != 0:
        print(out.stdout, out.stderr, file=sys.stderr)
    check(out.returncode == 0, " ".join(str(c) for c in cmd[:3]) + " … exits 0")
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fmu3", required=True)
    ap.add_argument("--fmu2", required=True)
    ap.add_argument("--xcpkit", required=True)
    ap.add_argument("--schema-dir", type=Path, required=True)
    ap.add_argument("--workdir", required=True)
    opts = ap.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)

    from fmpy import extract, read_model_description, simulate_fmu
    from fmpy.fmi2 import FMU2Slave
    from fmpy.fmi3 import FMU3Slave
    from fmpy.validation import validate_fmu
    from lxml import etree
    from validate_manifest import schema

    # 1. Validation.
    xsd = schema(opts.schema_dir)
    for fmu in (opts.fmu3, opts.fmu2):
        problems = validate_fmu(fmu)
        check(not problems, f"fmpy validates {os.path.basename(fmu)}: {problems or 'no problem'}")
        with zipfile.ZipFile(fmu) as z:
            manifest = etree.fromstring(z.read("extra/org.fmi-standard.fmi-ls-xcp/fmi-ls-manifest.xml"))
        check(xsd.validate(manifest), f"lxml: its manifest is valid against the official schema {xsd.error_log}")
        out = run([opts.xcpkit, "fmu", "check", fmu])
        check("no rule broken" in out, f"xcpkit fmu check: {out.strip()}")

    # 2. Unpaced simulation.
    for fmu in (opts.fmu3, opts.fmu2):
        t0 = time.perf_counter()
        result = simulate_fmu(fmu, stop_time=10.0, step_size=0.001, output_interval=0.001,
                              start_values={"XCPServiceTCPEnable": False},
                              output=["engine_speed", "vehicle_speed", "sine_wave"])
        wall = time.perf_counter() - t0
        check(len(result) >= 10_000 and result["time"][-1] == 10.0, f"{len(result)} samples up to 10 s")
        check(result["engine_speed"][-1] > 700 and max(result["vehicle_speed"]) > 1,
              f"the model runs: engine {result['engine_speed'][-1]:.0f} rpm, vehicle up to "
              f"{max(result['vehicle_speed']):.1f} km/h")
        check(max(abs(result["sine_wave"])) <= 1.0 + 1e-9, "sine_wave within its amplitude of 1")
        print(f"RATIO {os.path.basename(fmu)}: 10 s simulated in 1 ms steps in {wall:.3f} s: "
              f"{10.0 / wall:.0f}x real time")

    # 3. Three instances, paced, measured and calibrated.
    md3, md2 = read_model_description(opts.fmu3), read_model_description(opts.fmu2)
    v3, v2 = vrs(md3), vrs(md2)
    # Unpacked into the work folder (fmpy's default is a temporary folder it leaves behind).
    d3 = extract(opts.fmu3, unzipdir=os.path.join(opts.workdir, "unpacked-fmi3"))
    d2 = extract(opts.fmu2, unzipdir=os.path.join(opts.workdir, "unpacked-fmi2"))
    check(not listening(DEFAULT_PORT), f"port {DEFAULT_PORT} is free for instance B")
    port_a, port_c = free_port(), free_port()

    a = FMU3Slave(guid=md3.guid, unzipDirectory=d3, modelIdentifier=md3.coSimulation.modelIdentifier,
                  instanceName="a")
    a.instantiate()
    a.enterConfigurationMode()
    a.setUInt16([v3["XCPServiceTCPPort"]], [port_a])
    a.exitConfigurationMode()
    check(listening(port_a), f"A: the service listens on the port set in Configuration Mode ({port_a})")
    a.enterInitializationMode(startTime=0.0)
    a.exitInitializationMode()

    b = FMU2Slave(guid=md2.guid, unzipDirectory=d2, modelIdentifier=md2.coSimulation.modelIdentifier,
                  instanceName="b")
    b.instantiate()
    b.setupExperiment(startTime=0.0)
    check(listening(DEFAULT_PORT), f"B: the service listens on {DEFAULT_PORT} after fmi2SetupExperiment")
    b.enterInitializationMode()
    b.exitInitializationMode()

    c = FMU3Slave(guid=md3.guid, unzipDirectory=d3, modelIdentifier=md3.coSimulation.modelIdentifier,
                  instanceName="c")
    c.instantiate()
    c.setBoolean([v3["XCPServiceTCPEnable"]], [False])
    c.setUInt16([v3["XCPServiceTCPPort"]], [port_c])
    c.enterInitializationMode(startTime=0.0)
    c.exitInitializationMode()

    paced = Paced([
        ("a", a, lambda f: f.getFloat64([v3["sine_wave"]])[0]),
        ("b", b, lambda f: f.getReal([v2["sine_wave"]])[0]),
        ("c", c, lambda f: f.getFloat64([v3["sine_wave"]])[0]),
    ], limit=60.0)
    paced.start()
    try:
        url_a = f"tcp://127.0.0.1:{port_a}"
        out = run([opts.xcpkit, "read", "-t", url_a, "engine_speed"])
        rpm = float(out.split("=")[1].split()[0])
        check(rpm > 500, f"xcpkit read from A: {out.strip()}")
        t_write_a = paced.t
        run([opts.xcpkit, "write", "-t", url_a, "wave_amplitude=2.5"])
        rec = os.path.join(opts.workdir, "fmu_a.xcprec")
        run([opts.xcpkit, "record", "-t", url_a, "-s", "counter_1ms", "-s", "sine_wave",
             "--duration", "2", "-o", rec])
        csv_path = os.path.join(opts.workdir, "fmu_a.csv")
        run([opts.xcpkit, "convert", rec, "--to", "csv", "-o", csv_path])
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
        counters = [int(float(r["counter_1ms"])) for r in rows if r.get("counter_1ms") not in (None, "")]
        check(len(counters) > 1000, f"xcpkit recorded {len(counters)} samples of counter_1ms from A")
        check(all(b2 - a2 == 1 for a2, b2 in zip(counters, counters[1:])), "A: counter_1ms steps by exactly 1")
        waves = [abs(float(r["sine_wave"])) for r in rows if r.get("sine_wave") not in (None, "")]
        check(max(waves) > 2.0, f"A: the recorded sine_wave reaches {max(waves):.2f} (amplitude 2.5)")

        from bus_session import run as pyxcp_session

        a2l_b = os.path.join(opts.workdir, "fmu_b.a2l")
        with zipfile.ZipFile(opts.fmu2) as z:
            names = [n for n in z.namelist() if n.endswith(".a2l")]
            check(len(names) == 1, f"one A2L in the FMI 2.0 FMU: {names}")
            with open(a2l_b, "wb") as f:
                f.write(z.read(names[0]))
        conf = os.path.join(opts.workdir, "pyxcp_conf_fmu.py")
        with open(conf, "w") as f:
            f.write("c = get_config()  # noqa: F821\n"
                    "c.Transport.layer = 'ETH'\n"
                    "c.Transport.timeout = 2.0\n"
                    "c.Transport.Eth.host = '127.0.0.1'\n"
                    f"c.Transport.Eth.port = {DEFAULT_PORT}\n"
                    "c.Transport.Eth.protocol = 'TCP'\n"
                    "c.Transport.Eth.ipv6 = False\n")
        sys.argv = [sys.argv[0], "-c", conf]
        t_write_b = paced.t
        dec = pyxcp_session("pyXCP against the FMU", a2l_b, os.path.join(opts.workdir, "fmu_b"), 2.0,
                            lambda cto, dto: check(cto >= 8 and dto >= 8, f"CONNECT: MAX_CTO {cto}, MAX_DTO {dto}"))
        counters = [r[0] for r in dec.rows[0]]
        stamps = dec.stamps[0]
        steps = {(s1 - s0) / (c1 - c0) for (s0, c0), (s1, c1) in zip(zip(stamps, counters),
                                                                      zip(stamps[1:], counters[1:]))}
        check(steps == {1_000_000} or steps == {1.0e6},
              f"pyXCP: B's DAQ timestamps are simulation time, 1 ms per counter step exactly "
              f"(steps seen: {sorted(steps)[:5]})")

        check(not listening(port_c), f"C: XCPServiceTCPEnable = false leaves port {port_c} closed")

        # D asks for A's port: an FMI error with a message in the importer's log, no crash.
        from fmpy.fmi3 import fmi3LogMessageCallback
        logged = []
        log_d = fmi3LogMessageCallback(lambda env, status, category, message: logged.append(message.decode()))
        d = FMU3Slave(guid=md3.guid, unzipDirectory=d3, modelIdentifier=md3.coSimulation.modelIdentifier,
                      instanceName="d")
        d.instantiate(logMessage=log_d)
        d.setUInt16([v3["XCPServiceTCPPort"]], [port_a])
        try:
            d.enterInitializationMode(startTime=0.0)
            refused = False
        except Exception:
            refused = True
        check(refused and any(f":{port_a}" in m and "XCPServiceTCPPort" in m for m in logged),
              f"D: a port in use is an FMI error: {logged}")
        d.freeInstance()
        check(listening(port_a), "A still serves after D's failed start")
    finally:
        paced.stop.set()
        paced.join(timeout=10)
    check(paced.error is None, f"fmpy stepped every instance without an error ({paced.error})")
    simulated = paced.t
    check(simulated > 2.0, f"{simulated:.1f} s simulated in real time")
    late_a = [w for t, w in paced.waves["a"] if t > t_write_a + 2.5]
    late_b = [w for t, w in paced.waves["b"] if t > t_write_b + 2.5]
    early = [w for t, w in paced.waves["a"] if t <= t_write_a]
    check(early and max(abs(w) for w in early) <= 1.0 + 1e-9, "A: sine_wave within 1 before the write")
    check(late_a and max(abs(w) for w in late_a) > 2.0,
          f"fmpy's sine_wave of A shows xcpkit's calibration: up to {max(abs(w) for w in late_a):.2f}")
    check(late_b and max(abs(w) for w in late_b) > 3.0,
          f"fmpy's sine_wave of B shows pyXCP's calibration: up to {max(abs(w) for w in late_b):.2f}")
    check(max(abs(w) for _, w in paced.waves["c"]) <= 1.0 + 1e-9, "C keeps its own calibration")
    for f in (a, b, c):
        f.terminate()
    check(not listening(port_a) and not listening(DEFAULT_PORT), "Terminate stops the services")
    for f in (a, b, c):
        f.freeInstance()
    print("fmpy interop: all checks passed")


if __name__ == "__main__":
    main()
