"""asamint writes a CDF (ASAM CDF 2.0) from a calibration image of `xcpkit ecu`.

Run by `cargo xtask interop` in a venv of its own (asamint pins pyXCP 0.25 and pya2ldb
0.17, older than the ones the other checks use). The image is the Intel HEX that
`xcpkit cal save -o ecu.hex` took from the ECU; asamint decodes it through the ECU's A2L with
its own A2L database and writes its CDF, which `xcpkit cal` then reads and loads.

Two workarounds for asamint 0.2.2, both about reading the A2L, not about the values:
pya2ldb 0.17.6 passes over every CHARACTERISTIC that has a PHYS_UNIT (an ASAP2 1.7
keyword), and asamint fails on NO_COMPU_METHOD; the copy it reads has no PHYS_UNIT lines
and an explicit IDENTICAL method instead. Its COM_AXIS curves and maps fail inside asamint
and are left out of its CDF (it logs them as errors).
"""

import argparse
import logging
import os
import re
import sys
from pathlib import Path


def asamint_a2l(src: Path, dst: Path) -> None:
    text = src.read_text(encoding="latin-1")
    text = re.sub(r'PHYS_UNIT\s+"[^"]*"', "", text)
    text = re.sub(r"\bNO_COMPU_METHOD\b", "cm_identity", text)
    method = '  /begin COMPU_METHOD cm_identity "" IDENTICAL "%g" "" /end COMPU_METHOD\n  /end MODULE'
    text = text.replace("/end MODULE", method, 1)
    dst.write_text(text, encoding="latin-1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a2l", type=Path, required=True)
    ap.add_argument("--hex", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.a2l, args.hex, args.out = args.a2l.resolve(), args.hex.resolve(), args.out.resolve()

    from pya2l import DB
    from pya2l.api.inspect import ModCommon, ModPar
    from asamint.calibration import CalibrationData
    from asamint.cdf import CDFCreator

    work = args.out.parent / "asamint"
    work.mkdir(parents=True, exist_ok=True)
    a2l = work / "ecu-for-asamint.a2l"
    asamint_a2l(args.a2l, a2l)
    db_file = a2l.with_suffix(".a2ldb")
    if db_file.exists():
        db_file.unlink()
    session = DB().import_a2l(str(a2l), encoding="latin-1")

    class Config:
        log = logging.getLogger("asamint")

    class AsamMc:
        """What asamint's CalibrationData and CDFCreator ask of its AsamMC, without the
        configuration files an AsamMC application reads."""

        config = Config()

        def __init__(self):
            self.session = session
            self.query = session.query
            self.a2l_file = a2l
            self.mod_common = ModCommon.get(session)
            self.mod_par = ModPar.get(session)

        def sub_dir(self, name):
            d = work / name
            d.mkdir(parents=True, exist_ok=True)
            return d

        def generate_filename(self, ext, extra=None):
            return args.out.stem + ext

        def close(self):
            pass

    mc = AsamMc()
    os.chdir(work)  # asamint writes its side databases into the working directory
    cal = CalibrationData(mc)
    cal.load_characteristics(hexfile=str(args.hex), hexfile_type="ihex")
    CDFCreator(cal._parameters, asam_mc=mc).save()
    written = work / "parameters" / (args.out.stem + ".cdfx")
    args.out.write_bytes(written.read_bytes())
    count = sum(len(v) for v in cal._parameters.values())
    print(f"asamint wrote {count} parameter(s) to {args.out}")
    return 0 if count > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
