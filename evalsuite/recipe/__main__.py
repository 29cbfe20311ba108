"""``python -m evalsuite.recipe``: Hydra composes conf/recipe.yaml, the recipe trains."""

from evalsuite.cli.recipe import main

# The guard matters: vLLM spawns engine processes that re-import __main__.
if __name__ == "__main__":
    main()
