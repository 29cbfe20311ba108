"""Overrides of keys the composed config lacks: one line before Hydra runs, not Hydra's
five-line "Key ... is not in struct" message (issue 20)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from evalsuite.cli._common import register_hydra
from evalsuite.config.overrides import check_keys
from evalsuite.errors import UserError
from tests.conftest import REPO, run_cli

register_hydra()

CONFIG_OF = {"evalsuite": "config", "evalsuite.compare": "compare", "evalsuite.demo": "demo",
             "evalsuite.judge": "pairwise", "evalsuite.recipe": "recipe"}


def _refusal(argv: list[str], config: str = "config", dirs: list[Path] | None = None) -> str:
    with pytest.raises(UserError) as e:
        check_keys(argv, config, dirs)
    assert "\n" not in e.value.message
    return e.value.message


@pytest.mark.parametrize(("argv", "config", "needles"), [
    # the case: a vLLM setting while the default backend is hf
    (["backend.max_num_seqs=8"], "config",
     ["backend.max_num_seqs is not a setting of backend hf", "vllm, vllm_server have it",
      "backend=vllm", "+backend.max_num_seqs=8"]),
    (["limt=5"], "config", ["unknown setting limt", "did you mean limit?", "+limt=5"]),
    (["+model=smollm2_135m", "model.max_lenght=5"], "config",
     ["not a setting of model smollm2_135m", "did you mean model.max_length?"]),
    (["model.max_length=5"], "config", ["no model is chosen", "+model=NAME", "smollm2_135m"]),
    (["~nothing_here"], "config", ["~nothing_here deletes a setting that is not there"]),
    (["n_bot=3"], "compare", ["did you mean n_boot?"]),
    (["sizee=full"], "demo", ["did you mean size?"]),
    (["backend.max_num_seqs=4"], "demo", ["no backend is chosen", " backend=NAME"]),
    (["size=huge"], "demo", ["unknown size 'huge'", "full, small"]),
    (["judge.temperature=0"], "pairwise", ["no judge is chosen", "+judge=NAME"]),
])
def test_a_key_the_config_lacks_is_one_line_naming_the_fix(argv, config, needles):
    message = _refusal(argv, config)
    for needle in needles:
        assert needle in message, (needle, message)


def test_every_swept_value_is_checked():
    check_keys(["-m", "+model=smollm2_135m", "backend=vllm,vllm_server",
                "backend.max_num_seqs=8"], "config")
    # the second backend of the sweep lacks the key: Hydra would fail that job only
    message = _refusal(["-m", "+model=smollm2_135m", "backend=vllm,hf",
                        "backend.max_num_seqs=8"])
    assert "not a setting of backend hf" in message


def test_keys_of_a_users_config_dir_are_known(tmp_path: Path):
    (tmp_path / "model").mkdir()
    base = (REPO / "conf" / "model" / "smollm2_135m.yaml").read_text(encoding="utf-8")
    (tmp_path / "model" / "mine.yaml").write_text(base + "my_knob: 1\n", encoding="utf-8")
    check_keys(["+model=mine", "model.my_knob=2"], "config", [tmp_path])
    assert "did you mean model.my_knob?" in _refusal(
        ["+model=mine", "model.my_knb=2"], "config", [tmp_path])


def test_hydras_own_settings_are_left_to_hydra():
    # a launcher's config may need its plugin to compose; hydra.* keys are Hydra's
    check_keys(["-m", "hydra/launcher=slurm", "hydra.run.dir=/tmp/x",
                "+model=smollm2_135m,smollm2_135m"], "config")


def _documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    files = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "conf").rglob("*.yaml")]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.search(r"python -m (evalsuite(?:\.\w+)?)\s+([^`#|]*)", line)
            if not m or m[1] not in CONFIG_OF:
                continue
            try:
                args = shlex.split(m[2])
            except ValueError:
                continue
            found.append((m[1], [a for a in args if "..." not in a and "<" not in a]))
    return found


def test_every_documented_command_passes_the_check():
    commands = _documented_commands()
    assert len(commands) > 30
    for module, args in commands:
        try:
            check_keys(args, CONFIG_OF[module])
        except UserError as e:
            # placeholders such as +model=my_model are the only names allowed to be unknown
            assert e.message.startswith("unknown model "), (module, args, e.message)


@pytest.mark.parametrize(("module", "args", "needle"), [
    ("evalsuite", ["+model=smollm2_135m", "backend.max_num_seqs=8"], "backend=vllm"),
    ("evalsuite.compare", ["baseline=a", "candidate=b", "n_bot=3"], "n_boot"),
    ("evalsuite.demo", ["backend=hf", "backend.max_num_seqs=2"], "backend=vllm"),
    ("evalsuite.recipe", ["lrr=1"], "did you mean lr?"),
])
def test_each_entry_point_refuses_in_one_line_and_writes_nothing(module, args, needle,
                                                                 tmp_path: Path):
    run_dir = tmp_path / "run"
    r = run_cli(*args, f"hydra.run.dir={run_dir}", module=module, cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalsuite: ") and needle in lines[0], \
        r.stderr[-2000:]
    assert not run_dir.exists() and not (tmp_path / "runs").exists()
