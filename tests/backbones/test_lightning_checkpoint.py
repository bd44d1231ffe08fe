"""lightning_checkpoint.py: a LightningModule checkpoint loaded by its own class."""

import pytest
import torch

from lit_actmax.backbones import load_backbone
from lit_actmax.errors import BackboneError

CLASS = "lit_actmax.lightning.testing.TinyClassifier"


def test_lightning_checkpoint_backbone(tmp_path):
    import pytorch_lightning as pl

    from lit_actmax.lightning.testing import TinyClassifier

    classifier = TinyClassifier()
    data = torch.utils.data.TensorDataset(torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,)))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(classifier, torch.utils.data.DataLoader(data, batch_size=4))
    path = tmp_path / "classifier.ckpt"
    trainer.save_checkpoint(path)
    with pytest.raises(BackboneError, match="checkpoint_class"):
        load_backbone(str(path))
    backbone = load_backbone(str(path), checkpoint_class=CLASS)
    assert not backbone.model.training and backbone.user_state is None  # lit_actmax built it: nothing to give back
    assert backbone.spec == str(path)
    x = torch.rand(2, 3, 16, 16)
    classifier.eval()
    with torch.no_grad():
        assert torch.allclose(backbone.model(x), classifier(x), atol=1e-6)


@pytest.mark.parametrize(
    "checkpoint_class, pattern",
    [
        (None, "also give its LightningModule class"),
        ("no_such_package.Model", "Cannot import the checkpoint class 'no_such_package.Model'"),
        ("lit_actmax.testing.TinyConvNet", "is not a LightningModule"),
        (CLASS, r"is not a checkpoint that .* can load"),
    ],
)
def test_what_cannot_load_gets_one_sentence(tmp_path, checkpoint_class, pattern):
    path = tmp_path / "junk.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneError, match=pattern) as error:
        load_backbone(str(path), checkpoint_class=checkpoint_class)
    assert "\n" not in str(error.value)
    with pytest.raises(BackboneError, match=r"^Checkpoint file '.*missing.ckpt' does not exist\.$"):
        load_backbone(str(tmp_path / "missing.ckpt"), checkpoint_class=checkpoint_class)
