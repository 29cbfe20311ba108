"""Tasks: lm-eval's registry with evalsuite's YAMLs, and the offline data they read (from
PyPI wheels, or a user's data_file)."""
