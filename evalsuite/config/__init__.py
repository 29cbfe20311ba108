"""The run configuration: Hydra composes, ``from_hydra`` validates, and everything below
the entry point takes these frozen dataclasses."""

from evalsuite.config._hydra import from_hydra
from evalsuite.config._types import (
    BACKEND_TYPES,
    DATA_FILE_TASKS,
    LONG_PROMPT_POLICIES,
    BackendConfig,
    EmbeddedWeights,
    HFBackendConfig,
    JudgeConfig,
    ModelConfig,
    OpenAIBackendConfig,
    RunConfig,
    SuiteConfig,
    TaskConfig,
    VLLMBackendConfig,
    VLLMServerBackendConfig,
)
from evalsuite.config._validate import build, check_bool, check_int, check_policy, check_positive

__all__ = [
    "BACKEND_TYPES", "DATA_FILE_TASKS", "LONG_PROMPT_POLICIES", "BackendConfig",
    "EmbeddedWeights", "HFBackendConfig", "JudgeConfig", "ModelConfig", "OpenAIBackendConfig",
    "RunConfig", "SuiteConfig", "TaskConfig", "VLLMBackendConfig", "VLLMServerBackendConfig",
    "build", "check_bool", "check_int", "check_policy", "check_positive", "from_hydra",
]
