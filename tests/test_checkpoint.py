"""checkpoint.py: what a checkpoint keeps (image parameters, RunState) and leaves out (the frozen backbone)."""

import pytest
import torch

from lit_actmax import ActMaxModule, Channel, ConfigError
from lit_actmax import checkpoint as ckpt

TINY = "lit_actmax.testing:tiny_backbone"


def module(**overrides) -> ActMaxModule:
    settings = dict(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=2, epochs=1,
                    steps_per_epoch=2, save_outputs=False)
    return ActMaxModule(**{**settings, **overrides})


def test_run_state_round_trips_and_is_none_without_an_entry():
    state = ckpt.RunState("lite0", "/runs/x/version_0", 2, [64, 64], 4, 4)
    assert ckpt.RunState.from_checkpoint({ckpt.CHECKPOINT_KEY: state.to_dict()}) == state
    assert ckpt.RunState.from_checkpoint({"state_dict": {}}) is None


def test_the_backbone_is_dropped_on_save_and_put_back_on_load():
    live = module()
    state = live.state_dict()
    ckpt.drop_frozen(state)
    assert state and all(key.startswith("renderer.param.") for key in state)
    ckpt.restore_frozen(state, live.state_dict())
    assert set(state) == set(live.state_dict())


def test_old_keys_are_renamed_to_the_renderer_s():
    old = {"param.spectrum": torch.zeros(1), "backbone.0.weight": torch.zeros(1), "renderer.param.x": torch.ones(1)}
    assert ckpt.rename_legacy_keys(old) == 2
    assert set(old) == {"renderer.param.spectrum", "renderer.backbone.0.weight", "renderer.param.x"}


def test_parameters_take_the_checkpoint_s_shapes():
    live = module()
    key, param = next((k, p) for k, p in live.named_parameters() if k.startswith("renderer.param."))
    bigger = torch.randn(param.shape[0] + 1, *param.shape[1:])
    ckpt.match_parameter_shapes(live, {key: bigger, "renderer.backbone.0.weight": torch.zeros(1)}, "renderer.param.")
    assert dict(live.named_parameters())[key].shape == bigger.shape
    assert dict(live.named_parameters())[key] is param  # the same Parameter object: the optimizer keeps it


def test_an_old_checkpoint_resumes_to_the_same_images(tmp_path, make_trainer):
    """A checkpoint with the keys of earlier versions (``param.*``) resumes to the images of a new one."""
    first = module(epochs=2)
    trainer = make_trainer(max_steps=2)
    trainer.fit(first)
    path = tmp_path / "new.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["state_dict"] = {k.replace("renderer.param.", "param.", 1): v for k, v in checkpoint["state_dict"].items()}
    torch.save(checkpoint, tmp_path / "old.ckpt")
    finals = []
    for name in ("new.ckpt", "old.ckpt"):
        resumed = module(epochs=2)
        make_trainer().fit(resumed, ckpt_path=str(tmp_path / name))
        finals.append(resumed.last_finished.images)
    assert torch.equal(finals[0], finals[1])


def test_a_checkpoint_of_another_backbone_is_refused(tmp_path, make_trainer):
    first = module()
    trainer = make_trainer(max_steps=1)
    trainer.fit(first)
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    checkpoint = torch.load(tmp_path / "a.ckpt", weights_only=False)
    checkpoint[ckpt.CHECKPOINT_KEY]["backbone"] = "lite0"
    torch.save(checkpoint, tmp_path / "b.ckpt")
    with pytest.raises(ConfigError, match="made with backbone 'lite0'"):
        make_trainer().fit(module(), ckpt_path=str(tmp_path / "b.ckpt"))


def test_the_user_s_backbone_object_is_not_in_the_checkpoint(tmp_path, make_trainer):
    trainer = make_trainer(max_steps=1)
    trainer.fit(module())
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    keys = torch.load(tmp_path / "a.ckpt", weights_only=False)["state_dict"]
    assert keys and not any(k.startswith(("renderer.backbone.", "renderer.preprocess.")) for k in keys)
