import torch

from lit_actmax.core.seeding import STREAM_AUGMENT, STREAM_INIT, unit_generator, unit_seed


def test_seed_depends_on_every_part():
    base = unit_seed(0, 5, 0, STREAM_INIT, 0)
    assert base == unit_seed(0, 5, 0, STREAM_INIT, 0)
    others = {unit_seed(1, 5, 0, STREAM_INIT, 0), unit_seed(0, 6, 0, STREAM_INIT, 0), unit_seed(0, 5, 1, STREAM_INIT, 0),
              unit_seed(0, 5, 0, STREAM_AUGMENT, 0), unit_seed(0, 5, 0, STREAM_INIT, 1)}
    assert base not in others and len(others) == 5
    assert 0 <= base < 2**63


def test_generators_reproduce_draws():
    a = torch.randn(4, generator=unit_generator(0, 3))
    b = torch.randn(4, generator=unit_generator(0, 3))
    c = torch.randn(4, generator=unit_generator(0, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
