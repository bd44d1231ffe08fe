"""run/checkpoint_state.py: what a checkpoint keeps (image parameters, RunState with the run's fingerprint) and leaves out (the
frozen backbone); a resume with other settings is refused naming them."""

import functools
import json
import re
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, ConfigError, TotalVariation
from lit_actmax.augment import Compose, Jitter, MultiCrop, Noise, natural_transforms
from lit_actmax.callbacks import GaussianBlur, KeepImages, PerUnitGradNorm, Resize
from lit_actmax.lightning.module_checkpoint import module_fingerprint
from lit_actmax.objectives.per_layer import PerLayer
from lit_actmax.params import Pixel
from lit_actmax.run import checkpoint_state as ckpt

TINY = "lit_actmax.testing:tiny_backbone"


def module(**overrides) -> ActMaxModule:
    settings = dict(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=2, epochs=1,
                    steps_per_epoch=2, save_outputs=False)
    return ActMaxModule(**{**settings, **overrides})


def test_run_state_round_trips_and_is_none_without_an_entry():
    state = ckpt.RunState("lite0", "/runs/x/version_0", 2, [64, 64], 4, 4, fingerprint={"units": [0, 1]})
    assert ckpt.RunState.from_checkpoint({ckpt.CHECKPOINT_KEY: state.to_dict()}) == state
    assert ckpt.RunState.from_checkpoint({"state_dict": {}}) is None
    old = {k: v for k, v in state.to_dict().items() if k != "fingerprint"}  # written before fingerprints existed
    assert ckpt.RunState.from_checkpoint({ckpt.CHECKPOINT_KEY: old}).fingerprint is None


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
    """A checkpoint of earlier versions (``param.*`` keys, no fingerprint) resumes to the images of a new one, with
    a warning that its settings cannot be verified."""
    first = module(epochs=2)
    trainer = make_trainer(max_steps=2)
    trainer.fit(first)
    path = tmp_path / "new.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["state_dict"] = {k.replace("renderer.param.", "param.", 1): v for k, v in checkpoint["state_dict"].items()}
    del checkpoint[ckpt.CHECKPOINT_KEY]["fingerprint"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    finals = []
    for name in ("new.ckpt", "old.ckpt"):
        resumed = module(epochs=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make_trainer().fit(resumed, ckpt_path=str(tmp_path / name))
        unverified = [w for w in caught if "no settings fingerprint" in str(w.message)]
        assert len(unverified) == (name == "old.ckpt")
        finals.append(resumed.last_finished.images)
    assert torch.equal(finals[0], finals[1])


@pytest.fixture
def saved(tmp_path, make_trainer):
    """A checkpoint after 1 step of ``module()`` (units 0-3, 32 px, Channel(features.2)) and its dict."""
    trainer = make_trainer(max_steps=1)
    trainer.fit(module())
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    return path, torch.load(path, weights_only=False)


def test_a_checkpoint_of_another_backbone_is_refused(tmp_path, make_trainer, saved):
    path, checkpoint = saved
    checkpoint[ckpt.CHECKPOINT_KEY]["backbone"] = "lite0"
    checkpoint[ckpt.CHECKPOINT_KEY]["fingerprint"]["backbone"] = "lite0"
    torch.save(checkpoint, tmp_path / "b.ckpt")
    with pytest.raises(ConfigError, match=f"made with other settings: backbone 'lite0' \\(now '{TINY}'\\);"):
        make_trainer().fit(module(), ckpt_path=str(tmp_path / "b.ckpt"))
    del checkpoint[ckpt.CHECKPOINT_KEY]["fingerprint"]  # an old checkpoint: the backbone is still checked
    torch.save(checkpoint, tmp_path / "c.ckpt")
    with pytest.raises(ConfigError, match="backbone 'lite0'"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_trainer().fit(module(), ckpt_path=str(tmp_path / "c.ckpt"))


class CountSteps(pl.Callback):
    def __init__(self):
        self.steps = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.steps += 1


@pytest.mark.parametrize("changed, named", [
    (dict(units="0,1,12,13"), r"units \[0, 1, 2, 3\] \(now \[0, 1, 12, 13\]\)"),
    (dict(size=48), r"size 32 \(now 48\)"),
    (dict(objective=Channel("features.0")),
     r"objective Channel\(layer='features.2', unit=None\) \(now Channel\(layer='features.0', unit=None\)\)"),
    (dict(units="0-2", size=[32, 40], seed=3, regularizers=[TotalVariation(0.1)]),
     r"regularizers \[\] \(now \[TotalVariation\(weight=0.1, beta=1.0\)\]\), units \[0, 1, 2, 3\] \(now \[0, 1, 2\]\), "
     r"size 32 \(now 32x40\), seed 0 \(now 3\); resume with the checkpoint's config or start a new run\.$"),
    (dict(transforms=Compose([Jitter(3)]), optimizer=functools.partial(torch.optim.SGD, lr=0.1)),
     r"transforms Compose\(transforms=\[Pad\(pad=12, .{100,250}\.\.\. \(now Compose\(transforms=\[Jitter\(d=3\)\]\)\), "
     r"optimizer lit_actmax.core.optim.default_optimizer "
     r"\(now torch.optim.sgd.SGD\(lr=0.1\)\)"),
])
def test_a_resume_with_other_settings_is_refused_before_any_step(tmp_path, make_trainer, saved, changed, named):
    path, _ = saved
    counter = CountSteps()
    resumed = module(**changed, save_outputs=True, out_dir=str(tmp_path / "runs"))
    with pytest.raises(ConfigError, match=r"^This checkpoint was made with other settings: .*" + named):
        make_trainer(callbacks=[counter]).fit(resumed, ckpt_path=str(path))
    assert counter.steps == 0
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("version_*"))  # no folder left


def test_a_changed_image_callback_is_refused(tmp_path, make_trainer):
    trainer = make_trainer(max_steps=1, callbacks=[GaussianBlur(sigma=0.8)])
    trainer.fit(module())
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    with pytest.raises(ConfigError, match=r"callbacks \[GaussianBlur\(sigma=0.8, .* \(now \[GaussianBlur\(sigma=0.5, "):
        make_trainer(callbacks=[GaussianBlur(sigma=0.5)]).fit(module(), ckpt_path=str(tmp_path / "a.ckpt"))
    with pytest.raises(ConfigError, match=r"callbacks \[GaussianBlur\(.*\)\] \(now \[\]\)"):
        make_trainer().fit(module(), ckpt_path=str(tmp_path / "a.ckpt"))


def test_the_fingerprint_leaves_out_what_changes_while_running(make_trainer):
    """What a fit changes (image size and count, callback counters, crop boxes) is not in the fingerprint: the one
    saved at the end equals the one of a fresh module."""
    transforms = Compose([Jitter(2), MultiCrop(2, start=(0.8, 1.0), end=(0.6, 0.9)), Noise(0.02, 0.02)])
    callbacks = [Resize(factor=1.25, every=1), GaussianBlur(sigma=0.5), PerUnitGradNorm()]
    live = module(epochs=2, param=Pixel(mean=[0.1, 0.2, 0.3]), transforms=transforms, regularizers=[TotalVariation(0.1)])
    trainer = make_trainer(callbacks=callbacks)
    trainer.fit(live)
    fresh = module(epochs=2, param=Pixel(mean=[0.1, 0.2, 0.3]), transforms=Compose([Jitter(2), MultiCrop(2, start=(0.8, 1.0),
                   end=(0.6, 0.9)), Noise(0.02, 0.02)]), regularizers=[TotalVariation(0.1)])
    fresh_trainer = make_trainer(callbacks=[Resize(factor=1.25, every=1), GaussianBlur(sigma=0.5), PerUnitGradNorm()])
    fresh._trainer = fresh_trainer
    assert module_fingerprint(live) == module_fingerprint(fresh)
    print_ = module_fingerprint(live)
    assert print_["param"] == "Pixel(activation='sigmoid', decorrelate=False, sd=0.01, mean=[0.1, 0.2, 0.3])"
    assert [c.split("(")[0] for c in print_["callbacks"]] == ["Resize", "GaussianBlur", "PerUnitGradNorm"]
    assert print_["units"] == [0, 1, 2, 3] and print_["size"] == [32, 32] and print_["world_size"] == 1
    assert json.loads(json.dumps(print_)) == print_  # plain JSON


def test_long_differences_are_shown_where_they_differ():
    units = list(range(100))
    long_a, long_b = "P(" + "x" * 200 + "a)", "P(" + "x" * 200 + "b)"
    shown = ckpt.describe_differences([("units", units, units[:50] + units[60:]), ("param", long_a, long_b),
                                       ("weights", "DEFAULT", None)])
    assert shown == (f"units 0-99 (100 units) (now 0-49,60-99 (90 units)), param ...{'x' * 24}a) (now ...{'x' * 24}b)), "
                     "weights 'DEFAULT' (now None)")


def test_a_file_that_is_no_run_checkpoint_gets_a_sentence_saying_what_it_is_not(tmp_path, saved):
    path, checkpoint = saved
    ckpt.check_checkpoint_file(path)  # a run's checkpoint passes
    ckpt.check_checkpoint_file("last")  # names Lightning resolves itself are left to it
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    torch.save({"state_dict": {"layer.weight": torch.zeros(2)}, "loops": {}}, tmp_path / "classifier.ckpt")
    torch.save([1, 2], tmp_path / "list.ckpt")
    data = path.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2] + data[-200:])
    cases = {"missing.ckpt": "is not a file", "junk.ckpt": "is not a checkpoint (not a file that torch.save wrote)",
             "classifier.ckpt": "is a Lightning checkpoint of another model", "list.ckpt": "is not a Lightning checkpoint",
             "cut.ckpt": "is a damaged checkpoint"}
    for name, says in cases.items():
        with pytest.raises(ConfigError, match=f"^ckpt_path '.*{name}' {re.escape(says)}"):
            ckpt.check_checkpoint_file(tmp_path / name)


LEGACY = Path(__file__).resolve().parents[1] / "data" / "checkpoint_before_the_move.ckpt"


def test_a_checkpoint_from_before_the_move_resumes(make_trainer):
    """``tests/data/checkpoint_before_the_move.ckpt`` was written by lit_actmax before its split into subpackages
    (``tests/data/make_checkpoint_before_the_move.py``): its fingerprint names ``lit_actmax.optim.default_optimizer``.
    It resumes, and the run ends with the images of an uninterrupted run of today's code, up to the last bits: its
    first steps mixed the colour channels with a matmul, today's code element-wise (issue 27), which moves the
    images by 1.8e-7 at most here (bit for bit before that change). Its channel run took the default transforms of
    then, ``natural_transforms()``; today's default for an inner layer is another (issue 28), so the resume names
    them, as a user resuming an old run does (the refusal's sentence says so: below)."""
    saved = torch.load(LEGACY, map_location="cpu", weights_only=True)
    assert saved["actmax"]["fingerprint"]["optimizer"] == "lit_actmax.optim.default_optimizer"
    assert ckpt.current_settings(saved["actmax"]["fingerprint"])["optimizer"] == "lit_actmax.core.optim.default_optimizer"
    assert saved["global_step"] == 3 and saved["actmax"]["group_index"] == 0  # stopped inside the first group
    settings = dict(backbone=TINY, units="0-5", size=32, batch_size=4, steps_per_epoch=2, epochs=2, seed=3,
                    save_outputs=False)
    with pytest.raises(ConfigError, match=r"^This checkpoint was made with other settings: transforms .*RandomCrop.* "
                       r"\(now .*Jitter\(d=4\)\]\)\); resume with the checkpoint's config or start a new run\.$"):
        make_trainer(callbacks=[GaussianBlur(sigma=0.5, every=1)]).fit(
            ActMaxModule(objective=Channel("features.2") - 0.01 * TotalVariation(), **settings), ckpt_path=LEGACY)
    settings["transforms"] = natural_transforms()

    class CountSteps(pl.Callback):
        steps = 0

        def on_train_batch_end(self, *args: object) -> None:
            self.steps += 1

    def run(ckpt_path: Path | None) -> dict[int, torch.Tensor]:
        kept, counted = KeepImages(), CountSteps()
        live = ActMaxModule(objective=Channel("features.2") - 0.01 * TotalVariation(), **settings)
        make_trainer(callbacks=[GaussianBlur(sigma=0.5, every=1), kept, counted]).fit(live, ckpt_path=ckpt_path)
        assert counted.steps == (8 if ckpt_path is None else 5)  # 2 groups x 4 steps; the resume takes the last 5
        return kept.unit_images

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = run(LEGACY)  # a fingerprint that did not match would refuse; a missing one would warn
    assert not [w for w in caught if "fingerprint" in str(w.message)]
    uninterrupted = run(None)
    assert sorted(resumed) == sorted(uninterrupted) == list(range(6))
    for unit in uninterrupted:  # 1.8e-7 at most: the checkpoint's 3 steps mixed colours with a BLAS matmul then
        torch.testing.assert_close(resumed[unit], uninterrupted[unit], rtol=0, atol=1e-6)


def test_a_resume_with_other_settings_than_the_old_checkpoint_s_is_refused(make_trainer):
    live = ActMaxModule(objective=Channel("features.2") - 0.02 * TotalVariation(), backbone=TINY, units="0-5", size=32,
                        batch_size=4, steps_per_epoch=2, epochs=2, seed=3, save_outputs=False)
    with pytest.raises(ConfigError, match=r"^This checkpoint was made with other settings: objective .*-0\.01\*Total"):
        make_trainer(callbacks=[GaussianBlur(sigma=0.5, every=1)]).fit(live, ckpt_path=LEGACY)


def test_old_module_paths_in_settings_read_as_today_s():
    old = {"optimizer": "lit_actmax.optim.default_optimizer", "param": "Fourier(decay_power=1.5)",
           "checkpoint_class": "lit_actmax.testing_lightning.TinyClassifier", "backbone": "lit_actmax.testing:tiny_backbone",
           "callbacks": ["lit_actmax.optim.GradientAscent(lr=0.1)"]}
    assert ckpt.current_settings(old) == {
        "optimizer": "lit_actmax.core.optim.default_optimizer", "param": "Fourier(decay_power=1.5)",
        "checkpoint_class": "lit_actmax.lightning.testing.TinyClassifier", "backbone": "lit_actmax.testing:tiny_backbone",
        "callbacks": ["lit_actmax.core.optim.GradientAscent(lr=0.1)"]}
    assert ckpt.fingerprint_differences(old, ckpt.current_settings(old)) == []


def test_objectives_describe_themselves_in_the_fingerprint():
    """A ``Sum`` and a one-objective ``PerLayer`` read as they did when the fingerprint named classes by hand."""
    objective = Channel("features.2") - 0.01 * TotalVariation()
    assert ckpt.describe_setting(objective) == (
        "Sum(1.0*Channel(layer='features.2', unit=None), -0.01*TotalVariation(weight=1.0, beta=1.0))")
    assert ckpt.describe_setting(PerLayer.of(objective)) == ckpt.describe_setting(objective)
    across = PerLayer([Channel("features.2"), ClassLogit()])
    assert ckpt.describe_setting(across) == (
        "PerLayer(targets=[Channel(layer='features.2', unit=None), ClassLogit(layer='output', unit=None, normalize='logit')])")
