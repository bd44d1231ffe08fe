"""A run's explanation scores on disk: every unit that has dataset examples, scored by
:mod:`lit_actmax.core.explanation_score` (its picture, and its held-out dataset examples as the reference), written
beside its layer's examples::

    <run_dir>/examples/<layer>/explanation_scores.json    format SCORES_FORMAT: the embedding, the layer's means,
                                                          per unit {"picture", "examples", "pairs"}

A layer needs examples with top and bottom lists (``lit-actmax atlas --images`` finds both): the strong queries are
top examples, the weak ones the least activating images. A layer's file is rewritten only when what it was computed
from changed (``inputs``: a digest of the embedding's description, the examples' lists and every picture's bytes),
so a continued atlas scores only new or re-rendered layers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.explanation_score import Embedding, explanation_score
from ..errors import ConfigError
from ..image.io import load_image, read_image
from .files import layer_folder, read_json, write_json
from .records import iter_records
from .storage import AnyPath, Location, location

__all__ = ["SCORES_FORMAT", "SCORES_FILE", "LayerScores", "add_explanation_scores", "read_explanation_scores",
           "scores_path", "describe_embedding"]

#: The format of ``explanation_scores.json``; a reader checks it before trusting the fields.
SCORES_FORMAT = "lit_actmax.explanation_scores/1"
#: The file name, in ``examples/<layer>/``.
SCORES_FILE = "explanation_scores.json"


def scores_path(run_dir: AnyPath, layer: str) -> Location:
    """``<run_dir>/examples/<layer folder>/explanation_scores.json`` (``run_dir`` local or an fsspec URL)."""
    return location(run_dir, "run_dir") / "examples" / layer_folder(layer) / SCORES_FILE


def describe_embedding(embedding: Embedding) -> str:
    """What an embedding is, for the file and its digest: its ``describe()``, else its qualified name."""
    describe = getattr(embedding, "describe", None)
    if callable(describe):
        return str(describe())
    return f"{getattr(embedding, '__module__', '?')}.{getattr(embedding, '__qualname__', type(embedding).__name__)}"


@dataclass(frozen=True)
class LayerScores:
    """A layer's means over its ``units`` scored units: ``picture`` and ``examples`` (the reference); ``computed``:
    False when its file was current and was only read."""

    layer: str
    picture: float
    examples: float
    units: int
    computed: bool


@dataclass
class _Plan:
    """What one layer's scores are computed from: per unit its pictures (files in the run) and its top and bottom
    dataset examples (files in the image folder, read at the examples' size)."""

    layer: str
    size: int
    pictures: dict[int, list[Location]]
    top: dict[int, list[Path]]
    bottom: dict[int, list[Path]]

    def digest(self, embedding: str) -> str:
        state = {"embedding": embedding, "size": self.size, "units": {
            str(u): {"top": [str(p) for p in self.top[u]], "bottom": [str(p) for p in self.bottom[u]],
                     "pictures": [hashlib.sha256(p.read_bytes()).hexdigest() for p in self.pictures[u]]}
            for u in sorted(self.pictures)}}
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _plan(layer: str, examples: dict[str, Any], pictures: dict[int, list[Location]]) -> _Plan | None:
    """The layer's plan over its units with pictures and examples, or None when there are none or the examples
    have no bottom lists (no weak queries). A bottom image that is also a top one (a folder of fewer than 2 k
    images) is not a weak query; a unit left without one is not scored. A missing example image is one sentence
    naming it, as is a unit with fewer than 2 top examples."""
    folder, per_unit = Path(str(examples.get("folder"))), examples.get("units") or {}
    top: dict[int, list[Path]] = {}
    bottom: dict[int, list[Path]] = {}
    for unit in [u for u in pictures if str(u) in per_unit]:
        entry = per_unit[str(unit)]
        if "bottom" not in entry:
            return None
        strong = [folder / e["source"] for e in entry.get("top", [])]
        weak = [path for path in (folder / e["source"] for e in entry["bottom"]) if path not in strong]
        if len(strong) < 2:
            raise ConfigError(f"Unit {unit} of layer {layer!r} has {len(strong)} top dataset example(s); an "
                              "explanation score needs at least 2: give more images and --k 2 or more, or --no-score.")
        for path in strong + weak:
            if not path.is_file():
                raise ConfigError(f"Dataset example {str(path)!r} of layer {layer!r} is missing; give --images the "
                                  f"folder the examples came from ({str(folder)!r}) or find the examples again.")
        if weak:
            top[unit], bottom[unit] = strong, weak
    if not top:
        return None
    return _Plan(layer, int(examples.get("size") or 224), {u: pictures[u] for u in top}, top, bottom)


def _pictures_by_layer(run_dir: Location) -> dict[str, dict[int, list[Location]]]:
    """{layer: {unit: its variants' image files that exist}} from the run's records."""
    found: dict[str, dict[int, list[Location]]] = {}
    for record in iter_records(run_dir):
        path = run_dir / str(record.get("image", ""))
        if record.get("image") and path.is_file():
            found.setdefault(str(record["layer"]), {}).setdefault(int(record["unit"]), []).append(path)
    return found


def _embed_files(paths: list[Location], size: int | None, embedding: Embedding) -> dict[Location, torch.Tensor]:
    """{file: (D,) embedding}; ``size``: read at that square size (the examples' view), else at its own size."""
    unique = list(dict.fromkeys(paths))
    by_shape: dict[tuple[int, ...], list[tuple[Location, torch.Tensor]]] = {}
    for path in unique:
        image = load_image(path, size)[0] if size is not None else read_image(path)
        by_shape.setdefault(tuple(image.shape), []).append((path, image))
    out = {}
    for items in by_shape.values():
        features = embedding(torch.stack([image for _, image in items]))
        out.update({path: features[i] for i, (path, _) in enumerate(items)})
    return out


def _score_layer(plan: _Plan, embedding: Embedding, description: str, digest: str) -> dict[str, Any]:
    """Every unit's scores of one layer, as written to its file."""
    examples = _embed_files([p for u in plan.top for p in plan.top[u] + plan.bottom[u]], plan.size, embedding)
    pictures = _embed_files([p for paths in plan.pictures.values() for p in paths], None, embedding)
    units = {}
    for unit in sorted(plan.pictures):
        score = explanation_score(torch.stack([pictures[p] for p in plan.pictures[unit]]),
                                  torch.stack([examples[p] for p in plan.top[unit]]),
                                  torch.stack([examples[p] for p in plan.bottom[unit]]))
        units[str(unit)] = {"picture": round(score.picture, 6), "examples": round(score.examples, 6),
                            "pairs": score.pairs}
    count = len(units)
    return {"format": SCORES_FORMAT, "layer": plan.layer, "embedding": description, "inputs": digest,
            "picture": round(sum(u["picture"] for u in units.values()) / count, 6),
            "examples": round(sum(u["examples"] for u in units.values()) / count, 6),
            "units": units}


def _current(path: Location, digest: str) -> dict[str, Any] | None:
    try:
        saved = read_json(path)
    except (OSError, ValueError):
        return None
    return saved if saved.get("format") == SCORES_FORMAT and saved.get("inputs") == digest else None


def add_explanation_scores(run_dir: AnyPath, embedding: Embedding) -> list[LayerScores]:
    """Score every unit of every layer of ``run_dir`` that has dataset examples with bottom lists and write each
    layer's ``explanation_scores.json`` (unless current); returns the layers' means, in the order of their folders.

    Every layer is checked (its example images exist, k >= 2) before any file is written.
    """
    run_dir = location(run_dir, "run_dir")
    pictures = _pictures_by_layer(run_dir)
    plans = []
    for path in sorted(run_dir.glob("examples/*/examples.json")):
        try:
            examples = read_json(path)
        except (OSError, ValueError):
            continue
        layer = str(examples.get("layer"))
        if layer in pictures and path.parent.name == layer_folder(layer):
            plan = _plan(layer, examples, pictures[layer])
            if plan is not None:
                plans.append(plan)
    description = describe_embedding(embedding)
    results = []
    for plan in plans:
        digest = plan.digest(description)
        target = scores_path(run_dir, plan.layer)
        saved = _current(target, digest)
        computed = saved is None
        if saved is None:
            saved = _score_layer(plan, embedding, description, digest)
            write_json(target, saved)
        results.append(LayerScores(plan.layer, float(saved["picture"]), float(saved["examples"]),
                                   len(saved["units"]), computed))
    return results


def read_explanation_scores(run_dir: AnyPath) -> dict[str, dict[str, Any]]:
    """{layer: its ``explanation_scores.json``} of every layer that has one (unreadable ones, or of another format,
    are left out): per unit ``units[str(unit)]["picture"]``, the layer's means ``picture`` and ``examples``."""
    found = {}
    for path in sorted(location(run_dir, "run_dir").glob(f"examples/*/{SCORES_FILE}")):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == SCORES_FORMAT:
            found[str(data.get("layer", path.parent.name))] = data
    return found
