"""backend=openai: see evalsuite.backends.endpoint."""

from evalsuite.backends.endpoint import build_openai as build
from evalsuite.backends.endpoint import supported_output_types

__all__ = ["build", "supported_output_types"]
