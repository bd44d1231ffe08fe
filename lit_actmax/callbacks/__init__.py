"""Lightning callbacks of lit_actmax, one file per callback."""

from .transparency import Transparency

__all__ = ["Transparency"]
from .grad_norm import PerUnitGradNorm  # noqa: E402
from ..redirect import RedirectReLU  # noqa: E402

__all__ += ["PerUnitGradNorm", "RedirectReLU"]
from .activation_curves import ActivationCurves  # noqa: E402
from .logger_images import LoggerImages  # noqa: E402

__all__ += ["ActivationCurves", "LoggerImages"]
