"""``python -m evalsuite.demo``: Hydra composes conf/demo.yaml, the demo runs its steps."""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evalsuite.cli._common import fail, interrupt_on_sigterm, launch
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR

log = logging.getLogger("evalsuite.demo")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="demo")
def hydra_main(cfg: DictConfig) -> None:
    from evalsuite.demo import from_hydra, run

    choices = HydraConfig.get().runtime.choices
    try:
        record = run(from_hydra(cfg, choices.get("size") or "full", choices.get("backend")))
    except UserError as e:
        fail(e.message, e.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; the trained checkpoint and finished evaluations are kept: "
             "run the same command again to continue", 130)
        return
    if record["outcome"] == "failed" and record["demo"]["size"] == "full":
        # the full-size control is the one that counts: a script or CI must see it fail
        # (inconclusive, a sample too small for the effect, is not a failure)
        sys.exit(1)


def main() -> None:
    interrupt_on_sigterm()
    launch(hydra_main, "demo", one_job="the demo")


if __name__ == "__main__":
    main()
