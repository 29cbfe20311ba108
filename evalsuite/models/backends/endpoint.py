"""OpenAI-compatible endpoints through lm-eval's own API models.

``vllm_server`` starts a vLLM server for the checkpoint and talks to it; ``openai`` talks
to an endpoint that already runs. The completions API serves both generation and
log-likelihood requests (echoed prompt logprobs); a chat endpoint only generates.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

from evalsuite.config import OpenAIBackendConfig, RunConfig, VLLMServerBackendConfig
from evalsuite.errors import RunFault, UserError, first_line
from evalsuite.models.backends.server import ManagedServer
from evalsuite.models.backends.vllm_settings import server_flags, settings
from evalsuite.models.checkpoint import Checkpoint

log = logging.getLogger(__name__)

GENERATION = frozenset({"generate_until"})
ALL_OUTPUT_TYPES = frozenset(
    {"generate_until", "loglikelihood", "multiple_choice", "loglikelihood_rolling"}
)


class _KeyFromEnv:
    """The API key is read from the environment variable the config names, on every
    request; it is never stored in the config, the manifest or the log."""

    api_key_env: str | None = None

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


class CompletionsLM(_KeyFromEnv, LocalCompletionsAPI):
    server: ManagedServer | None = None
    server_restarts = 0
    """How often the managed server died and was started again (at most once a run)."""

    # A server that dies mid-run (killed for memory, a crashed engine) is started again
    # once and the failed call repeated; finished chunks are in the request cache either
    # way. A second death ends the run with one line.
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._surviving(super().generate_until, requests, disable_tqdm)

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._surviving(super().loglikelihood, requests, disable_tqdm)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._surviving(super().loglikelihood_rolling, requests, disable_tqdm)

    def _surviving(self, call: Any, requests: list[Any], disable_tqdm: bool) -> list[Any]:
        while True:
            try:
                return call(requests, disable_tqdm=disable_tqdm)
            except Exception as e:
                server = self.server
                if server is None:
                    raise unreachable(self.base_url, e) from None
                code = server.died()
                if code is None:
                    raise  # the server is up and healthy: not a death; the caller sees it
                why = f"exit code {code}: {server.last_error()}"
                if self.server_restarts >= 1:
                    raise RunFault(
                        f"the vLLM server died again ({why}); finished tasks and stored "
                        f"answers are kept: run the same command to continue "
                        f"(log: {server.log_path})") from None
                self.server_restarts += 1
                log.warning("the vLLM server died (%s); starting it again, once", why)
                server.restart()
                self.base_url = f"{server.base_url}/v1/completions"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class ChatLM(_KeyFromEnv, LocalChatCompletion):
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        try:
            return super().generate_until(requests, disable_tqdm=disable_tqdm)
        except Exception as e:
            raise unreachable(self.base_url, e) from None

    def close(self) -> None:
        pass


def unreachable(url: str, error: Exception) -> Exception:
    """An endpoint that cannot be reached is a one-line fault (finished tasks kept);
    any other error is returned as it is."""
    import aiohttp
    import requests

    if isinstance(error, aiohttp.ClientConnectionError | requests.ConnectionError):
        return RunFault(f"cannot reach the endpoint {url} ({first_line(error)}): check "
                        "backend.base_url and that the server runs; finished tasks are kept")
    return error


def supported_output_types(cfg: RunConfig) -> frozenset[str]:
    backend = cfg.backend
    if isinstance(backend, OpenAIBackendConfig) and backend.api == "chat":
        return GENERATION
    return ALL_OUTPUT_TYPES


def _client_kwargs(cfg: RunConfig, tokenizer: str | None) -> dict[str, Any]:
    backend = cfg.backend
    if cfg.store_logprobs:
        raise UserError(f"backend={backend.name} cannot store response logprobs yet: use "
                        "backend=vllm or set store_logprobs=false")
    assert isinstance(backend, VLLMServerBackendConfig | OpenAIBackendConfig)
    kw: dict[str, Any] = {
        "num_concurrent": backend.num_concurrent,
        "max_retries": backend.max_retries,
        "timeout": backend.request_timeout_s,
        "seed": cfg.seed,
        "max_length": cfg.model.max_length or 2048,
        "trust_remote_code": cfg.model.trust_remote_code,
    }
    if tokenizer is not None:
        kw.update(tokenizer=tokenizer, tokenizer_backend="huggingface", tokenized_requests=True)
    else:
        kw.update(tokenizer_backend=None, tokenized_requests=False)
    return kw


def build_server(cfg: RunConfig, checkpoint: Checkpoint) -> CompletionsLM:
    """Start ``vllm serve`` for the checkpoint and connect a completions client to it."""
    from evalsuite.models.backends.vllm_engine import _import_vllm

    _import_vllm()  # fail before starting anything if vLLM is missing
    client_kwargs = _client_kwargs(cfg, checkpoint.location)
    backend, model = cfg.backend, cfg.model
    assert isinstance(backend, VLLMServerBackendConfig)
    # the engine's own settings, spelled as flags, plus the name the client asks for
    engine = settings(cfg, checkpoint)
    args = [*server_flags(engine), "--served-model-name", model.name]
    args += list(backend.extra_args)
    env = backend.cpu_env()
    if backend.api_key_env:
        key = os.environ.get(backend.api_key_env)
        if not key:
            raise UserError(f"backend.api_key_env names {backend.api_key_env}, which is not "
                            f"set: export {backend.api_key_env}=... or set "
                            "backend.api_key_env=null")
        env["VLLM_API_KEY"] = key  # by environment, not argv: ps shows argv to every user
    server = ManagedServer(args, backend.host, backend.port, cfg.run_dir / "vllm_server.log",
                           env, backend.startup_timeout_s, settings=engine).start()
    try:
        lm = CompletionsLM(model=model.name, base_url=f"{server.base_url}/v1/completions",
                           batch_size=backend.batch_size, **client_kwargs)
    except BaseException:
        server.stop()
        raise
    lm.server = server
    lm.api_key_env = backend.api_key_env
    return lm


def build_openai(cfg: RunConfig, checkpoint: Checkpoint) -> CompletionsLM | ChatLM:
    """Connect to an endpoint that already runs; nothing is started or stopped."""
    backend = cfg.backend
    assert isinstance(backend, OpenAIBackendConfig)
    if not backend.base_url:
        raise UserError("backend=openai needs backend.base_url, e.g. "
                        "backend.base_url=http://127.0.0.1:8000/v1")
    if urlsplit(backend.base_url).password:
        raise UserError("backend.base_url holds a password: put the key in an environment "
                        "variable and name it in backend.api_key_env")
    if backend.api_key_env and backend.api_key_env not in os.environ:
        raise UserError(f"backend.api_key_env names {backend.api_key_env}, which is not set: "
                        f"export {backend.api_key_env}=... or set backend.api_key_env=null")
    served = backend.model or cfg.model.name
    tokenizer = backend.tokenizer or (checkpoint.location if checkpoint.is_local else None)
    base = backend.base_url.rstrip("/")
    if backend.api == "chat":
        cls: type[CompletionsLM | ChatLM] = ChatLM
        url = f"{base}/chat/completions"
        kw = _client_kwargs(cfg, None)
    elif backend.api == "completions":
        cls, url = CompletionsLM, f"{base}/completions"
        kw = _client_kwargs(cfg, tokenizer)
    else:
        raise UserError(f"backend.api must be completions or chat, got {backend.api!r}")
    lm = cls(model=served, base_url=url, batch_size=backend.batch_size, **kw)
    lm.api_key_env = backend.api_key_env
    return lm
