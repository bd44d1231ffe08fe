"""Lightning callbacks of lit_actmax, one file per callback.

- Between-epoch image transforms (the seed methods; they act on the current images of all units, in place, on
  the device, on a resumable every-k-epochs schedule): ``GaussianBlur``, ``BoxBlur``, ``BilateralFilter``,
  ``RandomAffineBetweenEpochs``, ``Resize``, ``L2Decay``, ``NormCrop``, ``ContributionCrop``, ``Clamp``,
  ``ResetOptimizerState``; their base ``ImageCallback`` and ``EpochSchedule``.
- Per-unit records: ``BestImage``, ``Gif``, ``Transparency``.
- Gradient handling: ``PerUnitGradNorm``, ``RedirectReLU``.
- Watching a model you train (in your own Trainer): ``FeatureVisualization``.
- Seeing results: ``LoggerImages``, ``ActivationCurves``, ``QualityMetrics``, ``WriteGallery``; progress in units:
  ``UnitProgressBar``.
"""

from .activation_curves import ActivationCurves
from .base import ActMaxCallback
from .best_image import BestImage
from .bilateral_filter import BilateralFilter
from .contribution_crop import ContributionCrop
from .feature_visualization import FeatureVisualization
from .gaussian_blur import BoxBlur, GaussianBlur
from .gif import Gif
from .grad_norm import PerUnitGradNorm
from .keep_images import KeepImages
from .l2_decay import L2Decay
from .largest_batch import LargestBatch
from .logger_images import LoggerImages
from .norm_crop import NormCrop
from .pinned_numerics import PinnedNumerics
from .quality_metrics import QualityMetrics
from .random_affine_between_epochs import RandomAffineBetweenEpochs
from .redirect_relu import RedirectReLU
from .resize import Resize
from .run_guard import RunGuard
from .schedule import Clamp, EpochSchedule, ImageCallback, ResetOptimizerState
from .transparency import Transparency
from .unit_progress import UnitProgressBar
from .write_gallery import WriteGallery

__all__ = [
    "ActMaxCallback", "ActivationCurves", "BestImage", "BilateralFilter", "BoxBlur", "Clamp", "ContributionCrop", "EpochSchedule",
    "FeatureVisualization", "GaussianBlur", "Gif", "ImageCallback", "KeepImages", "L2Decay", "LargestBatch", "LoggerImages",
    "NormCrop", "PerUnitGradNorm", "PinnedNumerics",
    "QualityMetrics", "RandomAffineBetweenEpochs", "RedirectReLU", "ResetOptimizerState", "Resize", "RunGuard", "Transparency",
    "UnitProgressBar", "WriteGallery",
]
