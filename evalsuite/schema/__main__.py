"""``python -m evalsuite.schema [--write]``: the JSON Schema files of evalsuite's records."""

from evalsuite.cli.schema import main

if __name__ == "__main__":
    main()
