"""Continue training a base model on synthetic Q-A pairs rendered through one template.

``python -m evalsuite.recipe [data=...] [template=...] [steps=..] [lr=..] [seed=..] [name=..]``
trains on CPU and leaves a Hugging Face checkpoint that ``python -m evalsuite +model=NAME``
evaluates; from Python, ``run(from_hydra(cfg))`` or build ``RecipeSettings`` directly.
"""

from evalsuite.recipe._data import QAData, QAPair, load_pairs
from evalsuite.recipe._recipe import RecipeResult, run
from evalsuite.recipe._settings import RecipeSettings, TrainSettings, cache_key, from_hydra
from evalsuite.recipe._template import NAMED as TEMPLATES
from evalsuite.recipe._template import Template, template

__all__ = [
    "QAData", "QAPair", "RecipeResult", "RecipeSettings", "TEMPLATES", "Template",
    "TrainSettings", "cache_key", "from_hydra", "load_pairs", "run", "template",
]
