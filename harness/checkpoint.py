"""Run checkpoints that are data, never code.

A checkpoint holds the method state (tensors, numpy arrays, numbers), the RNG states and the
training env pool. It is written with ``torch.save`` and read back with
``torch.load(weights_only=True)``: torch's restricted unpickler, which rebuilds tensors, containers
and primitives and refuses every other global unless it is allow-listed. The allow-list here is
narrow and explicit (see :func:`trusted_global`): numpy's array/dtype/RNG reconstructors and *classes*
(never functions) defined in this harness, in ``gymnasium.spaces`` or in a registered plugin's
package (the env objects of the pool). A planted ``__reduce__`` calling ``os.system`` names a
global outside that list, so loading fails with :class:`CheckpointError` before anything runs.

File layout: one magic line, one JSON header line (format, SHA-256 and length of the payload), then
the ``torch.save`` payload. The checksum is verified before the payload is parsed, so flipped bytes
are reported instead of resuming into a different curve. Writes go to a temp file unique to the
writer, are fsynced and atomically renamed, so a crash leaves the previous checkpoint intact and
two writers never share a temp file.

Trust: a checkpoint from anywhere can at worst fail to load. The code that runs is the code
installed here (the allow-listed classes' own ``__setstate__``), never code named by the file.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

MAGIC = b"HARNESS-CHECKPOINT\n"
FORMAT = 1
FILENAME = "checkpoint.pt"
LEGACY_FILENAME = "checkpoint.pkl"  # pickle checkpoints of earlier versions: never loaded

# numpy's own reconstructors: they rebuild arrays, scalars, dtypes and bit generators from data.
_NUMPY_GLOBALS = frozenset({
    "numpy.ndarray", "numpy.dtype",
    "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
    "numpy.random._pickle.__bit_generator_ctor", "numpy.random._pickle.__generator_ctor",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "numpy.random._pcg64.PCG64", "numpy.random._pcg64.PCG64DXSM", "numpy.random._mt19937.MT19937",
    "numpy.random._philox.Philox", "numpy.random._sfc64.SFC64",
})
_CLASS_PREFIXES_ALWAYS = ("harness.", "gymnasium.spaces.", "numpy.dtypes.")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be trusted or read; ``str()`` is the one-line user message."""


def _plugin_prefixes() -> tuple[str, ...]:
    """Top-level packages of every registered method and env (plugins included)."""
    from harness.registry import ENVS, METHODS

    packages = {cls.__module__.split(".")[0] for _, cls in METHODS.items()}
    packages |= {spec.factory.__module__.split(".")[0] for _, spec in ENVS.items()}
    return tuple(f"{p}." for p in sorted(packages))


def trusted_global(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether the dotted global ``name`` may be rebuilt: one of numpy's data reconstructors, or a
    name under a trusted package (checked again after import: it must be a class)."""
    return name in _NUMPY_GLOBALS or name.startswith(_CLASS_PREFIXES_ALWAYS + prefixes)


def _resolve(name: str) -> Any:
    module_name, _, attr = name.rpartition(".")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return getattr(module, attr)


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically with its checksum (see the module docstring)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = json.dumps({"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(),
                         "bytes": len(payload)}).encode()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + header + b"\n" + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save`; raise :class:`CheckpointError` (naming the path
    and what to do) for a corrupted, truncated, foreign or untrusted file."""
    import pickle

    import torch

    path = Path(path)
    advice = f"delete {path} or re-run with resume=restart"
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"checkpoint {path} cannot be read ({err.strerror}); {advice}") from None
    if not blob.startswith(MAGIC):
        raise CheckpointError(f"checkpoint {path} is not a harness checkpoint (bad header); {advice}")
    header_line, _, payload = blob[len(MAGIC):].partition(b"\n")
    try:
        header = json.loads(header_line)
        expected, size, version = header["sha256"], int(header["bytes"]), int(header["format"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"checkpoint {path} has a malformed header; {advice}") from None
    if version != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {version}, this harness reads "
                              f"{FORMAT}; {advice}")
    if len(payload) != size or hashlib.sha256(payload).hexdigest() != expected:
        raise CheckpointError(f"checkpoint {path} fails its checksum (corrupted or truncated: "
                              f"{len(payload)} of {size} bytes); {advice}")
    # The checksum proves integrity, not origin: the allow-list is what makes loading safe.
    prefixes = _plugin_prefixes()
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(payload))
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
        raise CheckpointError(f"checkpoint {path} cannot be parsed ({type(err).__name__}); "
                              f"{advice}") from None
    allowed = []
    for name in names:
        obj = None
        if trusted_global(name, prefixes):
            try:
                obj = _resolve(name)
            except (ImportError, AttributeError):
                obj = None
        if obj is None or (name not in _NUMPY_GLOBALS and not isinstance(obj, type)):
            raise CheckpointError(f"checkpoint {path} refers to {name!r}, which is not allowed in a "
                                  f"checkpoint (only data and the harness's own classes); {advice}")
        allowed.append(obj)
    # dtype instances are rebuilt through their classes, which the scan above does not list.
    import numpy as np

    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # torch's message is a paragraph; its reason follows "WeightsUnpickler error:".
        marker = [i for i, line in enumerate(lines) if "WeightsUnpickler error" in line]
        first = (lines[marker[0] + 1] if marker and marker[0] + 1 < len(lines)
                 else lines[0] if lines else type(err).__name__)
        raise CheckpointError(f"checkpoint {path} does not load ({first[:200]}); {advice}") from None


def find_legacy(run_dir: Path) -> Path | None:
    """A pickle checkpoint of an earlier version in ``run_dir`` (reported, never unpickled)."""
    legacy = Path(run_dir) / LEGACY_FILENAME
    return legacy if legacy.exists() else None
