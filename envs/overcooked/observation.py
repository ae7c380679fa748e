"""The observation vector (spec §1a.6): raw integer positions, hidden outside the agent's view.

Items in fixed order: each food (x, y, chop counter), the plate (x, y), each cutting board (x, y),
the delivery counter (x, y), then the observing agent (x, y) and, with two agents, the other agent
(x, y); then a 7-dim one-hot of the recipe. An item outside the (2r+1)x(2r+1) view centred on the
observer (Chebyshev distance > r) reads 0, 0 (and chop counter 0). r = 0 means the whole map.
"""
from __future__ import annotations

from envs.overcooked.kitchen import Kitchen
from envs.overcooked.layout import RECIPES, Task


def observation_names(task: Task, n_agents: int = 1) -> list[str]:
    """Names of the vector's entries, e.g. ``tomato.x``; useful for debugging and docs."""
    names: list[str] = []
    for food in task.foods:
        names += [f"{food}.x", f"{food}.y", f"{food}.chop"]
    names += ["plate.x", "plate.y"]
    for i in range(len(task.boards)):
        names += [f"board{i + 1}.x", f"board{i + 1}.y"]
    names += ["delivery.x", "delivery.y", "agent.x", "agent.y"]
    if n_agents == 2:
        names += ["other_agent.x", "other_agent.y"]
    return names + [f"recipe={r}" for r in RECIPES]


class Observer:
    """Builds each agent's observation vector (as a tuple of ints) from the kitchen state."""

    def __init__(self, kitchen: Kitchen, obs_radius: int):
        self.kitchen = kitchen
        self.radius = obs_radius
        task = kitchen.task
        self.fixed = task.boards + (task.delivery,)
        self.one_hot = tuple(int(i == task.recipe_index) for i in range(len(RECIPES)))
        self.size = len(observation_names(task, kitchen.n_agents))

    def observe(self, agent: int) -> tuple[int, ...]:
        k = self.kitchen
        r = self.radius
        ax, ay = k.agents[agent]
        out: list[int] = []
        full = r == 0
        for food, (x, y) in enumerate(k.pos[: k.plate]):
            if full or (-r <= x - ax <= r and -r <= y - ay <= r):
                out += (x, y, k.chops[food])
            else:
                out += (0, 0, 0)
        cells = [k.pos[k.plate], *self.fixed, (ax, ay)]
        cells += [c for a, c in enumerate(k.agents) if a != agent]
        for x, y in cells:
            if full or (-r <= x - ax <= r and -r <= y - ay <= r):
                out += (x, y)
            else:
                out += (0, 0)
        return tuple(out) + self.one_hot
