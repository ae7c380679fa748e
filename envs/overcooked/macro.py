"""Macro-actions: how one policy decision expands into primitive steps (spec §1a.4-1a.5).

Each macro has a target cell T: ``get <food>`` / ``get plate`` -> where that object is now (the
agent's own cell if it carries it), ``go to knife i`` -> board i, ``deliver`` -> the delivery counter.
Navigation is the original A*'s path in this empty interior: move vertically until in the row of T's
inward neighbour, then horizontally onto it, then step into T (the interaction). Per primitive step,
in this order:

1. ``get <food>`` whose target is within the view radius and holds the plate (the food is in the
   plate): stay, the macro ends.
2. T is a cell an agent stands on (the target is carried): stay, the macro ends.
3. Otherwise navigate. Next to T the macro ends after this step, except: ``get plate`` while
   carrying a chopped food does the step (food into the plate) and continues; while carrying an
   unchopped food it stays. ``go to knife`` empty-handed stays. ``get <food>`` whose food lies
   unchopped on a board stays.
4. After a step that did not end it, the macro also ends when ``go to knife`` / ``deliver`` are
   empty-handed and now next to their target, or ``get <food>`` is now next to a board holding that
   food unchopped.

``chop``: each step, look right, down, left, up for a board holding an unchopped food and interact
with it (whatever the agent carries); it ends after 3 such steps, or at once (stay) if none is found.

With two chefs (``multi``), when the partner stands on that path the chef takes the first move of a
shortest path around the partner instead (stay and end if the partner walls the target off). When
both chefs stand on each other's paths only ``chef_1`` steps aside (``chef_0`` has the right of way),
so that they do not mirror each other's detours forever.

The view radius only matters for rule 1 (TWOSOME uses 2; radius 0 means the whole map, as in the
original). Targets use true positions: in the single-agent kitchen the original's remembered
positions always equal them.
"""
from __future__ import annotations

from envs.overcooked.kitchen import NOTHING, Kitchen
from envs.overcooked.layout import (
    BOARD,
    CHOP,
    DOWN,
    FLOOR,
    GET_FOOD,
    GET_PLATE,
    GO_TO_BOARD,
    LEFT,
    MOVES,
    RIGHT,
    STAY,
    UP,
    Cell,
    approach_cell,
)

DISCOUNT = 0.99  # per primitive step inside a macro, hard-coded in the original
_DETOUR_ORDER = (DOWN, UP, RIGHT, LEFT)


def build_navigation(kitchen: Kitchen) -> dict[tuple[Cell, Cell], int]:
    """Next primitive move from every floor cell toward every non-floor cell (precomputed once)."""
    xlen, ylen = kitchen.task.size
    table: dict[tuple[Cell, Cell], int] = {}
    floor = [(x, y) for x in range(xlen) for y in range(ylen) if kitchen.kinds[x][y] == FLOOR]
    border = [(x, y) for x in range(xlen) for y in range(ylen) if kitchen.kinds[x][y] != FLOOR]
    for target in border:
        try:
            nx, ny = approach_cell(target, (xlen, ylen))
        except ValueError:
            continue
        for ax, ay in floor:
            if ax != nx:
                move = (1 if nx > ax else -1, 0)
            elif ay != ny:
                move = (0, 1 if ny > ay else -1)
            else:
                move = (target[0] - nx, target[1] - ny)
            table[((ax, ay), target)] = MOVES.index(move)
    return table


class MacroRunner:
    """Turns each agent's current macro into primitive actions, one step at a time."""

    def __init__(self, kitchen: Kitchen, obs_radius: int):
        self.kitchen = kitchen
        self.obs_radius = obs_radius
        self.macros = kitchen.task.macros
        self.boards = kitchen.task.boards
        self.delivery = kitchen.task.delivery
        self.navigation = build_navigation(kitchen)
        self.detoured = False

    def target(self, agent: int, kind: int, arg: int) -> Cell:
        k = self.kitchen
        if kind == GET_FOOD:
            return k.pos[arg]
        if kind == GET_PLATE:
            return k.pos[k.plate]
        if kind == GO_TO_BOARD:
            return self.boards[arg]
        return self.delivery

    def in_view(self, a: Cell, b: Cell) -> bool:
        r = self.obs_radius
        return r == 0 or (abs(a[0] - b[0]) <= r and abs(a[1] - b[1]) <= r)

    def _unchopped_on_board(self, cell: Cell, food: int) -> bool:
        k = self.kitchen
        x, y = cell
        return k.kinds[x][y] == BOARD and k.lying.get(cell) == food and not k.is_chopped(food)

    def plan(self, agent: int, macro: int, chops_done: int, detour: bool = True) -> tuple[int, bool]:
        """(primitive action, whether the macro ends with this step) for the agent's next step.

        ``detour=False`` keeps the plain path even if the partner stands on it; ``self.detoured``
        tells whether this plan stepped around the partner.
        """
        k = self.kitchen
        self.detoured = False
        kind, arg = self.macros[macro]
        here = k.agents[agent]
        if kind == CHOP:
            x, y = here
            for action, (dx, dy) in enumerate(MOVES):
                cell = (x + dx, y + dy)
                obj = k.lying.get(cell, NOTHING)
                if k.kinds[x + dx][y + dy] == BOARD and 0 <= obj < k.plate and not k.is_chopped(obj):
                    return action, chops_done + 1 >= 3
            return STAY, True
        target = self.target(agent, kind, arg)
        if kind == GET_FOOD and target == k.pos[k.plate] and self.in_view(here, target):
            return STAY, True  # the food is in the plate
        if k.agent_at(target) != NOTHING:
            return STAY, True  # the target is carried
        action = self.navigation[(here, target)]
        if abs(here[0] - target[0]) + abs(here[1] - target[1]) != 1:
            if detour and k.n_agents > 1 and self._partner_on_path(agent, here, target):
                self.detoured = True
                action = self._detour(here, target)
                return action, action == STAY
            return action, False
        held = k.held[agent]
        if kind == GET_PLATE and held != NOTHING and held != k.plate:
            if k.is_chopped(held):
                return action, False  # the food goes into the plate; the next step picks it up
            return STAY, True
        if kind == GO_TO_BOARD and held == NOTHING:
            return STAY, True
        if kind == GET_FOOD and self._unchopped_on_board(target, arg):
            return STAY, True
        return action, True

    def _partner_on_path(self, agent: int, here: Cell, target: Cell) -> bool:
        """Whether another chef stands on the plain (vertical, then horizontal) path to T."""
        nx, ny = approach_cell(target, self.kitchen.task.size)
        x, y = here
        for a, (px, py) in enumerate(self.kitchen.agents):
            if a == agent:
                continue
            if py == y and min(x, nx) <= px <= max(x, nx):  # on the vertical leg
                return True
            if px == nx and min(y, ny) <= py <= max(y, ny):  # on the horizontal leg
                return True
        return False

    def _detour(self, here: Cell, target: Cell) -> int:
        """With two chefs: the first move of a shortest floor path to T's approach cell that avoids
        the partner (vertical moves preferred, like the plain path), or STAY if it walls T off."""
        k = self.kitchen
        goal = approach_cell(target, k.task.size)
        blocked = set(k.agents)
        if goal in blocked:
            return STAY
        distance = {goal: 0}
        frontier = [goal]
        while frontier:
            nxt = []
            for x, y in frontier:
                for dx, dy in MOVES:
                    cell = (x + dx, y + dy)
                    if cell not in distance and k.kinds[cell[0]][cell[1]] == FLOOR and cell not in blocked:
                        distance[cell] = distance[(x, y)] + 1
                        nxt.append(cell)
            frontier = nxt
        best, best_distance = STAY, None
        for action in _DETOUR_ORDER:
            dx, dy = MOVES[action]
            d = distance.get((here[0] + dx, here[1] + dy))
            if d is not None and (best_distance is None or d < best_distance):
                best, best_distance = action, d
        return best

    def ends_after(self, agent: int, macro: int) -> bool:
        """Rule 4: the early stops checked after a step that did not end the macro."""
        k = self.kitchen
        kind, arg = self.macros[macro]
        if kind == CHOP or kind == GET_PLATE:
            return False
        here = k.agents[agent]
        target = self.target(agent, kind, arg)
        if abs(here[0] - target[0]) + abs(here[1] - target[1]) != 1:
            return False
        if kind == GET_FOOD:
            return self._unchopped_on_board(target, arg)
        return k.held[agent] == NOTHING  # go to knife / deliver, empty-handed

    def run(self, macro: int) -> tuple[float, int, bool]:
        """Run agent 0's macro to its end (single-agent kitchen).

        Returns (R = sum_k 0.99**k r_k over its primitive steps, k, correct dish delivered).
        """
        k = self.kitchen
        total = 0.0
        discount = 1.0
        steps = 0
        chops_done = 0
        step = k.step
        plan = self.plan
        while True:
            action, done = plan(0, macro, chops_done)
            reward, _ = step([action])
            total += discount * reward
            discount *= DISCOUNT
            steps += 1
            if self.macros[macro][0] == CHOP:
                chops_done += 1
            if done or k.delivered or self.ends_after(0, macro):
                return total, steps, k.delivered
