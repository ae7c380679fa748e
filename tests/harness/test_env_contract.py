"""Every registered env (plugins included) honours gymnasium's API and the text interface."""
import gymnasium as gym
import numpy as np
import pytest

from harness.env_api import EnvContractError, EnvSpec, check_env
from harness.registry import ENVS


@pytest.mark.parametrize("name", ENVS.names())
def test_every_registered_env_passes_check_env(name):
    check_env(ENVS.get(name))


class _BrokenMask(gym.Env):
    """A one-step env whose mask disagrees with its offered ids."""

    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, mask_at=(0, 1)):
        self.mask_at = mask_at

    def _info(self):
        mask = np.zeros(3, dtype=bool)
        mask[list(self.mask_at)] = True
        return {"prompt": "You see a door.", "actions": ["open the door", "wait"],
                "action_ids": [0, 1], "action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), self._info()

    def step(self, action):
        info = {**self._info(), "episode": {"return": 1.0, "length": 1, "success": True}}
        return np.zeros(2, np.float32), 1.0, True, False, info


def test_check_env_names_the_env_and_the_broken_rule():
    check_env(EnvSpec(name="toy/ok", factory=_BrokenMask))  # consistent: passes
    with pytest.raises(EnvContractError, match=r"toy/bad: episode 0, step 0: action_mask is True "
                                               r"at \[0, 2\], not exactly at action_ids \[0, 1\]"):
        check_env(EnvSpec(name="toy/bad", factory=lambda: _BrokenMask(mask_at=(0, 2))))
