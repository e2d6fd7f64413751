"""The session that pyXCP runs against `xcpkit ecu` on a bus (CAN, a serial line): the
checks `can_session.py` and `sxi_session.py` share once pyXCP is configured for the bus.

Covers: CONNECT (with the caller's check of MAX_CTO/MAX_DTO), GET_ID 0 and the A2L upload
(GET_ID 4 + UPLOAD), SHORT_UPLOAD of the 1 ms counter, DOWNLOAD with read-back,
BUILD_CHECKSUM against pyXCP's own computation, and DAQ of the three periodic counters through
DaqList/DaqRecorder, decoded with XcpLogFileDecoder: every counter steps by exactly 1.
Returns the decoder: its `rows` and `stamps` (the slave timestamps) per DAQ list.
"""

import glob
import os
import struct
import time

from ecu_session import A2L_TYPES, check, parse_a2l

EVENTS = {"1ms": 0, "10ms": 1, "100ms": 2}
PERIODS = {"1ms": 0.001, "10ms": 0.01, "100ms": 0.1}


def run(description, a2l_path, rec_name, seconds, check_sizes):
    """pyXCP (configured through sys.argv already) against the ECU whose A2L is at
    `a2l_path`; `check_sizes(max_cto, max_dto)` checks CONNECT's sizes for the bus."""
    from pyxcp import types
    from pyxcp.checksum import check as pyxcp_checksum
    from pyxcp.cmdline import ArgumentParser
    from pyxcp.daq_stim import DaqList, DaqRecorder
    from pyxcp.recorder import XcpLogFileDecoder

    with open(a2l_path, encoding="utf-8") as f:
        a2l_file = f.read()
    objs = parse_a2l(a2l_file)
    daq_lists = []
    for ev_name, ev in EVENTS.items():
        name = f"counter_{ev_name}"
        addr, ext, dtype, _ = objs[name]
        daq_lists.append(DaqList(name=f"list_{ev_name}", event_num=ev, stim=False, enable_timestamps=True,
                                 measurements=[(name, addr, ext, A2L_TYPES[dtype])], priority=0, prescaler=1))
    for old in glob.glob(rec_name + "*"):
        os.remove(old)
    recorder = DaqRecorder(daq_lists, rec_name, 8)

    with ArgumentParser(description=description).run(policy=recorder) as x:
        x.connect()
        props = x.slaveProperties
        check_sizes(props.maxCto, props.maxDto)
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
        block = b"".join(x.upload(4) for _ in range(16))
        x.setMta(m_addr, m_ext)
        cs = x.buildChecksum(64)
        check(cs.checksum == pyxcp_checksum(block, cs.checksumType),
              f"BUILD_CHECKSUM {cs.checksumType} {cs.checksum:#x} equals pyXCP's")

        recorder.setup()
        recorder.start()
        time.sleep(seconds)
        recorder.stop()
        x.disconnect()

    files = glob.glob(rec_name + "*.xmraw")
    check(len(files) == 1, f"DaqRecorder wrote {files}")

    class Rows(XcpLogFileDecoder):
        def __init__(self, name):
            super().__init__(name)
            self.rows = {0: [], 1: [], 2: []}
            self.stamps = {0: [], 1: [], 2: []}

        def on_daq_list(self, daq_list_num, timestamp0, timestamp1, measurements):
            self.rows[daq_list_num].append(list(measurements))
            self.stamps[daq_list_num].append(timestamp1)

    dec = Rows(files[0])
    dec.run()
    for num, ev_name in enumerate(EVENTS):
        counters = [r[0] for r in dec.rows[num]]
        check(len(counters) >= seconds / PERIODS[ev_name] * 0.5, f"{ev_name}: {len(counters)} samples in {seconds} s")
        gaps = [b - a for a, b in zip(counters, counters[1:]) if b - a != 1]
        check(not gaps, f"{ev_name}: counter steps by exactly 1 (first {counters[0]}, last {counters[-1]})")
    return dec
