"""The floor every method must beat: uniform over the offered actions, no learning."""
from __future__ import annotations

import numpy as np

from harness.env_api import EnvPool
from harness.method_api import Method
from harness.registry import register_method


@register_method("random", description="uniform over the offered actions; the floor (no learning)")
class RandomPolicy(Method):
    trains = False
    reads_text = True  # it only reads the offered action ids, so it runs in any env

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(self.seed)

    def act(self, obs, infos, rng, greedy=False):
        return np.array([rng.choice(info["action_ids"]) for info in infos])

    def action_probabilities(self, obs, infos):
        probs = np.zeros((len(infos), int(self.action_space.n)))
        for row, info in enumerate(infos):
            probs[row, list(info["action_ids"])] = 1.0 / len(info["action_ids"])
        return probs

    def learn(self, pool: EnvPool, steps: int) -> dict[str, float]:
        """Steps the training envs like any method would, so curves share one x-axis."""
        taken = 0
        while taken < steps:
            pool.step(self.act(pool.obs, pool.infos, self.rng))
            taken += len(pool)
        return {"env_steps": taken}

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
