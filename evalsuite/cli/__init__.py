"""Command-line entry points. Imported by nothing in the package: each ``python -m``
module is a thin shim that calls one of these."""
