"""Model configs of trained checkpoints, in a config directory under the cache.

The recipe writes ``CACHE/conf/model/NAME.yaml``; a Hydra search-path plugin, registered
by the command-line entry points, appends ``CACHE/conf`` to evalsuite's config search path, so that
``python -m evalsuite +model=NAME`` finds it next to the shipped ``conf/model/*.yaml``
(which win on a name clash). The cache is ``cache_dir=`` when the command line sets it,
else ``$EVALSUITE_CACHE``, else ``~/.cache/evalsuite``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from evalsuite.resources import CONF_DIR as PACKAGE_CONF_DIR
from evalsuite.storage.atomic import write_text
from evalsuite.storage.cachedir import cache_dir

PROVIDER = "evalsuite-trained-models"

_cli_cache: str | None = None


def set_cli_cache(value: str | None) -> None:
    """The ``cache_dir=`` of the current command line, read before Hydra composes."""
    global _cli_cache
    _cli_cache = value


def user_conf_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """``CACHE/conf``: the config directory holding trained models' ``model/NAME.yaml``."""
    return cache_dir(cache if cache is not None else _cli_cache) / "conf"


def shipped_model_names() -> list[str]:
    return sorted(p.stem for p in (PACKAGE_CONF_DIR / "model").glob("*.yaml"))


def trained_model_names(cache: str | os.PathLike[str] | None = None) -> list[str]:
    return sorted(p.stem for p in (user_conf_dir(cache) / "model").glob("*.yaml"))


def model_names(cache: str | os.PathLike[str] | None = None) -> list[str]:
    """Every name ``+model=`` accepts: shipped configs and trained ones."""
    return sorted(set(shipped_model_names()) | set(trained_model_names(cache)))


def find_model_yaml(name: str, cache: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file ``+model=NAME`` composes (shipped configs first, as Hydra does)."""
    for root in (PACKAGE_CONF_DIR, user_conf_dir(cache)):
        path = root / "model" / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def write_model_yaml(name: str, model: dict[str, Any], header: str,
                     cache: str | os.PathLike[str] | None = None) -> Path:
    """Write ``CACHE/conf/model/NAME.yaml`` atomically; returns its path."""
    from omegaconf import OmegaConf

    path = user_conf_dir(cache) / "model" / f"{name}.yaml"
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    write_text(path, comment + OmegaConf.to_yaml(OmegaConf.create(model)))
    return path


def _is_package_conf(path: str) -> bool:
    path = path.removeprefix("file://")
    return "://" not in path and Path(path).resolve() == PACKAGE_CONF_DIR


class TrainedModelsSearchPath(SearchPathPlugin):
    """Appends ``CACHE/conf`` to the search path of evalsuite's own configs only."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # hydra.main passes the main path as a bare directory, the compose API as file://
        if not any(_is_package_conf(e.path) for e in search_path.get_path()):
            return  # another Hydra app in this process: leave its search path alone
        conf = user_conf_dir()
        if not any(e.provider == PROVIDER for e in search_path.get_path()):
            search_path.append(PROVIDER, f"file://{conf}")


def register_search_path() -> None:
    """Make Hydra call the plugin; done on import of the command-line entry points (idempotent)."""
    Plugins.instance().register(TrainedModelsSearchPath)
