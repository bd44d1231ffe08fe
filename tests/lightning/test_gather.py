"""gather: one process returns its rows as they are; several ranks' rows of unequal counts come back in rank order.

The 2-process collective itself runs in the slow lane (tests/dist_helpers); here a stand-in strategy plays the
other rank, so the padding and the bool round trip are checked in one process.
"""

from types import SimpleNamespace

import pytest
import torch

from lit_actmax.lightning.gather import gather_rows, world_size_of


class NoCollective:
    """A one-process strategy whose ``all_gather`` must not be called."""

    world_size = 1

    def all_gather(self, tensor):
        raise AssertionError("one process needs no collective")


class OtherRank:
    """A 2-process strategy seen from ``rank``; ``all_gather`` pairs this rank's tensor with the other rank's.

    ``other`` are the other rank's tensors, in the order it gathers them: first its row count, then its rows,
    padded (zeros) to this call's row count and sent as this call's dtype, as the other rank would.
    """

    world_size = 2

    def __init__(self, rank: int, *other: torch.Tensor) -> None:
        self.rank, self.other, self.dtypes = rank, [torch.tensor([other[0].shape[0]]), *other], []

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        self.dtypes.append(tensor.dtype)
        theirs = self.other.pop(0)
        if len(self.dtypes) > 1:  # rows, after the count
            padded = torch.zeros_like(tensor)
            padded[:theirs.shape[0]] = theirs.to(tensor.dtype)
            theirs = padded
        pair = [tensor, theirs] if self.rank == 0 else [theirs, tensor]
        return torch.stack(pair)


@pytest.mark.parametrize("strategy, size", [
    (None, 1), (SimpleNamespace(world_size=4), 4), (SimpleNamespace(world_size=None), 1),
    (SimpleNamespace(world_size=0), 1), (object(), 1),
])
def test_world_size_of(strategy, size):
    assert world_size_of(strategy) == size


def test_one_process_returns_the_same_tensors_without_a_collective():
    rows, mask = torch.arange(6.0).view(3, 2), torch.tensor([True, False, True])
    for strategy in (None, NoCollective()):
        out = gather_rows(strategy, rows, mask)
        assert len(out) == 2 and out[0] is rows and out[1] is mask


def test_lightning_single_device_strategy_is_one_process():
    import pytorch_lightning as pl

    strategy = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False).strategy
    rows = torch.ones(2, 3)
    assert world_size_of(strategy) == 1 and gather_rows(strategy, rows)[0] is rows


def test_wrong_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one tensor"):
        gather_rows(None)
    with pytest.raises(ValueError, match=r"same number of rows, got \[2, 3\]"):
        gather_rows(None, torch.zeros(2), torch.zeros(3, 1))


@pytest.mark.parametrize("rank", [0, 1])
def test_unequal_row_counts_come_back_in_rank_order_without_padding(rank):
    mine = (torch.tensor([[1.0, 2.0]]), torch.tensor([True]), torch.tensor([7]))
    theirs = (torch.tensor([[3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]), torch.tensor([False, True, False]),
              torch.tensor([8, 9, 10]))
    strategy = OtherRank(rank, *theirs)
    rows, mask, ids = gather_rows(strategy, *mine)
    first, second = (mine, theirs) if rank == 0 else (theirs, mine)
    assert torch.equal(rows, torch.cat([first[0], second[0]]))
    assert mask.dtype == torch.bool and torch.equal(mask, torch.cat([first[1], second[1]]))
    assert ids.dtype == torch.long and torch.equal(ids, torch.cat([first[2], second[2]]))
    assert torch.bool not in strategy.dtypes  # a bool mask travels as uint8


def test_a_rank_without_rows_still_takes_part():
    theirs = torch.tensor([[1.0], [2.0]])
    strategy = OtherRank(0, theirs)
    (rows,) = gather_rows(strategy, torch.zeros(0, 1))
    assert torch.equal(rows, theirs) and len(strategy.dtypes) == 2  # the count, then the (padded) rows
