"""Direction vectors from files (.pt, .npy, .npz, .safetensors): rows are units; one ConfigError per bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_actmax.errors import ConfigError
from lit_actmax.objectives import Direction, RenderBatch, load_directions
from lit_actmax.run.checkpoint_state import describe_setting

TINY = "lit_actmax.testing:tiny_backbone"


@pytest.fixture
def matrix() -> torch.Tensor:
    return torch.randn(5, 16, generator=torch.Generator().manual_seed(0))


def _batch(units) -> RenderBatch:
    acts = torch.randn(len(units), 16, 4, 4, generator=torch.Generator().manual_seed(1))
    return RenderBatch(acts={"l": acts}, units=torch.tensor(units))


def _save_safetensors(tensors: dict, path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))


def test_every_file_type_gives_the_same_directions_as_the_tensor(tmp_path, matrix):
    torch.save(matrix, tmp_path / "plain.pt")
    torch.save({"decoder": {"weight": matrix.T.clone(), "bias": torch.zeros(16)}}, tmp_path / "nested.pth")
    np.save(tmp_path / "m.npy", matrix.numpy())
    np.savez(tmp_path / "probe.npz", weight=matrix.numpy(), bias=np.zeros(5, dtype=np.float32))
    _save_safetensors({"W_dec": matrix, "W_enc": matrix.T, "b_dec": torch.zeros(16)}, tmp_path / "sae.safetensors")
    expected = Direction("l", matrix)(_batch([0, 3, 4]))
    made = [
        Direction("l", str(tmp_path / "plain.pt")),
        Direction("l", tmp_path / "nested.pth", transpose=True),  # the only 2-D tensor, stored (C, U)
        Direction("l", str(tmp_path / "nested.pth"), key="decoder.weight", transpose=True),
        Direction("l", str(tmp_path / "m.npy")),
        Direction("l", str(tmp_path / "probe.npz")),  # the 1-D bias is not a candidate
        Direction("l", str(tmp_path / "sae.safetensors"), key="W_dec"),
        Direction("l", str(tmp_path / "sae.safetensors"), key="W_enc", transpose=True),
    ]
    for direction in made:
        assert direction.num_units({"l": (16, 4, 4)}) == 5
        assert torch.allclose(direction(_batch([0, 3, 4])), expected, atol=1e-5)
    assert load_directions(tmp_path / "m.npy").dtype == torch.float32


def test_a_single_vector_file_is_one_fixed_direction(tmp_path, matrix):
    np.save(tmp_path / "v.npy", matrix[2].double().numpy())
    direction = Direction("l", str(tmp_path / "v.npy"))
    assert direction.unit == 0 and direction.num_units({"l": (16, 4, 4)}) == 1
    assert torch.allclose(direction(_batch([7, 9])), Direction("l", matrix[2])(_batch([7, 9])), atol=1e-5)


def test_the_fingerprint_records_the_vectors_and_the_file_settings(tmp_path, matrix):
    np.save(tmp_path / "a.npy", matrix.numpy())
    np.save(tmp_path / "b.npy", (matrix + 1).numpy())
    a, b = describe_setting(Direction("l", str(tmp_path / "a.npy"))), describe_setting(Direction("l", str(tmp_path / "b.npy")))
    assert a == describe_setting(Direction("l", matrix)) and a != b  # the file's content, wherever it lies
    assert "transpose=False" in a and "key=None" in a


def _bad_files(tmp_path, matrix) -> list[tuple[str, dict, str]]:
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), dtype=np.float32))
    np.save(tmp_path / "nan.npy", np.full((2, 3), np.nan, dtype=np.float32))
    torch.save({"W_enc": matrix.T, "W_dec": matrix}, tmp_path / "two.pt")
    torch.save({"bias": torch.zeros(3)}, tmp_path / "none.pt")
    torch.save(matrix, tmp_path / "plain.pt")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "broken.pt").write_bytes(b"not a pickle")
    (tmp_path / "m.txt").write_text("1 2 3")
    return [
        ("missing.npy", {}, "does not exist"),
        ("m.txt", {}, "is not one of .pt, .pth, .npy, .npz, .safetensors"),
        ("cube.npy", {}, r"shape \[2, 3, 4\]"),
        ("nan.npy", {}, "NaN or infinite"),
        ("two.pt", {}, "holds 2 2-D tensors .*name the one to use with key"),
        ("none.pt", {}, "holds no 2-D tensor"),
        ("two.pt", {"key": "W_out"}, "has no tensor named 'W_out'; it holds: W_enc \\[16, 5\\], W_dec \\[5, 16\\]"),
        ("plain.pt", {"key": "W_dec"}, "holds one unnamed tensor; drop key"),
        ("broken.safetensors", {}, "cannot be read as .safetensors"),
        ("broken.pt", {}, "cannot be read as .pt"),
    ]


def test_bad_files_are_one_config_error_sentence(tmp_path, matrix):
    for name, options, message in _bad_files(tmp_path, matrix):
        with pytest.raises(ConfigError, match=message) as caught:
            Direction("l", str(tmp_path / name), **options)
        text = str(caught.value)
        assert str(tmp_path / name) in text and "\n" not in text and text.endswith("."), text
    with pytest.raises(ConfigError, match="give directions as a file path"):
        Direction("l", matrix, key="W_dec")
    with pytest.raises(ConfigError, match=r"not shape \[2, 2, 2\]"):
        Direction("l", torch.zeros(2, 2, 2))


def _cli(tmp_path, config_text: str, *extra: str):
    from lit_actmax.cli.lightning_cli import ActMaxCLI

    config = tmp_path / "config.yaml"
    config.write_text(config_text)
    return ActMaxCLI(args=["--config", str(config), "--model.backbone", TINY, "--model.size", "32",
                           "--model.out_dir", str(tmp_path / "runs"), "--trainer.accelerator", "cpu", *extra], run=False)


def test_a_yaml_config_takes_a_file_path_and_renders_its_rows(tmp_path, matrix):
    torch.save({"W_enc": matrix.T.clone(), "W_dec": matrix}, tmp_path / "sae.pt")
    config = f"""
model:
  units: 0-4
  objective:
    class_path: lit_actmax.objectives.Direction
    init_args:
      layer: features.4
      directions: {tmp_path / "sae.pt"}
      key: W_enc
      transpose: true
"""
    direction = _cli(tmp_path, config).model.renderer.objective.targets[0]
    assert isinstance(direction, Direction) and direction.key == "W_enc" and direction.transpose
    assert torch.allclose(direction.directions, torch.nn.functional.normalize(matrix, dim=1))
    with pytest.raises(ConfigError, match="Unit 5 is out of range .* valid units are 0-4"):  # rows are the units
        _cli(tmp_path, config, "--model.units", "0-5")
    inline = """
model:
  units: 0-1
  objective:
    class_path: lit_actmax.objectives.Direction
    init_args:
      layer: features.0
      directions: [[1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0]]
"""
    assert _cli(tmp_path, inline).model.renderer.objective.targets[0].directions.shape == (2, 8)  # lists still parse

def test_vectors_of_the_wrong_width_are_refused_before_a_run(tmp_path, matrix):
    np.save(tmp_path / "wide.npy", matrix.T.numpy())  # (16, 5): a (C, U) matrix given without transpose
    from lit_actmax import ActMaxModule

    with pytest.raises(ConfigError, match="has 16 .*set transpose=True"):
        ActMaxModule(backbone=TINY, objective=Direction("features.4", str(tmp_path / "wide.npy")), units="0-4", size=32,
                     batch_size=5, save_outputs=False)


def test_direction_projects_on_each_units_vector(batch):
    acts = torch.randn(2, 3, 4, 4)
    vectors = torch.tensor([[1.0, 0, 0], [0, 2.0, 0]])
    b = batch({"l": acts}, [0, 1])
    expected = torch.stack([acts[0, 0].mean(), acts[1, 1].mean()])
    assert torch.allclose(Direction("l", vectors)(b), expected, atol=1e-6)
    assert Direction("l", vectors).num_units({"l": (3, 4, 4)}) == 2
    cosine = Direction("l", [1.0, 1.0, 1.0], metric="cosine")(b)
    assert (cosine.abs() <= 1).all()
