"""Checking config values at the boundary: unknown keys, types and ranges, all errors of a
section at once, each one line with the fix."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, OmegaConf

from evalsuite.config._types import LONG_PROMPT_POLICIES
from evalsuite.errors import UserError


def section(cfg: DictConfig, key: str, hint: str) -> dict[str, Any]:
    node = cfg.get(key)
    if node is None:
        raise UserError(hint)
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


def _type_errors(cls: type, data: dict[str, Any], where: str) -> list[str]:
    """Check scalar fields against their annotations; nested types are checked elsewhere."""
    hints = get_type_hints(cls)
    errors = []
    for key, value in data.items():
        hint = hints.get(key)
        allowed = set(get_args(hint)) if get_origin(hint) in (Union, UnionType) else {hint}
        if value is None and type(None) in allowed:
            continue
        scalars = allowed & {int, float, bool, str}
        if not scalars:
            continue
        if float in scalars:
            scalars = scalars | {int}  # 1 is a fine value for a float setting
        ok = any(
            isinstance(value, t) and not (t in (int, float) and isinstance(value, bool))
            for t in scalars
        )
        if not ok:
            names = "/".join(sorted(t.__name__ for t in scalars))
            errors.append(f"{where}.{key} must be {names}, got {value!r}")
    return errors


def build(cls: type, data: dict[str, Any], where: str) -> Any:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(names))}"
        )
    errors = _type_errors(cls, data, where)
    if errors:  # all at once, so one fix-and-rerun cycle is enough
        raise UserError("; ".join(errors))
    return cls(**data)


def check_policy(policy: str) -> str:
    """``long_prompts``: what to do with a prompt longer than the context allows."""
    if policy not in LONG_PROMPT_POLICIES:
        raise UserError(f"long_prompts must be one of {', '.join(LONG_PROMPT_POLICIES)}, "
                        f"got {policy!r}")
    return policy


def check_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{key} must be true or false, got {value!r}")
    return value


def check_positive(value: Any, key: str) -> int:
    n = check_int(value, key)
    if n < 1:
        raise UserError(f"{key} must be at least 1, got {n}")
    return n


def check_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{key} must be an integer, got {value!r}")
    return value
