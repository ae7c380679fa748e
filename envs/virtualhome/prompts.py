"""Observation-to-text: the prompt and the offered actions, as functions of the flag vector.

The original computes both in ``obs2text`` from the observation vector alone (spec §1b.7), so a
renderer here reads only the :class:`Flags` of one observation. Each renderer returns the *middle
text* of spec Appendix B (the prompt without the fixed room-list prefix and the goal suffix) and the
offered global action ids in the order shown to the LLM.

The default output reproduces the original byte for byte, typos included ("opend", "the them",
"You are in the bathroom. and ...", duplicated sentences, sentences about the wrong object).
``Wording(fix_typos=True)`` corrects exactly those text bugs (listed in the package docstring) and
never changes an offered list, so the dynamics stay those of the original.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

PREFIX = "There are four rooms: the kitchen, bathroom, bedroom, and living room. You are in the "
SUFFIX = "your next step is to"


class Flags:
    """Read-only attribute view of one observation: ``f.hold_pancake`` -> bool."""

    def __init__(self, names, values):
        self.__dict__.update({name: bool(value) for name, value in zip(names, values)})

    def __setattr__(self, name, value):
        raise AttributeError("Flags are read-only")


class _WordsOrNames(dict):
    def __missing__(self, key: str) -> str:
        return key


@dataclass(frozen=True)
class Wording:
    """The words a task shows the LLM for its things (variants change only these)."""

    nouns: Mapping[str, str] = field(default_factory=dict)  # thing name -> word(s) in the text
    plural: frozenset[str] = frozenset()  # things whose word is plural ("clothes")
    fix_typos: bool = False
    legacy: bool = False  # the wording before commit ea878f3 (spec §1b.2), see Task.prompt

    def __getitem__(self, name: str) -> str:
        return self.nouns.get(name, name)

    def fill(self, template: str) -> str:
        """``"grab the {pancake}"`` -> ``"grab the cheese"``; a thing without a word keeps its name."""
        return template.format_map(_WordsOrNames(self.nouns))

    def be(self, name: str) -> str:
        # The original (and ADRL's variants) always says "is"; "The clothes is close to you." (sic)
        return "are" if self.fix_typos and name in self.plural else "is"


NOT_GRABBING = "Currently, you are not grabbing anything in hand. "


# -- Food Preparation (VirtualHome-v1, spec §1b.7 and Appendix B.1) ----------------------------
def food_preparation(f: Flags, w: Wording) -> tuple[str, tuple[int, ...]]:
    food, appliance = w["pancake"], w["microwave"]
    food_is = w.be("pancake")
    holding = f"Currently, you have grabbed the {food} in hand. " if f.hold_pancake else NOT_GRABBING

    for room, word, offered in (("bathroom", "bathroom", (0, 1, 3)), ("bedroom", "bedroom", (0, 1, 2)),
                                ("livingroom", "living room", (1, 2, 3))):
        if getattr(f, f"in_{room}"):
            # "You are in the bathroom. and notice nothing useful." (sic)
            stop = "" if w.fix_typos else "."
            return f"{word}{stop} and notice nothing useful. {holding}", offered

    text = "kitchen. "
    text += f"You notice {food} and {appliance}. " if f.see_pancake else f"The {food} {food_is} in the {appliance}. "
    if f.hold_pancake:
        if f.close_to_microwave:
            text += holding + f"The {appliance} is close to you. "
            offered = (0, 2, 3, 4, 7, 8, 9)
        else:
            text += holding + f"The {appliance} is not close to you. "
            offered = (0, 2, 3, 4, 5)
    elif f.close_to_pancake and f.close_to_microwave:  # the food lies in the open appliance
        offered = (0, 2, 3, 8, 9) if f.is_microwave_open else (0, 2, 3, 9)
    elif f.close_to_pancake:
        text += holding + f"The {food} {food_is} close to you. "
        offered = (0, 2, 3, 5, 6)
    elif f.close_to_microwave:
        text += holding + f"The {appliance} is close to you. "
        offered = (0, 2, 3, 4, 8, 9)
    else:
        text += holding + f"The {food} and the {appliance} are not close to you. "
        offered = (0, 2, 3, 4, 5)

    if not f.see_pancake:  # shut inside the appliance: the success state
        text += f"The {appliance} is closed. "
        offered = (0, 2, 3)
    elif f.is_microwave_open:
        text += f"The {appliance} is opened. "
    else:
        text += f"The {appliance} is {'not opened' if w.fix_typos else 'not opend'}. "
    return text, offered


# -- Entertainment (VirtualHome-v2, spec §1b.7 and Appendix B.2) --------------------------------
def _holding_plain(f: Flags) -> str:
    """The one-sentence holding text of the rooms and the living-room "not close" branch."""
    if f.hold_chips and f.hold_milk:
        return "Currently, you have grabbed the chips and the milk in hand. "
    if f.hold_chips:
        return "Currently, you have grabbed the chips in hand. "
    if f.hold_milk:
        return "Currently, you have grabbed the milk in hand. "
    return NOT_GRABBING


def _holding_near_furniture(f: Flags, w: Wording, tv_text: bool) -> str:
    """Holding text when close to the coffee table, the TV or the sofa.

    The original writes two chained sentences when the chips are held: "grabbed the chips" and then
    either the same sentence again or the one about the milk on the table. ``tv_text`` inserts "the
    TV is turned on, " after each "Currently, ".
    """
    if f.hold_chips and f.hold_milk:
        sentences = ["Currently, you have grabbed the chips and the milk in hand. "]
    elif f.hold_milk:
        sentences = ["Currently, you have the chips on the coffee table and the milk in your hand. "
                     if f.chips_on_coffeetable else "Currently, you have grabbed the milk in hand. "]
    elif f.hold_chips:
        second = ("Currently, you have the milk on the coffee table and the chips in your hand. "
                  if f.milk_on_coffeetable else "Currently, you have grabbed the chips in hand. ")
        sentences = [second] if w.fix_typos else ["Currently, you have grabbed the chips in hand. ", second]
    else:
        sentences = []
    if tv_text:
        sentences = [s.replace("Currently, ", "Currently, the TV is turned on, ", 1) for s in sentences]
    return "".join(sentences)


def _kitchen(f: Flags, w: Wording) -> tuple[str, tuple[int, ...]]:
    if f.see_chips and f.see_milk:
        text = "and notice chips and milk. "
        if f.hold_chips and f.hold_milk:
            return text + "Currently, you have grabbed the chips and the milk in hand. ", (0, 2, 3)
        if f.hold_chips:
            if f.close_to_milk:
                return (text + "The milk is close to you. But you have not grabbed the milk. "
                        "Currently, you have grabbed the chips in hand. ", (0, 2, 3, 10))
            return text + "The milk is not close to you. Currently, you have grabbed the chips in hand. ", (0, 2, 3, 5)
        if f.hold_milk:
            if f.close_to_chips:
                return (text + "The chips are close to you. But you have not grabbed the chips. "
                        "Currently, you have grabbed the milk in hand. ", (0, 2, 3, 9))
            return text + "The chips are not close to you. Currently, you have grabbed the milk in hand. ", (0, 2, 3, 4)
        if f.close_to_chips and f.close_to_milk:
            them = "them" if w.fix_typos else "the them"  # sic
            text, offered = text + f"They are close to you. But you have not grabbed {them}. ", (0, 2, 3, 9, 10)
        elif f.close_to_chips:
            text, offered = text + "The chips are close to you. But you have not grabbed the chips. ", (0, 2, 3, 5, 9)
        elif f.close_to_milk:
            text, offered = text + "The milk is close to you. But you have not grabbed the milk. ", (0, 2, 3, 4, 10)
        else:
            text, offered = text + "But they are not close to you. ", (0, 2, 3, 4, 5)
        return text + NOT_GRABBING, offered

    # Only one snack in sight: the original offers "walk to" the *other*, invisible snack, an
    # action that always fails (spec §1b.5). Kept: it is a dynamics bug, not a text typo.
    if f.see_chips:
        text = "and only notice chips. "
        if f.hold_chips:
            return text + "Currently, you have grabbed the chips in hand. ", (0, 2, 3)
        if f.close_to_chips:
            return text + "The chips are close to you. But you have not grabbed the chips. ", (0, 2, 3, 9)
        return text + "The chips are not close to you. ", (0, 2, 3, 5)
    if f.see_milk:
        text = "and notice milk. "
        if f.hold_milk:
            return text + "Currently, you have grabbed the milk in hand. ", (0, 2, 3)
        if f.close_to_milk:
            return text + "The milk is close to you. But you have not grabbed the milk. ", (0, 2, 3, 10)
        return text + "The milk is not close to you. ", (0, 2, 3, 4)
    return "and notice nothing. ", (0, 2, 3)


def _living_room(f: Flags, w: Wording) -> tuple[str, tuple[int, ...]]:
    text = "and you notice a coffee table, a TV and a sofa. "
    tv_on = f.is_tv_on
    if f.is_sit_sofa:
        return text + "You are sitting on the sofa. " + _holding_near_furniture(f, w, tv_on), (1, 2, 3)
    if f.close_to_sofa:
        offered = (1, 2, 3, 6, 7, 15, 16) if tv_on else (1, 2, 3, 6, 7)
        return text + "The sofa is close to you. " + _holding_near_furniture(f, w, tv_on), offered
    if f.close_to_tv:
        if tv_on:
            near = "The TV is close to you. " if w.fix_typos else "The sofa is not close to you. "  # sic
            return text + near + _holding_near_furniture(f, w, True), (1, 2, 3, 6, 8)
        return text + "The TV is close to you. " + _holding_near_furniture(f, w, False), (1, 2, 3, 6, 8, 13, 14)
    if f.close_to_coffeetable:
        near = "The coffee table is close to you. "
        if f.hold_chips and f.hold_milk:
            offered = (1, 2, 3, 7, 8, 11, 12)
        elif (f.hold_chips and f.milk_on_coffeetable) or (f.hold_milk and f.chips_on_coffeetable):
            offered = (1, 2, 3, 7, 8)  # the held snack cannot be put next to the other one
            if not w.fix_typos:
                near = "The TV is not close to you. "  # sic
        elif f.hold_chips:
            offered = (1, 2, 3, 7, 8, 11)
        elif f.hold_milk:
            offered = (1, 2, 3, 7, 8, 12)
        else:
            return text + near + NOT_GRABBING, (1, 2, 3)
        return text + near + _holding_near_furniture(f, w, False), offered
    return text + "They are not close to you. " + _holding_plain(f), (1, 2, 3, 6, 7, 8)


def entertainment(f: Flags, w: Wording) -> tuple[str, tuple[int, ...]]:
    if f.in_kitchen:
        text, offered = _kitchen(f, w)
        return "kitchen " + text, offered
    if f.in_livingroom:
        text, offered = _living_room(f, w)
        return "living room " + text, offered
    if f.in_bedroom:
        return "bedroom and notice nothing. " + _holding_plain(f), (0, 1, 2)
    return "bathroom and notice nothing. " + _holding_plain(f), (0, 1, 3)
