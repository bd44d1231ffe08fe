"""local_weights.py: the weights=None convention and the local caches."""

from pathlib import Path

import pytest
import torch

from lit_actmax.backbones.local_weights import (
    hf_cache_folder,
    hf_cached_file,
    random_weights_requested,
    torch_hub_checkpoints,
    url_filename,
)


@pytest.mark.parametrize("weights, random", [(None, True), ("none", True), ("Null", True), ("", True),
                                             ("DEFAULT", False), ("IMAGENET1K_V1", False)])
def test_random_weights_requested(weights, random):
    assert random_weights_requested(weights) is random


def test_torch_hub_folder_and_file_names(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert torch_hub_checkpoints() == Path(tmp_path) / "checkpoints"
    assert url_filename("https://host/a/b/alexnet-owt.pth?download=1") == "alexnet-owt.pth"


def test_hugging_face_cache_lookups(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    assert hf_cache_folder() == str(tmp_path)
    assert hf_cached_file("org/not-cached", ["model.safetensors"]) is None
