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
    from hydra.types import RunMode

    from evalsuite.demo import from_hydra, run

    hc = HydraConfig.get()
    choices = hc.runtime.choices
    try:
        record = run(from_hydra(cfg, choices.get("size") or "full", choices.get("backend")))
    except UserError as e:
        if hc.mode == RunMode.MULTIRUN:
            # one job's failure is one line; the sweep goes on, and its table names the
            # job as missing and ends with a non-zero status (evalsuite.demo._ablation)
            print(f"evalsuite: {e.message}", file=sys.stderr, flush=True)
            return {"error": e.message, "exit_code": e.exit_code}
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


def _check_sweep(argv: list[str]) -> None:
    """-m sweeps the remedy's ablation only: other swept keys would publish every job's
    report into the same folder, and each job uses every core (one after another)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    args = [a for a in argv if a not in ("-m", "--multirun") and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException:
        return  # launch() reports the malformed override in one line
    keys = [o.key_or_group for o in overrides]
    if any(k.lstrip("+").startswith("hydra/launcher") for k in keys):
        fail("the demo's sweep jobs run one after another: drop hydra/launcher=", 2)
    swept = [o.key_or_group for o in overrides if o.is_sweep_override()]
    other = [k for k in swept if k != "ablation"]
    if "ablation" not in keys or other:
        fail("-m sweeps the remedy's ablation only, e.g. -m ablation=forget,replay,"
             "forget_replay,all" + (f"; {', '.join(other)} cannot be swept: run the demo "
                                    "once per value, each with its own out=" if other else ""),
             2)


def main() -> None:
    interrupt_on_sigterm()
    if any(a in ("-m", "--multirun") for a in sys.argv[1:]):
        _check_sweep(sys.argv[1:])
    launch(hydra_main, "demo")


if __name__ == "__main__":
    main()
