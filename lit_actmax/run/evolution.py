"""A folder of units watched over a model's training: each unit's image at every render, as frames, a strip and an
animation, beside a regular run folder (records, ``index.json``, grids) that the gallery and the site read.

Layout (``<log dir>/feature_visualization/`` for the callback, what ``lit-actmax evolve`` continues)::

    settings.json                                  what every image was rendered with (another setting is refused)
    evolution.json                                 the renders: step, epoch, what triggered it, seconds; the frames
    frames/<layer>/unit_00003/step_00000120.png    one frame per unit and render
    images/<layer>/unit_00003.png                  the latest frame (+ unit_00003.json: its record, whose
                                                   ``evolution`` lists every frame with its step and activation)
    images/<layer>/unit_00003_strip.png            the frames in training order, captioned by step
    images/<layer>/unit_00003.gif                  the frames as an animation
    index.json, grids/<layer>.png                  as in every run folder (the latest images)

:class:`EvolutionWriter` adds one render at a time (a render of the same step again replaces it, so a resumed
training or a repeated ``evolve`` never duplicates a frame). Plain Python; one process writes.
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.live_renderer import LiveRenderer, Rendering
from ..errors import ConfigError
from ..image.animation import gif_bytes
from ..image.contact_sheet import contact_sheet
from ..image.io import read_image, save_png
from .checkpoint_state import describe_setting
from .continued import check_folder
from .files import atomic_write_bytes, read_json, safe_name, write_json
from .records import FinishedUnits, image_stem
from .storage import AnyPath, Location, location
from .summary import run_summary
from .writer import RunWriter

__all__ = ["EVOLUTION_FILE", "EVOLUTION_FORMAT", "STRIP_TILE", "EvolutionWriter", "evolution_settings", "frame_caption"]

#: The renders of a watched folder and each unit's frames.
EVOLUTION_FILE = "evolution.json"
#: The format of :data:`EVOLUTION_FILE`.
EVOLUTION_FORMAT = "lit_actmax.evolution/1"
#: Side of a frame in the strip, in pixels (frames are scaled to it, so the captions fit).
STRIP_TILE = 96


def evolution_settings(live: LiveRenderer) -> dict[str, Any]:
    """What decides the frames of a watched folder, as JSON values: the units, objective, model choice,
    preprocessing, method, size, steps, batch size, variants, seed and numerics (not the model's weights)."""
    request = live.request
    return {
        "units": describe_setting(request.units), "objective": describe_setting(request.objective),
        "objective_kind": request.objective_kind, "model": describe_setting(live.model_choice),
        "preprocess": describe_setting(live.preprocess.preprocess), "param": describe_setting(live.param),
        "transforms": describe_setting(live.transforms), "regularizers": describe_setting(live.regularizers),
        "optimizer": describe_setting(live.optimizer), "size": live.size, "steps": live.steps,
        "batch_size": live.schedule.batch_size, "variants": live.schedule.variants, "seed": live.seed,
        "numerics": describe_setting(live.numerics),
    }


def frame_caption(frame: dict[str, Any]) -> str:
    """How a frame is captioned: ``start`` before the first step, else ``step 120``."""
    return "start" if int(frame.get("step", 0)) == 0 else f"step {frame['step']}"


class EvolutionWriter:
    """Writes the renders of ``live`` (bound) into ``run_dir`` (see the module docstring).

    ``history`` is what :attr:`history` held before (a resumed callback's state); None: read from the folder's
    :data:`EVOLUTION_FILE`, if any. :class:`ConfigError` when the folder's images were made with other settings.
    """

    def __init__(self, run_dir: AnyPath, live: LiveRenderer, history: dict[str, Any] | None = None) -> None:
        if live.renderer is None:
            raise RuntimeError("EvolutionWriter needs a bound LiveRenderer (LiveRenderer.bind).")
        self.run_dir, self.live = location(run_dir, "dirpath"), live
        self.settings = evolution_settings(live)
        self.writer = RunWriter.of(self.run_dir, live.renderer, live.schedule.variants, live.steps)
        check_folder(self.writer, self.settings)
        path = self.run_dir / EVOLUTION_FILE
        if history is None and path.is_file():
            history = read_json(path)
            if history.get("format") != EVOLUTION_FORMAT:
                raise ConfigError(f"{path} is not a lit_actmax evolution file ({history.get('format')!r}); "
                                  "pick another folder.")
        self.history: dict[str, Any] = history or {"format": EVOLUTION_FORMAT, "renders": [], "frames": {}}

    @property
    def steps(self) -> list[int]:
        """The training steps rendered so far, in order."""
        return [int(r["step"]) for r in self.history["renders"]]

    def frame_path(self, layer: str, stem: str, step: int) -> Location:
        """``frames/<layer>/<stem>/step_00000120.png``."""
        return self.run_dir / "frames" / safe_name(layer) / stem / f"step_{int(step):08d}.png"

    def add(self, rendering: Rendering, step: int, epoch: int, trigger: str, source: str = "") -> None:
        """Write one render of every process (``rendering``: gathered rows) made at training ``step`` (``epoch``,
        ``trigger``: what asked for it, e.g. ``"epoch end"``; ``source``: a checkpoint's file name), then every
        touched unit's record, strip and animation, :data:`EVOLUTION_FILE` and the index."""
        step, epoch = int(step), int(epoch)
        variants = self.live.schedule.variants
        frames: dict[str, list[dict[str, Any]]] = self.history["frames"]
        for row, image, activation in zip(rendering.keys.tolist(), rendering.images, rendering.activations.tolist()):
            unit, variant, target = row
            layer = self.writer.targets[target][0]
            key = f"{layer}/{image_stem(unit, variant, variants)}"
            path = self.frame_path(layer, image_stem(unit, variant, variants), step)
            save_png(path, image)
            entry = {"step": step, "epoch": epoch, "image": self.writer.relative(path), "activation": float(activation),
                     "unit": unit, "variant": variant, "target": target}
            frames[key] = sorted([f for f in frames.get(key, []) if f["step"] != step] + [entry], key=lambda f: f["step"])
        render = {"step": step, "epoch": epoch, "trigger": trigger, "seconds": round(float(rendering.seconds), 4),
                  "images": int(rendering.keys.shape[0])}
        if source:
            render["source"] = source
        renders = [r for r in self.history["renders"] if int(r["step"]) != step] + [render]
        self.history["renders"] = sorted(renders, key=lambda r: int(r["step"]))
        self.write_units()
        write_json(self.run_dir / EVOLUTION_FILE, self.history)

    def write_units(self) -> None:
        """Every unit's latest frame as its image and record (with its ``evolution``), its strip and animation, then
        ``index.json`` and the grids."""
        frames: dict[str, list[dict[str, Any]]] = self.history["frames"]
        if not frames:
            return
        keys = sorted(frames, key=lambda k: (frames[k][-1]["target"], frames[k][-1]["unit"], frames[k][-1]["variant"]))
        latest = [frames[k][-1] for k in keys]
        images = torch.stack([read_image(self.run_dir / f["image"]) for f in latest])
        finished = FinishedUnits(units=[f["unit"] for f in latest], variants=[f["variant"] for f in latest],
                                 images=images, activations=torch.tensor([f["activation"] for f in latest]),
                                 valid=[True] * len(latest), targets=[f["target"] for f in latest])
        for i, key in enumerate(keys):
            history = frames[key]
            strip_path = self.writer.path_of(finished, i, "_strip.png")
            strip = contact_sheet([self.run_dir / f["image"] for f in history], [frame_caption(f) for f in history],
                                  tile=STRIP_TILE, columns=len(history))
            save_png(strip_path, strip)
            gif_path = self.writer.path_of(finished, i, ".gif")
            data, count = gif_bytes([read_image(self.run_dir / f["image"]) for f in history], duration=400)
            atomic_write_bytes(gif_path, data)
            finished.files[i].update(strip=self.writer.relative(strip_path), animation=self.writer.relative(gif_path))
            finished.extras[i].update(
                evolution=[{**{k: f[k] for k in ("step", "epoch", "image", "activation")}, "caption": frame_caption(f)}
                           for f in history],
                strip_size=[strip.height, strip.width], animation_frames=count)
        self.writer.write_units(finished)
        renderer = self.live.renderer
        summary = run_summary(self.live.name, renderer, self.live.schedule, {"feature_visualization": self.settings})
        wanted = {(self.writer.targets[f["target"]][0], f["unit"], f["variant"]) for f in latest}
        self.writer.write_index(summary, wanted, entries={"renders": self.history["renders"]})
