"""pyXCP drives `xcpkit ecu --can` through python-can's udp_multicast bus, or through its
slcan interface on `xcpkit can emulate-slcan`; every check raises on a mismatch.

Run inside a private network namespace (the test creates it), beside the ECU:

    python can_session.py --a2l ecu.a2l --workdir DIR [--fd] [--seconds 3]

Covers: CONNECT (MAX_CTO/MAX_DTO of the bus), GET_ID 0 and the A2L upload (GET_ID 4 +
UPLOAD), SHORT_UPLOAD of the loss-detection counters, DOWNLOAD with read-back, BUILD_CHECKSUM
against pyXCP's own computation, and DAQ of the three periodic counters through
DaqList/DaqRecorder, decoded with XcpLogFileDecoder: every counter steps by exactly 1.
"""

import argparse
import os
import sys

import bus_session
from ecu_session import check


def write_config(path, fd, interface, channel):
    with open(path, "w") as f:
        f.write(
            "c.Transport.layer = 'CAN'\n"
            "c.Transport.timeout = 2.0\n"
            f"c.Transport.Can.interface = '{interface}'\n"
            f"c.Transport.Can.channel = '{channel}'\n"
            "c.Transport.Can.bitrate = 500000\n"
            "c.Transport.Can.can_id_master = 0x7E0\n"
            "c.Transport.Can.can_id_slave = 0x7E1\n"
            f"c.Transport.Can.fd = {fd}\n"
            "c.Transport.Can.max_dlc_required = False\n"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a2l", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--fd", action="store_true")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--interface", default="udp_multicast", help="python-can interface: udp_multicast or slcan")
    ap.add_argument("--channel", default="239.74.163.2", help="its channel: the group, or the serial device")
    opts = ap.parse_args()

    os.chdir(opts.workdir)
    conf = os.path.join(opts.workdir, "pyxcp_conf_can.py")
    write_config(conf, opts.fd, opts.interface, opts.channel)
    sys.argv = [sys.argv[0], "-c", conf]

    bus = ("CAN FD" if opts.fd else "classic CAN") + f" (python-can {opts.interface} {opts.channel})"
    print(f"pyXCP over {bus}, 0x7E0/0x7E1")
    size = 64 if opts.fd else 8

    def sizes(cto, dto):
        check(cto == size and dto == size, f"CONNECT: MAX_CTO {cto}, MAX_DTO {dto}")

    rec_name = f"ecu_{opts.interface}" + ("_fd" if opts.fd else "")
    bus_session.run("xcpkit ecu over CAN", opts.a2l, rec_name, opts.seconds, sizes)
    print(f"pyXCP over {bus}: all checks passed")


if __name__ == "__main__":
    main()
