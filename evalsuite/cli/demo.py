"""``python -m evalsuite.demo``: Hydra composes conf/demo.yaml, the demo runs its steps."""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evalsuite.cli._common import fail, interrupt_on_sigterm, launch
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR

log = logging.getLogger("evalsuite.demo")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="demo")
def hydra_main(cfg: DictConfig) -> dict[str, Any] | None:
    from evalsuite.demo import from_hydra, run

    choices = HydraConfig.get().runtime.choices
    try:
        record = run(from_hydra(cfg, choices.get("size") or "full", choices.get("backend")))
    except UserError as e:
        fail(e.message, e.exit_code)
        return None
    except KeyboardInterrupt:
        fail("interrupted; the trained checkpoint and finished evaluations are kept: "
             "run the same command again to continue", 130)
        return None
    failed = "failed" in (record["outcome"], (record.get("remedy") or {}).get("outcome"))
    if failed and record["demo"]["size"] == "full" and record["demo"]["ablation"] is None:
        # the full-size control is the one that counts: a script or CI must see it fail
        # (inconclusive, a sample too small for the effect, is not a failure); an
        # ablation's variants are expected to fail some checks
        sys.exit(1)
    return record  # for the sweep's callback (evalsuite.demo._ablation)


def main() -> None:
    interrupt_on_sigterm()
    if any(a in ("-m", "--multirun") for a in sys.argv[1:]) and any(
            a.startswith(("hydra/launcher=", "+hydra/launcher=")) for a in sys.argv[1:]):
        # each job uses every core: the basic launcher runs them one after another
        fail("the demo's sweep jobs run one after another: drop hydra/launcher=", 2)
    launch(hydra_main, "demo")


if __name__ == "__main__":
    main()
