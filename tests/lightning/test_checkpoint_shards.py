"""Checkpoint shards of unit-parallel runs: each rank gets back exactly its own dict."""

import pytest
import torch

from lit_actmax.lightning.checkpoint_shards import (
    SHARDS_KEY,
    ShardError,
    check_world_size,
    checkpoint_world_size,
    merge_shards,
    select_shard,
    to_cpu,
)


def rank_checkpoint(rank):
    return {"state_dict": {"param.pixels": torch.full((2, 3), float(rank))},
            "optimizer_states": [{"state": {0: {"exp_avg": torch.full((2, 3), 10.0 + rank)}}}],
            "actmax": {"group_index": 1, "image_count": 2 + rank}, "global_step": 7}


def test_every_rank_gets_its_own_shard_back():
    merged = merge_shards([rank_checkpoint(r) for r in range(3)])
    assert checkpoint_world_size(merged) == 3
    # rank 0's dict stays at the top level, a plain Lightning checkpoint
    assert torch.equal(merged["state_dict"]["param.pixels"], torch.zeros(2, 3))
    for rank in range(3):
        own = select_shard(merged, rank, 3)
        assert torch.equal(own["state_dict"]["param.pixels"], torch.full((2, 3), float(rank)))
        assert torch.equal(own["optimizer_states"][0]["state"][0]["exp_avg"], torch.full((2, 3), 10.0 + rank))
        assert own["actmax"]["image_count"] == 2 + rank and own["global_step"] == 7
        assert own[SHARDS_KEY]["shards"] == [] and checkpoint_world_size(own) == 3  # no other rank's data kept


def test_world_size_mismatch_is_refused_in_one_sentence():
    merged = merge_shards([rank_checkpoint(r) for r in range(2)])
    with pytest.raises(ShardError, match=r"written by 2 process\(es\) but this run has 1.*devices x num_nodes = 2"):
        select_shard(merged, 0, 1)
    plain = rank_checkpoint(0)  # a single-process checkpoint
    check_world_size(plain, 1)
    with pytest.raises(ShardError, match="written by 1 process"):
        select_shard(plain, 1, 2)
    assert torch.equal(select_shard(plain, 0, 1)["state_dict"]["param.pixels"], torch.zeros(2, 3))


def test_unknown_format_is_refused():
    merged = merge_shards([rank_checkpoint(0), rank_checkpoint(1)])
    merged[SHARDS_KEY]["format"] = 99
    with pytest.raises(ShardError, match="format 99"):
        select_shard(merged, 1, 2)


def test_to_cpu_detaches_every_tensor():
    weight = torch.ones(3, requires_grad=True)
    moved = to_cpu({"a": [weight * 2], "b": {"c": weight}, "d": 1})
    assert not moved["a"][0].requires_grad and not moved["b"]["c"].requires_grad and moved["d"] == 1
    assert moved["a"][0].device.type == "cpu"
