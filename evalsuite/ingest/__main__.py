"""``python -m evalsuite.ingest SRC out=RUN_DIR``: another harness's output as a run
directory."""

from evalsuite.cli.ingest import main

if __name__ == "__main__":
    main()
