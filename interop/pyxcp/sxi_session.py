"""pyXCP's SxI transport drives `xcpkit ecu --sxi sxi://pty` through the pseudo-terminal the
ECU printed; every check raises on a mismatch.

    python sxi_session.py --port /dev/pts/N --header len_ctr_word --checksum byte \
        --a2l ecu.a2l --workdir DIR [--seconds 3]

Covers: CONNECT, GET_ID 0 and the A2L upload (GET_ID 4 + UPLOAD), SHORT_UPLOAD of the 1 ms
counter, DOWNLOAD with read-back, BUILD_CHECKSUM against pyXCP's own computation, and DAQ of
the three periodic counters through DaqList/DaqRecorder, decoded with XcpLogFileDecoder:
every counter steps by exactly 1.
"""

import argparse
import glob
import os
import struct
import sys
import time

from ecu_session import A2L_TYPES, check, parse_a2l

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

    from pyxcp import types
    from pyxcp.checksum import check as pyxcp_checksum
    from pyxcp.cmdline import ArgumentParser
    from pyxcp.daq_stim import DaqList, DaqRecorder
    from pyxcp.recorder import XcpLogFileDecoder

    line = f"{opts.port} (HEADER_{opts.header.upper()}, {TAILS[opts.checksum]})"
    print(f"pyXCP over SxI on {line}")
    with open(opts.a2l, encoding="utf-8") as f:
        a2l_file = f.read()
    objs = parse_a2l(a2l_file)
    events = {"1ms": 0, "10ms": 1, "100ms": 2}
    daq_lists = []
    for ev_name, ev in events.items():
        name = f"counter_{ev_name}"
        addr, ext, dtype, _ = objs[name]
        daq_lists.append(DaqList(name=f"list_{ev_name}", event_num=ev, stim=False, enable_timestamps=True,
                                 measurements=[(name, addr, ext, A2L_TYPES[dtype])], priority=0, prescaler=1))
    rec_name = f"ecu_sxi_{opts.header}_{opts.checksum}"
    for old in glob.glob(rec_name + "*"):
        os.remove(old)
    recorder = DaqRecorder(daq_lists, rec_name, 8)

    with ArgumentParser(description="xcpkit ecu over SxI").run(policy=recorder) as x:
        x.connect()
        props = x.slaveProperties
        check(props.maxCto >= 8, f"CONNECT: MAX_CTO {props.maxCto}, MAX_DTO {props.maxDto}")
        check(x.identifier(types.XcpGetIdType.ASCII_TEXT) == "xcpkit_ecu", "GET_ID 0: xcpkit_ecu")
        fetched = x.identifier(types.XcpGetIdType.FILE_TO_UPLOAD)
        check(fetched == a2l_file, f"GET_ID 4 + UPLOAD: the A2L ({len(fetched)} bytes) equals --a2l-out")

        c_addr, c_ext, _, _ = objs["counter_1ms"]
        c0 = struct.unpack("<I", x.shortUpload(4, c_addr, c_ext))[0]
        time.sleep(0.1)
        c1 = struct.unpack("<I", x.shortUpload(4, c_addr, c_ext))[0]
        check(c1 - c0 >= 20, f"SHORT_UPLOAD counter_1ms advanced {c1 - c0} in 100 ms")

        w_addr, w_ext, _, _ = objs["wave_amplitude"]
        x.setMta(w_addr, w_ext)
        x.download(struct.pack("<f", 3.25))
        check(struct.unpack("<f", x.shortUpload(4, w_addr, w_ext))[0] == 3.25, "DOWNLOAD wave_amplitude = 3.25, read back")

        m_addr, m_ext, _, _ = objs["torque_map"]
        x.setMta(m_addr, m_ext)
        block = x.upload(64)
        x.setMta(m_addr, m_ext)
        cs = x.buildChecksum(64)
        check(cs.checksum == pyxcp_checksum(block, cs.checksumType),
              f"BUILD_CHECKSUM {cs.checksumType} {cs.checksum:#x} equals pyXCP's")

        recorder.setup()
        recorder.start()
        time.sleep(opts.seconds)
        recorder.stop()
        x.disconnect()

    files = glob.glob(rec_name + "*.xmraw")
    check(len(files) == 1, f"DaqRecorder wrote {files}")

    class Rows(XcpLogFileDecoder):
        def __init__(self, name):
            super().__init__(name)
            self.rows = {0: [], 1: [], 2: []}

        def on_daq_list(self, daq_list_num, timestamp0, timestamp1, measurements):
            self.rows[daq_list_num].append(list(measurements))

    dec = Rows(files[0])
    dec.run()
    for num, ev_name in enumerate(events):
        counters = [r[0] for r in dec.rows[num]]
        period = {"1ms": 0.001, "10ms": 0.01, "100ms": 0.1}[ev_name]
        check(len(counters) >= opts.seconds / period * 0.5, f"{ev_name}: {len(counters)} samples in {opts.seconds} s")
        gaps = [b - a for a, b in zip(counters, counters[1:]) if b - a != 1]
        check(not gaps, f"{ev_name}: counter steps by exactly 1 (first {counters[0]}, last {counters[-1]})")
    print(f"pyXCP over SxI on {line}: all checks passed")


if __name__ == "__main__":
    main()
