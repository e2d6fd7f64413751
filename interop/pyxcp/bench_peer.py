"""pyXCP as the benchmark peer of `cargo bench -p xcpkit-cli --bench master`.

    python bench_peer.py rtt --port P --addr A --ext E -n N --workdir DIR
        SHORT_UPLOAD of 4 bytes N times; prints one JSON line with the round-trip times (µs).
    python bench_peer.py daq --port P --a2l FILE --seconds S --workdir DIR
        DAQ on the `stress` event (stress_counter, stress_time, stress_values) through pyXCP's
        DaqList/DaqRecorder for S seconds, then decodes the recording; prints one JSON line
        with the frames decoded per second.

    python bench_peer.py can_rx --seconds S --workdir DIR
        python-can's udp_multicast bus receiving for S seconds; prints the frames on 0x7E1
        per second (the benchmark `can` compares xcp-master's lossless rate with it).

Both XCP modes talk TCP to 127.0.0.1 (the ECU the bench started), with `--can` XCP on CAN
over python-can's udp_multicast bus (0x7E0/0x7E1), or with `--sxi DEVICE` XCP on SxI on a
serial device (the ECU's pseudo-terminal).
"""

import argparse
import glob
import json
import os
import re
import sys
import time


def write_config(path, port, can, sxi=None):
    if sxi:
        with open(path, "w") as f:
            f.write(
                "c.Transport.layer = 'SXI'\n"
                "c.Transport.timeout = 2.0\n"
                f"c.Transport.SxI.port = '{sxi}'\n"
                "c.Transport.SxI.bitrate = 4000000\n"
                "c.Transport.SxI.header_format = 'HEADER_LEN_CTR_WORD'\n"
                "c.Transport.SxI.tail_format = 'NO_CHECKSUM'\n"
            )
        return
    if can:
        with open(path, "w") as f:
            f.write(
                "c.Transport.layer = 'CAN'\n"
                "c.Transport.timeout = 2.0\n"
                "c.Transport.Can.interface = 'udp_multicast'\n"
                "c.Transport.Can.channel = '239.74.163.2'\n"
                "c.Transport.Can.can_id_master = 0x7E0\n"
                "c.Transport.Can.can_id_slave = 0x7E1\n"
            )
        return
    with open(path, "w") as f:
        f.write(
            "c.Transport.layer = 'ETH'\n"
            "c.Transport.timeout = 2.0\n"
            "c.Transport.Eth.host = '127.0.0.1'\n"
            f"c.Transport.Eth.port = {port}\n"
            "c.Transport.Eth.protocol = 'TCP'\n"
            "c.Transport.Eth.ipv6 = False\n"
        )


def master(opts, policy=None):
    from pyxcp.cmdline import ArgumentParser

    return ArgumentParser(description="xcpkit bench peer").run(policy=policy)


def rtt(opts):
    with master(opts) as x:
        x.connect()
        for _ in range(200):
            x.shortUpload(4, opts.addr, opts.ext)
        times = []
        for _ in range(opts.n):
            t0 = time.perf_counter_ns()
            x.shortUpload(4, opts.addr, opts.ext)
            times.append(time.perf_counter_ns() - t0)
        x.disconnect()
    times.sort()
    print(json.dumps({
        "n": len(times),
        "min_us": times[0] / 1e3,
        "p50_us": times[len(times) // 2] / 1e3,
        "p99_us": times[len(times) * 99 // 100] / 1e3,
    }))


def measurement(text, name):
    m = re.search(r"/begin MEASUREMENT " + re.escape(name) + r" \"[^\"]*\" (\S+)(.*?)/end MEASUREMENT", text, re.S)
    addr = int(re.search(r"ECU_ADDRESS (0x[0-9A-Fa-f]+)", m.group(2)).group(1), 16)
    ext = re.search(r"ECU_ADDRESS_EXTENSION (\d+)", m.group(2))
    return addr, int(ext.group(1)) if ext else 0


def daq(opts):
    from pyxcp.daq_stim import DaqList, DaqRecorder
    from pyxcp.recorder import XcpLogFileDecoder

    with open(opts.a2l, encoding="utf-8") as f:
        text = f.read()
    event = int(re.search(r'/begin EVENT\s+"stress"\s+"[^"]*"\s+(\d+)', text).group(1))
    c_addr, c_ext = measurement(text, "stress_counter")
    t_addr, t_ext = measurement(text, "stress_time")
    v_addr, v_ext = measurement(text, "stress_values")
    signals = [("stress_counter", c_addr, c_ext, "U32"), ("stress_time", t_addr, t_ext, "U64")]
    signals += [(f"stress_values_{i}", v_addr + 4 * i, v_ext, "F32") for i in range(5)]
    for f in glob.glob(os.path.join(opts.workdir, "bench_daq*.xmraw")):
        os.remove(f)
    base = os.path.join(opts.workdir, "bench_daq")
    lists = [DaqList(name="stress", event_num=event, stim=False, enable_timestamps=True,
                     measurements=signals, priority=0, prescaler=1)]
    recorder = DaqRecorder(lists, base, 8)
    with master(opts, recorder) as x:
        x.connect()
        recorder.setup()
        t0 = time.perf_counter()
        recorder.start()
        time.sleep(opts.seconds)
        recorder.stop()
        elapsed = time.perf_counter() - t0
        x.disconnect()
    class Count(XcpLogFileDecoder):
        rows = 0

        def on_daq_list(self, daq_list_num, timestamp0, timestamp1, measurements):
            self.rows += 1

    files = glob.glob(base + "*.xmraw")
    t1 = time.perf_counter()
    dec = Count(files[0])
    dec.run()
    frames = dec.rows
    decode_s = time.perf_counter() - t1
    print(json.dumps({"frames": frames, "seconds": elapsed, "decode_seconds": decode_s,
                      "frames_per_s": frames / elapsed}))


def can_rx(opts):
    """python-can alone on the multicast bus: frames on CAN_ID_SLAVE per second, from its
    first to its last frame within S seconds after it says "ready" on stderr."""
    import can

    bus = can.Bus(interface="udp_multicast", channel="239.74.163.2")
    print("ready", file=sys.stderr, flush=True)
    frames, first, last = 0, None, None
    end = time.perf_counter() + opts.seconds
    while time.perf_counter() < end:
        m = bus.recv(0.05)
        if m is not None and m.arbitration_id == 0x7E1:
            last = time.perf_counter()
            if first is None:
                first = last
            frames += 1
    bus.shutdown()
    elapsed = (last - first) if frames > 1 else 0.0
    print(json.dumps({"frames": frames, "seconds": elapsed,
                      "frames_per_s": (frames - 1) / elapsed if elapsed > 0 else 0.0}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["rtt", "daq", "can_rx"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--can", action="store_true", help="XCP on CAN over python-can's udp_multicast (0x7E0/0x7E1)")
    ap.add_argument("--sxi", help="XCP on SxI on this serial device (LEN_CTR_WORD, no checksum, 4 MBd)")
    ap.add_argument("--addr", type=lambda s: int(s, 0), default=0)
    ap.add_argument("--ext", type=int, default=0)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--a2l")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--workdir", required=True)
    opts = ap.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    os.chdir(opts.workdir)
    # pyXCP reads its configuration from the command line when first imported.
    conf = os.path.join(opts.workdir, "pyxcp_bench_conf.py")
    if opts.mode == "can_rx":
        can_rx(opts)
        return
    write_config(conf, opts.port, opts.can, opts.sxi)
    sys.argv = [sys.argv[0], "-c", conf]
    rtt(opts) if opts.mode == "rtt" else daq(opts)


if __name__ == "__main__":
    main()
