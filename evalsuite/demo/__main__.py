"""``python -m evalsuite.demo``: Hydra composes conf/demo.yaml, the demo runs its steps."""

from evalsuite.cli.demo import main

# The guard matters: vLLM spawns engine processes that re-import __main__.
if __name__ == "__main__":
    main()
