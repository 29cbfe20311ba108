"""IFEval verdicts are a function of the document and the response: the same responses
scored in two processes with different random states give identical verdicts on all 541
prompts, where stock lm-eval's scoring draws a letter at random for two of them."""

from __future__ import annotations

import json
import random
import string
import subprocess
import sys

from evalsuite.resources import TASKS_DIR
from evalsuite.tasks.data import ifeval_path
from evalsuite.tasks.ifeval_scoring import rewritten_instructions

# every letter a different number of times (a once ... z 26 times): a check of one letter
# passes or fails with the letter
LETTERS = " ".join(c * (i + 1) for i, c in enumerate(string.ascii_lowercase))

SCRIPT = """
import json, random, sys
sys.path.insert(0, sys.argv[1])
random.seed(int(sys.argv[2]))
from utils import process_results
rows = [json.loads(x) for x in open(sys.argv[3], encoding="utf-8")]
out = [process_results(r, [r["prompt"][:200] + " " + sys.argv[4]]) for r in rows]
print(json.dumps(out))
"""


def _rows() -> list[dict]:
    return [json.loads(x) for x in ifeval_path().read_text(encoding="utf-8").splitlines()]


def _verdicts_in_a_process(seed: int) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(TASKS_DIR / "ifeval_offline"),
                           str(seed), str(ifeval_path()), LETTERS],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_the_same_responses_get_the_same_verdicts_in_every_process():
    first, second = _verdicts_in_a_process(1), _verdicts_in_a_process(2)
    assert len(first) == 541 and first == second


def test_stock_scoring_draws_where_ours_does_not():
    from lm_eval.tasks.ifeval.utils import process_results as stock

    sys.path.insert(0, str(TASKS_DIR / "ifeval_offline"))
    try:
        from utils import process_results as ours
    finally:
        sys.path.pop(0)
    rows = {r["key"]: r for r in _rows()}
    for key in (1122, 1129):  # letter '#' and '!': the reference code draws a letter
        row = rows[key]
        assert rewritten_instructions(row)  # marked in the sample record
        seen_stock, seen_ours = set(), set()
        for seed in range(40):
            random.seed(seed)
            seen_stock.add(json.dumps(stock(row, [LETTERS])))
            random.seed(seed)
            seen_ours.add(json.dumps(ours(row, [LETTERS])))
        assert len(seen_stock) > 1, key  # stock: the verdict changes with the random state
        assert len(seen_ours) == 1, key
    state = random.getstate()
    ours(rows[1122], [LETTERS])
    assert random.getstate() == state  # the caller's random state is left as it was
    assert sum(bool(rewritten_instructions(r)) for r in rows.values()) == 2
