"""Overrides checked against the config they would change, before Hydra runs.

Hydra refuses an override of a key the composed config lacks (``backend.max_num_seqs=8``
with the default ``backend=hf``, a typo such as ``limt=5``) with a five-line message and
exit 1. ``check_keys`` composes the same config first, with Hydra's own Compose API, and
turns that refusal into one line that says which setting, where it does exist, and what
to type instead.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR

# Sweeps are checked value by value: a few values per swept key, not their product.
_MAX_VARIANTS = 32
_OVERRIDE_KEY = re.compile(r"Could not override '(?P<key>[^']+)'")
_DELETE_KEY = re.compile(r"Could not delete from config\. '(?P<key>[^']+)' does not exist")
_MISSING_OPTION = re.compile(r"Could not find '(?P<group>[\w/]+)/(?P<value>[^']+)'")


def check_keys(argv: list[str], config_name: str, user_dirs: list[Path] | None = None) -> None:
    """Compose ``config_name`` with argv's overrides (each swept value in turn) and raise
    a one-line UserError for the first one Hydra would refuse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    name = _config_name(argv) or config_name
    args = [a for a in argv if _is_override(a)]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except OverrideParseException:
        return  # the override parser's own check (precheck) words this one
    # --config-dir DIR is a search path entry as far as composing goes
    paths = [f"file://{d.resolve()}" for d in user_dirs or []]
    for o in overrides:
        if o.get_key_element().lstrip("+~") == "hydra.searchpath":
            value = o.value()
            paths += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    search = [f"hydra.searchpath=[{','.join(paths)}]"] if paths else []
    for variant in _variants([o for o in overrides if not o.get_key_element().lstrip(
            "+~").startswith("hydra")]):
        _compose(name, search + variant, user_dirs or [])


def _is_override(arg: str) -> bool:
    return not arg.startswith("-") and ("=" in arg or arg.startswith("~"))


def _config_name(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("-cn", "--config-name") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config-name="):
            return arg.split("=", 1)[1]
    return None


def _variants(overrides: list[Any]) -> Iterator[list[str]]:
    """The overrides with every sweep at its first value, then each other swept value."""
    # Hydra's own settings (hydra.run.dir, hydra/launcher=...) are Hydra's to check, and
    # a launcher's config may need its plugin just to compose: the caller leaves them out.
    plain = {i: o.input_line for i, o in enumerate(overrides) if not o.is_sweep_override()}
    swept = {i: [f"{o.get_key_element()}={v}" for v in itertools.islice(
        o.sweep_string_iterator(), _MAX_VARIANTS)]
        for i, o in enumerate(overrides) if o.is_sweep_override()}
    first = {i: values[0] for i, values in swept.items() if values}
    yield [{**plain, **first}[i] for i in sorted({**plain, **first})]
    for i, values in swept.items():
        for value in values[1:]:
            chosen = {**plain, **first, i: value}
            yield [chosen[j] for j in sorted(chosen)]


def _compose(name: str, overrides: list[str], user_dirs: list[Path]) -> None:
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    try:
        _hydra_compose(name, overrides)
    except OverrideParseException:
        return  # a swept value rebuilt into an override Hydra parses otherwise: its call
    except MissingConfigException as e:
        raise UserError(_missing(str(e), name, user_dirs)) from None
    except ConfigCompositionException as e:
        raise UserError(_refused(str(e), name, overrides, user_dirs)) from None


def _hydra_compose(name: str, overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(name, overrides=overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def _missing(message: str, name: str, user_dirs: list[Path]) -> str:
    m = _MISSING_OPTION.search(message)
    if not m:
        return f"{name}: {_first_line(message)}"
    known = _options(m["group"], user_dirs)
    return (f"unknown {m['group']} {m['value']!r}: choose one of {', '.join(known)} or add "
            f"{m['group']}/{m['value']}.yaml to a directory given with --config-dir DIR")


def _refused(message: str, name: str, overrides: list[str], user_dirs: list[Path]) -> str:
    m = _DELETE_KEY.search(message)
    if m:
        return f"~{m['key']} deletes a setting that is not there: drop it"
    m = _OVERRIDE_KEY.search(message)
    if not m:
        return f"cannot apply the overrides: {_first_line(message)}"
    key = m["key"]
    value = next((o.split("=", 1)[1] for o in overrides
                  if o.split("=", 1)[0].lstrip("+~") == key), "...")
    add = f"to add a new setting, write +{key}={value}"
    base = _groups_only(name, overrides, user_dirs)
    choices = {} if base is None else dict(OmegaConf.select(
        base, "hydra.runtime.choices", default={}) or {})
    head, _, rest = key.partition(".")
    if rest and head in _group_dirs(user_dirs):
        if choices.get(head) is None:
            plus = "" if head in choices else "+"
            return (f"{key} overrides a {head} setting, but no {head} is chosen: name one "
                    f"with {plus}{head}=NAME ({', '.join(_options(head, user_dirs))})")
        having = [o for o in _options(head, user_dirs)
                  if o != choices[head] and _has(_option_config(head, o, user_dirs), rest)]
        where = f"{key} is not a setting of {head} {choices[head]}"
        if having:
            return (f"{where}: {', '.join(having)} {'has' if len(having) == 1 else 'have'} "
                    f"it (choose with {head}={having[0]}); {add}")
        return f"{where}{_did_you_mean(key, base, [])}; {add}"
    groups = [str(g) for g in choices if not str(g).startswith("hydra")]
    return f"unknown setting {key}{_did_you_mean(key, base, groups)}: {add}"


def _did_you_mean(key: str, base: DictConfig | None, extra: list[str]) -> str:
    """A close spelling of the first part of ``key`` the config lacks."""
    parts = key.split(".")
    node: Any = base
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return ""
        if part not in node:
            known = [str(k) for k in node if str(k) != "hydra"]
            close = difflib.get_close_matches(part, known + (extra if i == 0 else []), n=1)
            if not close:
                return ""
            return f" (did you mean {'.'.join([*parts[:i], close[0], *parts[i + 1:]])}?)"
        node = node._get_node(part)
    return ""


def _groups_only(name: str, overrides: list[str], user_dirs: list[Path]) -> DictConfig | None:
    """The config as the group choices alone compose it, to see what keys exist."""
    groups = _group_dirs(user_dirs)
    kept = [o for o in overrides if o.startswith("hydra.searchpath=")
            or o.split("=", 1)[0].lstrip("+~") in groups]
    try:
        return _hydra_compose(name, kept)
    except Exception:  # a group choice Hydra refuses too: the message goes without hints
        return None


def _group_dirs(user_dirs: list[Path]) -> set[str]:
    roots = [CONF_DIR, *user_dirs]
    return {p.name for r in roots if r.is_dir() for p in r.iterdir()
            if p.is_dir() and p.name != "hydra"}


def _options(group: str, user_dirs: list[Path]) -> list[str]:
    names = {p.stem for r in (CONF_DIR, *user_dirs) for p in (r / group).glob("*.yaml")}
    if group == "model":
        from evalsuite.config import search_path

        names |= set(search_path.model_names())
    return sorted(names)


def _option_config(group: str, option: str, user_dirs: list[Path]) -> Any:
    for root in (CONF_DIR, *user_dirs):
        path = root / group / f"{option}.yaml"
        if path.is_file():
            try:
                return OmegaConf.load(path)
            except Exception:  # a broken YAML of another option is not this override's fault
                return None
    return None


def _has(node: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return False
        node = node._get_node(part)
    return True


def _first_line(message: str) -> str:
    return " ".join(message.strip().splitlines()[0].split()) if message.strip() else message
