"""Actions and their effect on a :class:`~envs.virtualhome.scene.SceneState`.

These are the rules of VirtualHome's EvolvingGraph executor as far as TWOSOME's scene exercises
them (spec §1b.4-1b.5). An action whose precondition fails is a no-op (the env still counts the
step); :func:`execute` then returns the state unchanged.

Rules and why they look odd:

* Any walk fails while sitting (the executor has no implicit stand-up).
* A successful walk clears ``facing`` and makes the character close to the target, to what is
  inside the target, to the container the target is inside, and to everything held. Items lying
  *on* a target are not made close (walking to the coffee table does not bring the snacks near).
* Walking to an object goes to the room the executor records for it. For a held item that record is
  updated only on the *next* walk, so it lags one walk behind: walking to a held pancake can
  teleport the character to the room it was in before its last walk (spec §1b.4 quirk).
* Hands: opening a container or switching an appliance needs a free hand, so with both hands full
  the TV cannot be switched (spec §1b.5); holding one item still leaves one free. Closing a
  container needs no free hand (the spec lists no such precondition).
"""
from __future__ import annotations

from dataclasses import dataclass

from envs.virtualhome.scene import HAND, HANDS, INSIDE, ON, Scene, SceneState

VERBS = ("walk_room", "walk", "grab", "put_in", "put_on", "open", "close", "switch_on", "switch_off",
         "sit", "stand_up")


@dataclass(frozen=True)
class Action:
    """One entry of a task's action vocabulary; its index in the task is its global id.

    ``text`` is the LLM string with ``{thing}`` placeholders filled from the task's wording, e.g.
    ``"put the {pancake} in the {microwave}"``; ``legacy_text``, if set, is the string used before
    commit ea878f3 (spec §1b.2); ``script`` is the original executor script (for reference only).
    """

    verb: str
    obj: str | None = None
    target: str | None = None
    text: str = ""
    script: str = ""
    legacy_text: str = ""

    def __post_init__(self):
        if self.verb not in VERBS:
            raise ValueError(f"unknown verb {self.verb!r}; valid verbs: {', '.join(VERBS)}")


def _walk(scene: Scene, state: SceneState, destination: str, close: frozenset[str]) -> SceneState:
    held = state.held()
    moved = state
    for item in held:  # the lagging room record of held items catches up with the previous room
        moved = moved.with_place(item, HAND, state.room)
    return moved.evolve(room=destination, close=close | held, facing=frozenset())


def execute(scene: Scene, state: SceneState, action: Action) -> SceneState:
    """The state after ``action``; the same state if its precondition fails."""
    verb, obj, target = action.verb, action.obj, action.target
    thing = scene.things.get(obj)
    held = state.held()
    hand_free = len(held) < HANDS

    if verb == "walk_room":
        if state.sitting_on is not None:
            return state
        return _walk(scene, state, obj, frozenset())

    if verb == "walk":
        if state.sitting_on is not None or not scene.is_visible(state, obj):
            return state
        near = {obj} | scene.contents(state, obj)
        if scene.things[obj].movable:
            relation, where = state.place(obj)
            if relation == INSIDE:
                near.add(where)
        return _walk(scene, state, scene.room_of(state, obj), frozenset(near))

    if verb == "grab":
        if thing.movable and obj in state.close and scene.is_visible(state, obj) and obj not in held and hand_free:
            return state.with_place(obj, HAND, state.room)
        return state

    if verb == "put_in":
        if obj in held and target in state.close and scene.things[target].openable and target in state.opened:
            return state.with_place(obj, INSIDE, target)
        return state

    if verb == "put_on":
        if obj in held and target in state.close:
            return state.with_place(obj, ON, target)
        return state

    if verb == "open":
        if thing.openable and obj in state.close and obj not in state.opened and hand_free:
            return state.evolve(opened=state.opened | {obj})
        return state

    if verb == "close":
        if thing.openable and obj in state.close and obj in state.opened:
            return state.evolve(opened=state.opened - {obj})
        return state

    if verb in ("switch_on", "switch_off"):
        turn_on = verb == "switch_on"
        if thing.switchable and obj in state.close and hand_free and (obj in state.switched_on) != turn_on:
            switched = state.switched_on | {obj} if turn_on else state.switched_on - {obj}
            return state.evolve(switched_on=switched)
        return state

    if verb == "sit":
        if thing.sittable and obj in state.close and state.sitting_on is None:
            faces = thing.faces
            return state.evolve(sitting_on=obj, sat_on=state.sat_on | {obj},
                                facing=frozenset({faces}) if faces else frozenset())
        return state

    if verb == "stand_up":
        if state.sitting_on is not None:
            return state.evolve(sitting_on=None)
        return state

    raise AssertionError(verb)  # unreachable: Action validates its verb
