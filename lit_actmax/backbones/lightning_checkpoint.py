"""``"<path>.ckpt"``: the model of a LightningModule checkpoint, loaded by its own class.

``checkpoint_class="package.module.ClassName"`` names the class; its ``load_from_checkpoint`` builds the model on the
CPU. Plain Python: the class brings Lightning with it, this module never imports it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import BackboneError
from .backbone import Backbone

__all__ = ["load_lightning_checkpoint"]


def load_lightning_checkpoint(path: str, checkpoint_class: str | None) -> Backbone:
    """The model of the checkpoint file ``path``, loaded by ``checkpoint_class``, with ImageNet normalization."""
    if not Path(path).is_file():
        raise BackboneError(f"Checkpoint file {path!r} does not exist.")
    if not checkpoint_class:
        raise BackboneError(
            f"To load the Lightning checkpoint {path!r}, also give its LightningModule class, e.g. "
            "checkpoint_class='my_package.models.MyClassifier'."
        )
    module_name, _, class_name = checkpoint_class.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise BackboneError(f"Cannot import the checkpoint class {checkpoint_class!r}; give 'package.module.ClassName'.") from None
    load = getattr(cls, "load_from_checkpoint", None)
    if load is None:
        raise BackboneError(f"{checkpoint_class!r} is not a LightningModule (it has no load_from_checkpoint).")
    try:
        model = load(path, map_location="cpu")
    except Exception as error:  # what a foreign or damaged file raises varies: state-dict keys, pickles, zip
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise BackboneError(
            f"{path!r} is not a checkpoint that {checkpoint_class!r} can load ({type(error).__name__}: {first}); "
            "check the file and the class."
        ) from None
    return Backbone.from_module(model, path, users_own=False)  # lit_actmax built it: no state to give back
