"""Sweeps beyond one machine's basic launcher: ``checkpoints=DIR`` (every checkpoint of a
training run as one sweep), checks of ``hydra/launcher=NAME`` before Hydra starts, and the
``evalsuite.gpus`` resolver of the local launcher config."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

from evalsuite.errors import UserError
from evalsuite.resources import LAUNCHER_DIR

# Launchers that Hydra or its plugins register themselves, and the plugin each needs;
# ours (conf/hydra/launcher/*.yaml) build on them.
PLUGIN_LAUNCHERS = {
    "basic": None,
    "joblib": "hydra_joblib_launcher",
    "submitit_local": "hydra_submitit_launcher",
    "submitit_slurm": "hydra_submitit_launcher",
}
_PLUGIN_OF = {"parallel": "hydra_joblib_launcher", "local": "hydra_submitit_launcher",
              "slurm": "hydra_submitit_launcher"}
_PIP_NAME = {"hydra_joblib_launcher": "hydra-joblib-launcher",
             "hydra_submitit_launcher": "hydra-submitit-launcher"}
SLURM_LAUNCHERS = _SLURM = ("slurm", "submitit_slurm")

# checkpoint-1000 (transformers' Trainer), step-1000, step1000, step_1000, global_step1000
CHECKPOINT_NAME = re.compile(r"^(?:checkpoint|step|global_step|iter)[-_]?(?P<step>\d+)$")
_CHECKPOINTS_ARG = re.compile(r"^\+{0,2}checkpoints=(?P<value>.*)$")
_LAUNCHER_ARG = re.compile(r"^\+{0,2}hydra/launcher=(?P<value>.*)$")
_MODEL_ARG = re.compile(r"^\+{0,2}model=(?P<value>.*)$")
_MODEL_PATH_ARG = re.compile(r"^\+{0,2}model\.path=")
_MULTIRUN = ("-m", "--multirun")
# Hydra's flags that print something (the config, help) instead of running a job
_INSPECT = ("-c", "--cfg", "-i", "--info", "-h", "--help", "--hydra-help")
# characters Hydra's override grammar takes unquoted in a value
_PLAIN = re.compile(r"[A-Za-z0-9_/.+\-]+")


def _value(raw: str) -> str:
    return raw.strip().strip("'\"")


def launcher_names() -> list[str]:
    return sorted({*PLUGIN_LAUNCHERS, *(p.stem for p in LAUNCHER_DIR.glob("*.yaml"))})


def check_launcher(argv: list[str]) -> None:
    """``hydra/launcher=NAME``: a known name, its plugin installed, a sweep (-m), and a
    SLURM launcher only where SLURM's commands are."""
    for arg in argv:
        m = _LAUNCHER_ARG.match(arg)
        if not m:
            continue
        name = _value(m["value"])
        if name not in launcher_names():
            raise UserError(f"unknown launcher {name!r}: choose one of "
                            f"{', '.join(launcher_names())} or add conf/hydra/launcher/{name}.yaml")
        plugin = PLUGIN_LAUNCHERS.get(name) or _PLUGIN_OF.get(name)
        if plugin and importlib.util.find_spec(f"hydra_plugins.{plugin}") is None:
            raise UserError(f"hydra/launcher={name} needs the Hydra plugin {_PIP_NAME[plugin]}: "
                            f"pip install {_PIP_NAME[plugin]}==1.2.0")
        if any(a.split("=", 1)[0] in _INSPECT for a in argv):
            continue
        if not any(a in _MULTIRUN for a in argv):
            raise UserError(f"hydra/launcher={name} launches the jobs of a sweep: add -m "
                            "(a single run is a sweep of one job)")
        if name in _SLURM and not (shutil.which("sbatch") and shutil.which("srun")):
            raise UserError(f"hydra/launcher={name} submits to SLURM, but sbatch/srun are not "
                            "on PATH: run the command on the cluster's login node, or try the "
                            "sweep here with hydra/launcher=local")


def checkpoint_dirs(root: Path) -> list[Path]:
    """The checkpoints of one training run under ``root``, by training step: folders named
    checkpoint-N, step-N or stepN (global_stepN, iter_N) that hold a config.json."""
    if not root.is_dir():
        raise UserError(f"checkpoints={root}: no such directory; give the output directory "
                        "of one training run (the folder that holds its checkpoint-N folders)")
    found: dict[int, list[Path]] = {}
    no_config: list[str] = []
    for child in root.iterdir():
        m = CHECKPOINT_NAME.match(child.name)
        if not m or not child.is_dir():
            continue
        if (child / "config.json").is_file():
            found.setdefault(int(m["step"]), []).append(child)
        else:
            no_config.append(child.name)
    if not found:
        why = (f" ({', '.join(sorted(no_config)[:3])}{', ...' if len(no_config) > 3 else ''}"
               " have no config.json)" if no_config else "")
        raise UserError(f"checkpoints={root}: no checkpoint folders (checkpoint-N, step-N or "
                        f"stepN, each with a config.json) in it{why}")
    for step, dirs in found.items():
        if len(dirs) > 1:
            raise UserError(f"checkpoints={root}: {' and '.join(sorted(d.name for d in dirs))} "
                            f"are both step {step}; keep one of them")
    if no_config:  # e.g. a DeepSpeed or adapter folder beside the full checkpoints
        print(f"evalsuite: note: skipping {', '.join(sorted(no_config))} in {root} "
              "(no config.json)", file=sys.stderr)
    return [found[step][0] for step in sorted(found)]


def quote_override(path: str) -> str:
    if _PLAIN.fullmatch(path):
        return path
    for q in ("'", '"'):
        if q not in path and "\\" not in path:
            return f"{q}{path}{q}"
    raise UserError(f"checkpoint path {path!r} has quotes or backslashes that a Hydra "
                    "override cannot carry: rename or symlink the directory")


def expand_checkpoints(argv: list[str]) -> list[str]:
    """``checkpoints=DIR`` becomes ``model.path=DIR/checkpoint-100,DIR/checkpoint-200,...``
    (sorted by step), one sweep job per checkpoint; other arguments are kept as they are."""
    at = [i for i, a in enumerate(argv) if _CHECKPOINTS_ARG.match(a)]
    if not at:
        return argv
    if len(at) > 1:
        raise UserError("give checkpoints=DIR once (one training run per sweep)")
    value = _value(_CHECKPOINTS_ARG.match(argv[at[0]])["value"])  # type: ignore[index]
    usage = "python -m evalsuite -m +model=NAME checkpoints=DIR"
    if value in ("", "null"):
        raise UserError(f"checkpoints= needs the directory of a training run: {usage}")
    if not any(a in _MULTIRUN for a in argv):
        raise UserError(f"checkpoints=DIR is a sweep, one job per checkpoint: add -m ({usage})")
    models = [_value(m["value"]) for a in argv if (m := _MODEL_ARG.match(a))]
    if not models:
        raise UserError("checkpoints=DIR needs the model config its checkpoints share "
                        f"(chat template, dtype): name it with +model=NAME ({usage})")
    if any("," in m for m in models):
        raise UserError("checkpoints=DIR sweeps the checkpoints of one model: name one "
                        f"model, not {models[0]}")
    if any(_MODEL_PATH_ARG.match(a) for a in argv):
        raise UserError("give either checkpoints=DIR or model.path=..., not both")
    root = Path(os.path.abspath(os.path.expanduser(value)))  # not resolve(): keep symlinks
    paths = ",".join(quote_override(str(d)) for d in checkpoint_dirs(root))
    return [*argv[:at[0]], f"model.path={paths}", *argv[at[0] + 1:]]


def visible_gpus() -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES when set, else /dev/nvidiaN."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return len([d for d in env.split(",") if d.strip() and d.strip() != "-1"])
    return len(glob.glob("/dev/nvidia[0-9]*"))


def _gpus(requested: object) -> int:
    """``${evalsuite.gpus:N}``: N GPUs where this machine has them, else as many as it has
    (0 on a machine without a GPU)."""
    return min(int(str(requested)), visible_gpus())


def slurm_gpus(backend: object, device: object, tensor_parallel: object) -> int:
    """``${evalsuite.slurm_gpus:BACKEND,DEVICE,TP}``: GPUs per SLURM job. vLLM's engine
    gets one per tensor-parallel rank; ``backend=hf`` only when its device is CUDA (its
    default is the CPU); a client of a server or an API (vllm_server, openai) none, so a
    CPU-only cluster takes the CPU backends as they are."""
    name, dev = str(backend), str(device or "")
    if name == "vllm" or (name == "hf" and dev.startswith("cuda")):
        return int(str(tensor_parallel))
    return 0


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("evalsuite.gpus"):
        OmegaConf.register_new_resolver("evalsuite.gpus", _gpus)
    if not OmegaConf.has_resolver("evalsuite.slurm_gpus"):
        OmegaConf.register_new_resolver("evalsuite.slurm_gpus", slurm_gpus)
    if not OmegaConf.has_resolver("evalsuite.first"):
        from evalsuite.config.sweepdir import first_given

        OmegaConf.register_new_resolver("evalsuite.first", first_given)
