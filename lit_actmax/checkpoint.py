"""What an ``ActMaxModule`` checkpoint holds beyond Lightning's own state, and what it leaves out.

The frozen backbone is never saved (it is rebuilt from its spec, which is saved); the image parameters, the
optimizer state and the callbacks' states are. :class:`RunState` is the ``"actmax"`` entry: the backbone spec, the
run folder to keep writing into, the group being rendered, the image shape and the batch size. On load the
backbone's own weights are put back into the state dict, so Lightning's strict loading still checks every other
key, and the image parameters take the checkpoint's shape before Lightning copies them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
from torch import nn

__all__ = [
    "CHECKPOINT_KEY", "FROZEN_PREFIXES", "LEGACY_PREFIXES", "RunState", "drop_frozen", "restore_frozen",
    "rename_legacy_keys", "match_parameter_shapes",
]

#: The checkpoint entry holding :class:`RunState`.
CHECKPOINT_KEY = "actmax"
#: State-dict prefixes of the frozen backbone and its preprocessing (kept out of checkpoints).
FROZEN_PREFIXES = ("renderer.backbone.", "renderer.preprocess.")
#: State-dict prefixes of checkpoints written before the module held a ``Renderer`` -> today's prefixes.
LEGACY_PREFIXES = {"param.": "renderer.param.", "backbone.": "renderer.backbone.", "preprocess.": "renderer.preprocess."}


@dataclass
class RunState:
    """The run's position and shape, saved beside Lightning's state (``checkpoint["actmax"]``)."""

    backbone: str
    run_dir: str | None
    group_index: int
    image_size: list[int]
    image_count: int
    batch_size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> RunState | None:
        """The saved state, or None for a checkpoint without one."""
        meta = checkpoint.get(CHECKPOINT_KEY)
        if not meta:
            return None
        return cls(
            backbone=str(meta.get("backbone")), run_dir=meta.get("run_dir"), group_index=int(meta.get("group_index", -1)),
            image_size=list(meta.get("image_size", [])), image_count=int(meta.get("image_count", 0)),
            batch_size=int(meta.get("batch_size", 0)),
        )


def drop_frozen(state_dict: dict[str, torch.Tensor]) -> None:
    """Remove the frozen backbone's tensors from a state dict, in place."""
    for key in [k for k in state_dict if k.startswith(FROZEN_PREFIXES)]:
        del state_dict[key]


def restore_frozen(state_dict: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> None:
    """Put the frozen backbone's tensors of ``own`` (the live module's state) back into ``state_dict``, in place."""
    for key, value in own.items():
        if key.startswith(FROZEN_PREFIXES):
            state_dict[key] = value


def rename_legacy_keys(state_dict: dict[str, torch.Tensor]) -> int:
    """Rename the keys of a checkpoint written before the module held a ``Renderer`` (``param.*``) to today's
    (``renderer.param.*``), in place, so those checkpoints still resume; returns how many keys were renamed."""
    renamed = 0
    for key in list(state_dict):
        for old, new in LEGACY_PREFIXES.items():
            if key.startswith(old):
                state_dict[new + key[len(old):]] = state_dict.pop(key)
                renamed += 1
                break
    return renamed


def match_parameter_shapes(module: nn.Module, state_dict: Mapping[str, torch.Tensor], prefix: str) -> None:
    """Give ``module``'s parameters under ``prefix`` the shapes of ``state_dict`` (a group of another size or a
    resized image) so that loading copies them instead of failing."""
    parameters = dict(module.named_parameters())
    for key, value in state_dict.items():
        target = parameters.get(key)
        if key.startswith(prefix) and target is not None and target.shape != value.shape:
            target.data = torch.empty_like(value, device=target.device)
