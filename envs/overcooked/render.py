"""Pictures of the kitchen: a text grid (``ansi``) and a small RGB array (``rgb_array``), no pygame.

Text legend: ``#`` counter, ``.`` floor, ``1``/``2`` cutting boards, ``D`` delivery, ``t``/``l``/``o``
an unchopped food, ``T``/``L``/``O`` a chopped one, ``p`` an empty plate, ``P`` a plate with food,
``A``/``B`` the agents (lower-case ``a``/``b`` when carrying something). A line per agent below the grid
says what it carries.
"""
from __future__ import annotations

import numpy as np

from envs.overcooked.kitchen import NOTHING, Kitchen
from envs.overcooked.layout import BOARD, COUNTER, DELIVERY, FLOOR

CELL_PX = 16
_KIND_COLOUR = {
    FLOOR: (235, 225, 205),
    COUNTER: (150, 110, 70),
    BOARD: (200, 200, 210),
    DELIVERY: (60, 160, 60),
}
_FOOD_COLOUR = {"tomato": (220, 40, 40), "lettuce": (80, 200, 60), "onion": (170, 90, 190)}
_PLATE_COLOUR = (250, 250, 250)
_AGENT_COLOUR = ((40, 80, 220), (230, 60, 200))
_BOARD_CHAR = "12"
_AGENT_CHAR = "AB"


def _object_char(k: Kitchen, obj: int) -> str:
    if obj == k.plate:
        return "P" if k.contents else "p"
    letter = k.task.foods[obj][0]
    return letter.upper() if k.is_chopped(obj) else letter


def _describe(k: Kitchen, obj: int) -> str:
    if obj == NOTHING:
        return "nothing"
    if obj == k.plate:
        if not k.contents:
            return "an empty plate"
        return "a plate with " + ", ".join(k.task.foods[f] for f in k.contents)
    state = "chopped" if k.is_chopped(obj) else f"unchopped ({k.chops[obj]}/3)"
    return f"a {state} {k.task.foods[obj]}"


def render_ansi(k: Kitchen) -> str:
    grid = []
    boards = iter(_BOARD_CHAR)
    for row in k.kinds:
        line = []
        for kind in row:
            line.append({FLOOR: ".", COUNTER: "#", DELIVERY: "D"}.get(kind) or next(boards))
        grid.append(line)
    for cell, obj in k.lying.items():
        grid[cell[0]][cell[1]] = _object_char(k, obj)
    for a, (x, y) in enumerate(k.agents):
        grid[x][y] = _AGENT_CHAR[a] if k.held[a] == NOTHING else _AGENT_CHAR[a].lower()
    lines = ["".join(line) for line in grid]
    lines += [f"agent {_AGENT_CHAR[a]} carries {_describe(k, k.held[a])}" for a in range(k.n_agents)]
    if k.delivered:
        lines.append("the dish has been delivered")
    return "\n".join(lines) + "\n"


def render_rgb(k: Kitchen, cell_px: int = CELL_PX) -> np.ndarray:
    """An (H, W, 3) uint8 image: cell colours, objects as inner squares, agents as framed squares."""
    xlen, ylen = k.task.size
    image = np.zeros((xlen * cell_px, ylen * cell_px, 3), dtype=np.uint8)
    q = cell_px // 4

    def fill(cell, colour, margin):
        top, left = cell[0] * cell_px, cell[1] * cell_px
        image[top + margin : top + cell_px - margin, left + margin : left + cell_px - margin] = colour

    for x, row in enumerate(k.kinds):
        for y, kind in enumerate(row):
            fill((x, y), _KIND_COLOUR[kind], 0)
    for a, cell in enumerate(k.agents):
        fill(cell, _AGENT_COLOUR[a], 1)
    for obj, cell in enumerate(k.pos):
        if obj == k.plate:
            fill(cell, _PLATE_COLOUR, q)
    for obj, cell in enumerate(k.pos[: k.plate]):
        colour = _FOOD_COLOUR[k.task.foods[obj]]
        if not k.is_chopped(obj):
            colour = tuple(c // 2 for c in colour)  # darker while unchopped
        fill(cell, colour, q + 2 if obj in k.contents else q + 1)
    return image
