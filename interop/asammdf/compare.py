"""asammdf reads the MDF4 that `xcpkit convert --to mf4` wrote and finds the values of
`xcpkit convert --to csv` of the same recording.

Run by `cargo xtask interop`:

    python compare.py --mf4 FILE --csv FILE [--sources front,rear]

For every channel of the CSV, the MDF channel of the same name must hold the same samples in
the same order: numbers equal (to float32 precision for float32 channels), texts equal (the
value-to-text conversions). Raw values must be integers where the channel is an integer one.
The master channel must increase. With `--sources` (a recording of several slaves), every
data group's acquisition source must name one of the slaves and every slave must have one.
Exits 1 on any difference.
"""

import argparse
import csv
import math
import sys

import numpy as np
from asammdf import MDF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mf4", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--sources", help="the slaves' labels, comma-separated")
    opts = ap.parse_args()

    with open(opts.csv, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    columns = {}
    for i, h in enumerate(header[2:], start=2):
        name = h.split(" [")[0]
        columns[name] = [(r[1], r[i]) for r in body if r[i] != ""]

    mdf = MDF(opts.mf4)
    print(f"  {opts.mf4}: MDF {mdf.version}, {len(mdf.groups)} group(s)")
    bad = 0
    checked = 0
    if opts.sources:
        want = set(opts.sources.split(","))
        seen = set()
        for i, g in enumerate(mdf.groups):
            src = g.channel_group.acq_source
            name = src.name if src is not None else None
            if name not in want:
                print(f"  MISMATCH group {i}: acquisition source {name!r}, not one of {sorted(want)}")
                bad += 1
            else:
                seen.add(name)
                print(f"  ok  group {i}: source {name!r} ({src.path})")
        if seen != want:
            print(f"  MISMATCH: no group of {sorted(want - seen)}")
            bad += 1
    for name, cells in columns.items():
        sig = mdf.get(name)
        raw = mdf.get(name, raw=True)
        ours = [c for _, c in cells]
        if len(sig.samples) != len(ours):
            print(f"  MISMATCH {name}: {len(sig.samples)} samples in MDF, {len(ours)} in CSV")
            bad += 1
            continue
        if len(sig.timestamps) > 1 and not np.all(np.diff(sig.timestamps) >= 0):
            print(f"  MISMATCH {name}: the master channel goes back")
            bad += 1
        f32 = raw.samples.dtype == np.float32
        for k, (theirs, mine) in enumerate(zip(sig.samples, ours)):
            if isinstance(theirs, (bytes, np.bytes_)):
                ok = theirs.decode() == mine.strip('"')
            else:
                a, b = float(theirs), float(mine)
                tol = 1e-6 if f32 else 1e-12
                ok = math.isclose(a, b, rel_tol=tol, abs_tol=tol)
            if not ok:
                print(f"  MISMATCH {name}[{k}]: MDF {theirs!r}, CSV {mine!r}")
                bad += 1
                break
        checked += len(ours)
        print(f"  ok  {name}: {len(ours)} samples, unit {sig.unit!r}, raw {raw.samples.dtype}")
    if checked == 0:
        print("  FAIL: nothing compared")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
