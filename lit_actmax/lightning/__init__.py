"""The Lightning side: the ``ActMaxModule`` shell, the unit-parallel strategy, checkpoint shards, metrics and
dataset examples. Every module of the package that imports Lightning or torchmetrics lives here, in
``lit_actmax.callbacks`` or in ``lit_actmax.cli``. Nothing is imported eagerly: importing a module of this folder
loads only what that module needs.
"""
