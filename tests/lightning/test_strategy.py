"""UnitParallelStrategy: processes without DDP; 2 CPU processes (gloo) give the 1-process images."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lit_actmax import ActMaxModule, Channel, ConfigError, UnitParallelStrategy
from lit_actmax.cli.main import main
from lit_actmax.lightning.strategy import check_trainer

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "dist_helpers" / "render_units.py"
TINY = "lit_actmax.testing:tiny_backbone"

#: 1 vs 2 processes: the same per-image arithmetic (the loss is a sum over images, randomness is per unit), so
#: the only possible difference is the summation order inside batched kernels (a batch of 8 vs 4). Such float32
#: rounding (~1e-7 relative) grows through a few Adam steps to at most ~1e-6; 1e-5 leaves margin, and is 400x
#: below one PNG grey level (1/255). On this CPU the results are bitwise equal.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory, render_units, load_ranks):
    base = tmp_path_factory.mktemp("strategy")
    one, two = base / "one", base / "two"
    for out, devices, batch in ((one, "1", "8"), (two, "2", "4")):
        result = render_units(out, "--devices", devices, "--batch-size", batch)
        assert result.returncode == 0, result.stderr[-3000:]
    return load_ranks(one), load_ranks(two), two


def test_registered_for_configs():
    from pytorch_lightning import Trainer
    from pytorch_lightning.strategies import StrategyRegistry

    assert "unit_parallel" in StrategyRegistry and "unit_parallel_spawn" in StrategyRegistry
    trainer = Trainer(accelerator="cpu", devices=1, strategy="unit_parallel", logger=False)
    assert isinstance(trainer.strategy, UnitParallelStrategy)
    with pytest.raises(ValueError, match="never wraps the module in DDP, so find_unused_parameters"):
        UnitParallelStrategy(find_unused_parameters=True)


@pytest.mark.slow
def test_two_processes_equal_one_process(runs, images_of):
    one, two, _ = runs
    reference, sharded = images_of(one), images_of(two)
    assert sorted(sharded) == list(range(8)) == sorted(reference)
    worst = max((reference[u] - sharded[u]).abs().max().item() for u in reference)
    assert worst <= TOLERANCE, worst


@pytest.mark.slow
def test_module_is_never_wrapped_and_ranks_hold_different_images(runs):
    _, (rank0, rank1), _ = runs
    assert rank0["strategy_model"] == rank1["strategy_model"] == "ActMaxModule"
    assert rank0["units"] == [0, 2, 4, 6] and rank1["units"] == [1, 3, 5, 7]
    # after one step the ranks' image parameters differ: nothing was broadcast or averaged
    assert (rank0["first_step_params"] - rank1["first_step_params"]).abs().max() > 1e-2
    assert set(rank0["param_numel"]) == set(rank1["param_numel"]) and len(set(rank0["param_numel"])) == 1


@pytest.mark.slow
def test_one_run_directory_one_index(runs):
    _, ranks, _ = runs
    run_dirs = {r["run_dir"] for r in ranks}
    assert len(run_dirs) == 1
    run = Path(run_dirs.pop())
    assert [p.name for p in run.parent.iterdir()] == [run.name]  # no second version made by rank 1
    index = json.loads((run / "index.json").read_text())
    assert index["world_size"] == 2 and [r["unit"] for r in index["units"]] == list(range(8))
    assert {r["rank"] for r in index["units"]} == {0, 1}
    assert len(list((run / "images" / "features.2").glob("*.png"))) == 8


def test_gradient_clipping_is_refused(tmp_path, make_trainer):
    module = ActMaxModule(backbone=TINY, objective=Channel("features.2"), units="0-1", size=32, batch_size=2,
                          steps_per_epoch=1, epochs=1, save_outputs=False)
    with pytest.raises(ConfigError, match="gradient_clip_val.*couples units"):
        make_trainer(gradient_clip_val=1.0).fit(module)


def test_stock_ddp_is_refused_with_several_processes():
    from pytorch_lightning.strategies import DDPStrategy

    trainer = SimpleNamespace(gradient_clip_val=None, world_size=2, strategy=DDPStrategy())
    with pytest.raises(ConfigError, match="2 processes need strategy='unit_parallel': DDPStrategy"):
        check_trainer(trainer)
    check_trainer(SimpleNamespace(gradient_clip_val=None, world_size=2, strategy=UnitParallelStrategy()))


@pytest.mark.slow
def test_cli_two_processes_from_yaml(tmp_path):
    config = {
        "model": {"backbone": TINY, "units": "0-4", "size": 32, "batch_size": 2, "steps_per_epoch": 2, "epochs": 1,
                  "objective": {"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.2"}},
                  "out_dir": str(tmp_path / "runs"), "run_name": "cli2"},
        "trainer": {"enable_progress_bar": False},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    script = Path(sys.executable).parent / "lit-actmax"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lit_actmax"]
    result = subprocess.run(command + ["fit", "--config", str(ROOT / "configs/trainer/cpu_2proc.yaml"),
                                       "--config", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "runs" / "cli2").iterdir())
    assert len(runs) == 1
    index = json.loads((runs[0] / "index.json").read_text())
    assert index["world_size"] == 2 and [r["unit"] for r in index["units"]] == [0, 1, 2, 3, 4]
    assert {r["rank"] for r in index["units"]} == {0, 1}
    assert (runs[0] / "config.yaml").is_file()


@pytest.mark.parametrize("fragment", ["cpu_2proc", "gpus", "multinode", "bf16", "compile"])
def test_trainer_fragments_are_valid_configs(fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(ROOT / "configs/model/lite0.yaml"),
              "--config", str(ROOT / f"configs/trainer/{fragment}.yaml"), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    if fragment in ("cpu_2proc", "gpus", "multinode"):
        assert printed["trainer"]["strategy"] == "unit_parallel"
    if fragment in ("gpus", "multinode", "bf16"):
        assert printed["trainer"]["precision"] == "bf16-mixed"


@pytest.mark.slow
def test_torchrun_launch_equals_one_process(runs, tmp_path, load_ranks, images_of):
    # torchrun creates the processes (TorchElasticEnvironment); Lightning must not spawn more
    out = tmp_path / "torchrun"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             str(HELPER), str(out), "--devices", "2", "--batch-size", "4"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = load_ranks(out)
    assert [r["world_size"] for r in ranks] == [2, 2]
    reference, launched = images_of(runs[0]), images_of(ranks)
    assert max((reference[u] - launched[u]).abs().max().item() for u in reference) <= TOLERANCE


def test_a_config_may_name_the_strategy_with_ddp_s_defaults_filled_in_and_a_lost_after():
    """A YAML ``class_path`` gets every DDP keyword with its default (False/None): only a value asking for a DDP
    wrapper feature is refused; ``lost_after`` is the seconds without a sign of life after which a rank is lost."""
    strategy = UnitParallelStrategy(find_unused_parameters=False, static_graph=False, bucket_cap_mb=None, lost_after=5)
    assert strategy.lost_after == 5.0 and not strategy.rank_sync.shared
    with pytest.raises(ConfigError, match="never wraps the module in DDP, so static_graph has no effect"):
        UnitParallelStrategy(static_graph=True)
