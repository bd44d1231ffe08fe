"""ImageNet-1k data that backbones share: the normalization statistics and the 1000 class names."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_CLASSES_FILE", "imagenet_classes"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The 1000 ImageNet-1k class names in index order (torchvision's list, shipped so lite0 loads without torchvision).
IMAGENET_CLASSES_FILE = Path(__file__).parent.parent / "data" / "imagenet_classes.txt"


def imagenet_classes() -> list[str]:
    """The ImageNet-1k class names, index ``i`` the name of class ``i``."""
    return IMAGENET_CLASSES_FILE.read_text(encoding="utf-8").splitlines()
