"""Metric names evalsuite's tasks share with lm-eval."""

IF_METRICS = (
    "prompt_level_strict_acc", "inst_level_strict_acc",
    "prompt_level_loose_acc", "inst_level_loose_acc",
)
"""IFEval's four metrics, in lm-eval's names; IFBench reports under the same names."""
