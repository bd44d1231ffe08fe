"""How good are the visualizations? ``torchmetrics`` Metrics that sync across ranks (states reduce on ``compute``).

- :class:`BestActivation`: per unit, the highest activation any of its images reached (``max`` across ranks).
- :class:`VariantDiversity`: per unit, how different its variants are: mean ``1 - SSIM`` over pairs of images and
  mean cosine distance of their features (e.g. channel means at the target layer). Sums across ranks.
- :class:`Transferability`: an independent *judge* model classifies class visualizations; top-1 / top-5 hit
  rates. A visualization that only fools the model it was optimized on is a weak one.

Per-unit states are vectors indexed by unit id (``num_units`` = largest unit id + 1). Helpers compute the same
numbers directly (:func:`pairwise_ssim_distance`, :func:`pairwise_feature_distance`, :func:`target_ranks`) so a
caller can also store per-image values in the records.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.functional.image import structural_similarity_index_measure

from ..backbones.backbone import Backbone
from ..core.evaluate import random_views
from ..errors import ConfigError

__all__ = [
    "BestActivation",
    "VariantDiversity",
    "Transferability",
    "pairwise_ssim_distance",
    "pairwise_feature_distance",
    "unit_pairs",
    "judge_logits",
    "target_ranks",
    "metric_state",
    "load_metric_state",
]


def _check_units(units: torch.Tensor, num_units: int) -> torch.Tensor:
    units = torch.as_tensor(units, dtype=torch.long).flatten()
    if units.numel() and (int(units.min()) < 0 or int(units.max()) >= num_units):
        raise ConfigError(f"Unit ids must lie in 0-{num_units - 1} for this metric (num_units={num_units}), "
                         f"got {int(units.min())}-{int(units.max())}; build it with a larger num_units.")
    return units


class BestActivation(Metric):
    """Per unit, the highest activation seen. ``update(units (N,), activations (N,))``; ``compute() -> (U,)``
    with NaN for units never seen."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_units < 1:
            raise ConfigError(f"num_units must be positive, got {num_units}.")
        self.num_units = int(num_units)
        self.add_state("best", torch.full((self.num_units,), -math.inf), dist_reduce_fx="max")

    def update(self, units: torch.Tensor, activations: torch.Tensor) -> None:
        units = _check_units(units, self.num_units).to(self.best.device)
        values = torch.as_tensor(activations, dtype=self.best.dtype, device=self.best.device).flatten()
        self.best.scatter_reduce_(0, units, values, reduce="amax")

    def compute(self) -> torch.Tensor:
        return torch.where(torch.isinf(self.best) & (self.best < 0), torch.nan, self.best)


def unit_pairs(units: torch.Tensor) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of images that belong to the same unit."""
    units = units.flatten().tolist()
    return [(i, j) for i, j in combinations(range(len(units)), 2) if units[i] == units[j]]


def pairwise_ssim_distance(images: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """``1 - SSIM`` of each image pair; images (N, 3, H, W) in [0, 1] -> (P,)."""
    if not pairs:
        return torch.zeros(0, device=images.device)
    first = images[[i for i, _ in pairs]].float()
    second = images[[j for _, j in pairs]].float()
    side = min(images.shape[-2:])
    options: dict[str, Any] = {"gaussian_kernel": True, "sigma": 1.5}
    if side < 11:  # the Gaussian window (11 px) does not fit: a uniform window of the largest odd size that does
        options = {"gaussian_kernel": False, "kernel_size": side if side % 2 else side - 1}
    ssim = structural_similarity_index_measure(first, second, data_range=1.0, reduction="none", **options)
    return 1.0 - ssim


def pairwise_feature_distance(features: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Cosine distance ``1 - cos`` of each pair of feature vectors; features (N, D) -> (P,)."""
    if not pairs:
        return torch.zeros(0, device=features.device)
    features = features.float().flatten(1)
    return 1.0 - F.cosine_similarity(features[[i for i, _ in pairs]], features[[j for _, j in pairs]], dim=1)


class VariantDiversity(Metric):
    """Per unit, the mean pairwise diversity of its variants.

    ``update(units (N,), images (N, 3, H, W), features (N, D) or None)``: pairs are images of the same unit within
    one update (a unit's variants are finished together). ``compute()`` returns ``{"ssim": (U,), "feature": (U,)}``
    with NaN for units without pairs (or without features).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_units = int(num_units)
        for name in ("ssim_sum", "ssim_pairs", "feature_sum", "feature_pairs"):
            self.add_state(name, torch.zeros(self.num_units, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, units: torch.Tensor, images: torch.Tensor, features: torch.Tensor | None = None) -> None:
        units = _check_units(units, self.num_units)
        pairs = unit_pairs(units)
        if not pairs:
            return
        owner = units[[i for i, _ in pairs]].to(self.ssim_sum.device)
        ones = torch.ones(len(pairs), dtype=torch.float64, device=owner.device)
        self.ssim_sum.index_add_(0, owner, pairwise_ssim_distance(images, pairs).to(owner.device, torch.float64))
        self.ssim_pairs.index_add_(0, owner, ones)
        if features is not None:
            distance = pairwise_feature_distance(features, pairs).to(owner.device, torch.float64)
            self.feature_sum.index_add_(0, owner, distance)
            self.feature_pairs.index_add_(0, owner, ones)

    def compute(self) -> dict[str, torch.Tensor]:
        def mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
            return torch.where(count > 0, total / count.clamp(min=1), torch.nan).float()

        return {"ssim": mean(self.ssim_sum, self.ssim_pairs), "feature": mean(self.feature_sum, self.feature_pairs)}


def target_ranks(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N, K) logits and (N,) target classes -> (N,) rank of the target (0 = top-1; ties count against it)."""
    targets = torch.as_tensor(targets, dtype=torch.long, device=logits.device).view(-1, 1)
    return (logits > logits.gather(1, targets)).sum(1)


class Transferability(Metric):
    """Top-1 / top-5 hit rates of target classes under a classifier's logits.

    ``update(logits (N, K), targets (N,))``; ``compute() -> {"top1", "top5", "count"}`` (rates in [0, 1]).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in ("top1", "top5", "count"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if logits.dim() != 2:
            raise ConfigError(f"Transferability needs (N, K) logits, got shape {tuple(logits.shape)}.")
        ranks = target_ranks(logits, targets).to(self.count.device)
        self.top1 += (ranks < 1).sum()
        self.top5 += (ranks < 5).sum()
        self.count += ranks.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        count = self.count.clamp(min=1)
        return {"top1": (self.top1 / count).float(), "top5": (self.top5 / count).float(), "count": self.count.long()}


@torch.no_grad()
def judge_logits(judge: Backbone, images: torch.Tensor, views: int = 0, seed: int = 0, chunk: int = 32) -> torch.Tensor:
    """Classify images (N, 3, H, W) in [0, 1] with ``judge`` at its own input size -> (N, K) logits.

    ``views=0`` judges each image as it is; ``views=n`` averages the log-probabilities of ``n`` random views
    (shift, zoom, rotation; :func:`lit_actmax.core.evaluate.random_views`), a stricter test of robustness.
    """
    device = next(judge.model.parameters()).device
    size = judge.input_size
    batch = images.detach().float().clamp(0, 1)
    if views > 0:
        batch = random_views(batch.cpu(), n=views, seed=seed, out_size=size).flatten(0, 1)
    elif tuple(batch.shape[-2:]) != (size, size):
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    logits = torch.cat([judge.model(judge.preprocess(batch[i:i + chunk].to(device))).float()
                        for i in range(0, batch.shape[0], chunk)])
    if views > 0:
        logits = logits.log_softmax(-1).view(images.shape[0], views, -1).mean(1)
    return logits.to(images.device)


def metric_state(metric: Metric) -> dict[str, torch.Tensor]:
    """The metric's accumulated states on the CPU (for a callback's ``state_dict``)."""
    return {name: getattr(metric, name).detach().cpu().clone() for name in metric._defaults}


def load_metric_state(metric: Metric, state: dict[str, torch.Tensor]) -> None:
    """Restore states saved by :func:`metric_state` (onto the metric's device)."""
    for name, value in state.items():
        current = getattr(metric, name)
        setattr(metric, name, value.to(current.device, current.dtype))
    metric._computed = None
    metric._update_count = max(metric._update_count, 1)  # restored states count as updated (no warning on compute)
