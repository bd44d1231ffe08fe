"""An animated GIF of each unit's optimization, written next to its PNG (``images/<layer>/<stem>.gif``).

Frame ``k`` shows the image after ``k * every`` optimizer steps (frame 0: the initial image), captured before
the step is taken; the last frame is the finished image. A group of ``S`` steps therefore gives
``ceil(S / every) + 1`` frames. Frames are kept as uint8 on the CPU (one copy every ``every`` steps) and,
when the images grew (:class:`~.resize.Resize`), scaled to the final size (or to ``size``, the longer side)
when written. PIL merges consecutive frames that are identical after its palette conversion (adding up their
durations); the record's ``gif_frames`` says how many frames the file holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from typing_extensions import override

from ..errors import ConfigError
from ..image.animation import gif_bytes
from ..image.ops import resize_images
from ..lightning.package import pl
from ..run.files import atomic_write_bytes
from ..run.records import FinishedUnits
from .base import ActMaxCallback

if TYPE_CHECKING:
    from ..core.schedule import UnitImage
    from ..lightning.module import ActMaxModule

__all__ = ["Gif", "gif_bytes"]


class Gif(ActMaxCallback):
    """Write a GIF per unit: a frame every ``every`` optimizer steps plus the finished image.

    ``size``: longer side of the frames in pixels (None: the finished image's size); ``duration``: ms per frame;
    ``loop``: 0 repeats forever. ``frames`` keeps the last group's frames in memory, {(unit, variant, target): [...]}.
    """

    def __init__(self, every: int = 1, size: int | None = None, duration: int = 100, loop: int = 0) -> None:
        super().__init__()
        if int(every) < 1:
            raise ConfigError(f"every must be at least 1, got {every}.")
        if size is not None and int(size) < 1:
            raise ConfigError(f"size must be at least 1, got {size}.")
        if duration < 1:
            raise ConfigError(f"duration must be at least 1 ms, got {duration}.")
        self.every, self.size, self.duration, self.loop = int(every), size, int(duration), int(loop)
        self.captured: list[list[torch.Tensor]] = []  # current group: frames per row, uint8 (3, h, w) on the CPU
        self.frames: dict[tuple[int, int, int], list[torch.Tensor]] = {}

    @override
    def on_units_started(self, trainer: pl.Trainer, pl_module: ActMaxModule, items: Sequence[UnitImage]) -> None:
        self.captured = [[] for _ in items]

    @staticmethod
    def _uint8(images: torch.Tensor) -> torch.Tensor:
        return (images.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()

    @override
    @torch.no_grad()
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: ActMaxModule, optimizer: Any) -> None:
        if pl_module.step_in_group % self.every:
            return
        frames = self._uint8(pl_module.renderer.param())
        if len(self.captured) != frames.shape[0]:
            self.captured = [[] for _ in range(frames.shape[0])]
        for row, frame in zip(self.captured, frames):
            row.append(frame)

    @override
    def on_units_finished(self, trainer: pl.Trainer, pl_module: ActMaxModule, finished: FinishedUnits) -> None:
        with torch.no_grad():
            last = self._uint8(pl_module.renderer.param())
        h, w = last.shape[-2:]
        if self.size is not None:
            ratio = self.size / max(h, w)
            h, w = max(1, round(h * ratio)), max(1, round(w * ratio))
        writer = pl_module.writer
        rows = self.captured if len(self.captured) == last.shape[0] else [[] for _ in range(last.shape[0])]
        for i in range(len(finished.units)):
            if not finished.valid[i]:
                continue
            frames = [_fit(f, (h, w)) for f in [*rows[i], last[i]]]
            self.frames[finished.key(i)] = frames
            if writer is None:
                continue
            data, count = gif_bytes(frames, self.duration, self.loop)
            path = writer.path_of(finished, i, ".gif")
            atomic_write_bytes(path, data)
            finished.files[i]["gif"] = writer.relative(path)
            finished.extras[i]["gif_frames"] = count
        self.captured = []

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"captured": [list(row) for row in self.captured]}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.captured = [list(row) for row in state_dict.get("captured", [])]


def _fit(frame: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A uint8 (3, h, w) frame scaled to ``size`` (uint8)."""
    if tuple(frame.shape[-2:]) == tuple(size):
        return frame
    scaled = resize_images(frame.float().unsqueeze(0) / 255.0, size, mode="bilinear")[0]
    return (scaled.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
