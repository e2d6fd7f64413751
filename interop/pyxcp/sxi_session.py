"""pyXCP's SxI transport drives `xcpkit ecu --sxi sxi://pty` through the pseudo-terminal the
ECU printed; every check raises on a mismatch.

    python sxi_session.py --port /dev/pts/N --header len_ctr_word --checksum byte \
        --a2l ecu.a2l --workdir DIR [--seconds 3]

Covers what `bus_session.py` runs: CONNECT, the A2L upload, SHORT_UPLOAD, DOWNLOAD with
read-back, BUILD_CHECKSUM and 3 s of DAQ with unbroken counters.
"""

import argparse
import os
import sys

import bus_session
from ecu_session import check

TAILS = {"none": "NO_CHECKSUM", "byte": "CHECKSUM_BYTE", "word": "CHECKSUM_WORD"}


def write_config(path, port, header, checksum):
    with open(path, "w") as f:
        f.write(
            "c.Transport.layer = 'SXI'\n"
            "c.Transport.timeout = 2.0\n"
            f"c.Transport.SxI.port = '{port}'\n"
            "c.Transport.SxI.bitrate = 921600\n"
            f"c.Transport.SxI.header_format = 'HEADER_{header.upper()}'\n"
            f"c.Transport.SxI.tail_format = '{TAILS[checksum]}'\n"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--checksum", required=True, choices=sorted(TAILS))
    ap.add_argument("--a2l", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    opts = ap.parse_args()

    os.chdir(opts.workdir)
    conf = os.path.join(opts.workdir, "pyxcp_conf_sxi.py")
    write_config(conf, opts.port, opts.header, opts.checksum)
    sys.argv = [sys.argv[0], "-c", conf]

    line = f"{opts.port} (HEADER_{opts.header.upper()}, {TAILS[opts.checksum]})"
    print(f"pyXCP over SxI on {line}")

    def sizes(cto, dto):
        check(cto >= 8, f"CONNECT: MAX_CTO {cto}, MAX_DTO {dto}")

    rec_name = f"ecu_sxi_{opts.header}_{opts.checksum}"
    bus_session.run("xcpkit ecu over SxI", opts.a2l, rec_name, opts.seconds, sizes)
    print(f"pyXCP over SxI on {line}: all checks passed")


if __name__ == "__main__":
    main()
