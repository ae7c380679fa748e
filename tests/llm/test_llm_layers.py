"""methods.llm.layers runs a slice of a model's layers exactly as the model's own forward does."""
from __future__ import annotations

import pytest
import torch

from methods.llm import models
from methods.llm.layers import embed, num_layers, run_layers
from methods.llm.scoring import ScoreRow, attention_mask, row_tensors


def _packed_inputs(vocab: int):
    """Two padded shared-prefix rows (prefix | action 1 | action 2), as scoring builds them."""
    gen = torch.Generator().manual_seed(3)
    tok = lambda n: tuple(torch.randint(5, vocab, (n,), generator=gen).tolist())  # noqa: E731
    rows = [ScoreRow(tok(9), [tok(3), tok(2)]), ScoreRow(tok(5), [tok(4)])]
    length = max(r.length for r in rows)
    packed = [row_tensors(r, length, 0) for r in rows]
    ids, pos, seg = (torch.tensor([p[k] for p in packed]) for k in range(3))
    return ids, pos, attention_mask(seg), seg >= 0


def _check_split_equals_forward(body):
    ids, pos, mask, real = _packed_inputs(body.config.vocab_size)
    with torch.no_grad():
        reference = body(input_ids=ids, attention_mask=mask, position_ids=pos,
                         use_cache=False).last_hidden_state
        n = num_layers(body)
        for split in range(n + 1):  # [0, split) then [split, n): every cut point
            hidden = run_layers(body, embed(body, ids), mask, pos, 0, split)
            hidden = body.norm(run_layers(body, hidden, mask, pos, split, n))
            assert torch.equal(hidden[real], reference[real]), f"split at layer {split}"


def test_llama_layers_in_slices_equal_the_model_forward():
    _check_split_equals_forward(models.load_base_model("tiny").base_model)


def test_gemma3_layers_in_slices_equal_the_model_forward():
    """Gemma-3 has a rotary embedding per attention kind (sliding / full) and scales embeddings."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(vocab_size=320, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1,
                              head_dim=16, sliding_window=64,
                              layer_types=["sliding_attention", "full_attention"] * 2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Gemma3ForCausalLM(config).eval()
    assert len(set(config.layer_types)) == 2
    _check_split_equals_forward(model.model)


def test_a_layer_range_outside_the_model_is_an_error():
    body = models.load_base_model("tiny").base_model
    ids, pos, mask, _ = _packed_inputs(body.config.vocab_size)
    with pytest.raises(ValueError, match=r"layer range \[1, 3\) is outside the model's 2 layers"):
        run_layers(body, embed(body, ids), mask, pos, 1, 3)
