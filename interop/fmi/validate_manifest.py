"""Validates fmi-ls-xcp manifests against the official schema with lxml.

The XCP manifest schema imports the generic layered-standard manifest schema from a web
address; this machine has no network beyond the package registries, so the import is
pointed at the copy beside it (`../shared/reference/fmi-ls-xcp/`) in a temporary file.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from lxml import etree


def schema(xsd_dir: Path) -> etree.XMLSchema:
    text = (xsd_dir / "fmi3LayeredStandardXcpManifest.xsd").read_text(encoding="utf-8")
    local = (xsd_dir / "fmi3LayeredStandardManifest.xsd").resolve().as_uri()
    start = text.index('schemaLocation="', text.index("<xs:import")) + len('schemaLocation="')
    end = text.index('"', start)
    text = text[:start] + local + text[end:]
    with tempfile.NamedTemporaryFile("w", suffix=".xsd", delete=False, encoding="utf-8") as f:
        f.write(text)
        path = f.name
    try:
        return etree.XMLSchema(etree.parse(path))
    finally:
        os.unlink(path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema-dir", type=Path, required=True)
    ap.add_argument("--broken", action="append", default=[], type=Path,
                    help="a manifest the schema must refuse")
    ap.add_argument("manifests", nargs="*", type=Path)
    args = ap.parse_args()
    s = schema(args.schema_dir)
    failed = 0
    for m in args.manifests:
        doc = etree.parse(str(m))
        if s.validate(doc):
            print(f"  ok  {m.name} is valid against the official schema")
        else:
            failed += 1
            print(f"FAIL  {m}: {s.error_log}")
    for m in args.broken:
        if s.validate(etree.parse(str(m))):
            failed += 1
            print(f"FAIL  {m} should be refused by the schema")
        else:
            print(f"  ok  {m.name} refused: {s.error_log.last_error.message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
