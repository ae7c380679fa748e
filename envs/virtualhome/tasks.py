"""Task definitions: a scene, an action vocabulary, an observation layout, a goal and a renderer.

A household task is data: which things exist and where they start, the actions with their global
ids, the flags of the observation vector, the success test over those flags and the function that
turns flags into a prompt. Food Preparation and Entertainment below are the two TWOSOME tasks
(spec §1b); the six unseen variants (spec §1b.8) are Food Preparation with other words.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from envs.virtualhome import prompts
from envs.virtualhome.actions import Action
from envs.virtualhome.prompts import Flags, Wording
from envs.virtualhome.scene import INSIDE, ON, ROOM_NODE_IDS, ROOMS, Scene, SceneState, Thing, flag_value

HORIZON = 50  # decisions per episode (`max_episode_length`)
GAMMA = 0.95  # discount of the logged return, hard-coded in the original wrappers


@dataclass(frozen=True)
class Task:
    """Everything the env knows about one task.

    ``render`` sees only the flags, as the original ``obs2text`` sees only the observation vector,
    so one observation always shows one prompt and one offered list (the property spec Appendix B
    is keyed on). ``goal`` also reads the flags: the original rewards what the agent observes.
    """

    name: str
    scene: Scene
    actions: tuple[Action, ...]  # index = global action id
    flags: tuple[tuple[str, str, tuple[str, ...]], ...]  # (vector key, flag kind, args), in vector order
    goal: Callable[[Flags], bool]  # success test on the observation (reward 1 and episode end)
    render: Callable[[Flags, Wording], tuple[str, tuple[int, ...]]]  # -> (middle text, offered ids)
    goal_text: str  # "In order to ..., " with {thing} placeholders
    wording: Wording = Wording()
    horizon: int = HORIZON
    gamma: float = GAMMA

    def __post_init__(self):
        # Catch a misspelt thing when the task is defined, not at its first step.
        things = self.scene.things
        for i, action in enumerate(self.actions):
            names = [n for n in (action.obj, action.target) if n is not None]
            known = ROOMS if action.verb == "walk_room" else things
            for name in names:
                if name not in known:
                    raise ValueError(f"{self.name}: action {i} ({action.text!r}) refers to {name!r}, "
                                     f"which is not in the scene; known: {', '.join(known)}")
        for flag, kind, args in self.flags:
            for name in args:
                if name not in (ROOMS if kind == "in_room" else things):
                    raise ValueError(f"{self.name}: flag {flag!r} refers to {name!r}, which is not in the scene")

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.flags)

    def observe(self, state: SceneState) -> tuple[bool, ...]:
        return tuple(flag_value(self.scene, state, kind, *args) for _, kind, args in self.flags)

    def action_text(self, action_id: int) -> str:
        action = self.actions[action_id]
        return self.wording.fill(action.legacy_text if self.wording.legacy and action.legacy_text else action.text)

    def prompt(self, middle: str) -> str:
        if self.wording.legacy:  # the one phrase that commit changed in every prompt (spec §1b.2)
            middle = middle.replace("close to you", "within your immediate reach")
        return prompts.PREFIX + middle + self.wording.fill(self.goal_text) + prompts.SUFFIX

    def with_wording(self, name: str, wording: Wording) -> "Task":
        return replace(self, name=name, wording=wording)


def _room_walks() -> tuple[Action, ...]:
    words = (("livingroom", "living room"), ("kitchen", "kitchen"), ("bathroom", "bathroom"), ("bedroom", "bedroom"))
    return tuple(Action("walk_room", room, text=f"walk to the {word}", script=f"[WALK] <{room}> ({ROOM_NODE_IDS[room]})")
                 for room, word in words)


def _room_flags() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple((f"in_{room}", "in_room", (room,)) for room in ROOMS)


# -- Food Preparation: heat the pancake in the microwave (VirtualHome-v1, spec §1b.4) -------------
_FOOD_SCENE = Scene(
    things={
        "pancake": Thing("pancake", 62, movable=True),
        "kitchentable": Thing("kitchentable", 72, room="kitchen"),
        "microwave": Thing("microwave", 109, room="kitchen", openable=True),
    },
    start=SceneState(room="kitchen", places=(("pancake", ON, "kitchentable"),)),
)


def _food_goal(f: Flags) -> bool:
    # In the kitchen without seeing the pancake <=> the pancake is shut in the microwave.
    return f.in_kitchen and not f.see_pancake


FOOD_PREPARATION = Task(
    name="food-preparation",
    scene=_FOOD_SCENE,
    actions=_room_walks() + (
        Action("walk", "pancake", text="walk to the {pancake}", script="[WALK] <pancake> (62)",
               legacy_text="reach for the {pancake}"),
        Action("walk", "microwave", text="walk to the {microwave}", script="[WALK] <microwave> (109)",
               legacy_text="move to the {microwave}"),
        Action("grab", "pancake", text="grab the {pancake}", script="[GRAB] <pancake> (62)"),
        Action("put_in", "pancake", "microwave", text="put the {pancake} in the {microwave}",
               script="[PUTIN] <pancake> (62) <microwave> (109)"),
        Action("open", "microwave", text="open the {microwave}", script="[OPEN] <microwave> (109)"),
        Action("close", "microwave", text="close the {microwave}", script="[CLOSE] <microwave> (109)"),
    ),
    flags=_room_flags() + (
        ("see_pancake", "see", ("pancake",)),
        ("close_to_pancake", "close", ("pancake",)),
        ("hold_pancake", "hold", ("pancake",)),
        ("see_microwave", "see", ("microwave",)),
        ("close_to_microwave", "close", ("microwave",)),
        ("is_microwave_open", "open", ("microwave",)),
        ("pancake_in_microwave", INSIDE, ("pancake", "microwave")),
    ),
    goal=_food_goal,
    render=prompts.food_preparation,
    goal_text="In order to heat up the {pancake} in the {microwave}, ",
    wording=Wording({"pancake": "pancake", "microwave": "microwave"}),
)


# -- Entertainment: watch TV on the sofa with chips and milk (VirtualHome-v2, spec §1b.5) ------
_ENTERTAINMENT_SCENE = Scene(
    things={
        "chips": Thing("chips", 61, movable=True),
        "milk": Thing("milk", 46, movable=True),
        "kitchencounter": Thing("kitchencounter", 92, room="kitchen"),
        "kitchentable": Thing("kitchentable", 72, room="kitchen"),
        "coffeetable": Thing("coffeetable", 268, room="livingroom"),
        "tv": Thing("tv", 297, room="livingroom", switchable=True),
        "sofa": Thing("sofa", 276, room="livingroom", sittable=True, faces="tv"),
    },
    start=SceneState(room="kitchen", places=tuple(sorted((("chips", ON, "kitchencounter"),
                                                          ("milk", ON, "kitchentable"))))),
)


def _entertainment_goal(f: Flags) -> bool:
    return (f.in_livingroom and f.is_face_tv and f.is_tv_on and f.is_sit_sofa
            and (f.close_to_milk or f.milk_on_coffeetable) and (f.close_to_chips or f.chips_on_coffeetable))


ENTERTAINMENT = Task(
    name="entertainment",
    scene=_ENTERTAINMENT_SCENE,
    actions=_room_walks() + (
        Action("walk", "chips", text="walk to the chips", script="[WALK] <chips> (61)",
               legacy_text="reach for the chips"),
        Action("walk", "milk", text="walk to the milk", script="[WALK] <milk> (46)", legacy_text="reach for the milk"),
        Action("walk", "coffeetable", text="walk to the coffee table", script="[WALK] <coffeetable> (268)",
               legacy_text="move to the coffee table"),
        Action("walk", "tv", text="walk to the TV", script="[WALK] <television> (297)", legacy_text="move to the TV"),
        Action("walk", "sofa", text="walk to the sofa", script="[WALK] <sofa> (276)", legacy_text="move to the sofa"),
        Action("grab", "chips", text="grab the chips", script="[Grab] <chips> (61)"),
        Action("grab", "milk", text="grab the milk", script="[Grab] <milk> (46)"),
        Action("put_on", "chips", "coffeetable", text="put the chips on the coffee table",
               script="[putback] <chips> (61) <coffeetable> (268)"),
        Action("put_on", "milk", "coffeetable", text="put the milk on the coffee table",
               script="[putback] <milk> (46) <coffeetable> (268)"),
        Action("switch_on", "tv", text="turn on the TV", script="[SWITCHON] <television> (297)"),
        Action("switch_off", "tv", text="turn off the TV", script="[SWITCHOFF] <television> (297)"),
        Action("sit", "sofa", text="sit on the sofa", script="[SIT] <sofa> (276)", legacy_text="take a seat on the sofa"),
        Action("stand_up", text="stand up from the sofa", script="[StandUp]"),
    ),
    flags=_room_flags() + (
        ("see_chips", "see", ("chips",)),
        ("close_to_chips", "close", ("chips",)),
        ("hold_chips", "hold", ("chips",)),
        ("chips_on_coffeetable", ON, ("chips", "coffeetable")),
        ("see_milk", "see", ("milk",)),
        ("close_to_milk", "close", ("milk",)),
        ("hold_milk", "hold", ("milk",)),
        ("milk_on_coffeetable", ON, ("milk", "coffeetable")),
        ("see_tv", "see", ("tv",)),
        ("close_to_tv", "close", ("tv",)),
        ("is_face_tv", "facing", ("tv",)),
        ("is_tv_on", "switched_on", ("tv",)),
        ("see_sofa", "see", ("sofa",)),
        ("close_to_sofa", "close", ("sofa",)),
        ("is_sit_sofa", "sat_on", ("sofa",)),
        ("see_coffeetable", "see", ("coffeetable",)),
        ("close_to_coffeetable", "close", ("coffeetable",)),
    ),
    goal=_entertainment_goal,
    render=prompts.entertainment,
    goal_text="In order to enjoy the chips and the milk while watching TV, ",
)


# -- Unseen generalization set: Food Preparation with other words (spec §1b.8) -----------------
# name suffix -> (word for the pancake, word for the microwave, is the food word plural)
FOOD_VARIANTS = {
    "cheese": ("cheese", "microwave", False),
    "hamburger": ("hamburger", "microwave", False),
    "apple-pie": ("apple pie", "microwave", False),
    "pizza": ("pizza", "microwave", False),
    "washing-plate": ("dishes", "dishwasher", True),
    "laundry": ("clothes", "washing machine", True),
}


def food_variant(suffix: str) -> Task:
    if suffix not in FOOD_VARIANTS:
        raise ValueError(f"unknown Food Preparation variant {suffix!r}; valid: {', '.join(FOOD_VARIANTS)}")
    food, appliance, plural = FOOD_VARIANTS[suffix]
    wording = Wording({"pancake": food, "microwave": appliance}, plural=frozenset({"pancake"} if plural else ()))
    return FOOD_PREPARATION.with_wording(f"food-preparation-{suffix}", wording)


TASKS: dict[str, Task] = {task.name: task for task in (FOOD_PREPARATION, ENTERTAINMENT)}
TASKS.update({f"food-preparation-{suffix}": food_variant(suffix) for suffix in FOOD_VARIANTS})
