"""`xcpkit convert` imports pyXCP's `.xmraw` recordings: the rows it finds are the rows pyXCP's
own decoder finds.

Run by `cargo xtask interop`:

    python xmraw_compare.py --xcpkit BIN --workdir DIR FILE.xmraw...

For every file: pyXCP's `XcpLogFileDecoder` decodes it (using the DAQ layout pyXCP stored in
the file); `xcpkit convert FILE --to csv` converts it. Per DAQ list the row counts must match,
and every value of every row must be equal (the CSV prints each value as the shortest decimal
that reads back as the same double), the host times to the microsecond.

Then a crash: a child process writes frames through pyXCP's `XcpLogFileWriter` and kills
itself with SIGKILL before closing. pyXCP's header still counts the containers of its last
resize, so its own reader finds fewer frames than were compressed to disk; `xcpkit convert
--to xcprec` must salvage every container written before the kill, and say so.

Exits 1 on any difference.
"""

import argparse
import csv
import os
import re
import signal
import subprocess
import sys


def pyxcp_rows(path):
    from pyxcp.recorder import XcpLogFileDecoder

    class Collect(XcpLogFileDecoder):
        def __init__(self, name):
            super().__init__(name)
            self.rows = {}

        def on_daq_list(self, daq_list_num, timestamp0, timestamp1, measurements):
            self.rows.setdefault(daq_list_num, []).append((timestamp0, list(measurements)))

    d = Collect(path)
    d.run()
    # `headers` lists (name, type) in the order `on_daq_list` delivers the values.
    names = {i: [h[0] for h in dl.headers] for i, dl in enumerate(d.daq_lists)}
    return d.rows, names


def xcpkit_rows(xcpkit, path, out):
    res = subprocess.run([xcpkit, "convert", path, "--to", "csv", "-o", out],
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        print(f"xcpkit convert failed: {res.stderr}")
        sys.exit(1)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    per_list = {}
    for r in rows[1:]:
        per_list.setdefault(int(r[1]), []).append(r)
    return header, per_list, res.stdout + res.stderr


def compare(xcpkit, path, workdir):
    theirs, names = pyxcp_rows(path)
    out = os.path.join(workdir, os.path.basename(path) + ".csv")
    header, ours, _ = xcpkit_rows(xcpkit, path, out)
    col = {h.split(" [")[0]: i for i, h in enumerate(header)}
    bad = 0
    checked = 0
    for li in sorted(theirs):
        rows = theirs[li]
        mine = ours.get(li, [])
        if len(rows) != len(mine):
            print(f"  FAIL {os.path.basename(path)} list {li}: pyXCP {len(rows)} rows, xcpkit {len(mine)}")
            bad += 1
            continue
        # pyXCP's timestamp0 counts from the list's first row; the CSV from the recording's.
        first = float(mine[0][0]) if mine else 0.0
        for (t0, values), r in zip(rows, mine):
            t_ours = float(r[0]) - first
            if abs(t0 / 1e9 - t_ours) > 1.5e-6:
                print(f"  FAIL list {li}: host time {t0 / 1e9} vs {t_ours}")
                bad += 1
                break
            for name, v in zip(names[li], values):
                if name not in col:
                    print(f"  FAIL list {li}: no column {name} in the CSV")
                    bad += 1
                    break
                cell = r[col[name]]
                if float(cell) != float(v):
                    print(f"  FAIL list {li} {name}: pyXCP {v!r}, xcpkit {cell}")
                    bad += 1
                    break
                checked += 1
            if bad:
                break
        print(f"  {'ok' if not bad else 'FAIL'}  {os.path.basename(path)} list {li}: "
              f"{len(rows)} rows of {len(names[li])} values")
    return bad, checked


def crash_child(path, frames):
    from pyxcp.recorder import FrameCategory, XcpLogFileWriter

    w = XcpLogFileWriter(path, prealloc=1, chunk_size=1)
    payload = bytes(range(40))
    for i in range(frames):
        w.add_frame(FrameCategory.DAQ, i & 0xFFFF, 1_700_000_000_000_000_000 + i * 1000,
                    bytes([0]) + (i).to_bytes(4, "little") + payload[5:])
    # Let the collector thread compress some of it (LZ4-HC at its top level is slow), then die
    # without closing.
    import time
    time.sleep(3.0)
    os.kill(os.getpid(), signal.SIGKILL)


def crash(xcpkit, workdir):
    from pyxcp.recorder import XcpLogFileReader

    path = os.path.join(workdir, "crashed.xmraw")
    if os.path.exists(path):
        os.remove(path)
    frames = 200_000
    child = subprocess.run([sys.executable, __file__, "--crash-child", path, "--frames", str(frames)],
                           timeout=300)
    if child.returncode != -signal.SIGKILL:
        print(f"  FAIL the crash child ended with {child.returncode}, not SIGKILL")
        return 1
    theirs = sum(1 for _ in XcpLogFileReader(path))
    out = os.path.join(workdir, "crashed.xcprec")
    res = subprocess.run([xcpkit, "convert", path, "--to", "xcprec", "-o", out],
                         capture_output=True, text=True, timeout=300)
    text = res.stdout + res.stderr
    m = re.search(r"(\d+) DAQ frames from (\d+) container", text)
    if res.returncode != 0 or not m:
        print(f"  FAIL xcpkit convert of the crashed file: {text}")
        return 1
    ours = int(m.group(1))
    # pyXCP closes a container once its records (13-byte header + 40 bytes each) pass 512 KiB,
    # so every container holds the same number: the salvaged frames are whole containers, and
    # more than the stale header lets pyXCP's reader see.
    per_container = 512 * 1024 // 53 + 1
    containers = int(m.group(2))
    ok = (ours == containers * per_container and ours <= frames and ours > theirs
          and "salvaged" in text)
    print(f"  {'ok' if ok else 'FAIL'}  killed pyXCP writer: pyXCP's reader finds {theirs} frames, "
          f"xcpkit salvages {ours} ({containers} x {per_container}): {text.strip()}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xcpkit")
    ap.add_argument("--workdir")
    ap.add_argument("--crash-child")
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("files", nargs="*")
    opts = ap.parse_args()
    if opts.crash_child:
        crash_child(opts.crash_child, opts.frames)
        return
    bad = 0
    total = 0
    for f in opts.files:
        b, c = compare(opts.xcpkit, f, opts.workdir)
        bad += b
        total += c
    bad += crash(opts.xcpkit, opts.workdir)
    print(f"  {total} values compared, {bad} difference(s)")
    sys.exit(1 if bad or total == 0 else 0)


if __name__ == "__main__":
    main()
