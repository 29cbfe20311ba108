"""``python -m evalsuite.compare baseline=RUN_DIR candidate=RUN_DIR``: the drift report."""

from evalsuite.cli.compare import main

# The guard matters: vLLM spawns engine processes that re-import __main__.
if __name__ == "__main__":
    main()
