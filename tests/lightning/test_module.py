import json

import pytest
import torch

from lit_actmax import ActMaxModule, Channel, ClassLogit, ConfigError, Pixel, TotalVariation
from lit_actmax.augment import Compose
from lit_actmax.backbones.probe import ProbeError
from lit_actmax.core.schedule import UnitImage

TINY = "lit_actmax.testing:tiny_backbone"


def tiny(tmp_path, **overrides):
    options = dict(backbone=TINY, objective=Channel("features.2"), units="0-3", size=32, batch_size=4,
                   steps_per_epoch=4, epochs=2, out_dir=str(tmp_path / "runs"), run_name="t")
    options.update(overrides)
    return ActMaxModule(**options)


def initial_activation(module):
    """Activation of each unit's initial image, before any step."""
    module.renderer.start([UnitImage(u, 0, True) for u in module.schedule.units])
    return module.renderer.final_images()[1]


def test_fit_raises_the_activation_of_every_unit(tmp_path, make_trainer):
    before = initial_activation(tiny(tmp_path, save_outputs=False))
    module = tiny(tmp_path, save_outputs=False, epochs=4)
    make_trainer().fit(module)
    after = module.last_finished.activations
    assert (after > before + 0.02).all(), (before, after)


def test_outputs_png_grid_and_index(tmp_path, make_trainer):
    module = tiny(tmp_path, units=[3, 1, 7], objective=ClassLogit())
    make_trainer().fit(module)
    run = module.run_dir
    assert run == tmp_path / "runs" / "t" / "version_0"
    for unit in (1, 3, 7):
        assert (run / "images" / "output" / f"unit_{unit:05d}.png").is_file()
    assert (run / "grids" / "output.png").is_file()
    index = json.loads((run / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == [1, 3, 7]
    record = index["units"][0]
    for key in ("unit", "layer", "objective", "activation", "seed", "image", "label"):
        assert key in record
    assert record["layer"] == "output" and record["objective"] == "ClassLogit(output)" and record["label"] == "class_1"
    assert index["config"]["size"] == 32 and index["backbone"] == TINY
    # a second run never overwrites the first
    second = tiny(tmp_path, units=[3])
    make_trainer().fit(second)
    assert second.run_dir.name == "version_1" and (run / "images" / "output" / "unit_00001.png").is_file()


def test_more_units_than_batch_keeps_parameters_bounded(tmp_path, make_trainer):
    sizes = []

    class Watch(torch.nn.Module):
        pass

    import pytorch_lightning as pl

    class ParamSize(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            sizes.append(sum(p.numel() for p in pl_module.renderer.param.parameters()))

    module = tiny(tmp_path, units="0-9", batch_size=3, epochs=1, steps_per_epoch=2, param=Pixel())
    make_trainer(callbacks=[ParamSize()]).fit(module)
    assert max(sizes) == 3 * 3 * 32 * 32
    assert len(module.schedule.groups) == 4 and module.trainer.current_epoch == 4
    index = json.loads((module.run_dir / "index.json").read_text())
    assert [r["unit"] for r in index["units"]] == list(range(10))


def test_only_image_parameters_are_optimized_and_backbone_stays_frozen(tmp_path, make_trainer):
    module = tiny(tmp_path, save_outputs=False, optimizer=lambda p: torch.optim.SGD(p, lr=1.0))
    weights = {k: v.clone() for k, v in module.renderer.backbone.state_dict().items()}
    trainer = make_trainer()
    trainer.fit(module)
    optimized = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert optimized == {id(p) for p in module.renderer.param.parameters()}
    assert isinstance(trainer.optimizers[0], torch.optim.SGD)
    assert not module.renderer.backbone.training
    for key, value in module.renderer.backbone.state_dict().items():
        assert torch.equal(value, weights[key])


def test_checkpoint_keeps_the_backbone_out(tmp_path, make_trainer):
    module = tiny(tmp_path, save_outputs=False)
    trainer = make_trainer()
    trainer.fit(module)
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    state = torch.load(tmp_path / "run.ckpt", weights_only=False)
    assert not [k for k in state["state_dict"] if k.startswith("backbone.")]
    assert state["actmax"]["backbone"] == TINY and state["actmax"]["image_size"] == [32, 32]


def test_variants_share_a_batch_and_are_saved_separately(tmp_path, make_trainer):
    module = tiny(tmp_path, units=[0, 1], variants=2, batch_size=4, epochs=1, transforms=Compose([]))
    make_trainer().fit(module)
    files = sorted(p.name for p in (module.run_dir / "images" / "features.2").glob("*.png"))
    assert files == ["unit_00000_v0.png", "unit_00000_v1.png", "unit_00001_v0.png", "unit_00001_v1.png"]
    images = module.last_finished.images
    assert not torch.allclose(images[0], images[1])  # variants start from different seeds


@pytest.mark.parametrize(
    "overrides, error, pattern",
    [
        (dict(objective=Channel("features.9")), ProbeError, r"no layer 'features.9'.*Closest names"),
        (dict(units="0-20"), ConfigError, r"Unit 16 is out of range .* valid units are 0-15"),
        (dict(objective=ClassLogit(), units=[10]), ConfigError, r"valid units are 0-9"),
        (dict(size=4), ConfigError, r"too small .* size >= 8"),
        (dict(variants=8, batch_size=4), ConfigError, r"variants \(8\) must not exceed batch_size"),
        (dict(epochs=0), ConfigError, r"epochs must be at least 1"),
    ],
)
def test_bad_settings_fail_before_optimization(tmp_path, overrides, error, pattern):
    with pytest.raises(error, match=pattern):
        tiny(tmp_path, **overrides)


def test_layer_too_deep_for_the_image_size(tmp_path):
    from torch import nn

    from lit_actmax.backbones import Backbone, Normalize, register_backbone

    register_backbone("test_big_kernel", lambda: Backbone(
        model=nn.Sequential(nn.Conv2d(3, 4, 9), nn.Conv2d(4, 4, 9)), preprocess=Normalize(), spec="", min_size=1))
    with pytest.raises(ConfigError, match=r"cannot run on 12x12 images up to layer\(s\) \['1'\].*increase `size`"):
        tiny(tmp_path, size=12, objective=Channel("1"), transforms=Compose([]), backbone="test_big_kernel")


def test_regularizer_changes_the_image(tmp_path, make_trainer):
    plain = tiny(tmp_path, save_outputs=False, param=Pixel(), transforms=Compose([]))
    smooth = tiny(tmp_path, save_outputs=False, param=Pixel(), transforms=Compose([]),
                  regularizers=[TotalVariation(weight=50.0)])
    make_trainer().fit(plain)
    make_trainer().fit(smooth)
    tv = TotalVariation().penalty
    assert (tv(smooth.last_finished.images) < tv(plain.last_finished.images)).all()


@pytest.mark.parametrize("progress_bar, expected", [(False, [2, 3, 5, 7]), (True, list(range(8)))])
def test_step_metrics_are_logged_when_someone_reads_them(tmp_path, make_trainer, progress_bar, expected):
    """Without a progress bar, ``activation``/``loss`` are logged on logger steps (every 3: 2, 5) and at each epoch's
    end (steps 3 and 7, of 4 per epoch); with a progress bar, every step. Logging costs ~1% of a CPU step."""
    from pytorch_lightning.loggers import CSVLogger

    module = tiny(tmp_path, steps_per_epoch=4, epochs=2, save_outputs=False)
    logged_at = []
    original = module.log

    def counting_log(name, *args, **kwargs):
        if name == "activation":
            logged_at.append(module.global_step)
        return original(name, *args, **kwargs)

    module.log = counting_log
    logger = CSVLogger(str(tmp_path / "logs"))
    make_trainer(logger=logger, log_every_n_steps=3, enable_progress_bar=progress_bar).fit(module)
    assert logged_at == expected
    rows = (tmp_path / "logs" / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()
    assert "activation" in rows[0] and len(rows) - 1 >= 2  # the logger steps are written


def lightning_info(caplog):
    """Capture what Lightning's rank-zero logger says (it may not propagate to the root logger)."""
    import logging

    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not logging.getLogger("pytorch_lightning").propagate:  # else caplog's root handler sees the records
        logger.addHandler(caplog.handler)
    return logger


@pytest.mark.parametrize("save_outputs", [True, False])
def test_a_run_ends_by_saying_where_its_files_are(tmp_path, make_trainer, caplog, save_outputs):
    logger = lightning_info(caplog)
    try:
        module = tiny(tmp_path, units="0-2", batch_size=2, steps_per_epoch=2, epochs=1, save_outputs=save_outputs)
        make_trainer().fit(module)
    finally:
        logger.removeHandler(caplog.handler)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Rendered")]
    if not save_outputs:
        assert said == []
        return
    run = tmp_path / "runs" / "t" / "version_0"
    assert said == [f"Rendered 3 units into {run}: images/features.2/, grids/features.2.png, index.json "
                    f"(gallery: lit-actmax gallery {run})"]


def test_lightning_tips_are_dropped_and_other_messages_kept(tmp_path, make_trainer, caplog):
    logger = lightning_info(caplog)
    try:
        make_trainer(enable_checkpointing=True, logger=None).fit(tiny(tmp_path, save_outputs=False, epochs=1))
    finally:
        logger.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("GPU available") for m in messages), messages
    assert not any("Tip" in m or "litmodels" in m or "max_epochs" in m for m in messages), messages


@pytest.mark.slow  # lite0 in a fresh interpreter: 5-8 s alone on 2 cores, over 10 s beside other work
def test_the_readme_python_example_runs_without_a_warning(tmp_path):
    """The README's first Python block, scaled down (2 channels, 64 px, 2 steps), with every warning an error."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    for old, new in [('units="0-15"', 'units="0-1"'), ("size=128", "size=64"), ("steps_per_epoch=32", "steps_per_epoch=2"),
                     ("epochs=4", "epochs=1")]:
        assert old in code, old
        code = code.replace(old, new)
    code += "\nassert images.shape == (2, 3, 64, 64)\n"
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in ("Warning", "warn", "Tip", "Seed set", "max_epochs"):
        assert noise not in output, (noise, output[-3000:])
    run = Path("actmax_runs") / "lite0" / "version_0"
    assert f"Rendered 2 units into {run}: images/_blocks.8/, grids/_blocks.8.png, index.json" in result.stderr
    assert "units 2/2 [group 1/1] step 2/2: 100%" in result.stdout
