"""``python -m evalsuite.schema [--write]``: print, or write into the package, the JSON
Schema files generated from evalsuite's record models."""

from __future__ import annotations

import argparse

from evalsuite.schema import SCHEMA_DIR, json_schemas
from evalsuite.storage.atomic import write_text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evalsuite.schema", description=__doc__)
    parser.add_argument("--write", action="store_true",
                        help=f"write the files into {SCHEMA_DIR.name}/ (developers)")
    args = parser.parse_args(argv)
    for name, text in json_schemas().items():
        if args.write:
            write_text(SCHEMA_DIR / name, text)
            print(f"wrote {name}")
        else:
            print(f"# {name}\n{text}")


if __name__ == "__main__":
    main()
