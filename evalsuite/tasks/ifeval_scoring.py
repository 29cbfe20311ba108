"""IFEval verdicts that depend on the document and the response alone.

lm-eval runs the reference implementation's checkers, and two of their inputs are chance:
a ``letter_frequency`` instruction whose letter is not a-z (google/IFEval keys 1122 and
1129 ask for ``#`` and ``!``) checks a letter drawn with ``random`` at scoring time, and
the language checks call langdetect, whose detector draws too. So the same response could
pass in one process and fail in the next, and a comparison counted that as a flip. Here
each sample is scored with ``random`` seeded from the sample itself and langdetect's
documented fixed seed; the scoring code is lm-eval's, unchanged. Where stock lm-eval's
verdict is deterministic, evalsuite's equals it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import string
from collections.abc import Iterator
from typing import Any

# letter_frequency: the reference code replaces a letter outside a-z with a random one
_LETTERS = set(string.ascii_lowercase)


def sample_seed(doc: dict[str, Any]) -> int:
    """A seed from the sample's identity (its key and prompt)."""
    blob = json.dumps([doc.get("key"), doc.get("prompt")], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "little")


@contextlib.contextmanager
def fixed_randomness(doc: dict[str, Any]) -> Iterator[None]:
    """``random`` seeded from the sample and langdetect seeded, for one sample's checks;
    the caller's random state is restored afterwards."""
    from langdetect import DetectorFactory

    state = random.getstate()
    DetectorFactory.seed = 0  # langdetect's own switch for deterministic detection
    random.seed(sample_seed(doc))
    try:
        yield
    finally:
        random.setstate(state)


def rewritten_instructions(doc: dict[str, Any]) -> dict[int, str]:
    """Instruction index -> how the reference code changes what the prompt asks (it then
    checks something the prompt did not say); empty for almost every prompt."""
    out = {}
    ids, kwargs = doc.get("instruction_id_list") or [], doc.get("kwargs") or []
    for i, (iid, kw) in enumerate(zip(ids, kwargs, strict=False)):
        if iid == "keywords:letter_frequency" and isinstance(kw, dict):
            letter = kw.get("letter")
            if not isinstance(letter, str) or len(letter) != 1 or letter.lower() not in _LETTERS:
                out[i] = (f"letter {letter!r} is not a-z: the reference code counts a random "
                          "letter instead (fixed per sample by evalsuite)")
    return out
