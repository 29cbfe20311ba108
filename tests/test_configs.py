"""Every shipped config composes, and turns into a valid RunConfig."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from evalsuite.cli._common import options
from evalsuite.config import from_hydra
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR

MODELS = options("model")
SUITES = options("suite")
BACKENDS = options("backend")


def _compose(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", list(overrides), return_hydra_config=False)


def test_groups_are_not_empty():
    assert "smollm2_135m" in MODELS
    assert {"quick", "ifeval", "default", "paper"} <= set(SUITES)
    assert "hf" in BACKENDS
    assert len(MODELS) >= 3  # the embedded default plus hub examples


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_combination_composes(model: str, suite: str, backend: str, tmp_path: Path):
    cfg = from_hydra(_compose(f"+model={model}", f"suite={suite}", f"backend={backend}"), tmp_path)
    assert cfg.model.name == model
    assert cfg.suite.name == suite
    assert cfg.backend.name == backend
    assert cfg.suite.tasks, "a suite without tasks"
    assert cfg.resolved["model"]["name"] == model


def test_model_is_not_in_defaults():
    # `+model=` only works when `model` is absent from the defaults list.
    cfg = _compose()
    assert "model" not in cfg
    with pytest.raises(UserError, match=r"\+model=NAME"):
        from_hydra(cfg, Path("x"))


def test_top_level_knobs_reach_every_task(tmp_path: Path):
    cfg = from_hydra(_compose("+model=smollm2_135m", "limit=3", "max_gen_toks=17"), tmp_path)
    for task in cfg.suite.tasks:
        assert task.limit == 3
        assert task.gen_kwargs["max_gen_toks"] == 17


def test_default_is_greedy_and_seeded(tmp_path: Path):
    cfg = from_hydra(_compose("+model=smollm2_135m"), tmp_path)
    assert cfg.seed == 1234
    for task in cfg.suite.tasks:
        assert not task.gen_kwargs.get("do_sample", False)


def test_unknown_model_key_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match="unknown key"):
        from_hydra(_compose("+model=smollm2_135m", "+model.nonsense=1"), tmp_path)


def test_tasks_knob_replaces_the_suite_list(tmp_path: Path):
    cfg = from_hydra(_compose("+model=smollm2_135m", "tasks=[ifeval_offline,arc_easy]"), tmp_path)
    assert [t.name for t in cfg.suite.tasks] == ["ifeval_offline", "arc_easy"]
    # the suite's own settings for a task it already had are kept
    assert cfg.suite.tasks[0].limit == 10
    single = from_hydra(_compose("+model=smollm2_135m", "tasks=arc_easy"), tmp_path)
    assert [t.name for t in single.suite.tasks] == ["arc_easy"]


@pytest.mark.parametrize("model", MODELS)
def test_model_configs_spell_out_every_setting(model: str):
    # So that `model.KEY=value` overrides work without a `+`.
    from dataclasses import fields

    from evalsuite.config import ModelConfig

    cfg = _compose(f"+model={model}")
    expected = {f.name for f in fields(ModelConfig)} - {"embedded", "path"}
    assert expected <= set(cfg.model), expected - set(cfg.model)
    assert "path" in cfg.model


def test_a_users_config_dir_adds_models_and_suites(tmp_path: Path):
    from evalsuite.cli._common import precheck
    from evalsuite.errors import UserError

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("name: mine\npath: /ckpt\n")
    with pytest.raises(UserError, match="unknown model 'mine'.*--config-dir"):
        precheck(["+model=mine"])
    precheck(["--config-dir", str(tmp_path), "+model=mine"])
    precheck([f"--config-dir={tmp_path}", "+model=mine,smollm2_135m"])
    with pytest.raises(UserError, match="--config-dir .* is not a directory"):
        precheck(["--config-dir", str(tmp_path / "nope"), "+model=mine"])


def test_sampled_has_one_definition():
    from evalsuite.models.backends.genparams import is_sampled

    assert not is_sampled({}) and not is_sampled(None)
    assert is_sampled({"do_sample": True})  # no temperature: lm-eval samples at 1
    assert is_sampled({"temperature": 0.7})
    assert not is_sampled({"do_sample": False, "temperature": 0.7})  # HFLM: greedy


@pytest.mark.parametrize(("overrides", "message"), [
    (["limit=0"], "limit must be at least 1, got 0"),
    (["limit=-3"], "limit must be at least 1, got -3"),
    (["max_gen_toks=0"], "max_gen_toks must be at least 1, got 0"),
    (["model.dtype=fp33"], "model.dtype must be one of auto, float32, float16, bfloat16"),
    (["model.max_length=0"], "model.max_length must be at least 1"),
    (["+suite.tasks.ifeval_offline.num_fewshot=-1"], "num_fewshot must be at least 0"),
    (["+suite.tasks.ifeval_offline.gen_kwargs.temperature=-1"],
     "suite.tasks.ifeval_offline.gen_kwargs.temperature must be at least 0, got -1"),
    (["suite.tasks.ifeval_offline.gen_kwargs.max_gen_toks=many"],
     "gen_kwargs.max_gen_toks must be int, got 'many'"),
    (["backend=vllm_server", "backend.port=70000"], "at least 1 and at most 65535, got 70000"),
    (["backend=openai", "backend.api=rest"], "backend.api must be one of completions, chat"),
    (["backend=hf", "backend.batch_size=0"], "backend.batch_size must be at least 1"),
])
def test_settings_out_of_range_are_refused_before_work(overrides: list[str], message: str,
                                                       tmp_path: Path):
    with pytest.raises(UserError, match=re.escape(message)):
        from_hydra(_compose("+model=smollm2_135m", "suite=quick", *overrides), tmp_path)


def test_every_range_problem_of_a_section_is_named_at_once(tmp_path: Path):
    cfg = _compose("+model=smollm2_135m", "backend=vllm", "backend.gpu_memory_utilization=1.5",
                   "backend.max_num_seqs=0", "backend.data_parallel_size=0")
    with pytest.raises(UserError) as err:
        from_hydra(cfg, tmp_path)
    assert str(err.value).count("; ") == 2 and "above 0 and at most 1, got 1.5" in str(err.value)
    # the edges are allowed
    from_hydra(_compose("+model=smollm2_135m", "backend=vllm", "backend.gpu_memory_utilization=1",
                        "limit=1", "max_gen_toks=1"), tmp_path)


def test_every_task_that_reads_a_data_file_has_a_row_check():
    from evalsuite.config import DATA_FILE_TASKS
    from evalsuite.tasks.data import ROW_CHECKS

    assert set(ROW_CHECKS) == set(DATA_FILE_TASKS)


def test_an_emptied_task_list_says_so(tmp_path: Path):
    with pytest.raises(UserError, match=r"tasks=\[\] names no task: name at least one"):
        from_hydra(_compose("+model=smollm2_135m", "tasks=[]"), tmp_path)
