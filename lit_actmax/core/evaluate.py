"""Judge rendered images under random views: does the model still see the unit when the image moves?

``random_views`` makes ``n`` jittered, rescaled, slightly rotated copies of each image; ``robust_class_scores``
reports, per image, the mean target logit over those views and how often the target is the top-1 class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..backbones.backbone import Backbone
from ..backbones.probe import LayerProbe
from ..image.ops import affine_matrices, warp
from ..objectives import Objective, RenderBatch

__all__ = ["random_views", "RobustScores", "robust_class_scores", "robust_objective_scores"]


def random_views(
    images: torch.Tensor, n: int = 16, seed: int = 0, max_shift: float = 0.1,
    scales: tuple[float, float] = (0.8, 1.2), degrees: float = 10.0, out_size: int | None = None,
    border: str = "constant",
) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, n, 3, S, S): random shift (fraction of the side), zoom and rotation per view.

    Where a view shows what lies outside the image, ``border`` decides what it sees: ``"constant"`` a grey 0.5 frame
    (the image on a grey page), ``"symmetric"`` the mirror image about the edge (:func:`~lit_actmax.image.ops.warp`)."""
    b = images.shape[0]
    generator = torch.Generator().manual_seed(seed)
    scale = torch.empty(b * n).uniform_(*scales, generator=generator)
    angle = torch.empty(b * n).uniform_(-degrees, degrees, generator=generator)
    offset = torch.empty(b * n, 2).uniform_(-max_shift * 2, max_shift * 2, generator=generator)  # normalized units
    repeated = images.repeat_interleave(n, dim=0)
    # the picture moves against the view
    views = warp(repeated, affine_matrices(offset / -2, angle, scale), border=border, fill=0.5)
    if out_size is not None and views.shape[-1] != out_size:
        views = F.interpolate(views, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=True)
    return views.view(b, n, *views.shape[1:])


@dataclass
class RobustScores:
    """Per image: mean target score over views, fraction of views where the target class is top-1 / top-5."""

    mean_score: torch.Tensor
    top1: torch.Tensor
    top5: torch.Tensor


@torch.no_grad()
def robust_class_scores(
    backbone: Backbone, images: torch.Tensor, classes: torch.Tensor | list[int], n: int = 16, seed: int = 0,
    out_size: int | None = None, chunk: int = 64, border: str = "constant",
) -> RobustScores:
    """Classify ``n`` random views of each image (``border`` as :func:`random_views`); ``classes[b]`` is image
    ``b``'s target class."""
    classes = torch.as_tensor(classes, dtype=torch.long)
    views = random_views(images.float().cpu(), n=n, seed=seed, out_size=out_size, border=border)
    flat = views.flatten(0, 1)
    device = next(backbone.model.parameters()).device
    logits = torch.cat([
        backbone.model(backbone.preprocess(flat[i:i + chunk].to(device))).float().cpu()
        for i in range(0, flat.shape[0], chunk)
    ]).view(images.shape[0], n, -1)
    target = classes.view(-1, 1).expand(-1, n)
    score = logits.gather(2, target.unsqueeze(-1)).squeeze(-1)
    top5 = logits.topk(5, dim=-1).indices
    return RobustScores(
        mean_score=score.mean(1),
        top1=(top5[..., 0] == target).float().mean(1),
        top5=(top5 == target.unsqueeze(-1)).any(-1).float().mean(1),
    )


@torch.no_grad()
def robust_objective_scores(
    backbone: Backbone, objective: Objective, images: torch.Tensor, units: torch.Tensor | list[int],
    n: int = 16, seed: int = 0, border: str = "constant",
) -> torch.Tensor:
    """Mean of ``objective.activation`` over ``n`` random views of each image (``border`` as :func:`random_views`):
    (B,)."""
    units = torch.as_tensor(units, dtype=torch.long)
    views = random_views(images.float().cpu(), n=n, seed=seed, border=border)
    probe = LayerProbe(backbone.model, list(objective.layers))
    scores = []
    for i in range(n):
        acts = probe(backbone.preprocess(views[:, i]))
        scores.append(objective.activation(RenderBatch(acts=acts, units=units, image=views[:, i])))
    return torch.stack(scores, 1).mean(1)
