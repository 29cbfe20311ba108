"""backend=openai: see evalsuite.models.backends.endpoint."""

from evalsuite.models.backends.endpoint import build_openai as build
from evalsuite.models.backends.endpoint import supported_output_types

__all__ = ["build", "supported_output_types"]
