"""Measure the finished images with the metrics of :mod:`lit_actmax.lightning.metrics`, per unit and for the whole run.

Per group of finished units (every rank, its own units), the callback updates

- ``BestActivation`` with each image's final activation;
- ``VariantDiversity`` (when the module renders several variants per unit) with ``1 - SSIM`` between a unit's
  variants and the cosine distance of their channel means at the objective's layer;
- for class visualizations (objective on the ``output`` layer): ``Transferability`` under the source model itself
  and under an independent ``judge`` backbone (any spec, e.g. ``lite2`` for a ``lite0`` run).

Per-image numbers go into the unit's record (``judge_rank``, ``judge_top1``, ``judge_class``, ``source_rank``,
``diversity_ssim``, ...). After every finished group, every rank computes the synced metrics (a collective; all
ranks finish their groups in step); global rank 0 logs them, and ``index_entries()`` puts the last ones into
``index.json`` under ``"metrics"``.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import override

from ..backbones.backbone import Backbone
from ..backbones.specs import load_backbone
from ..errors import ConfigError
from ..lightning.metrics import (
    BestActivation,
    Transferability,
    VariantDiversity,
    judge_logits,
    load_metric_state,
    metric_state,
    pairwise_feature_distance,
    pairwise_ssim_distance,
    target_ranks,
    unit_pairs,
)
from ..lightning.package import pl
from ..objectives import channels_first
from ..run.records import FinishedUnits
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..lightning.module import ActMaxModule

__all__ = ["QualityMetrics"]


def _number(value: torch.Tensor | float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


class QualityMetrics(ActMaxCallback):
    """Best activation, variant diversity and transferability of the rendered units (synced across ranks).

    Args:
        judge: an independent classifier judging class visualizations: a backbone spec (``"lite2"``,
            ``"torchvision:resnet50"``, ...) or a :class:`~lit_actmax.backbones.Backbone`; None to skip.
        judge_weights: torchvision weights name for a ``torchvision:`` judge.
        judge_views: 0 judges each image as it is; n averages over n random views (stricter).
        diversity: measure the diversity among a unit's variants (when there are several).
    """

    def __init__(self, judge: str | Backbone | None = None, judge_weights: str | None = "DEFAULT",
                 judge_views: int = 0, diversity: bool = True) -> None:
        super().__init__()
        if judge_views < 0:
            raise ConfigError(f"judge_views must be 0 or positive, got {judge_views}.")
        self.judge_spec = judge
        self.judge_weights, self.judge_views, self.diversity = judge_weights, int(judge_views), bool(diversity)
        self.judge: Backbone | None = None
        self.metrics: dict[str, Any] = {}
        self.results: dict[str, Any] | None = None
        self._pending_state: dict[str, Any] | None = None

    # -- setup ------------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: pl.Trainer, pl_module: ActMaxModule, stage: str) -> None:
        if stage != "fit" or self.metrics:
            return
        if pl_module.renderer.across_layers:
            raise ConfigError("QualityMetrics measures a run of one objective; with units across layers each record "
                              "already holds its activation (and BestImage's best): render one layer per run to judge it.")
        is_class = tuple(pl_module.renderer.objective.layers[:1]) == ("output",)
        if self.judge_spec is not None and not is_class:
            raise ConfigError(
                f"QualityMetrics(judge=...) judges class visualizations, but the objective is "
                f"{pl_module.renderer.objective.describe()}; use an objective on the 'output' layer or remove judge."
            )
        num_units = max(pl_module.schedule.units) + 1
        # No cached results: a rank whose last group holds only padding has no update since its last compute, and
        # would return the cache instead of joining the other ranks' sync (a deadlock).
        fresh = {"compute_with_cache": False}
        self.metrics = {"best": BestActivation(num_units, **fresh)}
        if self.diversity and pl_module.schedule.variants > 1:
            self.metrics["diversity"] = VariantDiversity(num_units, **fresh)
        if is_class:
            self.metrics["source"] = Transferability(**fresh)
        if self.judge_spec is not None:
            judge = self.judge_spec
            self.judge = judge if isinstance(judge, Backbone) else load_backbone(judge, weights=self.judge_weights)
            self.judge.model.to(pl_module.device)
            self.judge.preprocess.to(pl_module.device)
            self.metrics["judge"] = Transferability(**fresh)
        for metric in self.metrics.values():
            metric.to(pl_module.device)
        if self._pending_state:
            self.load_state_dict(self._pending_state)

    # -- per finished group -----------------------------------------------------------------------------
    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        if not self.metrics:
            return
        keep = [i for i, ok in enumerate(finished.valid) if ok]
        units = torch.tensor([finished.units[i] for i in keep], dtype=torch.long, device=pl_module.device)
        images = finished.images[keep]
        if keep:
            self.metrics["best"].update(units, finished.activations[keep])
            self._measure(pl_module, finished, keep, units, images)
        # Collective: every rank finishes its groups in step (same number of groups and epochs). Computing after
        # every group keeps the numbers current for the logger and for a run stopped early (e.g. max_steps).
        self.results = self.compute()
        if trainer.is_global_zero:
            flat = self.log_values()
            for logger in trainer.loggers:
                logger.log_metrics(flat, step=trainer.global_step)

    @torch.no_grad()
    def _measure(self, pl_module: ActMaxModule, finished: Any, keep: list[int], units: torch.Tensor,
                 images: torch.Tensor) -> None:
        needs_forward = "source" in self.metrics or "diversity" in self.metrics
        acts = pl_module.renderer.render(finished.images, None).acts if needs_forward else {}
        extras = [finished.extras[i] for i in keep]
        if "diversity" in self.metrics:
            layer = pl_module.renderer.layers[0]
            raw = acts[layer][keep]
            layout = pl_module.renderer.layer_layouts.get(layer)
            features = channels_first(raw, layout).flatten(2).mean(-1)  # (N, C) channel means, in the layer's layout
            self.metrics["diversity"].update(units, images, features)
            pairs = unit_pairs(units)
            ssim, feature = pairwise_ssim_distance(images, pairs), pairwise_feature_distance(features, pairs)
            for n, i in enumerate(keep):
                mine = [p for p, (a, b) in enumerate(pairs) if n in (a, b)]
                if mine:
                    finished.extras[i]["diversity_ssim"] = _number(ssim[mine].mean())
                    finished.extras[i]["diversity_feature"] = _number(feature[mine].mean())
        if "source" in self.metrics:
            logits = acts["output"][keep].float().flatten(2).mean(-1) if acts["output"].dim() > 2 else acts["output"][keep]
            self.metrics["source"].update(logits, units)
            for extra, rank in zip(extras, target_ranks(logits.float(), units).tolist()):
                extra["source_rank"] = int(rank)
        if self.judge is not None:
            logits = judge_logits(self.judge, images, views=self.judge_views)
            self.metrics["judge"].update(logits, units)
            ranks = target_ranks(logits, units).tolist()
            probs = logits.float().softmax(-1)
            names = self.judge.class_names
            for n, extra in enumerate(extras):
                top = int(probs[n].argmax())
                extra.update({
                    "judge_rank": int(ranks[n]), "judge_top1": ranks[n] < 1, "judge_top5": ranks[n] < 5,
                    "judge_prob": _number(probs[n, units[n]]), "judge_class": top,
                    **({"judge_label": names[top]} if names and top < len(names) else {}),
                })

    # -- results ----------------------------------------------------------------------------------------
    def compute(self) -> dict[str, Any]:
        """Synced results (call on every rank): per-unit best activation, diversity and transfer rates."""
        results: dict[str, Any] = {}
        with warnings.catch_warnings():  # a rank without units of its own computes before any update: expected
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
            return self._compute(results)

    def _compute(self, results: dict[str, Any]) -> dict[str, Any]:
        best = self.metrics["best"].compute().cpu()
        seen = (~torch.isnan(best)).nonzero().flatten().tolist()
        results["best_activation"] = {
            "mean": _number(best[seen].mean()) if seen else None,
            "per_unit": {str(u): _number(best[u]) for u in seen},
        }
        if "diversity" in self.metrics:
            values = {k: v.cpu() for k, v in self.metrics["diversity"].compute().items()}
            results["diversity"] = {
                f"{name}_distance": _number(v[~torch.isnan(v)].mean()) if (~torch.isnan(v)).any() else None
                for name, v in values.items()
            }
            results["diversity"]["units"] = int((~torch.isnan(values["ssim"])).sum())
        for name in ("source", "judge"):
            if name in self.metrics:
                rates = self.metrics[name].compute()
                results[f"{name}_transfer"] = {k: (int(v) if k == "count" else _number(v)) for k, v in rates.items()}
        if self.judge is not None:
            results["judge_transfer"].update({"judge": self.judge.spec, "views": self.judge_views})
        return results

    def log_values(self) -> dict[str, float]:
        """The run-level numbers as flat ``metrics/...`` scalars for a logger."""
        if not self.results:
            return {}
        flat: dict[str, float] = {}
        if self.results["best_activation"]["mean"] is not None:
            flat["metrics/best_activation_mean"] = self.results["best_activation"]["mean"]
        for key in ("diversity", "source_transfer", "judge_transfer"):
            for name, value in self.results.get(key, {}).items():
                if isinstance(value, float) and name not in ("views",):
                    flat[f"metrics/{key}_{name}"] = value
        return flat

    @override
    def index_entries(self) -> dict[str, Any]:
        """What ``ActMaxModule.write_index`` adds to ``index.json``."""
        return {"metrics": self.results} if self.results else {}

    # -- resume -----------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {name: metric_state(metric) for name, metric in self.metrics.items()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self.metrics:  # restored before setup: apply once the metrics exist
            self._pending_state = state_dict
            return
        for name, state in state_dict.items():
            if name in self.metrics:
                load_metric_state(self.metrics[name], state)
        self._pending_state = None
