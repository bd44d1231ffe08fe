"""Estimate the natural-image magnitude spectrum and colour decorrelation matrix that MACO uses.

    # the file shipped in lit_actmax/data (the colour photographs bundled with scikit-image):
    python scripts/estimate_spectrum.py --skimage --out lit_actmax/data/spectrum_256.npz
    # from your own images (any folder, searched recursively for .png/.jpg/.jpeg/.bmp/.webp/.tif):
    python scripts/estimate_spectrum.py --folder /data/my_images --max-images 2000 --out my_spectrum.npz

Then use it: ``Maco(spectrum="my_spectrum.npz")`` or in YAML ``param: {class_path: lit_actmax.params.Maco,
init_args: {spectrum: my_spectrum.npz}}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from lit_actmax.params.spectrum import estimate_spectrum, magnitude_slope, save_spectrum

#: Natural colour photographs that ship inside scikit-image (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")
EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) uint8/float array -> (3, H, W) float RGB in [0, 1]."""
    x = np.asarray(array)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(x[..., :3])).permute(2, 0, 1)


def skimage_photos(names: Sequence[str] = SKIMAGE_PHOTOS) -> tuple[list[torch.Tensor], list[str]]:
    """Photographs of ``skimage.data`` as (3, H, W) RGB in [0, 1] (grey ones repeated; needs scikit-image, the dev
    extra); by default the colour ones."""
    try:
        import skimage.data as data
    except ImportError:
        raise SystemExit("--skimage needs scikit-image: pip install scikit-image (or use --folder).") from None
    images, labels = [], []
    for name in names:
        value = getattr(data, name)()
        image = value[0] if isinstance(value, tuple) else value  # stereo_motorcycle: (left, right, disparity)
        images.append(_to_tensor(image))
        labels.append(f"skimage.data.{name}")
    return images, labels


def folder_images(folder: Path, max_images: int, min_side: int, seed: int) -> tuple[list[torch.Tensor], list[str]]:
    """Up to ``max_images`` RGB images found under ``folder`` (a random subset, fixed by ``seed``, if more)."""
    from PIL import Image

    if not folder.is_dir():
        raise SystemExit(f"--folder {str(folder)!r} is not a directory.")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS)
    if not paths:
        raise SystemExit(f"No images ({', '.join(sorted(EXTENSIONS))}) under {str(folder)!r}.")
    if len(paths) > max_images:
        order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(seed))[:max_images]
        paths = [paths[int(i)] for i in sorted(order)]
    images, names = [], []
    for path in paths:
        with Image.open(path) as im:
            image = _to_tensor(np.asarray(im.convert("RGB")))
        if min(image.shape[1:]) < min_side:
            continue
        images.append(image)
        names.append(str(path.relative_to(folder)))
    if not images:
        raise SystemExit(f"No image under {str(folder)!r} has both sides >= {min_side} px.")
    return images, names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--skimage", action="store_true", help="use the colour photographs bundled with scikit-image")
    source.add_argument("--folder", type=Path, help="a folder of images (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz file")
    parser.add_argument("--size", type=int, default=256, help="spectrum resolution (default 256)")
    parser.add_argument("--crops", type=int, default=64, help="random crops per image (default 64)")
    parser.add_argument("--min-scale", type=float, default=0.5, help="smallest crop side, fraction of the image's shorter side")
    parser.add_argument("--window", choices=("hann", "none"), default="hann", help="window before the FFT (default hann)")
    parser.add_argument("--max-images", type=int, default=1000, help="with --folder: use at most this many images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--float32", action="store_true", help="store the magnitude as float32 (default float16)")
    args = parser.parse_args(argv)
    if not 0 < args.min_scale <= 1:
        parser.error("--min-scale must be in (0, 1].")
    if args.size < 16:
        parser.error("--size must be at least 16.")
    if args.skimage:
        images, names = skimage_photos()
    else:
        images, names = folder_images(args.folder, args.max_images, min_side=args.size // 2, seed=args.seed)
    spectrum = estimate_spectrum(images, size=args.size, crops=args.crops, scale=(args.min_scale, 1.0),
                                 window=args.window, seed=args.seed, sources=names)
    path = save_spectrum(spectrum, args.out, dtype=np.float32 if args.float32 else np.float16)
    slopes = magnitude_slope(spectrum.magnitude, args.size).tolist()
    print(f"{path}: {len(images)} images, magnitude {tuple(spectrum.magnitude.shape)}, "
          f"{path.stat().st_size / 1024:.0f} KiB; amplitude slope per decorrelated channel "
          f"{', '.join(f'{v:.2f}' for v in slopes)}")
    print("colour matrix (columns: principal colour directions x std):")
    print(np.array2string(spectrum.color.numpy(), precision=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
