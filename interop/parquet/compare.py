"""pyarrow and DuckDB read the Parquet files `xcpkit convert --to parquet` wrote and find the
values of `xcpkit convert --to csv` of the same recording.

Run by `cargo xtask interop`:

    python compare.py --csv FILE PARQUET...

Each Parquet file holds one DAQ list (its number is in the file's `xcpkit.list` metadata, the
recording's layout in `xcpkit.recording`). For every signal column, pyarrow must return the
CSV's values row by row: numbers equal as doubles (integers exactly, floats as stored), texts
equal (verbal tables). The host times must match the CSV's to the microsecond (both counted
from the list's first row). DuckDB must count the same rows and sum a numeric column to the
same total. Exits 1 on any difference, or when nothing was compared.
"""

import argparse
import csv
import json
import math
import sys

import duckdb
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("parquet", nargs="+")
    opts = ap.parse_args()

    with open(opts.csv, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.split(" [")[0] for h in rows[0]]
    per_list = {}
    for r in rows[1:]:
        per_list.setdefault(int(r[1]), []).append(r)

    bad = 0
    checked = 0
    for path in opts.parquet:
        table = pq.read_table(path)
        md = table.schema.metadata
        number = int(md[b"xcpkit.list"])
        layout = json.loads(md[b"xcpkit.recording"])["daq"]["lists"]
        index = next(i for i, l in enumerate(layout) if l["number"] == number)
        mine = per_list.get(index, [])
        if table.num_rows != len(mine):
            print(f"  FAIL {path}: {table.num_rows} rows, the CSV has {len(mine)} for list {index}")
            bad += 1
            continue
        host = table.column("host_ns").cast("int64").to_pylist()
        t0 = host[0] if host else 0
        c0 = float(mine[0][0]) if mine else 0.0
        for k, (h, r) in enumerate(zip(host, mine)):
            if abs((h - t0) / 1e9 - (float(r[0]) - c0)) > 1.5e-6:
                print(f"  FAIL {path} row {k}: host time {(h - t0) / 1e9} vs CSV {float(r[0]) - c0}")
                bad += 1
                break
        numeric = None
        for name in table.column_names[2:]:
            col = header.index(name)
            values = table.column(name).to_pylist()
            kind = str(table.schema.field(name).type)
            before = bad
            for k, (v, r) in enumerate(zip(values, mine)):
                cell = r[col]
                if isinstance(v, str):
                    same = v == cell
                else:
                    x = float(cell)
                    same = (math.isnan(x) and math.isnan(v)) or float(v) == x
                if not same:
                    print(f"  FAIL {path} {name} row {k}: Parquet {v!r}, CSV {cell!r}")
                    bad += 1
                    break
                checked += 1
            if kind in ("double", "float") and numeric is None:
                numeric = name
            if bad == before:
                print(f"  ok  {name}: {len(values)} values, {kind}")
        # DuckDB reads the file on its own and agrees on the count and a sum.
        con = duckdb.connect()
        quoted = path.replace("'", "''")
        n = con.execute(f"SELECT count(*) FROM read_parquet('{quoted}')").fetchone()[0]
        if n != table.num_rows:
            print(f"  FAIL DuckDB counts {n} rows in {path}, pyarrow {table.num_rows}")
            bad += 1
        if numeric:
            total = con.execute(f'SELECT sum("{numeric}") FROM read_parquet(\'{quoted}\')').fetchone()[0]
            expected = math.fsum(table.column(numeric).to_pylist())
            if not math.isclose(total, expected, rel_tol=1e-9, abs_tol=1e-9):
                print(f"  FAIL DuckDB sums {numeric} to {total}, pyarrow's values to {expected}")
                bad += 1
        print(f"  {path}: list {number}, {table.num_rows} rows; DuckDB counts {n}")
    print(f"  {checked} values compared, {bad} difference(s)")
    sys.exit(1 if bad or checked == 0 else 0)


if __name__ == "__main__":
    main()
