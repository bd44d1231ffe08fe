"""Speed options: torch.compile keeps the early exit, channels_last and bf16-mixed render the same images."""

import pytest
import torch

from lit_actmax import ClassLogit
from lit_actmax.backbones import load_backbone
from lit_actmax.backbones.probe import LayerProbe
from lit_actmax.core.compile import compile_probe

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.mark.parametrize("layer, classifier_calls", [("features.2", 0), ("output", 1)])
def test_compiled_probe_is_one_graph_that_stops_at_the_layer(layer, classifier_calls):
    model = load_backbone(TINY).model
    calls = []
    model.classifier.register_forward_hook(lambda *_: calls.append(1))
    probe = LayerProbe(model, [layer])
    x = torch.randn(2, 3, 32, 32)
    expected = probe(x)[layer]
    calls.clear()
    torch._dynamo.reset()
    run = compile_probe(probe, backend="aot_eager", fullgraph=True)  # fullgraph: a graph break would raise
    got = run(x)[layer]
    assert torch.allclose(got, expected, atol=1e-6)
    assert len(calls) == classifier_calls  # the layers after the target never ran
    x.requires_grad_(True)
    run(x)[layer].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_module_compile_renders_the_eager_images(make_trainer, tiny_module):
    eager = tiny_module()
    make_trainer().fit(eager)
    torch._dynamo.reset()
    compiled = tiny_module(compile={"backend": "aot_eager"})
    make_trainer().fit(compiled)
    assert compiled.renderer.compiled and not eager.renderer.compiled
    assert torch.allclose(compiled.last_finished.images, eager.last_finished.images, atol=1e-5)


def test_channels_last_renders_the_same_images(make_trainer, tiny_module):
    plain = tiny_module()
    make_trainer().fit(plain)
    fast = tiny_module(channels_last=True)
    make_trainer().fit(fast)
    conv = fast.renderer.backbone.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    # other convolution kernels: float rounding differs, far below one PNG grey level
    assert torch.allclose(fast.last_finished.images, plain.last_finished.images, atol=1e-4)


def test_bf16_mixed_keeps_images_and_optimizer_state_in_float32(make_trainer, tiny_module):
    module = tiny_module(objective=ClassLogit(), epochs=2)
    before = None

    import pytorch_lightning as pl

    class Watch(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            nonlocal before
            if before is None:
                before = float(pl_module.step_activations.float().mean())

    trainer = make_trainer(precision="bf16-mixed", callbacks=[Watch()])
    trainer.fit(module)
    assert all(p.dtype == torch.float32 for p in module.renderer.param.parameters())
    state = trainer.optimizers[0].state
    assert all(v.dtype == torch.float32 for s in state.values() for v in s.values() if v.dim() > 0)
    assert module.last_finished.activations.mean() > before
