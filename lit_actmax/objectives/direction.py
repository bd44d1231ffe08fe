"""Directions in a layer's channel space: :class:`Direction` scores the projection on a unit's vector, given
inline or read from a file by :func:`load_directions` (a sparse autoencoder's decoder, a linear probe's weights).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import Objective, RenderBatch

__all__ = ["DIRECTION_FILE_TYPES", "load_directions", "Direction"]

#: File types :func:`load_directions` reads.
DIRECTION_FILE_TYPES = (".pt", ".pth", ".npy", ".npz", ".safetensors")


def _read_direction_file(path: Path) -> torch.Tensor | dict[str, torch.Tensor]:
    """The raw contents of a direction file: one tensor, or named tensors (``.npz``, ``.safetensors``, a dict)."""
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        return torch.load(path, map_location="cpu", weights_only=True)
    if suffix in (".npy", ".npz"):
        import numpy as np

        data = np.load(path, allow_pickle=False)
        if suffix == ".npy":
            return torch.from_numpy(np.asarray(data))
        with data:
            return {name: torch.from_numpy(np.asarray(data[name])) for name in data.files}
    try:
        from safetensors.torch import load_file
    except ImportError:  # a declared dependency; absent only in an environment installed without it
        raise ConfigError(f"Reading {str(path)!r} needs the safetensors package: pip install safetensors.") from None
    return load_file(str(path), device="cpu")


def _named_tensors(value: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in nested mappings, by dotted name (``{"sae": {"W_dec": t}}`` -> ``{"sae.W_dec": t}``)."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    if isinstance(value, dict):
        found: dict[str, torch.Tensor] = {}
        for name, item in value.items():
            found.update(_named_tensors(item, f"{prefix}.{name}" if prefix else str(name)))
        return found
    return {}


def load_directions(path: str | os.PathLike, key: str | None = None) -> torch.Tensor:
    """Read direction vectors from a file: ``.pt``/``.pth`` (a tensor, or a dict of tensors), ``.npy``, ``.npz`` or
    ``.safetensors``; float32 on the CPU, as stored (rows are transposed by :class:`Direction`, not here).

    A file of several tensors (a dict, ``.npz``, ``.safetensors``) gives its only 2-D tensor, or the one named
    ``key`` (nested dicts by dotted name, e.g. ``"state_dict.decoder.weight"``). Every problem (a missing file, an
    unknown type, an unreadable file, no or several candidates, a rank other than 1 or 2, non-finite values) is one
    :class:`ConfigError` sentence.
    """
    file = Path(path)
    if file.suffix.lower() not in DIRECTION_FILE_TYPES:
        raise ConfigError(f"Direction file {str(path)!r} is not one of {', '.join(DIRECTION_FILE_TYPES)}; "
                          "save the vectors as a tensor in one of them.")
    if not file.is_file():
        raise ConfigError(f"Direction file {str(path)!r} does not exist; check the path (relative paths start "
                          f"at the working directory, {os.getcwd()}).")
    try:
        content = _read_direction_file(file)
    except ConfigError:
        raise
    except Exception as error:  # torch, numpy and safetensors each raise their own types for a damaged file
        raise ConfigError(f"Direction file {str(path)!r} cannot be read as {file.suffix} ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else 'no details'}).") from None
    if isinstance(content, torch.Tensor):
        if key is not None:
            raise ConfigError(f"Direction file {str(path)!r} holds one unnamed tensor; drop key ({key!r}).")
        tensor = content
    else:
        named = _named_tensors(content)
        shown = ", ".join(f"{n} {list(t.shape)}" for n, t in list(named.items())[:8]) + (", ..." if len(named) > 8 else "")
        if key is not None:
            if key not in named:
                raise ConfigError(f"Direction file {str(path)!r} has no tensor named {key!r}; it holds: "
                                  f"{shown or 'no tensors'}.")
            tensor = named[key]
        else:
            matrices = [n for n, t in named.items() if t.dim() == 2]
            if len(matrices) != 1:
                what = "no 2-D tensor" if not matrices else f"{len(matrices)} 2-D tensors"
                raise ConfigError(f"Direction file {str(path)!r} holds {what} ({shown or 'nothing'}); name the one "
                                  "to use with key (e.g. key: W_dec).")
            tensor = named[matrices[0]]
    if tensor.dim() not in (1, 2) or tensor.numel() == 0:
        where = f" {key!r}" if key is not None else ""
        raise ConfigError(f"Direction file {str(path)!r}{where} holds a tensor of shape {list(tensor.shape)}; "
                          "directions must be one vector (C,) or a matrix (U, C) with a row per unit.")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ConfigError(f"Direction file {str(path)!r} holds {tensor.dtype} values; directions must be real numbers.")
    tensor = tensor.detach().to(torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        raise ConfigError(f"Direction file {str(path)!r} holds NaN or infinite values; fix or drop those rows.")
    return tensor


class Direction(Objective):
    """Projection of each position's channel vector onto a direction, averaged over positions.

    ``directions``: one vector (C,) or a matrix (U, C) whose row ``u`` is unit ``u``'s direction, given inline or
    as the path of a file (:func:`load_directions`: ``.pt``, ``.npy``, ``.npz``, ``.safetensors``), so a sparse
    autoencoder's decoder or a linear probe's weight matrix renders whole (``units: 0-4095``). ``key``: which tensor
    of a file that holds several (``W_dec``, ``decoder.weight``). ``transpose``: the matrix is stored (C, U), one
    column per unit (a ``nn.Linear`` decoder's ``weight``). ``metric``: ``"dot"`` (projection on the
    unit-normalized direction) or ``"cosine"`` (cosine similarity).
    """

    def __init__(
        self, layer: str, directions: str | Path | Sequence[float] | Sequence[Sequence[float]] | torch.Tensor,
        metric: str = "dot", unit: int | None = None, key: str | None = None, transpose: bool = False,
    ) -> None:
        super().__init__()
        if metric not in ("dot", "cosine"):
            raise ConfigError(f"metric must be 'dot' or 'cosine', not {metric!r}.")
        self.layer, self.metric, self.unit, self.key, self.transpose = layer, metric, unit, key, bool(transpose)
        if isinstance(directions, (str, os.PathLike)):
            vectors = load_directions(directions, key)
        else:
            if key is not None:
                raise ConfigError("key names a tensor inside a directions file; give directions as a file path.")
            vectors = torch.as_tensor(directions, dtype=torch.float32)
        if vectors.dim() not in (1, 2):
            raise ConfigError(f"directions must be one vector (C,) or a matrix (U, C), not shape {list(vectors.shape)}.")
        if self.transpose:
            vectors = vectors.T if vectors.dim() == 2 else vectors
        if vectors.dim() == 1:
            vectors = vectors.unsqueeze(0)
            self.unit = 0 if unit is None else unit
        self.register_buffer("directions", F.normalize(vectors, dim=1))

    def num_units(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        return self.directions.shape[0]

    def score(self, batch: RenderBatch) -> torch.Tensor:
        acts = self.layout_of(batch.acts[self.layer]).channels_first(batch.acts[self.layer])  # (B, C, P)
        if acts.shape[1] != self.directions.shape[1]:
            hint = (" (the matrix looks stored one column per unit: set transpose=True)"
                    if self.directions.shape[0] == acts.shape[1] and not self.transpose else "")
            raise ConfigError(
                f"Direction vectors have {self.directions.shape[1]} channels but layer {self.layer!r} has "
                f"{acts.shape[1]}{hint}."
            )
        vec = self.directions.to(acts.dtype)[self.units_for(batch)].unsqueeze(-1)  # (B, C, 1)
        if self.metric == "cosine":
            return F.cosine_similarity(acts, vec, dim=1).mean(-1)
        return (acts * vec).sum(1).mean(-1)
