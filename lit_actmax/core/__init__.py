"""The plain-torch core: how a group of units is rendered, independent of Lightning.

``renderer`` (one optimizer step of a group of images), ``schedule`` (units -> ranks -> groups -> epochs -> steps),
``units`` and ``layer_selection`` (what a run renders), ``seeding`` and ``numerics`` (what makes an image
reproducible), ``optim``, ``compile``, ``batch_size`` and ``evaluate``. Nothing here imports Lightning or
torchmetrics (``tests/test_package.py`` checks it by folder).
"""
