"""Vision models as frozen backbones: spec strings -> model + preprocessing, layer probes and their layouts.

Plain torch; the optional libraries (timm, open_clip, transformers) load only when a spec names them.
"""
