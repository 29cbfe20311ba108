"""``python -m evalsuite.report COMPARE_DIR``: render (again) the tables, figures and
report of a stored comparison from its drift.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalsuite.cli._common import fail
from evalsuite.errors import UserError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evalsuite.report", description=__doc__)
    parser.add_argument("compare_dir", type=Path, help="a directory holding drift.json")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: the compare directory)")
    parser.add_argument("--no-explorer", action="store_true",
                        help="leave explorer.html as it is (it reads the runs again)")
    args = parser.parse_args(argv)
    from evalsuite.report import load_drift, render_report

    try:
        drift = load_drift(args.compare_dir)
        out = args.out or (args.compare_dir if args.compare_dir.is_dir()
                           else args.compare_dir.parent)
        explorer = None
        if not args.no_explorer:
            from evalsuite.report.explorer import write_explorer

            # from the runs drift.json names, when they are still there
            explorer = write_explorer(drift, out)
        result = render_report(drift, out)
    except UserError as e:
        fail(e.message, e.exit_code)
        return
    if explorer is not None:
        print(f"explorer: {explorer}")
    print(f"report: {result['report']}")


if __name__ == "__main__":
    sys.exit(main())
