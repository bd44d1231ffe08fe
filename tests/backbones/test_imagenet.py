"""imagenet.py: the shipped class names are torchvision's."""

from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.imagenet import IMAGENET_CLASSES_FILE, imagenet_classes


def test_shipped_imagenet_classes_are_torchvision_s():
    from torchvision.models import ResNet50_Weights

    assert IMAGENET_CLASSES_FILE.is_file()
    assert imagenet_classes() == list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    assert load_backbone("lite0").class_names[285] == "Egyptian cat"
