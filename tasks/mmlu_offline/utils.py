"""Data loader for the offline MMLU subjects (see _default_template_yaml)."""

from typing import Any

from evalsuite.tasks import benchdata


def load_mmlu(subject: str, **kw: Any):
    """lm-eval passes the task metadata and dataset_kwargs (which name the subject)."""
    return benchdata.mmlu(subject, kw.get("evalsuite_cache"))
