"""The household scene and its symbolic state: where things are and what the agent can observe.

This is the small part of VirtualHome's EvolvingGraph that TWOSOME's two tasks touch, reduced to
the facts that change observations (spec §1b.1, §1b.3-1b.5). ``node_id`` is the id of the node in
the original scene graph ``turn_on_tv.json``; it is kept only so a reader can match an action with
the original executor script (e.g. ``[WALK] <pancake> (62)``).

A :class:`SceneState` is immutable and hashable, so the env can enumerate every reachable state once
and then step by table lookup (see ``env.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

# Rooms in the order of the ``in_<room>`` flags of the observation vector (spec §1b.3).
ROOMS = ("kitchen", "bathroom", "bedroom", "livingroom")
ROOM_NODE_IDS = {"kitchen": 11, "bathroom": 172, "bedroom": 210, "livingroom": 267}

HAND = "hand"  # the relation of a held item; its target is the room the executor still records for it
INSIDE = "inside"
ON = "on"
HANDS = 2  # items the character can hold at once; opening/switching needs one hand free


@dataclass(frozen=True)
class Thing:
    """A node of the scene graph that a task refers to.

    Fixed things stand in ``room``; movable items have no room of their own, they are placed
    inside/on a fixed thing or held (see :class:`SceneState.places`).
    """

    name: str
    node_id: int
    room: str | None = None
    movable: bool = False
    openable: bool = False  # a container with an open/closed state (the microwave)
    switchable: bool = False  # an appliance with an on/off state (the TV)
    sittable: bool = False
    faces: str | None = None  # what sitting on it makes the character face (sofa -> tv)


@dataclass(frozen=True)
class SceneState:
    """Everything that can change. Sets are frozensets and ``places`` is sorted, so equal
    situations compare and hash equal.

    ``places`` holds one ``(item, relation, target)`` per movable item: ``("pancake", "on",
    "kitchentable")``, ``("pancake", "inside", "microwave")`` or ``("pancake", "hand", room)``. For a
    held item the target is the room the original executor records for it, which lags one walk
    behind the character (the "held pancake room lag" of spec §1b.4).
    """

    room: str
    places: tuple[tuple[str, str, str], ...]
    opened: frozenset[str] = frozenset()
    switched_on: frozenset[str] = frozenset()
    close: frozenset[str] = frozenset()  # things the character is close to
    sitting_on: str | None = None
    sat_on: frozenset[str] = frozenset()  # the ON edge of sitting is never removed, even by standing up
    facing: frozenset[str] = frozenset()

    def place(self, item: str) -> tuple[str, str]:
        for name, relation, target in self.places:
            if name == item:
                return relation, target
        raise KeyError(f"{item!r} is not a movable item of this scene")

    def held(self) -> frozenset[str]:
        return frozenset(name for name, relation, _ in self.places if relation == HAND)

    def with_place(self, item: str, relation: str, target: str) -> "SceneState":
        places = tuple(sorted((n, r, t) if n != item else (item, relation, target) for n, r, t in self.places))
        return replace(self, places=places)

    def evolve(self, **changes) -> "SceneState":
        return replace(self, **changes)


@dataclass(frozen=True)
class Scene:
    """The fixed part: which things exist and the start state."""

    things: Mapping[str, Thing]
    start: SceneState

    def __post_init__(self):
        for name, relation, target in self.start.places:
            if name not in self.things or not self.things[name].movable:
                raise ValueError(f"start places {name!r}, which is not a movable thing of the scene")
            if relation != HAND and target not in self.things:
                raise ValueError(f"start puts {name!r} {relation} {target!r}, which is not in the scene")

    # -- where things are -------------------------------------------------------------------
    def room_of(self, state: SceneState, name: str) -> str:
        """The room the executor records for ``name`` (for a held item: possibly a stale one)."""
        thing = self.things[name]
        if not thing.movable:
            return thing.room
        relation, target = state.place(name)
        return target if relation == HAND else self.room_of(state, target)

    def is_visible(self, state: SceneState, name: str) -> bool:
        """Partial observability: held things, and things in the character's room that are not
        shut inside a closed container."""
        thing = self.things[name]
        if thing.movable:
            relation, target = state.place(name)
            if relation == HAND:
                return True
            if relation == INSIDE and target not in state.opened:
                return False
            return self.is_visible(state, target)
        return thing.room == state.room

    def contents(self, state: SceneState, container: str) -> frozenset[str]:
        return frozenset(n for n, relation, target in state.places if relation == INSIDE and target == container)


# -- observation flags -------------------------------------------------------------------------
# A flag is (name, kind, *args); its value is computed from the masked graph: an object flag is
# only true if the object is observable, a relation flag only if both ends are (spec §1b.3).
def flag_value(scene: Scene, state: SceneState, kind: str, *args: str) -> bool:
    visible = scene.is_visible
    if kind == "in_room":
        return state.room == args[0]
    if kind == "see":
        return visible(state, args[0])
    if kind == "close":
        return args[0] in state.close and visible(state, args[0])
    if kind == "hold":
        return args[0] in state.held()
    if kind == "open":
        return args[0] in state.opened and visible(state, args[0])
    if kind in (INSIDE, ON):
        item, target = args
        return state.place(item) == (kind, target) and visible(state, item) and visible(state, target)
    if kind == "facing":
        return args[0] in state.facing and visible(state, args[0])
    if kind == "switched_on":
        return args[0] in state.switched_on and visible(state, args[0])
    if kind == "sat_on":
        return args[0] in state.sat_on and visible(state, args[0])
    raise ValueError(f"unknown flag kind {kind!r}; valid kinds: in_room, see, close, hold, open, "
                     f"inside, on, facing, switched_on, sat_on")
