"""pyXCP's recorder and converters as the peer of `cargo bench -p xcpkit-cli --bench recorder`.

    python bench_recorder.py --xmraw FILE --workdir DIR [--runs N]

On the frames of FILE (a pyXCP DaqRecorder recording of `xcpkit ecu --stress`):

- write: every frame (`--repeat` times over) through `XcpLogFileWriter.add_frame` and `finalize` (pyXCP's recorder:
  a C++ writer thread compressing with LZ4-HC), frames per second;
- convert: FILE to CSV (`CsvConverter`), to MDF4 (`MdfConverter`, through asammdf) and to
  Parquet (`ArrowConverter`, through pyarrow), rows per second.

Each is timed `--runs` times; prints one JSON line with the medians.
"""

import argparse
import json
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xmraw", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=1,
                    help="write the frames this many times over (later copies shifted in time)")
    opts = ap.parse_args()
    os.makedirs(opts.workdir, exist_ok=True)
    os.chdir(opts.workdir)

    from pyxcp.recorder import XcpLogFileReader, XcpLogFileWriter
    from pyxcp.recorder.converter import CONVERTERS

    frames = [(c, n, t, bytes(p)) for c, n, t, p in XcpLogFileReader(opts.xmraw)]
    out = {"frames": len(frames)}
    span = (frames[-1][2] - frames[0][2] + 1) if frames else 0
    to_write = [(c, n, t + k * span, p) for k in range(opts.repeat) for c, n, t, p in frames]
    out["write_frames"] = len(to_write)

    # pyXCP's writer thread stops at `finalize` even with frames still queued: what reached
    # the file is counted by reading it back, and the rate is of those frames.
    times = []
    written = []
    for i in range(opts.runs):
        name = os.path.join(opts.workdir, f"bench_rewrite_{i}")
        t0 = time.perf_counter()
        w = XcpLogFileWriter(name, prealloc=64, chunk_size=1)
        for c, n, t, p in to_write:
            w.add_frame(c, n, t, p)
        w.finalize()
        times.append(time.perf_counter() - t0)
        written.append(sum(1 for _ in XcpLogFileReader(name + ".xmraw")))
        os.remove(name + ".xmraw")
    out["write_frames_written"] = statistics.median(written)
    out["write_frames_lost"] = len(to_write) - statistics.median(written)
    out["write_frames_per_s"] = statistics.median(written) / statistics.median(times)

    class Count:
        rows = 0

    for kind in ["csv", "mdf", "arrow"]:
        cls = CONVERTERS.get(kind)
        if cls is None:
            out[f"{kind}_rows_per_s"] = None
            continue

        class Counting(cls):
            def on_daq_list(self, daq_list_num, timestamp0, timestamp1, measurements):
                Count.rows += 1
                return super().on_daq_list(daq_list_num, timestamp0, timestamp1, measurements)

        # Rows are counted in a run of their own: the counting override is a Python call per
        # row, and the timed runs are of pyXCP's converter as it ships.
        Count.rows = 0
        folder = os.path.dirname(os.path.abspath(opts.xmraw))
        before = set(os.listdir(folder))
        Counting(opts.xmraw).run()
        out[f"{kind}_rows"] = Count.rows
        times = []
        for _ in range(opts.runs):
            # Each timed run writes fresh files, as xcpkit's does: what the previous run
            # wrote is removed first, outside the timing.
            for name in set(os.listdir(folder)) - before:
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    os.remove(path)
            t0 = time.perf_counter()
            cls(opts.xmraw).run()
            times.append(time.perf_counter() - t0)
        out[f"{kind}_rows_per_s"] = Count.rows / statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
