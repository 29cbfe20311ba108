"""Judged tasks: a judge model of its own config grades answers (MT-Bench single-answer
grading) or compares two runs' answers with positions swapped (pairwise)."""

from evalsuite.config.judge import NO_JUDGE, JudgeConfig, judge_from_hydra
from evalsuite.judge._model import Judge, open_judge, same_model, shared_judge
from evalsuite.judge._pairwise import combine, pair_prompt, parse_verdict, win_rates
from evalsuite.judge._runs import PairwiseSettings, judge_runs
from evalsuite.judge._single import aggregate, grade, parse_rating, single_prompt

__all__ = [
    "NO_JUDGE", "Judge", "JudgeConfig", "PairwiseSettings", "aggregate", "combine", "grade",
    "judge_from_hydra", "judge_runs", "open_judge", "pair_prompt", "parse_rating",
    "parse_verdict", "same_model", "shared_judge", "single_prompt", "win_rates",
]
