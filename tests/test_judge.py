"""Judged tasks with fake models: rating and verdict parsing, the position swap, win-rate
math, MT-Bench's two-turn prompts, and the runner and pairwise plumbing. Seconds; the
real model judges in test_mtbench.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from lm_eval.api.model import LM

import evalsuite.run.runner as runner
from evalsuite.cli._common import options
from evalsuite.config import from_hydra
from evalsuite.errors import UserError
from evalsuite.judge import (
    PairwiseSettings,
    aggregate,
    combine,
    grade,
    judge_runs,
    pair_prompt,
    parse_rating,
    parse_verdict,
    single_prompt,
    win_rates,
)
from evalsuite.resources import CONF_DIR
from evalsuite.run.native._mtbench import answer
from evalsuite.storage.atomic import write_json, write_jsonl
from evalsuite.tasks.chat import generate, greedy, render, uses_template
from evalsuite.tasks.mtbench import judge_prompts, questions
from tests.conftest import read_rows


class ChatLM(LM):
    """A fake chat model: renders messages with visible tags, answers through ``reply``
    and remembers every prompt it was sent."""

    def __init__(self, reply) -> None:
        super().__init__()
        self.reply, self.prompts = reply, []

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in chat_history) + \
            "<assistant>"

    def generate_until(self, requests, disable_tqdm: bool = False):
        out = []
        for req in requests:
            prompt, kwargs = req.args
            assert kwargs["do_sample"] is False  # answers and judgments are greedy
            self.prompts.append(prompt)
            out.append(self.reply(prompt))
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise AssertionError("judged tasks only generate")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise AssertionError("judged tasks only generate")


@pytest.mark.parametrize("text, rating", [
    ("The answer is fine. Rating: [[7]]", 7.0),
    ("Rating: [[8.5]]", 8.5),
    ("Rating: [[ 6 ]]", 6.0),
    ("Rating: [[10]]", 10.0),
    # a weak judge echoes the prompt's example before its own rating: the last one counts
    ('format: "[[rating]]", for example: "Rating: [[5]]". Mine: Rating: [[3]]', 3.0),
    ("no double brackets, so FastChat's backup pattern: [4]", 4.0),
])
def test_a_rating_is_parsed(text, rating):
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", ["Rating: [[11]]", "Rating: [[0]]", "I rate it 7/10.",
                                  "Rating: [[seven]]", ""])
def test_an_unparsable_or_out_of_range_rating_is_none(text):
    assert parse_rating(text) is None


@pytest.mark.parametrize("text, verdict", [
    ("A is better. [[A]]", "A"), ("[[B]]", "B"), ("Both equal: [[C]]", "C"),
    ('format: "[[A]]" if A is better, "[[B]]" if B... My verdict: [[B]]', "B"),
    ("Assistant A wins", None), ("[A]", None),
])
def test_a_verdict_is_parsed(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize("baseline_first, candidate_first, outcome", [
    ("B", "A", "win"),    # candidate preferred in both orders
    ("A", "B", "loss"),   # baseline preferred in both orders
    ("C", "C", "tie"),
    ("A", "A", "tie"),    # the judge always picks position A: the verdict flips, a tie
    ("B", "B", "tie"),    # always position B
    ("B", "C", "tie"),    # one order prefers the candidate, the other calls a tie
    (None, "A", "error"), ("B", None, "error"), (None, None, "error"),
])
def test_the_position_swap_makes_flipped_verdicts_ties(baseline_first, candidate_first, outcome):
    assert combine(baseline_first, candidate_first) == outcome


def test_win_rate_counts_ties_half_and_leaves_errors_out():
    r = win_rates(["win", "win", "tie", "loss", "error"], n_boot=500, seed=1)
    assert (r["n"], r["n_valid"], r["wins"], r["ties"], r["losses"], r["errors"]) == \
        (5, 4, 2, 1, 1, 1)
    assert r["win_rate"] == pytest.approx((2 + 0.5) / 4)
    assert r["rates"] == {"win": 0.5, "tie": 0.25, "loss": 0.25}
    assert 0.0 <= r["ci_low"] <= r["win_rate"] <= r["ci_high"] <= 1.0
    assert r["ci_low"] < r["ci_high"]  # the outcomes vary, so the interval has width
    same = win_rates(["win"] * 6, n_boot=200)
    assert (same["win_rate"], same["ci_low"], same["ci_high"]) == (1.0, 1.0, 1.0)
    none = win_rates(["error", "error"])
    assert none["win_rate"] is None and none["errors"] == 2


def test_turn_two_holds_the_question_and_the_models_own_first_answer(cache):
    rows = questions(cache)[:2]
    lm = ChatLM(lambda p: f"answer#{len(p)}")
    templated = uses_template(lm)
    records = answer(lm, rows, greedy(32), templated, "Be brief.", "mtbench_offline")
    assert [r["sample_id"] for r in records] == ["81/turn1", "81/turn2", "82/turn1", "82/turn2"]
    for q, (t1, t2) in zip(rows, zip(records[::2], records[1::2], strict=True), strict=True):
        assert t1["prompt"] == ("<system>Be brief.</system>"
                                f"<user>{q['turns'][0]}</user><assistant>")
        assert t2["prompt"] == (f"<system>Be brief.</system><user>{q['turns'][0]}</user>"
                                f"<assistant>{t1['response']}</assistant>"
                                f"<user>{q['turns'][1]}</user><assistant>")
        assert t2["history"] == [{"role": "user", "content": q["turns"][0]},
                                 {"role": "assistant", "content": t1["response"]}]
        assert t1["prompt_hash"] and t2["prompt_hash"] is None  # turn 2 holds the model's answer
        assert t1["doc_hash"] == t2["doc_hash"]
    assert lm.prompts == [r["prompt"] for r in records[::2]] + [r["prompt"] for r in records[1::2]]


class PlainLM(ChatLM):
    apply_chat_template = LM.apply_chat_template  # lm-eval's: raises NotImplementedError


def test_without_a_chat_template_turns_are_a_plain_transcript():
    lm = PlainLM(lambda p: "x")
    assert not uses_template(lm) and uses_template(ChatLM(str))
    assert not uses_template(ChatLM(str), chat_template=False)
    text = render(lm, [{"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello"},
                       {"role": "user", "content": "Bye"}], False)
    assert text == "User: Hi\n\nAssistant: Hello\n\nUser: Bye\n\nAssistant:"


def test_math_questions_are_graded_against_the_reference_and_turn_two_sees_turn_one(cache):
    prompts = judge_prompts(cache)
    math = next(q for q in questions(cache) if q["category"] == "math")
    lm = ChatLM(lambda p: "FIRST" if p.count("<user>") == 1 else "SECOND")
    t1, t2 = answer(lm, [math], greedy(8), True, None, "mtbench_offline")
    name1, chat1 = single_prompt(t1, prompts)
    name2, chat2 = single_prompt(t2, prompts)
    assert (name1, name2) == ("single-math-v1", "single-math-v1-multi-turn")
    assert math["reference_answers"][0] in chat1[1]["content"] and "FIRST" in chat1[1]["content"]
    assert chat1[0] == {"role": "system", "content": prompts["single-math-v1"].system_prompt}
    text2 = chat2[1]["content"]
    assert all(s in text2 for s in ("FIRST", "SECOND", *math["turns"], *math["reference_answers"]))
    writing = questions(cache)[0]
    w1, w2 = answer(lm, [writing], greedy(8), True, None, "mtbench_offline")
    assert [single_prompt(r, prompts)[0] for r in (w1, w2)] == ["single-v1",
                                                                "single-v1-multi-turn"]


def _cfg(run_dir: Path, ckpt: Path, *extra: str):
    # the judge names the same model and backend: the run's own LM judges
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["+model=smollm2_135m", f"model.path={ckpt}", "suite=mtbench",
                                 "limit=3", *extra])
    return from_hydra(cfg, run_dir)


@pytest.fixture
def fake_checkpoint(tmp_path: Path) -> Path:
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "pytorch_model.bin").write_bytes(b"not really weights")  # hashed, never loaded
    return d


def test_mtbench_without_a_judge_is_refused_before_anything_runs(tmp_path, fake_checkpoint,
                                                                 monkeypatch):
    def never(*a):
        raise AssertionError("no model may load")

    monkeypatch.setattr(runner, "build_lm", never)
    with pytest.raises(UserError, match=r"add \+judge=smollm2_135m") as info:
        runner.evaluate(_cfg(tmp_path / "run", fake_checkpoint))
    assert "\n" not in info.value.message
    assert not (tmp_path / "run").exists()


def _judge_reply(prompt: str) -> str:
    if "impartial judge" not in prompt:
        return f"My answer to a prompt of {len(prompt)} characters."
    if "Conversation with User" in prompt:  # turn 2: a judge that forgets the format
        return "The second answer is adequate."
    return "Short explanation. Rating: [[6]]" if "[Instruction]" in prompt else "Rating: [[9]]"


def test_mtbench_answers_judges_and_scores_with_the_runs_own_model(tmp_path, fake_checkpoint,
                                                                   monkeypatch):
    lm = ChatLM(_judge_reply)
    monkeypatch.setattr(runner, "build_lm", lambda *a: lm)
    run_dir = tmp_path / "run"
    result = runner.evaluate(_cfg(run_dir, fake_checkpoint, "+judge=smollm2_135m",
                                  f"judge.model.path={fake_checkpoint}", "judge.max_gen_toks=40"))
    rows = read_rows(run_dir, "mtbench_offline")
    assert len(rows) == 6 and len(lm.prompts) == 12  # 3 questions x 2 turns, answered + judged
    ratings = [r["judge"]["rating"] for r in rows]
    assert ratings == [6.0, None] * 3  # turn 2 judgments had no [[rating]]: kept as null
    assert all(r["judge"]["output"] for r in rows)
    metrics = result.metrics["mtbench_offline"]
    # the task metrics are the means of the per-sample scores
    t1 = [r["scores"]["score_turn1"] for r in rows if r["turn"] == 1]
    assert metrics == {"score": sum(t1) / len(t1), "score_turn1": sum(t1) / len(t1),
                       "score_turn2": None}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    info = manifest["tasks"]["mtbench_offline"]
    assert info["judge"]["n_unparsable"] == 3
    assert info["judge"]["unparsable_sample_ids"] == [r["sample_id"] for r in rows[1::2]]
    assert info["judge"]["fingerprint"] == manifest["model"]["fingerprint"]
    assert info["judge"]["shared_with_evaluated_model"] is True
    assert info["judge"]["max_gen_toks"] == 40 and info["judge"]["backend"]["name"] == "hf"
    assert info["categories"] == {"writing": {"n": 6, "n_unparsable": 3, "score": 6.0,
                                              "score_turn1": 6.0, "score_turn2": None}}


def test_aggregate_means_per_turn_and_category():
    recs = [{"sample_id": i, "turn": t, "category": c, "judge": {"rating": r}}
            for i, (t, c, r) in enumerate([(1, "math", 2.0), (2, "math", 4.0),
                                           (1, "stem", 9.0), (2, "stem", None)])]
    metrics, details = aggregate(recs)
    assert metrics == {"score": 5.0, "score_turn1": 5.5, "score_turn2": 4.0}
    assert details["n_unparsable"] == 1 and details["unparsable_sample_ids"] == [3]
    assert details["categories"]["stem"] == {"n": 2, "n_unparsable": 1, "score": 9.0,
                                             "score_turn1": 9.0, "score_turn2": None}


# ----- pairwise: two stored runs


def _store(path: Path, answers: list[str], *, prompts: list[str] | None = None,
           task: str = "ifeval_offline") -> Path:
    prompts = prompts or [f"Write about topic {i}." for i in range(len(answers))]
    rows = [{"sample_id": i, "prompt": p, "prompt_hash": str(hash(p)), "response": a,
             "scores": {}, "doc": {"prompt": p}}
            for i, (p, a) in enumerate(zip(prompts, answers, strict=True))]
    write_jsonl(path / "samples" / f"{task}.jsonl", rows)
    write_json(path / "metrics.json", {task: {}})
    write_json(path / "manifest.json", {  # a version 1 manifest, as evalsuite wrote them
        "schema_version": 1, "status": "complete", "backend": {"name": "hf"}, "suite": "t",
        "model": {"name": path.name, "fingerprint": f"sha256:{path.name}"},
        "tasks": {task: {"version": 1.0, "output_type": "generate_until",
                         "n_samples": len(rows)}}})
    return path


class _FakeJudge:
    """A judge that prefers the answer containing GOOD, or always says ``fixed``."""

    identity = {"model": "fake"}

    def __init__(self, fixed: str | None = None) -> None:
        self.fixed, self.chats = fixed, []

    def ask(self, chats, task):
        self.chats.extend(chats)
        out = []
        for chat in chats:
            if self.fixed:
                out.append(f"[[{self.fixed}]]")
                continue
            text = chat[1]["content"]
            a = re.search(r"Assistant A's Answer\]\n(.*?)\n\[The End", text, re.S)[1]
            b = re.search(r"Assistant B's Answer\]\n(.*?)\n\[The End", text, re.S)[1]
            out.append("[[C]]" if ("GOOD" in a) == ("GOOD" in b) else
                       "[[A]]" if "GOOD" in a else "[[B]]")
        return out

    def close(self):
        pass


def _pairwise(monkeypatch, cache, base, cand, judge, **settings):
    import evalsuite.judge._runs as runs

    monkeypatch.setattr(runs, "open_judge", lambda *a: judge)
    return judge_runs(base, cand, None, PairwiseSettings(**settings), None, cache)


def test_pairwise_judges_each_prompt_in_both_orders(tmp_path, monkeypatch, cache):
    base = _store(tmp_path / "base", ["bad", "GOOD", "GOOD", "bad"])
    cand = _store(tmp_path / "cand", ["GOOD", "GOOD", "bad", "GOOD"])
    judge = _FakeJudge()
    result = _pairwise(monkeypatch, cache, base, cand, judge, n_boot=300)
    r = result["tasks"]["ifeval_offline"]
    assert [s["outcome"] for s in result["samples"]["ifeval_offline"]] == \
        ["win", "tie", "loss", "win"]
    assert (r["wins"], r["ties"], r["losses"], r["errors"]) == (2, 1, 1, 0)
    assert r["win_rate"] == pytest.approx(2.5 / 4) and r["inconsistent"] == 0
    assert len(judge.chats) == 8
    first = result["samples"]["ifeval_offline"][0]
    assert first["baseline_first"] == {"verdict": "B", "output": "[[B]]"}
    assert first["candidate_first"] == {"verdict": "A", "output": "[[A]]"}
    # the first chat shows the baseline as A, the second the candidate as A
    assert "Assistant A's Answer]\nbad" in judge.chats[0][1]["content"]
    assert "Assistant A's Answer]\nGOOD" in judge.chats[1][1]["content"]


def test_a_judge_that_always_picks_a_position_gives_only_ties(tmp_path, monkeypatch, cache):
    base = _store(tmp_path / "base", ["bad", "GOOD"])
    cand = _store(tmp_path / "cand", ["GOOD", "bad"])
    result = _pairwise(monkeypatch, cache, base, cand, _FakeJudge(fixed="A"), limit=2)
    r = result["tasks"]["ifeval_offline"]
    assert (r["ties"], r["inconsistent"], r["win_rate"]) == (2, 2, 0.5)


@pytest.mark.parametrize("case, message", [
    ("missing", "is not a run directory"),
    ("other_task", "share no finished generation task"),
    ("prompts_differ", "differs between the two runs"),
    ("unknown_task", "has no finished task nope"),
])
def test_pairwise_bad_input_is_one_line_before_any_judge_loads(tmp_path, monkeypatch, cache,
                                                               case, message):
    base = _store(tmp_path / "base", ["a", "b"])
    where = tmp_path / "cand"
    cand = {
        "missing": lambda: tmp_path / "nowhere",
        "other_task": lambda: _store(where, ["a", "b"], task="alpaca_probe_offline"),
        "prompts_differ": lambda: _store(where, ["a", "b"], prompts=["Write about topic 0.",
                                                                     "something else"]),
        "unknown_task": lambda: _store(where, ["a", "b"]),
    }[case]()

    def never(*a):
        raise AssertionError("the judge must not load on bad input")

    import evalsuite.judge._runs as runs

    monkeypatch.setattr(runs, "open_judge", never)
    tasks = ("nope",) if case == "unknown_task" else None
    with pytest.raises(UserError, match=message) as info:
        judge_runs(base, cand, None, PairwiseSettings(tasks=tasks), None, cache)
    assert "\n" not in info.value.message


def test_mtbench_turn_two_pairs_use_the_multi_turn_prompt(cache):
    prompts = judge_prompts(cache)
    q = questions(cache)[0]
    a_lm, b_lm = ChatLM(lambda p: "A-ANSWER"), ChatLM(lambda p: "B-ANSWER")
    a = answer(a_lm, [q], greedy(8), True, None, "mtbench_offline")
    b = answer(b_lm, [q], greedy(8), True, None, "mtbench_offline")
    assert pair_prompt(a[0], b[0], prompts)[0] == "pair-v2"
    name, chat = pair_prompt(a[1], b[1], prompts)
    assert name == "pair-v2-multi-turn"
    text = chat[1]["content"]
    assert text.index("### Assistant A:\nA-ANSWER") < text.index("### Assistant B:\nB-ANSWER")
    assert text.count(q["turns"][0]) == 2 and text.count(q["turns"][1]) == 2


def test_generate_sends_lm_eval_instances_in_order():
    lm = ChatLM(lambda p: p.upper())
    assert generate(lm, ["a", "b"], greedy(4), "t") == ["A", "B"]
    assert generate(lm, [], greedy(4), "t") == []


def test_two_mtbench_runs_compare_sample_by_sample(tmp_path, cache):
    # MT-Bench records as the task writes them (answered, then judged), stored in two run
    # directories: evalsuite.compare pairs them by sample id like any task
    from evalsuite.drift.analysis import CompareSettings, compare
    from evalsuite.run.rundir import RunWriter

    prompts = judge_prompts(cache)
    for name, rating in (("base", "3"), ("cand", "8")):
        lm = ChatLM(lambda p, r=rating, n=name: f"Rating: [[{r}]]" if "impartial judge" in p
                    else f"{n} answer")
        records = answer(lm, questions(cache)[:2], greedy(8), True, None, "mtbench_offline")
        grade(records, lambda chats, task, lm=lm: [lm.reply(str(c)) for c in chats], prompts,
              "mtbench_offline")
        metrics, _ = aggregate(records)
        writer = RunWriter(tmp_path / name, {"model": {"name": name},
                                                "backend": {"name": "fake"}, "suite": "mtbench"})
        writer.add_task("mtbench_offline", records, metrics,
                        {"version": 1.0, "output_type": "generate_until",
                         "n_samples": len(records)})
        writer.finish()
    drift = compare(tmp_path / "base", [tmp_path / "cand"],
                    CompareSettings(n_boot=200, embeddings=False))
    (comparison,) = drift["comparisons"].values()
    by_metric = comparison["tasks"]["mtbench_offline"]["metrics"]
    assert by_metric["score"]["n"] == 4  # both turns of 2 questions, paired by sample id
    assert (by_metric["score"]["baseline"], by_metric["score"]["candidate"]) == (3.0, 8.0)
    assert by_metric["score_turn2"]["n"] == 2


@pytest.mark.parametrize("name", options("judge"))
def test_every_judge_config_composes_into_a_judge(name, tmp_path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = from_hydra(compose("config", ["+model=smollm2_135m", f"+judge={name}"]), tmp_path)
        pairwise = compose("pairwise", [f"+judge={name}", "baseline=a", "candidate=b"])
    assert cfg.judge is not None and cfg.judge.max_gen_toks >= 1
    assert cfg.judge.backend.name in ("hf", "vllm", "vllm_server", "openai")
    from evalsuite.cli.judge import settings_from

    _, _, judge, settings = settings_from(pairwise)
    assert judge == cfg.judge and settings.tasks is None and settings.limit is None


def test_the_judge_backend_can_be_swapped_from_the_command_line(tmp_path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = from_hydra(compose("config", ["+model=smollm2_135m", "+judge=smollm2_135m",
                                            "backend@judge.backend=vllm"]), tmp_path)
    assert cfg.backend.name == "hf" and cfg.judge.backend.name == "vllm"
    with pytest.raises(UserError, match="judge.max_gen_toks"), \
            initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        from_hydra(compose("config", ["+model=smollm2_135m", "+judge=smollm2_135m",
                                      "judge.max_gen_toks=0"]), tmp_path)


def test_a_comparison_without_any_task_metric_still_renders(tmp_path):
    # all judgments unparsable (or only unscored answers): drift.json has no metric rows,
    # and the report must still render rather than fail on an empty selection
    from evalsuite.drift.analysis import CompareSettings, compare
    from evalsuite.report import render_report

    base = _store(tmp_path / "base", ["one answer", "two answers"])
    cand = _store(tmp_path / "cand", ["one reply here", "two"])
    drift = compare(base, [cand], CompareSettings(n_boot=50, embeddings=False))
    (comparison,) = drift["comparisons"].values()
    assert comparison["tasks"] == {}
    result = render_report(drift, tmp_path / "out")
    assert Path(result["report"]).is_file()
