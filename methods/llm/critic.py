"""The value head of the TWOSOME critic (spec §2.2): a bias-free ReLU MLP on a frozen LLM feature."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ValueHead(nn.Module):
    """``hidden -> 1024 -> 512 -> 1``, no biases, ReLU, float32 (DeepSpeed-Chat reward-head shape).

    Deviation from the original: each feature vector is scaled to unit root-mean-square before
    the MLP. Raw final hidden states of these models have large, model-dependent magnitudes (a
    gradient norm around 250 at initialisation was measured on Gemma), so an unnormalised head with
    PyTorch's default init starts with huge values and gradients. The scaling has no parameters
    and keeps the feature's direction; it makes one learning rate fit every base model.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (1024, 512)):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h, bias=False), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1, bias=False))
        self.mlp = nn.Sequential(*layers)

    @staticmethod
    def normalize(features: torch.Tensor) -> torch.Tensor:
        features = features.float()
        return features * torch.rsqrt(features.pow(2).mean(-1, keepdim=True) + 1e-6)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.normalize(features))[..., 0]
