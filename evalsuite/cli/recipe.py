"""``python -m evalsuite.recipe``: Hydra composes conf/recipe.yaml, the recipe trains."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from evalsuite.cli._common import fail, interrupt_on_sigterm, launch
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR

log = logging.getLogger("evalsuite.recipe")
STAGES = ("synthetic", "unlearn")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="recipe")
def hydra_main(cfg: DictConfig) -> None:
    from evalsuite.recipe import from_hydra, run

    log.info("recipe config:\n%s", OmegaConf.to_yaml(cfg))
    stage = cfg.get("stage", "synthetic")
    if stage not in STAGES:
        fail(f"unknown stage {stage!r}: choose synthetic (train on synthetic Q-A pairs) or "
             "unlearn (start=NAME: unlearn a synthetic checkpoint's pattern)", 2)
        return
    if stage == "unlearn":
        from evalsuite.recipe._unlearn import from_hydra as settings
        from evalsuite.recipe._unlearn import run as train
    else:
        settings, train = from_hydra, run
    try:
        result = train(settings(cfg))
    except UserError as e:
        fail(e.message, e.exit_code)
        return
    except KeyboardInterrupt:
        fail("interrupted; nothing was saved", 130)
        return
    r = result.record
    what = "cached (nothing trained)" if result.cached else f"trained in {r['train_wall_s']} s"
    if stage == "unlearn":
        terms = ", ".join(f"{k} {v[0]:.3f} -> {v[-1]:.3f}" for k, v in r["terms"].items())
        print(f"checkpoint: {result.checkpoint} ({what}; {terms})")
        stages = [str(s.get("stage")) for s in r["lineage"]] + ["unlearn"]
        first = ((r["lineage"][0].get("from") or {}).get("name") if r["lineage"]
                 else r["reference"]["name"])
        print(f"lineage: {first} -> {' -> '.join(stages)}")
    else:
        print(f"checkpoint: {result.checkpoint} ({what}; loss {r['loss_first']:.3f} -> "
              f"{r['loss_last']:.3f})")
    print(f"model config: {result.model_yaml}")
    print(f"evaluate it: {result.eval_command(cfg.get('cache_dir'))}")


def main() -> None:
    interrupt_on_sigterm()  # a scheduler's SIGTERM cleans up the half-written checkpoint too
    launch(hydra_main, "recipe", one_job="the recipe")


if __name__ == "__main__":
    main()
