"""``python -m evalsuite.report COMPARE_DIR``: render a stored comparison again."""

from evalsuite.cli.report import main

# The guard matters: vLLM spawns engine processes that re-import __main__.
if __name__ == "__main__":
    main()
