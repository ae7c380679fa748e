"""Observation vector -> the prompt and the offered action strings the LLM reads (spec §1a.7).

Like the original ``obs2text`` this reads only the (partial) observation vector: an item outside the
view sits at (0, 0) there and is never mentioned. The prompt is a list of sentences joined by single
spaces; every templated sentence goes through ``str.capitalize()``. The quirks of the original are
kept on purpose (spec §4 item 10): "chop the X" is offered for an already chopped food, a bowl with
food lying back on its counter still reads "take the empty bowl", and Tomato Salad treats (2, 1) as
"in front of the cutting board".
"""
from __future__ import annotations

from envs.overcooked.layout import Cell, Task, approach_cell

ITEM_NAMES = {"tomato": "a tomato", "lettuce": "a lettuce", "onion": "an onion", "bowl": "a bowl"}
CHOPPED = 3  # chop counter of a fully chopped food


def join_list(words: list[str]) -> str:
    """``x``, ``x and y``, ``x, y and z``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


class PromptRenderer:
    """``render(obs) -> (prompt, actions)``, memoized per observation (they repeat a lot)."""

    def __init__(self, task: Task):
        self.task = task
        self.foods = task.foods
        self.n_foods = len(task.foods)
        self.boards = task.boards
        self.two_boards = len(self.boards) == 2
        if self.two_boards:
            self.intro = "There are two fixed cutting boards in the room."
            self.board_phrase = ("the first cutting board", "the second cutting board")
            self.goal = "To serve the dish of a bowl only containing chopped tomato and lettuce, you should first"
        else:
            self.intro = "There is a fixed cutting board in the room."
            self.board_phrase = ("the cutting board",)
            self.goal = "To serve the dish of a bowl only containing chopped tomato, you should first"
        # Cells where the agent stands "in front of" board b; Tomato Salad keeps the two-board code's
        # second cell (2, 1), which no macro ever ends on in that map.
        self.front: dict[Cell, int] = {(1, 1): 0, (2, 1): 1 if self.two_boards else 0}
        # "chop the X" is offered only from the board's own approach cell
        self.chop_cell = tuple(approach_cell(b, task.size) for b in self.boards)
        self.homes = task.food_cells + (task.plate_cell,)
        self.item_words = tuple(ITEM_NAMES[f] for f in self.foods) + (ITEM_NAMES["bowl"],)
        n, nb = self.n_foods, len(self.boards)
        self.bowl_id = n
        self.serve_id = n + 1 + nb
        self.chop_id = n + 2 + nb
        self.default_actions = tuple(
            [f"pick up the {f}" for f in self.foods]
            + ["take the empty bowl" if self.two_boards else "take the bowl"]
            + [f"walk to {p}" for p in self.board_phrase]
            + ["serve nothing", "chop nothing"]
        )
        self.agent_index = 3 * n + 2 + 2 * nb + 2
        self._cache: dict[tuple[int, ...], tuple[str, tuple[str, ...]]] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}

    def render(self, obs: tuple[int, ...]) -> tuple[str, tuple[str, ...]]:
        hit = self._cache.get(obs)
        if hit is None:
            hit = self._cache[obs] = self._render(obs)
        return hit

    def _render(self, obs: tuple[int, ...]) -> tuple[str, tuple[str, ...]]:
        n = self.n_foods
        cells = [(obs[3 * i], obs[3 * i + 1]) for i in range(n)] + [(obs[3 * n], obs[3 * n + 1])]
        chops = [obs[3 * i + 2] for i in range(n)]
        agent = (obs[self.agent_index], obs[self.agent_index + 1])
        bowl = self.bowl_id
        actions = list(self.default_actions)
        sentences = [self.intro]

        def at(cell: Cell) -> list[int]:
            return [i for i, c in enumerate(cells) if c == cell]

        def food_word(i: int) -> str:
            return f"a chopped {self.foods[i]}" if chops[i] == CHOPPED else f"an unchopped {self.foods[i]}"

        at_home = [self.item_words[i] for i, c in enumerate(cells) if c == self.homes[i]]
        if len(at_home) == 1:
            sentences.append(f"You notice {at_home[0]} on the table.".capitalize())
        elif at_home:
            sentences.append(f"You notice {join_list(at_home)} on the different tables.".capitalize())

        held = at(agent)
        on_boards = [at(b) for b in self.boards]
        if self.two_boards and any(len(items) >= 2 for items in [held] + on_boards):
            actions[bowl] = "take the bowl"

        for b, items in enumerate(on_boards):
            where = self.board_phrase[b]
            if len(items) == 1:
                i = items[0]
                what = "a bowl" if i == bowl else food_word(i)
                sentences.append(f"{what} is on {where}.".capitalize())
                if i != bowl and agent == self.chop_cell[b]:
                    actions[self.chop_id] = f"chop the {self.foods[i]}"
            elif items:
                if self.two_boards:
                    contents = join_list([self.foods[i] for i in items if i != bowl])
                    sentences.append(f"A bowl containing chopped {contents} is on {where}.".capitalize())
                else:
                    sentences.append(f"A bowl containing a chopped tomato is on {where}.".capitalize())

        front = self.front.get(agent)
        standing = f"Currently you are standing in front of {self.board_phrase[front]}" if front is not None else ""
        if not held:
            if standing:
                sentence = f"{standing} without anything in hand."
            else:
                sentence = "Currently you don't have anything in hand."
        else:
            actions[self.serve_id] = "serve the dish"
            carrying_bowl = bowl in held
            if len(held) == 1 and carrying_bowl:
                what = "a bowl in hand"
            elif len(held) == 1:
                what = f"{food_word(held[0])} in hand"
                if chops[held[0]] != CHOPPED:
                    for b, where in enumerate(self.board_phrase):
                        actions[n + 1 + b] = f"put the {self.foods[held[0]]} on {where}"
            else:
                contents = join_list([self.foods[i] for i in held if i != bowl])
                # the original drops "in hand" here unless standing in front of a board
                what = f"a bowl containing chopped {contents}" + (" in hand" if standing else "")
            if carrying_bowl:
                for i, food in enumerate(self.foods):
                    actions[i] = f"put the {food} in the bowl"
                for b, where in enumerate(self.board_phrase):
                    actions[n + 1 + b] = f"put the bowl on {where}"
            sentence = f"{standing}, carrying {what}." if standing else f"Currently you are carrying {what}."
        sentences.append(sentence.capitalize())
        sentences.append(self.goal)
        return " ".join(sentences), tuple(actions)
