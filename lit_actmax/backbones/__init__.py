"""Vision models as frozen backbones: spec strings -> model + preprocessing, layer probes and their layouts.

Plain torch; the optional libraries (timm, open_clip, transformers) load only when a spec names them. The door is
:func:`load_backbone` (:mod:`.specs`, the one table of spec kinds); the modules:

- :mod:`.backbone` (:class:`Backbone`, :class:`ModelState`, :func:`freeze`), :mod:`.preprocessing`
  (:class:`Normalize`, :class:`ScaleShift`), :mod:`.imagenet` (statistics, class names), :mod:`.input_size`
  (:func:`as_hw`, :func:`resize_to`, :func:`detect_fixed_input_size`): what every loader shares;
- one loader per spec kind: :mod:`.registry` (names; :mod:`.efficientnet_lite` the built-in ones),
  :mod:`.torchvision_models`, :mod:`.timm_models`, :mod:`.open_clip_models`, :mod:`.transformers_models`,
  :mod:`.lightning_checkpoint`, :mod:`.user_callable`; :mod:`.extras`, :mod:`.local_weights` and :mod:`.spelling`
  hold what several of them need;
- :mod:`.probe`, :mod:`.layouts`, :mod:`.redirect`: capturing and shaping what a layer computes.
"""

from ..errors import BackboneError
from .backbone import Backbone, ModelState, freeze
from .extras import LIBRARY_PREFIXES
from .imagenet import IMAGENET_CLASSES_FILE, IMAGENET_MEAN, IMAGENET_STD, imagenet_classes
from .input_size import detect_fixed_input_size, resize_to
from .preprocessing import Normalize, ScaleShift
from .probe import LayerProbe, list_layers
from .registry import register_backbone, registered_backbones
from .specs import PREFIX_LOADERS, load_backbone
from .transformers_models import HFImageModel

__all__ = [
    "Backbone",
    "BackboneError",
    "HFImageModel",
    "IMAGENET_CLASSES_FILE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LIBRARY_PREFIXES",
    "LayerProbe",
    "ModelState",
    "Normalize",
    "PREFIX_LOADERS",
    "ScaleShift",
    "detect_fixed_input_size",
    "freeze",
    "imagenet_classes",
    "list_layers",
    "load_backbone",
    "register_backbone",
    "registered_backbones",
    "resize_to",
]
