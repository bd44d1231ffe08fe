"""Pretrained weights without network: the ``weights=None`` convention and where the local caches keep files.

Loaders look in torch hub's ``checkpoints`` folder (torchvision, timm) and the Hugging Face hub cache (timm,
open_clip, transformers); a file that is not there is named in the error, with the folder it belongs in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

__all__ = ["random_weights_requested", "torch_hub_checkpoints", "url_filename", "hf_cache_folder", "hf_cached_file"]


def random_weights_requested(weights: object) -> bool:
    """True for ``weights=None`` (or the strings ``"none"``, ``"null"``, ``""`` of a config): random weights."""
    return weights is None or str(weights).lower() in ("none", "null", "")


def torch_hub_checkpoints() -> Path:
    """torch hub's folder of downloaded weight files (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def url_filename(url: str) -> str:
    """The file name a download of ``url`` is cached under (no query string)."""
    return os.path.basename(url.split("?")[0])


def hf_cache_folder() -> str:
    """The local Hugging Face hub cache folder."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")


def hf_cached_file(repo_id: str, filenames: Sequence[str]) -> str | None:
    """The path of the first of ``filenames`` of ``repo_id`` in the local Hugging Face cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in filenames:
        found = try_to_load_from_cache(repo_id.strip("/"), filename)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None
