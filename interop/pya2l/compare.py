#!/usr/bin/env python3
"""pya2ldb reads an A2L, and what it finds must match `xcpkit a2l list --json`.

Run by `cargo xtask interop`. For every MEASUREMENT, CHARACTERISTIC, AXIS_PTS and BLOB that
pya2ldb imports, it compares with our resolution of the same name: kind, address and
extension, data type, conversion, unit, limits, size where both tools define it the same way,
and the raw -> physical value at every sample point our JSON carries. Names must agree in
both directions (our instance members are matched to pya2ldb's INSTANCE by prefix and first
address). Exits 1 on any mismatch, printing each.

Known differences, counted and reported but not failures (pya2ldb 1.0.355):
  * CURVE/MAP/CUBOID sizes: pya2ldb adds record-layout items without alignment padding, and
    counts a VAL_BLK's first dimension only, one byte per value; those sizes are not compared.
  * pya2ldb returns None outside a TAB_INTP table or a COMPU_VTAB_RANGE without default (we
    clamp, or pass the number through); such points are skipped.
  * pya2ldb ignores STATUS_STRING_REF; where we return its text, the point is skipped.
"""

import argparse
import json
import math
import re
import shutil
import sys
from pathlib import Path

import pya2l
import pya2l.model as model
from pya2l.api import inspect

SIZES = {
    "UBYTE": 1, "SBYTE": 1, "UWORD": 2, "SWORD": 2, "ULONG": 4, "SLONG": 4,
    "A_UINT64": 8, "A_INT64": 8, "FLOAT16_IEEE": 2, "FLOAT32_IEEE": 4, "FLOAT64_IEEE": 8,
}


class Report:
    def __init__(self):
        self.mismatches = []
        self.fields = 0
        self.points = 0
        self.skipped = {}

    def same(self, name, field, theirs, ours):
        self.fields += 1
        if isinstance(theirs, float) or isinstance(ours, float):
            ok = theirs is not None and ours is not None and close(float(theirs), float(ours))
        else:
            ok = theirs == ours
        if not ok:
            self.mismatches.append(f"{name}: {field}: pya2ldb {theirs!r}, xcpkit {ours!r}")

    def skip(self, why):
        self.skipped[why] = self.skipped.get(why, 0) + 1


def close(a, b):
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def conversion_name(cm):
    if cm is None or isinstance(cm, str):
        return cm or "NO_COMPU_METHOD"
    return getattr(cm, "name", None) or "NO_COMPU_METHOD"


def plain(v):
    """numpy scalars and arrays to Python values."""
    if hasattr(v, "item") and getattr(v, "shape", ()) == ():
        return v.item()
    return v


def check_samples(report, name, cm, ours):
    if cm is None or isinstance(cm, str) or not hasattr(cm, "int_to_physical"):
        # NO_COMPU_METHOD: identical.
        def convert(raw):
            return raw
        status = None
    else:
        convert = cm.int_to_physical
        status = getattr(cm, "statusStringRef", None)
    for raw, phys in ours.get("samples", []):
        try:
            theirs = plain(convert(raw))
        except Exception as e:  # pya2ldb failing on a point is a finding, not a crash
            report.mismatches.append(f"{name}: raw {raw}: pya2ldb raised {e!r}, xcpkit {phys!r}")
            continue
        if theirs is None:
            report.skip("pya2ldb has no value (outside table or ranges)")
            continue
        if isinstance(phys, str) and not isinstance(theirs, str) and status:
            report.skip("STATUS_STRING_REF text (pya2ldb ignores it)")
            continue
        report.points += 1
        if isinstance(phys, str) or isinstance(theirs, str):
            ok = phys == theirs
        else:
            ok = close(float(theirs), float(phys))
        if not ok:
            report.mismatches.append(f"{name}: raw {raw}: pya2ldb {theirs!r}, xcpkit {phys!r}")


BYTE_ORDERS = {"LITTLE_ENDIAN": "MSB_LAST", "BIG_ENDIAN": "MSB_FIRST"}


def check_byte_order(report, name, theirs, ours):
    """An object's own BYTE_ORDER (pya2ldb leaves the module default to the caller)."""
    if theirs:
        report.same(name, "byte order", BYTE_ORDERS.get(theirs, theirs), ours["byte_order"])


def unit_of(obj_unit, cm):
    if obj_unit:
        return obj_unit
    return (getattr(cm, "unit", None) or "") if cm is not None and not isinstance(cm, str) else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a2l", required=True)
    ap.add_argument("--ours", required=True, help="output of `xcpkit a2l list --json`")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()

    ours = {o["name"]: o for o in json.loads(Path(args.ours).read_text())}
    broken = {n: o["error"] for n, o in ours.items() if "error" in o}
    # pya2ldb may write beside the file: work on a copy, with the files it /includes.
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    src = Path(args.a2l)
    copy = work / src.name
    shutil.copyfile(src, copy)
    text = src.read_text(encoding="latin-1")
    for inc in re.findall(r'/include\s+"?([^"\s]+)"?', text):
        if (src.parent / inc).is_file():
            shutil.copyfile(src.parent / inc, work / Path(inc).name)
    session = pya2l.import_a2l(str(copy), in_memory=True, progress_bar=False, loglevel="ERROR")

    report = Report()
    theirs_names = set()

    def resolved(name):
        theirs_names.add(name)
        o = ours.get(name)
        if o is None:
            report.mismatches.append(f"{name}: pya2ldb has it, xcpkit lists no such name")
        elif "error" in o:
            report.mismatches.append(f"{name}: pya2ldb resolves it, xcpkit: {o['error']}")
            return None
        return o

    for row in session.query(model.Measurement).all():
        o = resolved(row.name)
        if o is None:
            continue
        m = inspect.Measurement(session, row.name)
        cm = m.compuMethod
        report.same(row.name, "kind", "MEASUREMENT", o["kind"])
        report.same(row.name, "address", m.ecuAddress, o["address"])
        report.same(row.name, "ext", m.ecuAddressExtension or 0, o["ext"] or 0)
        report.same(row.name, "datatype", m.datatype, o["datatype"])
        report.same(row.name, "conversion", conversion_name(cm), o["conversion"])
        report.same(row.name, "unit", unit_of(m.physUnit, cm), o["unit"])
        report.same(row.name, "lower limit", float(m.lowerLimit), o["limits"][0])
        report.same(row.name, "upper limit", float(m.upperLimit), o["limits"][1])
        dims = [d for d in (m.matrixDim.x, m.matrixDim.y, m.matrixDim.z) if d] if m.matrixDim else []
        if not dims and m.arraySize:
            dims = [m.arraySize]
        count = math.prod(dims) if dims else 1
        report.same(row.name, "size", SIZES[m.datatype] * count, o["size"])
        check_byte_order(report, row.name, m.byteOrder, o)
        check_samples(report, row.name, cm, o)

    for row in session.query(model.Characteristic).all():
        o = resolved(row.name)
        if o is None:
            continue
        c = inspect.Characteristic(session, row.name)
        cm = c.compuMethod
        report.same(row.name, "kind", c.type, o["kind"])
        report.same(row.name, "address", c.address, o["address"])
        report.same(row.name, "ext", c.ecuAddressExtension or 0, o["ext"] or 0)
        report.same(row.name, "datatype", c.fnc_asam_dtype, o["datatype"])
        report.same(row.name, "conversion", conversion_name(cm), o["conversion"])
        report.same(row.name, "unit", unit_of(c.physUnit, cm), o["unit"])
        report.same(row.name, "lower limit", float(c.lowerLimit), o["limits"][0])
        report.same(row.name, "upper limit", float(c.upperLimit), o["limits"][1])
        check_byte_order(report, row.name, c.byteOrder, o)
        if c.type in ("VALUE", "ASCII"):
            report.same(row.name, "size", c.total_allocated_memory, o["size"])
        else:
            report.skip(f"size of {c.type} (pya2ldb: no alignment, VAL_BLK in bytes)")
        check_samples(report, row.name, cm, o)

    for row in session.query(model.AxisPts).all():
        o = resolved(row.name)
        if o is None:
            continue
        a = inspect.AxisPts(session, row.name)
        cm = a.compuMethod
        report.same(row.name, "kind", "AXIS_PTS", o["kind"])
        report.same(row.name, "address", a.address, o["address"])
        report.same(row.name, "datatype", a.fnc_asam_dtype, o["datatype"])
        report.same(row.name, "conversion", conversion_name(cm), o["conversion"])
        report.same(row.name, "lower limit", float(a.lowerLimit), o["limits"][0])
        report.same(row.name, "upper limit", float(a.upperLimit), o["limits"][1])
        check_samples(report, row.name, cm, o)

    for row in session.query(model.Blob).all():
        o = resolved(row.name)
        if o is None:
            continue
        report.same(row.name, "kind", "BLOB", o["kind"])
        report.same(row.name, "address", row.address, o["address"])
        report.same(row.name, "size", row.size, o["size"])

    # Instances: pya2ldb keeps the INSTANCE; we list its members. The first member lies at
    # the instance's address.
    instances = 0
    for row in session.query(model.Instance).all():
        instances += 1
        theirs_names.add(row.name)
        # A pointer INSTANCE is one value under its own name.
        members = [o for n, o in ours.items()
                   if n == row.name or n.startswith((row.name + ".", row.name + "["))]
        if not members:
            report.mismatches.append(f"{row.name}: INSTANCE in pya2ldb, no members in xcpkit")
            continue
        first = min(o["address"] for o in members if o.get("address") is not None)
        report.same(row.name, "instance address", row.address, first)

    for name in ours:
        base = name.split(".")[0].split("[")[0]
        if name not in theirs_names and base not in theirs_names:
            report.mismatches.append(f"{name}: xcpkit lists it, pya2ldb has no such object")
    for name, err in broken.items():
        if name not in theirs_names:
            print(f"  note: {name} does not resolve in xcpkit either: {err}")

    print(f"  {Path(args.a2l).name}: {len(theirs_names)} objects ({instances} instances), "
          f"{report.fields} fields and {report.points} conversion points compared")
    for why, n in sorted(report.skipped.items()):
        print(f"    not compared: {n} x {why}")
    if len(theirs_names) == 0:
        print("  FAIL: pya2ldb found no objects at all")
        return 1
    for m in report.mismatches:
        print(f"  MISMATCH {m}")
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
