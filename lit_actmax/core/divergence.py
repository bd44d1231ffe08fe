"""Divergence: a non-finite image parameter, image, activation, score or gradient stops the run with one sentence that
names the units, the step in their group and the likely cause (never a NaN in a PNG, record or checkpoint).

Plain torch; :class:`~lit_actmax.core.renderer.Renderer` calls these on every step, with one host sync when all is
finite. Tensors hold one row per image (dim 0) unless they cannot (then they count against every image).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch

from ..errors import DivergenceError

__all__ = [
    "all_finite", "check_after_each_step", "check_rows", "check_step", "divergence_error",
    "finite_rows", "largest_finite", "nonfinite_kind",
]

LOWER_LR = "lower the optimizer's learning rate"


def all_finite(tensors: Iterable[torch.Tensor | None]) -> bool:
    """Whether every value of ``tensors`` is finite, in one host sync: a sum is finite unless a value is not (or the
    sum overflows, so ``False`` only asks for :func:`finite_rows`, the exact check). ``None`` counts as finite."""
    sums = [t.detach().float().sum() for t in tensors if t is not None and t.numel()]
    return not sums or bool(torch.isfinite(torch.stack(sums).sum()))


def finite_rows(tensors: Iterable[torch.Tensor | None], n_images: int,
                device: torch.device | str | None = None) -> torch.Tensor:
    """(n_images,) bool: whether each image's rows (dim 0) of every tensor are all finite; a tensor that is not one
    row per image counts against every image; ``None`` (no gradient) counts as finite."""
    finite = torch.ones(n_images, dtype=torch.bool, device=device)
    for tensor in tensors:
        if tensor is None or tensor.numel() == 0:
            continue
        tensor = tensor.detach()
        if tensor.dim() > 0 and tensor.shape[0] == n_images:
            rows = torch.isfinite(tensor).reshape(n_images, -1).all(1)
        else:
            rows = torch.isfinite(tensor).all().expand(n_images)
        finite = finite & rows.to(finite.device)
    return finite


def rows_of(tensors: Iterable[torch.Tensor | None], bad: torch.Tensor) -> list[torch.Tensor]:
    """The rows ``bad`` (N,) bool of each tensor with one row per image (other tensors whole)."""
    return [t.detach()[bad.to(t.device)] if t.dim() > 0 and t.shape[0] == bad.shape[0] else t.detach()
            for t in tensors if t is not None and t.numel()]


def nonfinite_kind(tensors: Iterable[torch.Tensor | None], bad: torch.Tensor) -> str:
    """``nan`` if any value of the images ``bad`` is NaN, else ``inf``."""
    return "nan" if any(bool(torch.isnan(t).any()) for t in rows_of(tensors, bad)) else "inf"


def largest_finite(tensors: Iterable[torch.Tensor | None], bad: torch.Tensor) -> float:
    """The largest finite magnitude of the images ``bad`` in ``tensors`` (0 if none)."""
    values = [t[torch.isfinite(t)].abs().max() for t in rows_of(tensors, bad) if bool(torch.isfinite(t).any())]
    return float(torch.stack(values).max()) if values else 0.0


def divergence_error(unit_names: Sequence[int | str], bad: torch.Tensor, step: int, what: str, advice: str) -> DivergenceError:
    """The error for the images ``bad`` (N,) bool at ``step`` (image ``i`` is named ``unit_names[i]``): ``"Units [3, 5]
    diverged at step 12 of their group: <what>; <advice>."`` (``{their}`` in ``what`` becomes "its" or "their")."""
    rows = bad.nonzero().flatten().tolist()
    units = sorted({unit_names[i] if i < len(unit_names) else i for i in rows})
    listed = ", ".join(map(str, units[:12])) + (f", ... ({len(units)} units)" if len(units) > 12 else "")
    who, their = (f"Unit {units[0]}", "its") if len(units) == 1 else (f"Units [{listed}]", "their")
    return DivergenceError(f"{who} diverged at step {step} of {their} group: {what.format(their=their)}; {advice}.")


def check_rows(tensors: list[torch.Tensor | None], n_images: int, step: int, what: str, advice: str,
               unit_names: Sequence[int | str]) -> None:
    """Raise :class:`DivergenceError` for the images whose rows of ``tensors`` (each (N, ...), row ``i`` image ``i``)
    are not finite; one host sync when all are. ``what`` may use ``{their}`` and ``{kind}`` (nan, inf)."""
    if all_finite(tensors):
        return
    device = next((t.device for t in tensors if t is not None), None)
    ok = finite_rows(tensors, n_images, device)
    if not bool(ok.all()):
        raise divergence_error(unit_names, ~ok, step, what.replace("{kind}", nonfinite_kind(tensors, ~ok)), advice)


def check_step(params: list[torch.Tensor], images: torch.Tensor, score: torch.Tensor, activations: torch.Tensor,
               step: int, unit_names: Sequence[int | str]) -> None:
    """Raise :class:`DivergenceError` naming the images whose parameters, image (N, 3, H, W), activation (N,) or score
    (N,) at ``step`` are not finite, with the likely cause: the first of them that is not finite is the cause."""
    n, device = images.shape[0], images.device
    if all_finite([*params, images, activations, score]):
        return
    params_ok, images_ok = finite_rows(params, n, device), finite_rows([images], n, device)
    activations_ok, score_ok = finite_rows([activations], n, device), finite_rows([score], n, device)
    if bool((params_ok & images_ok & activations_ok & score_ok).all()):
        return  # only a sum overflowed

    def error(bad: torch.Tensor, what: str, advice: str) -> DivergenceError:
        return divergence_error(unit_names, bad, step, what, advice)

    if not bool(params_ok.all()):
        raise error(~params_ok, f"{{their}} image parameters are {nonfinite_kind(params, ~params_ok)}", LOWER_LR)
    if not bool(images_ok.all()):
        raise error(~images_ok, f"{{their}} image is {nonfinite_kind([images], ~images_ok)} (the image parameters "
                    f"reach {largest_finite(params, ~images_ok):.1e})", LOWER_LR)
    blown = largest_finite([images], ~(activations_ok & score_ok)) > 10  # an unbounded image far outside [0, 1]
    if not bool(activations_ok.all()):
        bad = ~activations_ok
        raise error(bad, f"{{their}} activation is {nonfinite_kind([activations], bad)} although {{their}} image is "
                    "finite", f"{LOWER_LR} (the image values reach {largest_finite([images], bad):.1e})" if blown
                    else "the objective produced it; check the objective's terms (a division by zero?)")
    bad = ~score_ok
    raise error(bad, f"{{their}} score is {nonfinite_kind([score], bad)} although {{their}} activation is finite",
                f"{LOWER_LR} or the regularizer weights" if blown
                else "a regularizer produced it; lower the regularizer weights or check the regularizers")


def check_after_each_step(optimizer: torch.optim.Optimizer, check: Callable[[], None]) -> None:
    """Have ``optimizer`` call ``check`` after every step it takes (e.g. ``Renderer.check_parameters``), registered once
    per optimizer: a diverged image stops the run before a checkpoint or a file holds it."""
    if not getattr(optimizer, "_actmax_checks_parameters", False):
        optimizer.register_step_post_hook(lambda *_: check())
        optimizer._actmax_checks_parameters = True  # type: ignore[attr-defined]
