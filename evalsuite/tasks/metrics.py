"""Metric names evalsuite's tasks share with lm-eval, and which way each is better."""

import re

IF_METRICS = (
    "prompt_level_strict_acc", "inst_level_strict_acc",
    "prompt_level_loose_acc", "inst_level_loose_acc",
)
"""IFEval's four metrics, in lm-eval's names; IFBench reports under the same names."""

PRIMARY = ("acc_norm", "acc", "exact_match,flexible-extract", "exact_match,strict-match",
           "exact_match", "score")
"""One headline metric per benchmark, in this order of preference (what papers report)."""

LOWER_IS_BETTER = re.compile(r"perplexity|bits_per_byte|bpb|loss|error")
"""Metric names where a smaller value is better (lm-eval's convention for the rest)."""


def higher_is_better(metric: str) -> bool:
    return not LOWER_IS_BETTER.search(metric)
