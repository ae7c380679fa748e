"""Running a slice of a decoder-only model's layers on given hidden states.

Hugging Face's ``Model.forward`` always runs every layer from the token embeddings to the final
norm. Splitting the model (frozen lower layers computed once and cached, adapted upper layers run
every time, see :mod:`methods.llm.frozen_trunk`) needs the layers ``[start, stop)`` alone, fed with
exactly the per-layer arguments ``forward`` would give them. Two conventions exist among the models
we load, and both are handled here:

* Llama-style (SmolLM2): one rotary embedding for every layer, one attention mask.
* Gemma-3-style: ``config.layer_types[i]`` names each layer's attention kind (sliding or full),
  with a rotary embedding per kind (``rotary_emb(x, pos, layer_type)``). Scoring passes one custom
  4-D mask, which ``forward`` hands unchanged to both kinds (an already prepared 4-D mask is used
  as-is), so the same mask goes to every layer here too.

``tests/llm/test_llm_layers.py`` checks that running ``[0, L)`` and the final norm equals the
model's own ``forward`` on both architectures, so a transformers upgrade that changes the layer
calling convention fails a test instead of silently changing scores.
"""
from __future__ import annotations

import inspect

import torch


def decoder_layers(body: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder layers ``forward`` runs (some models keep spares past ``num_hidden_layers``)."""
    return body.layers[: body.config.num_hidden_layers]


def num_layers(body: torch.nn.Module) -> int:
    return len(decoder_layers(body))


def _rotary_per_layer_type(body: torch.nn.Module) -> bool:
    return "layer_type" in inspect.signature(body.rotary_emb.forward).parameters


def embed(body: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The hidden states entering layer 0 (Gemma's embedding module applies its own scaling)."""
    return body.embed_tokens(input_ids)


def run_layers(body: torch.nn.Module, hidden: torch.Tensor, mask: torch.Tensor,
               position_ids: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Hidden states leaving layer ``stop - 1`` given those entering layer ``start`` (no final norm).

    ``mask`` is a (B, 1, T, T) boolean attention mask (True = may attend), ``position_ids`` (B, T).
    """
    layers = decoder_layers(body)
    if not 0 <= start <= stop <= len(layers):
        raise ValueError(f"layer range [{start}, {stop}) is outside the model's {len(layers)} layers")
    if start == stop:
        return hidden
    if _rotary_per_layer_type(body):
        kinds = body.config.layer_types
        rotary = {kind: body.rotary_emb(hidden, position_ids, kind) for kind in set(kinds[start:stop])}
        per_layer = [rotary[kinds[i]] for i in range(start, stop)]
    else:
        shared = body.rotary_emb(hidden, position_ids=position_ids)
        per_layer = [shared] * (stop - start)
    for layer, position_embeddings in zip(layers[start:stop], per_layer):
        hidden = layer(hidden, attention_mask=mask, position_embeddings=position_embeddings,
                       position_ids=position_ids)
        if isinstance(hidden, tuple):  # older layer implementations return (hidden, ...)
            hidden = hidden[0]
    return hidden
