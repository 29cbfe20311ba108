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
            continue
        field = cls.__dataclass_fields__.get(key)
        problem = _out_of_range(value, dict(field.metadata) if field else {})
        if problem:
            errors.append(f"{where}.{key} must be {problem}, got {value!r}")
    return errors


def _out_of_range(value: Any, rule: dict[str, Any]) -> str | None:
    """What ``value`` must be, where it breaks the field's rule (``_types.at_least`` ...)."""
    if value is None or not rule:
        return None
    if "choices" in rule:
        return None if value in rule["choices"] else "one of " + ", ".join(rule["choices"])
    lo_in, lo_out, hi = rule.get("ge"), rule.get("gt"), rule.get("le")
    if ((lo_in is not None and value < lo_in) or (lo_out is not None and value <= lo_out)
            or (hi is not None and value > hi)):
        lower = f"at least {lo_in}" if lo_in is not None else f"above {lo_out}"
        return lower + (f" and at most {hi}" if hi is not None else "")
    return None


# Generation settings a task may override (lm-eval's names), and their ranges.
GEN_KWARG_RULES: dict[str, tuple[type, dict[str, Any]]] = {
    "max_gen_toks": (int, {"ge": 1}),
    "temperature": (float, {"ge": 0}),
    "top_p": (float, {"gt": 0, "le": 1}),
    "top_k": (int, {"ge": -1}),
}


def gen_kwargs_errors(gen: dict[str, Any], where: str) -> list[str]:
    errors = []
    for key, (kind, rule) in GEN_KWARG_RULES.items():
        if key not in gen or gen[key] is None:
            continue
        value = gen[key]
        kinds = (int, float) if kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            errors.append(f"{where}.{key} must be {kind.__name__}, got {value!r}")
            continue
        problem = _out_of_range(value, rule)
        if problem:
            errors.append(f"{where}.{key} must be {problem}, got {value!r}")
    return errors


def build(cls: type, data: dict[str, Any], where: str) -> Any:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(names))}"
        )
    errors = _type_errors(cls, data, where)
    if isinstance(data.get("gen_kwargs"), dict):
        errors += gen_kwargs_errors(data["gen_kwargs"], f"{where}.gen_kwargs")
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
