"""pyXCP against `xcpkit fmu serve` running the DMA FMU (fmi-ls-xcp section 5: the importer
serves the FMU's memory).

Covers: CONNECT, GET_ID 4 (the uploaded A2L equals --a2l-out), SHORT_UPLOAD of a parameter,
DOWNLOAD of wave_amplitude read back and visible in the FMU's FMI outputs from then on,
SHORT_UPLOAD of an address outside every A2L object refused with ERR_OUT_OF_RANGE, and DAQ
of engine_speed, vehicle_speed, sine_wave and counter_1ms on the communication point event
through DaqList/DaqRecorder: every row's values equal, bit for bit, the FMU's Float64 outputs
that `--outputs` wrote through fmi3GetFloat64 at the same communication point (counter_1ms
milliseconds), and the timestamps step by 1 ms of simulation time per counter step.
"""

import argparse
import csv
import glob
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyxcp"))

from ecu_session import A2L_TYPES, check, parse_a2l  # noqa: E402

SIGNALS = ["engine_speed", "vehicle_speed", "sine_wave", "counter_1ms"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--xcpkit", required=True)
    p.add_argument("--fmu", required=True)
    p.add_argument("--workdir", required=True)
    opts = p.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    a2l_path = os.path.join(opts.workdir, "dma_served.a2l")
    outputs = os.path.join(opts.workdir, "dma_outputs.csv")
    port = free_port()
    serve = subprocess.Popen(
        [opts.xcpkit, "fmu", "serve", opts.fmu, "--tcp", f"127.0.0.1:{port}", "--stop-time", "6",
         "--a2l-out", a2l_path, "--outputs", outputs],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    listening = threading.Event()

    def read():
        for line in serve.stdout:
            lines.append(line.rstrip())
            if line.startswith("listening on "):
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        check(listening.wait(30), f"xcpkit fmu serve listens: {lines}")
        print("\n".join(lines), flush=True)
        session(a2l_path, port, opts.workdir)
        serve.wait(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    reader.join(timeout=10)
    serve.stdout.close()
    check(serve.returncode == 0, f"xcpkit fmu serve ends at its stop time: {lines[-3:]}")
    compare(opts.workdir, outputs)


RESULT = {}


def session(a2l_path, port, workdir):
    # pyXCP reads its configuration from sys.argv when it is first imported.
    conf = os.path.join(workdir, "pyxcp_conf_dma.py")
    with open(conf, "w") as f:
        f.write("c = get_config()  # noqa: F821\n"
                "c.Transport.layer = 'ETH'\n"
                "c.Transport.timeout = 2.0\n"
                "c.Transport.Eth.host = '127.0.0.1'\n"
                f"c.Transport.Eth.port = {port}\n"
                "c.Transport.Eth.protocol = 'TCP'\n"
                "c.Transport.Eth.ipv6 = False\n")
    sys.argv = [sys.argv[0], "-c", conf]
    from pyxcp import types
    from pyxcp.cmdline import ArgumentParser
    from pyxcp.daq_stim import DaqList, DaqRecorder

    with open(a2l_path, encoding="utf-8") as f:
        a2l_file = f.read()
    objs = parse_a2l(a2l_file)
    measurements = []
    for name in SIGNALS:
        addr, ext, dtype, _ = objs[name]
        body = re.search(r"/begin MEASUREMENT " + name + r" (.*?)/end MEASUREMENT", a2l_file, re.S).group(1)
        check("DEFAULT_EVENT_LIST EVENT 0" in body,
              f"{name}: the served A2L offers it on the communication point (0) and intermediate update events")
        measurements.append((name, addr, ext, A2L_TYPES[dtype]))
    daq = [DaqList(name="communication_point", event_num=0, stim=False, enable_timestamps=True,
                   measurements=measurements, priority=0, prescaler=1)]
    rec_name = os.path.join(workdir, "pyxcp_daq")
    for old in glob.glob(rec_name + "*"):
        os.remove(old)
    recorder = DaqRecorder(daq, rec_name, 8)
    with ArgumentParser(description="pyXCP against xcpkit fmu serve").run(policy=recorder) as x:
        x.connect()
        fetched = x.identifier(types.XcpGetIdType.FILE_TO_UPLOAD)
        check(fetched == a2l_file, f"GET_ID 4 + UPLOAD: the A2L ({len(fetched)} bytes) equals --a2l-out")

        w_addr, w_ext, _, _ = objs["wave_amplitude"]
        amp = struct.unpack("<f", x.shortUpload(4, w_addr, w_ext))[0]
        check(amp == 1.0, f"SHORT_UPLOAD wave_amplitude = {amp}")
        try:
            x.shortUpload(4, 0x100, 0)
            check(False, "SHORT_UPLOAD of 0x100 (outside every object) was answered")
        except Exception as e:  # pyXCP raises its XcpResponseError
            check("OUT_OF_RANGE" in str(e), f"SHORT_UPLOAD of 0x100 refused: {e}")

        c_addr, c_ext, _, _ = objs["counter_1ms"]
        recorder.setup()
        recorder.start()
        time.sleep(1.0)
        x.setMta(w_addr, w_ext)
        x.download(struct.pack("<f", 3.0))
        RESULT["written_at"] = struct.unpack("<I", x.shortUpload(4, c_addr, c_ext))[0]
        check(struct.unpack("<f", x.shortUpload(4, w_addr, w_ext))[0] == 3.0,
              "DOWNLOAD wave_amplitude = 3, read back")
        time.sleep(1.0)
        recorder.stop()
        x.disconnect()
    RESULT["rec"] = rec_name


def compare(workdir, outputs):
    from pyxcp.recorder import XcpLogFileDecoder

    files = glob.glob(RESULT["rec"] + "*.xmraw")
    check(len(files) == 1, f"DaqRecorder wrote {files}")

    class Rows(XcpLogFileDecoder):
        def __init__(self, name):
            super().__init__(name)
            self.rows = []
            self.stamps = []

        def on_daq_list(self, daq_list_num, timestamp0, timestamp1, measurements):
            self.rows.append(list(measurements))
            self.stamps.append(timestamp1)

    dec = Rows(files[0])
    dec.run()
    with open(outputs, newline="") as f:
        fmi = {round(float(r["time"]) * 1000): r for r in csv.DictReader(f)}
    check(len(fmi) == 6000, f"--outputs wrote {len(fmi)} communication points (6 s of 1 ms)")
    check(len(dec.rows) > 1000, f"pyXCP recorded {len(dec.rows)} rows")
    for row in dec.rows:
        counter = int(row[3])
        want = fmi.get(counter)
        if want is None:
            check(False, f"no communication point at {counter} ms in --outputs")
        for i, name in enumerate(SIGNALS[:3]):
            if float(want[name]) != row[i]:
                check(False, f"{name} at {counter} ms: DAQ {row[i]!r}, FMI {want[name]}")
    counters = [int(r[3]) for r in dec.rows]
    check(all(b - a == 1 for a, b in zip(counters, counters[1:])), "counter_1ms steps by exactly 1")
    steps = {(s1 - s0) for s0, s1 in zip(dec.stamps, dec.stamps[1:])}
    check(steps == {1_000_000}, f"DAQ timestamps step by 1 ms of simulation time ({sorted(steps)[:5]})")
    print(f"ok - {len(dec.rows)} DAQ rows equal to the FMU's FMI outputs at their communication points",
          flush=True)
    after = [abs(float(r["sine_wave"])) for k, r in fmi.items() if k > RESULT["written_at"]]
    before = [abs(float(r["sine_wave"])) for k, r in fmi.items() if k < RESULT["written_at"] - 5]
    check(max(before) <= 1.0 and max(after) > 2.0,
          f"the DOWNLOAD shows in the FMU's outputs (|sine_wave| up to {max(before):.2f} before, "
          f"{max(after):.2f} after)")


if __name__ == "__main__":
    main()
