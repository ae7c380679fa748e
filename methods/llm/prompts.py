"""Reference states copied from the spec's appendices (verified prompts of the original envs).

Used by the LLM tests, the scoring benchmark and the zero-shot script, so that those measure the
model on real prompts without depending on the env implementations.
"""
from __future__ import annotations

_TOMATO_GOAL = "To serve the dish of a bowl only containing chopped tomato, you should first"
_BOARD = "There is a fixed cutting board in the room."
_DEFAULT = ["pick up the tomato", "take the bowl", "walk to the cutting board", "serve nothing",
            "chop nothing"]

# Spec Appendix A, prompt 21: the initial Tomato-Salad state.
TOMATO_INITIAL = ((f"{_BOARD} You notice a tomato on the table. Currently you don't have anything "
                   f"in hand. {_TOMATO_GOAL}"), list(_DEFAULT))

# The states of golden trace C.1 (Appendix C), i.e. Appendix A prompts 21, 13, 8, 6, 17, 11:
# what a good Tomato-Salad episode shows the policy, in order.
TOMATO_TRACE = [
    TOMATO_INITIAL,
    (f"{_BOARD} Currently you are carrying an unchopped tomato in hand. {_TOMATO_GOAL}",
     ["pick up the tomato", "take the bowl", "put the tomato on the cutting board", "serve the dish",
      "chop nothing"]),
    ((f"{_BOARD} An unchopped tomato is on the cutting board. Currently you are standing in front "
      f"of the cutting board without anything in hand. {_TOMATO_GOAL}"),
     ["pick up the tomato", "take the bowl", "walk to the cutting board", "serve nothing",
      "chop the tomato"]),
    ((f"{_BOARD} A chopped tomato is on the cutting board. Currently you are standing in front of "
      f"the cutting board without anything in hand. {_TOMATO_GOAL}"),
     ["pick up the tomato", "take the bowl", "walk to the cutting board", "serve nothing",
      "chop the tomato"]),
    ((f"{_BOARD} Currently you are standing in front of the cutting board, carrying a chopped "
      f"tomato in hand. {_TOMATO_GOAL}"),
     ["pick up the tomato", "take the bowl", "walk to the cutting board", "serve the dish",
      "chop nothing"]),
    (f"{_BOARD} Currently you are carrying a bowl containing chopped tomato. {_TOMATO_GOAL}",
     ["put the tomato in the bowl", "take the bowl", "put the bowl on the cutting board",
      "serve the dish", "chop nothing"]),
]

# Spec Appendix B.1 / §1b.7: the initial Food-Preparation state (kitchen, nothing close), offered
# global ids [0, 2, 3, 4, 5].
FOOD_INITIAL = (
    ("There are four rooms: the kitchen, bathroom, bedroom, and living room. You are in the kitchen. "
     "You notice pancake and microwave. Currently, you are not grabbing anything in hand. The pancake "
     "and the microwave are not close to you. The microwave is not opend. In order to heat up the "
     "pancake in the microwave, your next step is to"),
    ["walk to the living room", "walk to the bathroom", "walk to the bedroom", "walk to the pancake",
     "walk to the microwave"])
