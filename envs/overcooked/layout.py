"""The two TWOSOME kitchens: 7x7 map A with one (Tomato Salad) or two (Tomato-Lettuce Salad) boards.

Cells are ``(x, y)`` with ``x`` the row (0 = top) and ``y`` the column (0 = left), as in the original
gym-macro-overcooked. Everything here is static data, built once per task and shared by every env.
"""
from __future__ import annotations

from dataclasses import dataclass

Cell = tuple[int, int]

# Cell kinds of the static map. Items (foods, the plate) lie *on* counters; they are not map cells.
FLOOR, COUNTER, BOARD, DELIVERY = 0, 1, 2, 3

# Primitive actions, ids as in the original: right, down, left, up, stay.
RIGHT, DOWN, LEFT, UP, STAY = 0, 1, 2, 3, 4
MOVES: tuple[Cell, ...] = ((0, 1), (1, 0), (0, -1), (-1, 0))

# Recipe strings known to the original code; the observation ends with a one-hot over this list.
RECIPES = (
    "tomato salad",
    "lettuce salad",
    "onion salad",
    "lettuce-tomato salad",
    "onion-tomato salad",
    "lettuce-onion salad",
    "lettuce-onion-tomato salad",
)
# Dish names list their foods in this fixed order (alphabetical), joined by "-".
DISH_ORDER = ("lettuce", "onion", "tomato")

# Macro-action kinds; a macro is (kind, argument) with argument = food index or board index.
GET_FOOD, GET_PLATE, GO_TO_BOARD, DELIVER, CHOP = range(5)

# Start cells: the single agent starts at (1, 4) as in TWOSOME; a second agent starts at (1, 2), the
# cell the original 2-agent map A uses.
AGENT_STARTS: tuple[Cell, ...] = ((1, 4), (1, 2))


@dataclass(frozen=True)
class Task:
    """One Overcooked task: its map, items, recipe and macro-action list."""

    name: str  # registry suffix, e.g. "tomato-salad"
    title: str  # human name, e.g. "Tomato Salad"
    recipe: str  # the original's task string, e.g. "lettuce-tomato salad"
    rows: tuple[str, ...]  # the map, one string per row x; see ``parse_cells``
    foods: tuple[str, ...]  # food names in observation order (tomato, lettuce, onion)
    macros: tuple[tuple[int, int], ...]  # (kind, argument) per macro-action id
    macro_names: tuple[str, ...]  # the original env's names for the macros, same order

    @property
    def recipe_index(self) -> int:
        return RECIPES.index(self.recipe)

    @property
    def size(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])

    def cells_of(self, symbol: str) -> list[Cell]:
        return [(x, y) for x, row in enumerate(self.rows) for y, ch in enumerate(row) if ch == symbol]

    @property
    def food_cells(self) -> tuple[Cell, ...]:
        """Initial counter of each food, in ``foods`` order."""
        return tuple(self.cells_of(FOOD_SYMBOLS[f])[0] for f in self.foods)

    @property
    def plate_cell(self) -> Cell:
        return self.cells_of("P")[0]

    @property
    def boards(self) -> tuple[Cell, ...]:
        return tuple(sorted(self.cells_of("1") + self.cells_of("2")))

    @property
    def delivery(self) -> Cell:
        return self.cells_of("D")[0]

    def kinds(self) -> tuple[tuple[int, ...], ...]:
        """Static map of cell kinds (items lie on COUNTER cells)."""
        kind = {".": FLOOR, "D": DELIVERY, "1": BOARD, "2": BOARD}
        return tuple(tuple(kind.get(ch, COUNTER) for ch in row) for row in self.rows)


FOOD_SYMBOLS = {"tomato": "T", "lettuce": "L", "onion": "O"}

# Map symbols: "#" counter, "." floor, "1"/"2" cutting boards, "D" delivery, "T"/"L"/"O" a food and
# "P" the plate on their initial counters. The agent start (1, 4) is floor.
TOMATO_SALAD = Task(
    name="tomato-salad",
    title="Tomato Salad",
    recipe="tomato salad",
    rows=(
        "#####T#",
        "1.....#",
        "#.....#",
        "D.....#",
        "#.....#",
        "#.....#",
        "#####P#",
    ),
    foods=("tomato",),
    macros=((GET_FOOD, 0), (GET_PLATE, 0), (GO_TO_BOARD, 0), (DELIVER, 0), (CHOP, 0)),
    macro_names=("get tomato", "get plate 1", "go to knife 1", "deliver", "chop"),
)

TOMATO_LETTUCE_SALAD = Task(
    name="tomato-lettuce-salad",
    title="Tomato-Lettuce Salad",
    recipe="lettuce-tomato salad",
    rows=(
        "#####T#",
        "1.....L",
        "2.....O",
        "D.....#",
        "#.....#",
        "#.....#",
        "#####P#",
    ),
    foods=("tomato", "lettuce", "onion"),
    macros=(
        (GET_FOOD, 0),
        (GET_FOOD, 1),
        (GET_FOOD, 2),
        (GET_PLATE, 0),
        (GO_TO_BOARD, 0),
        (GO_TO_BOARD, 1),
        (DELIVER, 0),
        (CHOP, 0),
    ),
    macro_names=(
        "get tomato",
        "get lettuce",
        "get onion",
        "get plate 1",
        "go to knife 1",
        "go to knife 2",
        "deliver",
        "chop",
    ),
)

TASKS: dict[str, Task] = {t.name: t for t in (TOMATO_SALAD, TOMATO_LETTUCE_SALAD)}


def get_task(name: str | Task) -> Task:
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown Overcooked task {name!r}; valid tasks: {', '.join(TASKS)}") from None


def approach_cell(cell: Cell, size: tuple[int, int]) -> Cell:
    """The one interior floor cell from which a border cell is reached (its inward neighbour)."""
    x, y = cell
    xlen, ylen = size
    if x == 0:
        return (1, y)
    if x == xlen - 1:
        return (xlen - 2, y)
    if y == 0:
        return (x, 1)
    if y == ylen - 1:
        return (x, ylen - 2)
    raise ValueError(f"cell {cell} is not on the border of the {xlen}x{ylen} map")
