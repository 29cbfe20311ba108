"""An inspect_ai task for tests: a few questions a small model can answer, scored by
inspect's own `includes()` (correct/incorrect) and a numeric scorer (answer length), so
a log holds both kinds of per-sample value."""

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Score, Target, includes, mean, scorer, stderr
from inspect_ai.solver import TaskState, generate

QUESTIONS = [
    ("What is the capital of France?", "Paris"),
    ("What colour is the sky on a clear day?", "blue"),
    ("How many legs does a spider have?", "eight"),
    ("What is two plus two?", "four"),
    ("Which planet do we live on?", "Earth"),
    ("What is frozen water called?", "ice"),
]


@scorer(metrics=[mean(), stderr()])
def answer_words():
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=float(len(state.output.completion.split())))

    return score


@task
def quiz() -> Task:
    samples = [Sample(input=q, target=a, id=f"q{i}") for i, (q, a) in enumerate(QUESTIONS)]
    return Task(dataset=MemoryDataset(samples, name="quiz"), solver=generate(),
                scorer=[includes(), answer_words()], version=2)

