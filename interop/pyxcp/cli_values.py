"""pyXCP and the `xcpkit` command line agree on values in `xcpkit ecu`.

Run by `cargo xtask interop`:

    python cli_values.py --xcpkit BIN --port P --a2l FILE --workdir DIR

`xcpkit read --json` reads characteristics by name in physical units; pyXCP reads the same
addresses raw (SHORT_UPLOAD), and the raw values converted with the A2L's identity or linear
conversion must match. Then `xcpkit write` sets a value and pyXCP reads it back.
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys

FORMATS = {"UBYTE": "<B", "SBYTE": "<b", "UWORD": "<H", "SWORD": "<h", "ULONG": "<I",
           "SLONG": "<i", "A_UINT64": "<Q", "A_INT64": "<q", "FLOAT32_IEEE": "<f",
           "FLOAT64_IEEE": "<d"}


def characteristic(text, name):
    m = re.search(r"/begin CHARACTERISTIC " + re.escape(name) + r" \"[^\"]*\" VALUE (0x[0-9A-Fa-f]+) (\S+) \S+ (\S+)(.*?)/end CHARACTERISTIC", text, re.S)
    addr, layout, compu, body = int(m.group(1), 16), m.group(2), m.group(3), m.group(4)
    dtype = re.search(r"/begin RECORD_LAYOUT " + re.escape(layout) + r" FNC_VALUES \d+ (\S+)", text).group(1)
    ext = re.search(r"ECU_ADDRESS_EXTENSION (\d+)", body)
    return addr, int(ext.group(1)) if ext else 0, dtype, compu


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok  {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xcpkit", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--a2l", required=True)
    ap.add_argument("--workdir", required=True)
    opts = ap.parse_args()
    os.chdir(opts.workdir)
    conf = os.path.join(opts.workdir, "pyxcp_cli_conf.py")
    with open(conf, "w") as f:
        f.write("c.Transport.layer = 'ETH'\nc.Transport.timeout = 2.0\n"
                "c.Transport.Eth.host = '127.0.0.1'\n"
                f"c.Transport.Eth.port = {opts.port}\nc.Transport.Eth.protocol = 'TCP'\n"
                "c.Transport.Eth.ipv6 = False\n")
    sys.argv = [sys.argv[0], "-c", conf]
    from pyxcp.cmdline import ArgumentParser

    with open(opts.a2l, encoding="utf-8") as f:
        text = f.read()
    url = f"tcp://127.0.0.1:{opts.port}"
    names = ["idle_rpm", "max_rpm", "wave_amplitude", "wave_frequency", "vehicle_mass"]

    def xcpkit(*args):
        out = subprocess.run([opts.xcpkit, *args], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"xcpkit {args}: {out.stderr}")
        return out.stdout

    ours = json.loads(xcpkit("read", "-t", url, "--a2l", opts.a2l, "--json", *names))

    def pyxcp_value(name):
        addr, ext, dtype, compu = characteristic(text, name)
        with ArgumentParser(description="cli values").run() as x:
            x.connect()
            raw = struct.unpack(FORMATS[dtype], x.shortUpload(struct.calcsize(FORMATS[dtype]), addr, ext))[0]
            x.disconnect()
        if compu != "NO_COMPU_METHOD":
            m = re.search(r"/begin COMPU_METHOD " + re.escape(compu) + r" .*? LINEAR .*?COEFFS_LINEAR (\S+) (\S+)", text, re.S)
            if m:
                raw = float(m.group(1)) * raw + float(m.group(2))
        return raw

    print(f"pyXCP and xcpkit against xcpkit ecu at {url}")
    for n in names:
        theirs = pyxcp_value(n)
        mine = ours[n]["value"]
        check(abs(float(theirs) - float(mine)) <= 1e-6 * max(1.0, abs(float(theirs))),
              f"{n}: pyXCP {theirs}, xcpkit {mine}")
    xcpkit("write", "-t", url, "--a2l", opts.a2l, "wave_amplitude=4.25", "idle_rpm=875")
    check(pyxcp_value("wave_amplitude") == 4.25, "xcpkit write wave_amplitude=4.25, pyXCP reads 4.25")
    check(abs(pyxcp_value("idle_rpm") - 875) < 1e-6, "xcpkit write idle_rpm=875, pyXCP reads 875")


if __name__ == "__main__":
    main()
