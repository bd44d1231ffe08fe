"""The fault-injection suite (``make test-faults``; part of ``make test``, so CI runs it): a run stopped anywhere, as a
cluster, a user or a bug stops it, loses nothing.

Every case runs the real command line (``python -m lit_actmax.cli.main``) in its own session, with
``tests/dist_helpers/fault_inject.py``'s ``InjectFault`` in the Trainer's callbacks, and checks what must hold:

- **nothing lost**: a run that did not exit 0 is resumed (``--ckpt_path .../last.ckpt``, or the same atlas command)
  and its folder then equals an uninterrupted run's, byte for byte (PNGs, records, grids, ``index.json``);
- **no case exits 0 unless the run is complete** (then its folder equals the uninterrupted one already);
- **one sentence, the documented exit code**: SIGTERM 75 (:data:`lit_actmax.exits.EXIT_PREEMPTED`), Ctrl-C 1, a
  setting, input or resource 2, a bug 1; on 2 processes every rank prints the failing rank's sentence;
- **no hang, no orphan**: every process of the session has ended within a minute of the first one, and a run that
  finished no unit leaves no folder.

The tiny run: 4 units of the tiny backbone, batch 2, 2 epochs of 2 steps per group, a Gaussian blur after every
epoch (so a resume that skipped an epoch's end would show), a checkpoint after every step. One process renders 2
groups (8 steps, the last epoch is steps 7-8), two processes 1 group each (4 steps, the last epoch steps 3-4).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "dist_helpers"
TINY = "lit_actmax.testing:tiny_backbone"
RUN = Path("runs") / "fault" / "version_0"
PREEMPTED, INTERRUPTED, ERROR, BUG = 75, 1, 2, 1


# -- running the command line ---------------------------------------------------------------------------------------
def config(workdir: Path, devices: int = 1, inject: dict | None = None, checkpoints: bool = True, nodes: int = 1,
           **model) -> Path:
    """The tiny run's config in ``workdir`` (``inject``: InjectFault's arguments; ``nodes``: ``trainer.num_nodes``)."""
    callbacks = [{"class_path": "lit_actmax.callbacks.GaussianBlur", "init_args": {"sigma": 0.5}}]
    if checkpoints:
        callbacks.append({"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                          "init_args": {"every_n_train_steps": 1, "save_last": True, "save_top_k": 0}})
    if inject:
        callbacks.append({"class_path": "fault_inject.InjectFault", "init_args": inject})
    trainer = {"accelerator": "cpu", "devices": devices, "enable_progress_bar": False, "logger": False,
               "enable_model_summary": False, "enable_checkpointing": checkpoints, "callbacks": callbacks}
    if nodes > 1:
        trainer["num_nodes"] = nodes
    if devices * nodes > 1:
        trainer["strategy"] = {"class_path": "lit_actmax.lightning.strategy.UnitParallelStrategy",
                               "init_args": {"lost_after": 20}}
    settings = {
        "backbone": TINY, "units": "0-3", "size": 32, "batch_size": 2, "steps_per_epoch": 2, "epochs": 2,
        "objective": {"class_path": "lit_actmax.objectives.Channel", "init_args": {"layer": "features.2"}},
        "param": {"class_path": "lit_actmax.params.Pixel"},
        "transforms": {"class_path": "lit_actmax.augment.Jitter", "init_args": {"d": 2}},
        "out_dir": "runs", "run_name": "fault", **model,
    }
    if isinstance(settings["units"], dict):  # units per layer: each layer's objective comes from objective_kind
        del settings["objective"]
    path = workdir / "fault.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"trainer": trainer, "model": settings}))
    return path


class Ended:
    """A finished command: its exit code (negative: killed by that signal) and its output (every rank's)."""

    def __init__(self, returncode: int, output: str) -> None:
        self.returncode, self.output = returncode, output

    def errors(self) -> list[str]:
        """The ``lit-actmax: error: ...`` lines, one per rank that printed one."""
        return [line for line in self.output.splitlines() if line.startswith("lit-actmax: error: ")]


def launch(workdir: Path, *args: str, env: dict | None = None, limit_bytes: int | None = None) -> subprocess.Popen:
    """Start ``lit-actmax <args>`` in ``workdir``, in a session of its own."""
    environment = {**os.environ, "PYTHONPATH": str(HELPERS), "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))) if limit_bytes else None
    return subprocess.Popen([sys.executable, "-m", "lit_actmax.cli.main", *args], cwd=workdir, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=limit)


def finish(process: subprocess.Popen, timeout: float = 400) -> Ended:
    """Wait for ``process``, then for every process of its session (Lightning's rank 1, an orphan of a killed rank
    0): none may be left a minute later."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"lit-actmax hung for {timeout} s:\n{process.communicate()[0][-3000:]}")
    deadline = time.monotonic() + 60
    while session_alive(process.pid):
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"processes of the run were left a minute after it ended:\n{output[-3000:]}")
        time.sleep(0.2)
    return Ended(process.returncode, output)


def session_alive(session: int) -> bool:
    try:
        os.killpg(session, 0)
    except ProcessLookupError:
        return False
    return not all(_is_zombie(pid) for pid in _session_members(session))


def _session_members(session: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session:  # the process group (a session leader's group is the session)
                found.append(int(entry.name))
    return found


def _is_zombie(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def lit_actmax(workdir: Path, *args: str, **options) -> Ended:
    return finish(launch(workdir, *args, **{k: v for k, v in options.items() if k != "timeout"}),
                  options.get("timeout", 400))


def fit(workdir: Path, devices: int = 1, inject: dict | None = None, resume: bool = False, **model) -> Ended:
    """``lit-actmax fit`` of the tiny run (``resume``: from the run folder's ``checkpoints/last.ckpt``)."""
    args = ["fit", "--config", str(config(workdir, devices, inject, **model))]
    if resume:
        args += ["--ckpt_path", str(workdir / RUN / "checkpoints" / "last.ckpt")]
    return lit_actmax(workdir, *args)


def left_behind(workdir: Path) -> list[str]:
    """What a run left under ``workdir/runs`` (``out_dir``, which may have been there before, stays)."""
    return sorted(p.relative_to(workdir).as_posix() for p in (workdir / "runs").rglob("*"))


def folder(run_dir: Path) -> dict[str, bytes]:
    """What a run folder holds for its reader: every file but checkpoints and saved configs; no temporary file."""
    files = {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}
    assert not [name for name in files if name.endswith(".tmp")], sorted(files)
    return {name: data for name, data in files.items()
            if not name.startswith("checkpoints/") and not (name.startswith("config") and name.endswith(".yaml"))}


def assert_same_folder(run_dir: Path, reference: dict[str, bytes]) -> None:
    found = folder(run_dir)
    assert sorted(found) == sorted(reference)
    different = [name for name in reference if found[name] != reference[name]]
    assert not different, different


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """``reference(devices)``: the folder of the uninterrupted tiny run on that many processes."""
    made: dict[int, dict[str, bytes]] = {}

    def get(devices: int) -> dict[str, bytes]:
        if devices not in made:
            workdir = tmp_path_factory.mktemp(f"reference_{devices}")
            ended = fit(workdir, devices)
            assert ended.returncode == 0, ended.output[-3000:]
            made[devices] = folder(workdir / RUN)
            assert len([n for n in made[devices] if n.endswith(".png") and n.startswith("images/")]) == 4
        return made[devices]

    return get


# -- every stop: SIGTERM, SIGINT, SIGKILL at every hook of the last epoch and mid-run -------------------------------
#: (hook, global step) of the last epoch, then mid-run moments (after the first checkpoint: a SIGKILL before it leaves
#: nothing to resume from, and the run starts over); one process: 8 steps, two processes: 4.
ONE_PROCESS = [("train_epoch_start", 6), ("train_batch_start", 6), ("train_batch_end", 7), ("train_batch_start", 7),
               ("train_batch_end", 8), ("train_epoch_end", 8), ("units_finished", 8), ("train_end", 8),
               ("fit_end", 8), ("train_batch_end", 3), ("units_finished", 4)]
TWO_PROCESSES = [("train_epoch_start", 2), ("train_batch_start", 2), ("train_batch_end", 3), ("train_batch_start", 3),
                 ("train_batch_end", 4), ("train_epoch_end", 4), ("units_finished", 4), ("train_end", 4),
                 ("fit_end", 4), ("train_batch_end", 2)]
#: What a stop may end with: SIGTERM during training 75 and a sentence, after it the run completes (0) or the
#: default handler ends it; Ctrl-C 1; SIGKILL is death.
EXITS = {"SIGTERM": {0, PREEMPTED, -signal.SIGTERM}, "SIGINT": {0, INTERRUPTED}, "SIGKILL": {0, -signal.SIGKILL}}
SENTENCES = {PREEMPTED: "lit-actmax: stopped by SIGTERM (exit code 75): ", INTERRUPTED: "lit-actmax: interrupted: "}


def stop_and_resume(workdir: Path, devices: int, hook: str, step: int, action: str, rank: int,
                    reference: dict[str, bytes]) -> Ended:
    first = fit(workdir, devices, {"hook": hook, "action": action, "step": step, "rank": rank})
    allowed = EXITS[action] | ({ERROR} if action == "SIGKILL" and devices > 1 else set())  # rank 0 tells rank 1's loss
    assert first.returncode in allowed, (first.returncode, first.output[-3000:])
    if first.returncode == 0:  # the run finished before the signal mattered: it must be complete
        assert_same_folder(workdir / RUN, reference)
        return first
    if first.returncode in SENTENCES and hook.startswith("train_batch"):
        assert SENTENCES[first.returncode] in first.output, first.output[-3000:]
    if first.returncode == ERROR:
        assert "Rank 1 of 2 was lost (killed by signal 9), so every rank stops" in first.output, first.output[-3000:]
    resumed = fit(workdir, devices, resume=True)
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert [p.name for p in (workdir / "runs" / "fault").iterdir()] == ["version_0"]
    assert_same_folder(workdir / RUN, reference)
    return first


@pytest.mark.parametrize("action", ["SIGTERM", "SIGINT", "SIGKILL"])
@pytest.mark.parametrize("hook, step", ONE_PROCESS)
def test_one_process_stopped_anywhere_resumes_to_the_uninterrupted_folder(tmp_path, reference, hook, step, action):
    stop_and_resume(tmp_path, 1, hook, step, action, 0, reference(1))


@pytest.mark.parametrize("action", ["SIGTERM", "SIGINT", "SIGKILL"])
@pytest.mark.parametrize("hook, step, rank", [(h, s, i % 2) for i, (h, s) in enumerate(TWO_PROCESSES)])
def test_two_processes_stopped_anywhere_on_either_rank_resume_to_the_uninterrupted_folder(
        tmp_path, reference, hook, step, rank, action):
    stop_and_resume(tmp_path, 2, hook, step, action, rank, reference(2))


@pytest.mark.parametrize("devices, rank", [(1, 0), (2, 0), (2, 1)])
def test_sigterm_mid_run_exits_75_with_one_sentence_and_a_checkpoint_of_every_rank(tmp_path, reference, devices, rank):
    first = stop_and_resume(tmp_path, devices, "train_batch_end", 1, "SIGTERM", rank, reference(devices))
    assert first.returncode == PREEMPTED
    said = [line for line in first.output.splitlines() if line.startswith("lit-actmax: stopped by SIGTERM")]
    assert said == [f"lit-actmax: stopped by SIGTERM (exit code 75): no unit was finished yet; resume with ckpt_path "
                    f"{tmp_path / RUN / 'checkpoints' / 'last.ckpt'}."]


# -- one rank's failure is every rank's sentence ----------------------------------------------------------------------
@pytest.mark.parametrize("action, sentence, code", [
    ("raise", "RuntimeError: injected failure; its traceback is in that rank's output", BUG),
    ("diverge", "Unit 1 diverged (injected); lower the learning rate", ERROR),
    ("oom", "The run ran out of CPU memory (it tried to allocate 123.5 GB); use a smaller batch_size, size or number "
            "of variants (or a device with more memory)", ERROR),
    ("disk_full", "The run ran out of disk space writing images/features.2/unit_00001.png; free some space or pick "
                  "another out_dir (or run_dir)", ERROR),
])
@pytest.mark.parametrize("rank", [0, 1])
def test_a_failure_on_one_rank_stops_every_rank_with_its_sentence(tmp_path, action, sentence, code, rank):
    ended = fit(tmp_path, 2, {"hook": "train_batch_end", "action": action, "step": 1, "rank": rank})
    assert ended.returncode == code, ended.output[-3000:]
    told = f"lit-actmax: error: {sentence} (on rank {rank} of 2; every rank stops)."
    errors = ended.errors()
    assert told in errors, ended.output[-3000:]  # the other rank
    if action in ("oom", "disk_full"):  # the failing rank says it too, without a traceback
        assert f"lit-actmax: error: {sentence}." in errors and "Traceback" not in ended.output, ended.output[-3000:]
    assert len(errors) == (1 if code == BUG else 2)  # a bug keeps its traceback on its own rank
    assert left_behind(tmp_path) == []  # nothing was finished (no checkpoint either: step 1 is before any)


def test_a_lost_rank_stops_the_others_and_the_run_resumes(tmp_path, reference):
    """SIGKILL on rank 0, whose process hosts the store: rank 1 says it lost the others and ends."""
    ended = fit(tmp_path, 2, {"hook": "train_batch_end", "action": "SIGKILL", "step": 2, "rank": 0})
    assert ended.returncode == -signal.SIGKILL
    assert "lost contact with the others" in ended.output, ended.output[-3000:]
    resumed = fit(tmp_path, 2, resume=True)
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert_same_folder(tmp_path / RUN, reference(2))


# -- resources ----------------------------------------------------------------------------------------------------------
def test_a_file_size_limit_is_one_sentence_and_the_run_resumes_once_lifted(tmp_path, reference):
    """``ulimit -f`` of 40 KB: the PNGs fit, the checkpoints do not (torch.save gives no errno)."""
    args = ["fit", "--config", str(config(tmp_path, 1))]
    ended = finish(launch(tmp_path, *args, limit_bytes=40_000))
    assert ended.returncode == ERROR, ended.output[-3000:]
    assert ended.errors()[-1].startswith("lit-actmax: error: The run could not write"), ended.output[-3000:]
    assert "ulimit -f" in ended.errors()[-1] and "Traceback" not in ended.output
    assert left_behind(tmp_path) == []  # no unit was finished: nothing is left, no half checkpoint either
    again = lit_actmax(tmp_path, *args)
    assert again.returncode == 0 and folder(tmp_path / RUN) == reference(1)


@pytest.mark.skipif(Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1",
                    reason="the kernel promises any amount of memory (overcommit_memory=1): a 12 TB image would start")
def test_a_size_too_big_for_memory_is_one_sentence_before_anything_is_written(tmp_path):
    ended = fit(tmp_path, 1, size=1_000_000)
    assert ended.returncode == ERROR and ended.errors() == [
        "lit-actmax: error: Checking the settings on one image ran out of CPU memory (it tried to allocate 12.0 TB); "
        "use a smaller batch_size, size or number of variants (or a device with more memory)."], ended.output[-3000:]
    assert left_behind(tmp_path) == []


def test_an_accelerator_the_machine_lacks_and_a_missing_direction_file_are_one_sentence_each(tmp_path):
    path = str(config(tmp_path, 1))
    ended = lit_actmax(tmp_path, "fit", "--config", path, "--trainer.accelerator", "cuda")
    if ended.returncode == 0:
        pytest.skip("this machine has a CUDA device")
    assert ended.returncode == ERROR and ended.errors() == [
        "lit-actmax: error: trainer.accelerator 'cuda' with devices 1 asks for what this machine does not have "
        "(`CUDAAccelerator` can not run on your system since the accelerator is not available); use accelerator: cpu "
        "(or auto, which takes what there is) or fewer devices."], ended.output[-3000:]
    ended = lit_actmax(tmp_path, "fit", "--config", path, "--model.objective", "lit_actmax.objectives.Direction",
                       "--model.objective.layer", "features.2", "--model.objective.directions", "missing.pt")
    assert ended.returncode == ERROR and ended.errors() == [
        f"lit-actmax: error: Direction file 'missing.pt' does not exist; check the path (relative paths start at the "
        f"working directory, {tmp_path})."], ended.output[-3000:]
    assert "Traceback" not in ended.output and left_behind(tmp_path) == []


# -- the atlas: a continued folder, stopped, damaged -----------------------------------------------------------------
def atlas(workdir: Path, inject: dict | None = None) -> Ended:
    path = config(workdir, 1, inject, checkpoints=False, units={"features.0": "0-1", "features.2": "0-2"})
    return lit_actmax(workdir, "atlas", "--config", str(path), "--no-site")


@pytest.fixture(scope="module")
def atlas_reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("atlas_reference")
    ended = atlas(workdir)
    assert ended.returncode == 0, ended.output[-3000:]
    return folder(workdir / "runs" / "fault" / "atlas")


def test_sigterm_stops_the_atlas_with_75_and_running_it_again_completes_it(tmp_path, atlas_reference):
    ended = atlas(tmp_path, {"hook": "train_batch_end", "action": "SIGTERM", "step": 5})
    assert ended.returncode == PREEMPTED, ended.output[-3000:]
    run_dir = tmp_path / "runs" / "fault" / "atlas"
    assert (f"lit-actmax: stopped by SIGTERM (exit code 75): the 2 finished image(s) are listed in "
            f"{run_dir / 'index.json'}; run the same command again to render the rest") in ended.output
    again = atlas(tmp_path)
    assert again.returncode == 0, again.output[-3000:]
    assert_same_folder(run_dir, atlas_reference)


def test_a_damaged_atlas_folder_is_repaired_and_a_broken_settings_file_named(tmp_path, atlas_reference):
    """The acceptance case: a deleted PNG, a truncated record and a truncated settings file."""
    assert atlas(tmp_path).returncode == 0
    run_dir = tmp_path / "runs" / "fault" / "atlas"
    (run_dir / "images" / "features.2" / "unit_00001.png").unlink()
    record = run_dir / "images" / "features.0" / "unit_00000.json"
    record.write_text(record.read_text()[:50])
    settings = run_dir / "settings.json"
    kept = settings.read_text()
    settings.write_text(kept[:30])
    named = atlas(tmp_path)
    assert named.returncode == ERROR and len(named.errors()) == 1, named.output[-3000:]
    assert named.errors()[0].startswith(f"lit-actmax: error: {settings} does not parse (JSONDecodeError: ")
    assert "restore it (the folder's config.yaml holds the settings) or pick another run_dir." in named.errors()[0]
    settings.write_text(kept)
    repaired = atlas(tmp_path)
    assert repaired.returncode == 0, repaired.output[-3000:]
    assert (f"Rendering 2 damaged unit(s) of {run_dir} again: features.0:0 (unit_00000.json does not parse), "
            "features.2:1 (unit_00001.png is missing).") in repaired.output
    assert_same_folder(run_dir, atlas_reference)


# -- clusters as users run them, on one machine -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_env(rank: int, port: int, job: str = "4242") -> dict[str, str]:
    """What ``srun --ntasks 2`` (one node, 2 tasks) sets for task ``rank``."""
    return {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "1", "SLURM_NODEID": "0",
            "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank), "SLURM_JOB_ID": job, "SLURM_JOB_NAME": "actmax",
            "SLURM_NODELIST": "127.0.0.1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def srun(workdir: Path, args: list[str], env: dict | None = None) -> list[Ended]:
    """Start both tasks as srun would, and wait for both."""
    port = free_port()
    tasks = [launch(workdir, *args, env={**slurm_env(r, port), **(env or {})}) for r in range(2)]
    return [finish(task) for task in tasks]


def test_slurm_two_tasks_give_the_two_process_images_and_requeue_resumes_them(tmp_path, reference):
    """srun's environment for 2 tasks: Lightning's SLURMEnvironment, no launcher. SIGUSR1 (the requeue signal) on rank
    0 saves ``hpc_ckpt_1.ckpt`` at a step both ranks agree on and calls ``scontrol requeue``, whose stand-in records
    the call and ends the job as SLURM does, with a SIGTERM (to rank 0, which tells rank 1): both tasks exit 75. The
    requeued job (the same command) resumes from the requeue checkpoint by itself and removes it when complete."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'scontrol.log'}\nkill -TERM $PPID\n")
    scontrol.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    whole = tmp_path / "whole"
    ended = srun(whole, ["fit", "--config", str(config(whole, 2))], env)
    assert [e.returncode for e in ended] == [0, 0], ended[0].output[-3000:] + ended[1].output[-3000:]
    assert_same_folder(whole / RUN, reference(2))

    args = ["fit", "--config", str(config(tmp_path, 2, {"hook": "train_batch_end", "action": "SIGUSR1", "step": 1}))]
    ended = srun(tmp_path, args, env)
    assert [e.returncode for e in ended] == [PREEMPTED, PREEMPTED], ended[0].output[-3000:]
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    assert [p.name for p in tmp_path.glob("hpc_ckpt_*.ckpt")] == ["hpc_ckpt_1.ckpt"]
    ended = srun(tmp_path, ["fit", "--config", str(config(tmp_path, 2))], env)  # the requeued job: the same command
    assert [e.returncode for e in ended] == [0, 0], ended[0].output[-3000:]
    assert "Restored all states from the checkpoint" in ended[0].output and "hpc_ckpt_1.ckpt" in ended[0].output
    assert_same_folder(tmp_path / RUN, reference(2))
    assert not list(tmp_path.glob("hpc_ckpt_*.ckpt"))  # a complete run leaves no requeue checkpoint to resume


def torchrun(workdir: Path, node: int, port: int, args: list[str]) -> subprocess.Popen:
    """One node of ``torchrun --nnodes 2 --nproc-per-node 1`` with a rendezvous on localhost."""
    environment = {**os.environ, "PYTHONPATH": str(HELPERS), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port),
               "--max-restarts", "0", "-m", "lit_actmax.cli.main", *args]
    return subprocess.Popen(command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def test_torchrun_two_nodes_give_the_two_process_images_and_a_lost_node_resumes(tmp_path, reference):
    whole = tmp_path / "whole"
    args = ["fit", "--config", str(config(whole, 1, nodes=2))]
    port = free_port()
    nodes = [torchrun(whole, node, port, args) for node in (0, 1)]
    ended = [finish(node) for node in nodes]
    assert [e.returncode for e in ended] == [0, 0], ended[0].output[-3000:] + ended[1].output[-3000:]
    assert_same_folder(whole / RUN, reference(2))

    args = ["fit", "--config", str(config(tmp_path, 1, {"hook": "train_batch_end", "action": "SIGKILL", "step": 2,
                                                         "rank": 1}, nodes=2))]
    port = free_port()
    nodes = [torchrun(tmp_path, node, port, args) for node in (0, 1)]
    ended = [finish(node) for node in nodes]
    assert ended[0].returncode != 0 and ended[1].returncode != 0
    assert "Rank 1 of 2 was lost" in ended[0].output or "lost contact" in ended[0].output, ended[0].output[-3000:]
    port = free_port()
    args = ["fit", "--config", str(config(tmp_path, 1, nodes=2)),
            "--ckpt_path", str(tmp_path / RUN / "checkpoints" / "last.ckpt")]
    nodes = [torchrun(tmp_path, node, port, args) for node in (0, 1)]
    ended = [finish(node) for node in nodes]
    assert [e.returncode for e in ended] == [0, 0], ended[0].output[-3000:] + ended[1].output[-3000:]
    assert_same_folder(tmp_path / RUN, reference(2))


def test_the_exit_codes_are_documented():
    from lit_actmax import exits

    assert exits.EXIT_PREEMPTED == PREEMPTED and exits.EXIT_ERROR == ERROR
    readme = (ROOT / "README.md").read_text()
    assert "exit code 75" in readme and "SLURM" in readme and "Kubernetes" in readme
    assert json.dumps(PREEMPTED) in exits.__doc__
