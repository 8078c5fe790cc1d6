#!/usr/bin/env python3
"""Regenerate engine/data/phone_timezones.txt from libphonenumber's time-zone map.

The table maps E.164 digit prefixes to IANA zone ids. Its upstream is libphonenumber's
resources/timezones/map_data.txt (Apache-2.0). We read it from the `phonenumbers` package on
PyPI, which ships the same data as Python (phonenumbers/tzdata), because PyPI is reachable from
our build machines and GitHub is not.

Keep the version equal to the libphonenumber version that the `phonenumber` crate's metadata is
built from (the `+9.0.33` in its version), so that parsing and zone lookup agree:

    python3 engine/data/update_phone_timezones.py 9.0.33
"""
import pathlib
import subprocess
import sys
import tempfile
import zipfile


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "9.0.33"
    out = pathlib.Path(__file__).with_name("phone_timezones.txt")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"phonenumbers=={version}",
             "--no-deps", "-q", "-d", tmp],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("phonenumbers-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        sys.path.insert(0, tmp)
        from phonenumbers.tzdata import TIMEZONE_DATA  # type: ignore

    lines = [
        "# E.164 prefix -> IANA time zones, in libphonenumber's map_data.txt format",
        "# (prefix|zone&zone...). Longest matching prefix wins.",
        f"# Source: libphonenumber {version} resources/timezones/map_data.txt,",
        "# Copyright (C) The Libphonenumber Authors, Apache License 2.0.",
        "# Regenerate with engine/data/update_phone_timezones.py; do not edit by hand.",
    ]
    for prefix in sorted(TIMEZONE_DATA, key=lambda p: (len(p), p)):
        lines.append(f"{prefix}|{'&'.join(TIMEZONE_DATA[prefix])}")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(TIMEZONE_DATA)} prefixes to {out}")


if __name__ == "__main__":
    main()
