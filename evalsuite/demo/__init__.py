"""The paper in miniature: ``python -m evalsuite.demo``.

Trains (or reuses) a synthetic-Q-A checkpoint of the embedded default model with
``evalsuite.recipe``, evaluates the base model and it, compares them and renders the
report into ``reports/demo``, then judges the positive control (the drift must show).
It also unlearns the synthetic format (the paper's remedy, ``evalsuite.recipe
stage=unlearn``), evaluates that third checkpoint and judges the remedy control
against the synthetic one (``remedy=false`` leaves it out).
``control=negative`` compares two sampled runs of the base model instead (no drift may
show). ``size=small`` is the same at a size that runs in minutes.
"""

from evalsuite.demo._controls import Check, Verdict, negative, positive, remedy
from evalsuite.demo._demo import DemoSettings, from_hydra, run

__all__ = ["Check", "DemoSettings", "Verdict", "from_hydra", "negative", "positive", "remedy",
           "run"]
