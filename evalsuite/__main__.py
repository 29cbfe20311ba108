from evalsuite.cli.run import main

# The guard matters: vLLM spawns engine processes that re-import __main__.
if __name__ == "__main__":
    main()
