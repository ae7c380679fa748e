"""The grid simulation: kitchen state and the primitive interaction rules (spec §1a.2).

A primitive action per agent is a move (right, down, left, up) or stay. A move toward a floor cell
walks there; a move toward any other cell leaves the agent in place and *interacts* with that cell
(pick up, put down, chop, combine with the plate, deliver). Every primitive step costs the step
penalty once (one team clock, also with two agents).

State is kept in small lists of ints and tuples so that copying, hashing and stepping stay cheap:
objects are numbered foods first (in ``task.foods`` order) then the plate; ``pos[o]`` is where object
``o`` currently is (a held object and the plate's contents move with their holder).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

from envs.overcooked.layout import (
    AGENT_STARTS,
    BOARD,
    COUNTER,
    DELIVERY,
    DISH_ORDER,
    FLOOR,
    MOVES,
    STAY,
    Cell,
    Task,
)

NOTHING = -1  # value of ``held[a]`` for an empty-handed agent
CHOPS_NEEDED = 3


@dataclass(frozen=True)
class Rewards:
    """Event rewards; TWOSOME's scripts use ``--env-reward 0.2 1 0.1 0.001`` (the defaults here)."""

    subtask: float = 0.2  # a recipe food becomes chopped
    correct: float = 1.0  # the recipe's dish is delivered (ends the episode)
    wrong: float = -0.1  # anything else is delivered
    step: float = -0.001  # every primitive step

    @classmethod
    def build(cls, value: "Rewards | Mapping[str, float] | None") -> "Rewards":
        """Defaults overridden by a mapping such as ``{"subtask": 0.1}`` (the PPO baseline's)."""
        if value is None:
            return cls()
        if isinstance(value, Rewards):
            return value
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(valid))
        if unknown:
            raise ValueError(f"unknown reward keys {unknown}; valid keys: {', '.join(valid)}")
        return cls(**{k: float(v) for k, v in value.items()})


class Kitchen:
    """One kitchen with ``n_agents`` chefs. ``step`` applies one primitive action per agent."""

    def __init__(self, task: Task, n_agents: int = 1, rewards: Rewards | None = None):
        if n_agents not in (1, 2):
            raise ValueError(f"n_agents must be 1 or 2, got {n_agents!r}")
        self.task = task
        self.n_agents = n_agents
        self.rewards = rewards or Rewards()
        self.kinds = task.kinds()
        self.n_foods = len(task.foods)
        self.plate = self.n_foods  # object id of the (single) plate
        self.home: tuple[Cell, ...] = task.food_cells + (task.plate_cell,)
        # a food counts toward the "subtask" reward when its name is part of the recipe string
        self.food_in_recipe = tuple(f in task.recipe for f in task.foods)
        self.dish_rank = tuple(DISH_ORDER.index(f) for f in task.foods)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.agents: list[Cell] = list(AGENT_STARTS[: self.n_agents])
        self.held: list[int] = [NOTHING] * self.n_agents
        self.pos: list[Cell] = list(self.home)
        self.chops: list[int] = [0] * self.n_foods
        self.contents: list[int] = []  # foods inside the plate, in the order they went in
        self.lying: dict[Cell, int] = {cell: obj for obj, cell in enumerate(self.home)}
        self.delivered = False  # the correct dish has been served

    def snapshot(self) -> tuple:
        """A hashable copy of the full state (``restore`` takes it back)."""
        return (
            tuple(self.agents),
            tuple(self.held),
            tuple(self.pos),
            tuple(self.chops),
            tuple(self.contents),
            self.delivered,
        )

    def restore(self, snap: tuple) -> None:
        agents, held, pos, chops, contents, delivered = snap
        self.agents, self.held, self.pos = list(agents), list(held), list(pos)
        self.chops, self.contents, self.delivered = list(chops), list(contents), delivered
        held_or_inside = set(held) | set(contents)
        self.lying = {pos[o]: o for o in range(len(pos)) if o not in held_or_inside}

    def is_chopped(self, obj: int) -> bool:
        return obj < self.plate and self.chops[obj] >= CHOPS_NEEDED

    def agent_at(self, cell: Cell) -> int:
        for a, c in enumerate(self.agents):
            if c == cell:
                return a
        return NOTHING

    # ------------------------------------------------------------------ dynamics
    def step(self, actions: list[int]) -> tuple[float, list[int]]:
        """Apply one primitive action per agent. Returns (team reward, agents that were blocked).

        Agents act one after another in index order; a move into a cell that another agent is
        leaving in the same step succeeds (the mover is retried after the others), a move into an
        occupied cell is blocked (no swapping through each other), as a collision.
        """
        reward = self.rewards.step
        if self.n_agents == 1:
            action = actions[0]
            if action != STAY:
                reward += self._act(0, action)
            return reward, []
        pending = [a for a in range(self.n_agents) if actions[a] != STAY]
        progress = True
        while pending and progress:
            progress = False
            for a in list(pending):
                dx, dy = MOVES[actions[a]]
                x, y = self.agents[a]
                if self.kinds[x + dx][y + dy] == FLOOR and self.agent_at((x + dx, y + dy)) != NOTHING:
                    continue  # wait: the other agent may still move away
                reward += self._act(a, actions[a])
                pending.remove(a)
                progress = True
        return reward, pending

    def _act(self, a: int, action: int) -> float:
        dx, dy = MOVES[action]
        x, y = self.agents[a]
        target = (x + dx, y + dy)
        kind = self.kinds[target[0]][target[1]]
        if kind == FLOOR:
            self._move(a, target)
            return 0.0
        if self.held[a] == NOTHING:
            return self._interact_empty_handed(a, target, kind)
        return self._interact_holding(a, target, kind)

    def _move(self, a: int, cell: Cell) -> None:
        self.agents[a] = cell
        held = self.held[a]
        if held != NOTHING:
            self.pos[held] = cell
            if held == self.plate:
                for food in self.contents:
                    self.pos[food] = cell

    def _pick_up(self, a: int, obj: int, cell: Cell) -> None:
        del self.lying[cell]
        self.held[a] = obj
        self._move(a, self.agents[a])  # the object (and its contents) now sit at the agent

    def _interact_empty_handed(self, a: int, target: Cell, kind: int) -> float:
        obj = self.lying.get(target, NOTHING)
        if obj == NOTHING:
            return 0.0
        if kind == COUNTER or obj == self.plate or self.is_chopped(obj):
            self._pick_up(a, obj, target)
            return 0.0
        if kind == BOARD:  # an unchopped food on a board: chop it once
            self.chops[obj] += 1
            if self.chops[obj] == CHOPS_NEEDED and self.food_in_recipe[obj]:
                return self.rewards.subtask
        return 0.0

    def _interact_holding(self, a: int, target: Cell, kind: int) -> float:
        held = self.held[a]
        plate = self.plate
        obj = self.lying.get(target, NOTHING)
        if kind == DELIVERY:
            return self._deliver(a, target)
        if kind == COUNTER:
            if obj == NOTHING:  # put the held object down on the empty counter
                self.held[a] = NOTHING
                self.lying[target] = held
                self._place(held, target)
            elif obj == plate:
                if self.is_chopped(held):  # the held food goes into the plate on the counter
                    self.held[a] = NOTHING
                    self.contents.append(held)
                    self.pos[held] = target
            elif self.is_chopped(obj) and held == plate:  # scoop a chopped food into the plate
                del self.lying[target]
                self.contents.append(obj)
                self.pos[obj] = self.agents[a]
            return 0.0
        # a cutting board
        if obj == NOTHING:
            self.held[a] = NOTHING
            self.lying[target] = held
            self._place(held, target)
        elif obj == plate:
            if self.is_chopped(held):  # pick up the plate from the board, the food goes in
                self.held[a] = NOTHING
                self.contents.append(held)
                self._pick_up(a, plate, target)
        elif held == plate and self.is_chopped(obj):  # the chopped food goes into the held plate
            del self.lying[target]
            self.contents.append(obj)
            self.pos[obj] = self.agents[a]
        return 0.0

    def _place(self, obj: int, cell: Cell) -> None:
        self.pos[obj] = cell
        if obj == self.plate:
            for food in self.contents:
                self.pos[food] = cell

    def _deliver(self, a: int, target: Cell) -> float:
        held = self.held[a]
        self.held[a] = NOTHING
        if held == self.plate and self.contents:
            foods = sorted(self.contents, key=self.dish_rank.__getitem__)
            dish = "-".join(self.task.foods[f] for f in foods) + " salad"
            if dish == self.task.recipe:
                # the dish stays on the delivery counter; the episode ends
                self.delivered = True
                self._place(held, target)
                return self.rewards.correct
        # a wrong dish, an empty plate or a bare food: everything delivered returns home, unchopped
        returned = [held] + (self.contents if held == self.plate else [])
        if held == self.plate:
            self.contents = []
        for obj in returned:
            self.pos[obj] = self.home[obj]
            self.lying[self.home[obj]] = obj
            if obj < self.plate:
                self.chops[obj] = 0
        return self.rewards.wrong
