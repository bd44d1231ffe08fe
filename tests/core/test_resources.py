"""core/resources.py: running out of memory, disk space or a file size limit is one sentence saying what to change."""

import errno

import pytest
import torch

from lit_actmax.core.resources import resource_error, resource_sentence
from lit_actmax.errors import ResourceError


def test_torch_s_cpu_allocator_message_is_one_sentence_with_the_size():
    try:
        torch.empty(10**15, dtype=torch.uint8)  # 1 PB: refused at once, nothing is touched
    except RuntimeError as error:
        sentence = resource_sentence(error)
    else:  # pragma: no cover - a machine that promises a petabyte
        pytest.skip("the allocator promised a petabyte")
    assert sentence == ("The run ran out of CPU memory (it tried to allocate 1.0 PB); use a smaller batch_size, size or "
                        "number of variants (or a device with more memory).")


@pytest.mark.parametrize("error, sentence", [
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.15 GiB total capacity)"),
     "A step ran out of GPU memory (it tried to allocate 20.00 GiB); use a smaller batch_size, size or number of "
     "variants (or a device with more memory)."),
    (MemoryError(), "A step ran out of CPU memory; use a smaller batch_size, size or number of variants (or a device "
                    "with more memory)."),
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/unit_00001.png"),
     "A step ran out of disk space writing runs/x/unit_00001.png; free some space or pick another out_dir (or run_dir)."),
    (OSError(errno.EFBIG, "File too large"),
     "A step could not write a file: it would exceed the file size limit (ulimit -f); raise the limit or pick another "
     "out_dir."),
])
def test_each_resource_is_one_sentence(error, sentence):
    assert resource_sentence(error, "A step") == sentence
    assert isinstance(resource_error(error, "A step"), ResourceError)


@pytest.mark.parametrize("error", [RuntimeError("shape mismatch"), OSError(errno.ENOENT, "No such file"), ValueError()])
def test_other_errors_are_not_resources(error):
    assert resource_sentence(error) is None and resource_error(error) is None
