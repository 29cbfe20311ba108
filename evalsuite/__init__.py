"""evalsuite: measure what synthetic-data training did to a language model."""

from evalsuite.errors import UserError

__all__ = ["UserError", "__version__"]
__version__ = "0.1.0"
