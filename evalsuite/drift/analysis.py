"""Compare a baseline run with one or more candidate runs: the content of drift.json."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.drift import distribution as dist
from evalsuite.drift.examples import select_examples
from evalsuite.drift.pairing import PairedTask, pair_runs
from evalsuite.drift.runs import Run, load_run
from evalsuite.drift.scores import add_holm, task_changes
from evalsuite.ingest import FORMATS
from evalsuite.schema import SCHEMA_VERSION, DriftReport
from evalsuite.storage.jsonable import to_plain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompareSettings:
    n_boot: int = 10_000
    """Bootstrap resamples for every confidence interval."""
    seed: int = 0
    level: float = 0.95
    """Confidence level of the intervals."""
    alpha: float = 0.05
    """Significance level used to mark changes (on Holm-adjusted p-values)."""
    patterns: tuple[dist.Pattern, ...] = dist.DEFAULT_PATTERNS
    allow_prompt_mismatch: bool = False
    embeddings: bool = True
    """Embed responses (all-MiniLM-L6-v2, from a PyPI wheel) for the embedding shift."""
    embeddings_precision: str = "auto"
    """fp32, bf16, or auto: bf16 where the CPU computes it in hardware, else fp32."""
    embedding_cache: bool = True
    """Keep embeddings under the cache folder, so a sweep embeds its baseline once."""
    cross_likelihood: bool = False
    """Score each run's responses under the other run's model (loads both checkpoints),
    with Monte-Carlo KL estimates for sampled responses."""
    examples: int = 3
    """Paired answers kept per kind (lost, gained, each pattern, random) and generation
    task, for the report to show; 0: none."""
    n_jobs: int = 1
    """Processes comparing candidates side by side; -1: every core. Results are the same
    for any value. The embedding encoder runs in this process, on every core, after."""


@dataclass
class Comparison:
    candidate: Run
    tasks: list[PairedTask]
    scores: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    instruction_ids: list[dict[str, Any]] = field(default_factory=list)
    distribution: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)


def labels(runs: Sequence[Run]) -> list[str]:
    """Model names, made unique with as much of the run path as it takes."""
    names = [r.label for r in runs]
    for depth in range(1, 4):
        if len(set(names)) == len(names):
            return names
        names = [f"{r.label} ({'/'.join(r.path.parts[-depth:])})"
                 if [x.label for x in runs].count(r.label) > 1 else r.label for r in runs]
    if len(set(names)) < len(names):  # same path given twice
        names = [f"{n} #{i}" for i, n in enumerate(names)]
    return names


def _length_counter(run: Run) -> tuple[Callable[[str], int] | None, str]:
    """Token counter of the baseline's tokenizer when its checkpoint is on disk."""
    path = run.manifest.model.path
    tok_file = Path(path) / "tokenizer.json" if path else None
    if tok_file is not None and tok_file.is_file():
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tok_file))
            return (lambda t: len(tok.encode(t, add_special_tokens=False).ids),
                    f"tokens ({run.label} tokenizer)")
        except Exception as e:  # a broken tokenizer file must not stop the comparison
            log.warning("cannot load %s (%s); measuring length in words", tok_file, e)
    return None, "word tokens"


def compare_pair(base: Run, cand: Run, settings: CompareSettings,
                 count: Callable[[str], int] | None = None, embedder: Any = None,
                 tasks: list[PairedTask] | None = None,
                 scorers: dict[str, Any] | None = None,
                 base_memo: dict[Any, Any] | None = None) -> Comparison:
    """Every measure for one baseline/candidate pair (``tasks``: already paired).

    ``base_memo``: kept by the caller across candidates, so what depends on the
    baseline's answers alone is computed once."""
    if tasks is None:
        tasks = pair_runs(base, cand, allow_prompt_mismatch=settings.allow_prompt_mismatch)
    comp = Comparison(candidate=cand, tasks=tasks)
    for paired in tasks:
        comp.warnings.extend(paired.warnings)
        res = task_changes(paired, list(base.metrics.get(paired.task, {})),
                           n_boot=settings.n_boot, seed=settings.seed, level=settings.level,
                           alpha=settings.alpha)
        for row in res["metrics"]:
            stored = base.metrics[paired.task].get(row["metric"])
            row["matches_stored"] = (isinstance(stored, int | float) and not paired.only_base
                                     and abs(float(stored) - row["baseline"]) < 1e-9)
        comp.scores.extend(res["metrics"])
        comp.categories.extend(res["categories"])
        comp.instruction_ids.extend(res["instruction_ids"])
        if paired.output_type == "generate_until":
            comp.distribution[paired.task] = _distribution(paired, settings, count, embedder,
                                                           base_memo)
            if settings.cross_likelihood:
                comp.distribution[paired.task]["cross_likelihood"] = _cross(
                    base, cand, paired, {} if scorers is None else scorers)
            if settings.examples > 0:
                comp.examples[paired.task] = select_examples(
                    paired, list(base.metrics.get(paired.task, {})), settings.patterns,
                    settings.examples, seed=settings.seed)
    add_holm(comp.scores, settings.alpha)
    for row in comp.scores:
        row["significant"] = bool(row["p_holm"] < settings.alpha)
    return comp


def _distribution(paired: PairedTask, settings: CompareSettings,
                  count: Callable[[str], int] | None, embedder: Any,
                  base_memo: dict[Any, Any] | None = None) -> dict[str, Any]:
    rb, rc = _responses(paired)
    memo = base_memo if base_memo is not None else {}
    base_side = _lexical_memo(paired, memo)
    lb, lc = dist.token_lengths(rb, count), dist.token_lengths(rc, count)
    out = {
        "n": len(rb),
        # per-sample lengths too: the report plots the two distributions
        "length": {**dist.length_shift(lb, lc),
                   "values": {"baseline": list(lb), "candidate": list(lc)}},
        "patterns": dist.pattern_rates(rb, rc, settings.patterns),
        "lexical": dist.lexical_shift(rb, rc, base_side=base_side),
    }
    if embedder is not None:
        from evalsuite.drift.embeddings import embedding_shift

        out["embeddings"] = embedding_shift(rb, rc, embedder, seed=settings.seed)
    return out


def _responses(paired: PairedTask) -> tuple[list[str], list[str]]:
    return ([r.get("response") or "" for r in paired.base],
            [r.get("response") or "" for r in paired.cand])


def _lexical_memo(paired: PairedTask, memo: dict[Any, Any]) -> Any:
    """The baseline side's lexical counts, computed once for every candidate."""
    rb = _responses(paired)[0]
    # candidates may pair different subsets of the baseline: the key is the answers
    # themselves (the tuple holds references; str hashes are cached)
    key = (paired.task, tuple(rb))
    if key not in memo:
        memo[key] = dist.lexical_side(rb)
    return memo[key]


def _cross(base: Run, cand: Run, paired: PairedTask, scorers: dict[str, Any]) -> dict[str, Any]:
    from evalsuite.drift.likelihood import cross_likelihood, scorer_for
    from evalsuite.models.backends.genparams import from_lm_eval, is_sampled

    def gen(run: Run) -> dict[str, Any]:
        return run.task_info(paired.task).generation_kwargs or {}

    return cross_likelihood(paired.base, paired.cand, scorer_for(base, scorers),
                            scorer_for(cand, scorers), sampled=is_sampled(gen(cand)),
                            base_sampled=is_sampled(gen(base)),
                            temperature=from_lm_eval(gen(cand)).temperature, task=paired.task)


def _run_meta(run: Run, label: str) -> dict[str, Any]:
    model = run.manifest.model
    return {"label": label, "path": str(run.path), "model": model.name,
            "model_path": model.path, "fingerprint": model.fingerprint,
            "suite": run.manifest.suite, "status": run.manifest.status,
            # where the run came from: evalsuite, or another harness's output
            "source": model.source if model.source in FORMATS else "evalsuite"}


def compare(baseline: str | Path | Run, candidates: Sequence[str | Path | Run],
            settings: CompareSettings | None = None,
            names: Sequence[str] | None = None,
            remedies: Mapping[str, str] | None = None) -> dict[str, Any]:
    """drift.json's content for ``baseline`` against each of ``candidates``.

    ``names``: display labels, baseline first (default: model names, made unique).
    ``remedies``: remedy label -> the label of the candidate it started from (both
    candidates); each remedy is also compared with that candidate, and what it gave
    back is measured (``evalsuite.drift.recovery``).
    """
    from evalsuite.storage.provenance import now, package_versions

    settings = settings or CompareSettings()
    base = baseline if isinstance(baseline, Run) else load_run(baseline)
    cands = [c if isinstance(c, Run) else load_run(c) for c in candidates]
    if names is None:
        names = labels([base, *cands])
    else:
        names = [str(n) for n in names]
        if len(names) != 1 + len(cands) or len(set(names)) != len(names):
            from evalsuite.errors import UserError

            raise UserError(f"names needs {1 + len(cands)} different names (baseline first), "
                            f"got {names}")
    remedies = _check_remedies(remedies, names[1:])
    # every refusal (versions, documents, prompts) before any slow work starts
    paired = [pair_runs(base, c, allow_prompt_mismatch=settings.allow_prompt_mismatch)
              for c in cands]
    by_name = dict(zip(names[1:], range(len(cands)), strict=True))
    remedy_pairs = {r: pair_runs(cands[by_name[t]], cands[by_name[r]],
                                 allow_prompt_mismatch=settings.allow_prompt_mismatch)
                    for r, t in remedies.items()}
    count, unit = _length_counter(base)
    if settings.cross_likelihood:  # a missing checkpoint is refused before the slow work
        from evalsuite.drift.likelihood import check_model

        for run in (base, *cands):
            check_model(run)
    # one piece per comparison: each candidate against the baseline, each remedy against
    # the checkpoint it started from
    jobs = [(base, c, tasks) for c, tasks in zip(cands, paired, strict=True)]
    jobs += [(cands[by_name[t]], cands[by_name[r]], remedy_pairs[r])
             for r, t in remedies.items()]
    entries = _comparisons(base, jobs, settings, count)
    embedder = _embedder(base, settings)
    if embedder is not None:  # here, not in the pieces: the encoder uses every core itself
        for (_, _, tasks), entry in zip(jobs, entries, strict=True):
            _add_embeddings(entry, tasks, embedder, settings.seed)
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created_at": now(),
        "baseline": _run_meta(base, names[0]),
        "candidates": [_run_meta(c, n) for c, n in zip(cands, names[1:], strict=True)],
        "settings": {**asdict(settings), "length_unit": unit,
                     # what auto chose on this machine
                     **({"embeddings_precision": embedder.precision} if embedder else {})},
        "versions": package_versions(),
        "comparisons": dict(zip(names[1:], entries[:len(cands)], strict=True)),
    }
    if remedies:
        out["remedies"] = {
            r: _remedy(base, paired, by_name, r, t, entry, out, settings)
            for (r, t), entry in zip(remedies.items(), entries[len(cands):], strict=True)}
    out = to_plain(out)
    DriftReport.model_validate(out)  # the writer's mistakes fail here, not in a reader
    return out


def _entry(comp: Comparison) -> dict[str, Any]:
    return {"tasks": _nest(comp), "categories": comp.categories,
            "instruction_ids": comp.instruction_ids, "distribution": comp.distribution,
            "warnings": comp.warnings, "examples": comp.examples}


def _check_remedies(remedies: Mapping[str, str] | None,
                    cands: Sequence[str]) -> dict[str, str]:
    from evalsuite.errors import UserError

    out = {str(k): str(v) for k, v in (remedies or {}).items()}
    for remedy, treated in out.items():
        missing = [x for x in (remedy, treated) if x not in cands]
        if missing:
            raise UserError(
                f"remedy={{{remedy}:{treated}}} names {', '.join(missing)}, not a candidate "
                f"(candidates: {', '.join(cands)}); name both with names=[...], e.g. "
                "remedy={unlearn:synthetic_qa}")
        if remedy == treated:
            raise UserError(f"remedy={{{remedy}:{treated}}}: a remedy starts from another "
                            "candidate, not from itself")
        if treated in out:
            raise UserError(f"remedy: {treated} is itself a remedy; give each remedy the "
                            "checkpoint it was trained from")
    return out


def _comparisons(base: Run, jobs: Sequence[tuple[Run, Run, list[PairedTask]]],
                 settings: CompareSettings,
                 count: Callable[[str], int] | None) -> list[dict[str, Any]]:
    """Every measure but the embeddings for each (baseline, candidate, paired tasks)."""
    from evalsuite.drift.parallel import map_pieces, workers

    scorers: dict[str, Any] = {}  # models for cross_likelihood, loaded once per path
    base_memo: dict[Any, Any] = {}  # the baseline's lexical counts, once per task
    # cross_likelihood loads models: one comparison at a time, in this process
    n_jobs = 1 if settings.cross_likelihood else settings.n_jobs
    if workers(n_jobs, len(jobs)) > 1:  # counted before the fork, not once per worker
        for b, _, tasks in jobs:
            for p in tasks:
                if b is base and p.output_type == "generate_until":
                    _lexical_memo(p, base_memo)

    def piece(i: int) -> dict[str, Any]:
        b, c, tasks = jobs[i]
        own = scorers if b is base else {}  # a remedy's pair loads its own two models
        comp = compare_pair(b, c, settings, count, None, tasks, own, base_memo)
        if settings.cross_likelihood:  # keep the baseline's model, free the candidate's
            from evalsuite.drift.likelihood import model_key

            for key in [k for k in own if own is not scorers or k != model_key(base)]:
                del own[key]
        return _entry(comp)

    return map_pieces(piece, len(jobs), n_jobs)


def _embedder(base: Run, settings: CompareSettings) -> Any:
    if not settings.embeddings or not any(
            base.task_info(t).output_type == "generate_until" for t in base.samples):
        return None
    from evalsuite.drift.embedcache import EmbeddingCache
    from evalsuite.drift.embeddings import SentenceEmbedder
    from evalsuite.storage.cachedir import cache_dir

    return SentenceEmbedder(
        precision=settings.embeddings_precision,
        cache=EmbeddingCache(cache_dir()) if settings.embedding_cache else None)


def _add_embeddings(entry: dict[str, Any], tasks: list[PairedTask], embedder: Any,
                    seed: int) -> None:
    from evalsuite.drift.embeddings import embedding_shift

    for p in tasks:
        if p.task in entry["distribution"]:
            rb, rc = _responses(p)
            entry["distribution"][p.task]["embeddings"] = embedding_shift(rb, rc, embedder,
                                                                          seed=seed)


def _remedy(base: Run, paired: Sequence[list[PairedTask]], by_name: dict[str, int],
            remedy: str, treated: str, entry: dict[str, Any], out: dict[str, Any],
            settings: CompareSettings) -> dict[str, Any]:
    """The remedy against the checkpoint it started from (``entry``: every measure, as a
    comparison has), and what it gave back of that checkpoint's change against the
    baseline."""
    from evalsuite.drift import recovery

    i_t, i_r = by_name[treated], by_name[remedy]
    rec = recovery.analyse(paired[i_t], paired[i_r],
                           {t: list(m) for t, m in base.metrics.items()}, settings.patterns,
                           n_boot=settings.n_boot, seed=settings.seed, level=settings.level,
                           alpha=settings.alpha)
    dist_t = out["comparisons"][treated]["distribution"]
    dist_r = out["comparisons"][remedy]["distribution"]
    for task in dist_t:
        auc_t = recovery.auc_of(dist_t[task])
        auc_r = recovery.auc_of(dist_r.get(task))
        auc_tr = recovery.auc_of(entry["distribution"].get(task))
        if auc_t is not None or auc_r is not None:
            rec["auc"].append({"task": task, "treated": auc_t, "remedy": auc_r,
                               "remedy_vs_treated": auc_tr})
    return {"treated": treated, "comparison": entry, **rec}


def _nest(comp: Comparison) -> dict[str, Any]:
    # drift.json's reading order: candidate -> task -> metric
    tasks: dict[str, Any] = {}
    for row in comp.scores:
        t = tasks.setdefault(row["task"], {"version": row["version"], "metrics": {}})
        t["metrics"][row["metric"]] = {k: v for k, v in row.items()
                                       if k not in ("task", "version", "metric")}
    return tasks
