"""``python -m evalsuite.judge baseline=RUN candidate=RUN +judge=NAME``: pairwise judging."""

from evalsuite.cli.judge import main

# The guard matters: vLLM spawns engine processes that re-import __main__.
if __name__ == "__main__":
    main()
