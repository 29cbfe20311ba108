"""The judge model: built from its own config on any backend, or the evaluated model's
LM itself when the judge names the same model and backend."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from evalsuite.config import RunConfig
from evalsuite.config.judge import JudgeConfig
from evalsuite.models.checkpoint import Checkpoint
from evalsuite.models.factory import cached_lm, model_fingerprint
from evalsuite.tasks.chat import Message, generate, greedy, render, stops, uses_template

log = logging.getLogger(__name__)


@dataclass
class Judge:
    """A judge LM and who it is (stored with every judged result)."""

    lm: Any
    config: JudgeConfig
    identity: dict[str, Any]
    templated: bool
    owned: bool = True
    """Built for judging, so closed by :meth:`close`; False for a shared LM."""
    calls: int = field(default=0)

    def ask(self, chats: Sequence[Sequence[Message]], task: str) -> list[str]:
        """The judge's greedy outputs for ``chats`` (system + user messages), in order."""
        prompts = [render(self.lm, c, self.templated) for c in chats]
        self.calls += len(prompts)
        return generate(self.lm, prompts, greedy(self.config.max_gen_toks, stops(self.templated)),
                        f"{task}:judge")

    def close(self) -> None:
        if not self.owned:
            return
        from evalsuite.models.backends import close_lm
        from evalsuite.models.reqcache import CachedLM

        close_lm(self.lm)
        if isinstance(self.lm, CachedLM):
            self.lm.store.close()
        self.owned = False


def _identity(judge: JudgeConfig, checkpoint: Checkpoint, fp: str, shared: bool,
              templated: bool) -> dict[str, Any]:
    return {"model": judge.model.name, "path": checkpoint.location, "source": checkpoint.source,
            "fingerprint": fp, "backend": asdict(judge.backend),
            "max_gen_toks": judge.max_gen_toks, "decoding": "greedy",
            "chat_template": templated, "shared_with_evaluated_model": shared}


def same_model(judge: JudgeConfig, run: RunConfig) -> bool:
    """The judge is the evaluated model on the same backend: its LM can be reused."""
    return judge.model == run.model and judge.backend == run.backend


def shared_judge(judge: JudgeConfig, run: RunConfig, lm: Any, cache: Path) -> Judge:
    """The evaluated model's own LM as the judge (no second copy in memory)."""
    from evalsuite.models.checkpoint import resolve

    checkpoint = resolve(run.model, cache)
    fp = model_fingerprint(checkpoint, run, cache)
    templated = uses_template(lm, judge.model.chat_template)
    return Judge(lm, judge, _identity(judge, checkpoint, fp, True, templated), templated,
                 owned=False)


def open_judge(judge: JudgeConfig, run: RunConfig, cache: Path) -> Judge:
    """Load the judge model on its backend, behind the request cache when ``run`` uses one."""
    from evalsuite.models.backends import build_lm
    from evalsuite.models.checkpoint import resolve

    # a judge's vllm_server keeps its log apart from the evaluated model's
    cfg = replace(run, model=judge.model, backend=judge.backend, store_logprobs=False,
                  run_dir=run.run_dir / "judge" if judge.backend.name == "vllm_server"
                  else run.run_dir)
    if judge.is_endpoint:  # an endpoint's weights are not here to hash: name the endpoint
        served = getattr(judge.backend, "model", None) or judge.model.name
        checkpoint = Checkpoint(judge.model.name, judge.model.path or served, False, "endpoint")
        fp = f"endpoint:{served}@{getattr(judge.backend, 'base_url', None)}"
    else:
        checkpoint = resolve(judge.model, cache)
        fp = model_fingerprint(checkpoint, cfg, cache)
    if cfg.run_dir != run.run_dir:
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
    log.info("judge %s on backend %s", judge.model.name, judge.backend.name)
    lm = build_lm(cfg, checkpoint)
    try:
        templated = uses_template(lm, judge.model.chat_template)
        if cfg.request_cache:
            lm = cached_lm(lm, cfg, cache, fp, checkpoint)
    except BaseException:
        from evalsuite.models.backends import close_lm

        close_lm(lm)
        raise
    return Judge(lm, judge, _identity(judge, checkpoint, fp, False, templated), templated)
