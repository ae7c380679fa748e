"""Every state a task can reach, with its observation, prompt and successors, computed once.

The tasks are tiny (tens to hundreds of states), so instead of re-running the rules and the renderer
at every step the env walks a precomputed table: a step is a list lookup. The table is built lazily
per (task, wording options) and shared by all envs in the process; envs pickle only the key.
"""
from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from envs.virtualhome.actions import execute
from envs.virtualhome.prompts import Flags
from envs.virtualhome.scene import SceneState
from envs.virtualhome.tasks import TASKS, Task


@dataclass
class Node:
    state: SceneState
    obs: np.ndarray  # float32 flag vector, read-only (the env hands out copies)
    flags: tuple[bool, ...]
    prompt: str
    middle_text: str  # the prompt without prefix and goal suffix (spec Appendix B's "middle text")
    action_ids: tuple[int, ...]  # offered global ids, in the order shown to the LLM
    actions: tuple[str, ...]  # their strings
    action_mask: np.ndarray  # bool over all global ids, read-only
    success: bool
    next: list[int]  # node index after each global action id (empty for success states)


@dataclass
class TaskGraph:
    task: Task
    nodes: list[Node]  # nodes[0] is the start state
    index: dict[SceneState, int]


def _make_node(task: Task, state: SceneState) -> Node:
    flags = task.observe(state)
    view = Flags(task.flag_names, flags)
    middle, offered = task.render(view, task.wording)
    mask = np.zeros(len(task.actions), dtype=bool)
    mask[list(offered)] = True
    obs = np.asarray(flags, dtype=np.float32)
    obs.flags.writeable = False
    mask.flags.writeable = False
    return Node(state=state, obs=obs, flags=flags, prompt=task.prompt(middle), middle_text=middle,
                action_ids=tuple(offered), actions=tuple(task.action_text(i) for i in offered),
                action_mask=mask, success=bool(task.goal(view)), next=[])


def build_graph(task: Task) -> TaskGraph:
    """Breadth-first over *all* action ids (offered or not: the original env executes any id),
    stopping at success states, which end the episode."""
    nodes = [_make_node(task, task.scene.start)]
    index = {task.scene.start: 0}
    queue = deque([0])
    while queue:
        node = nodes[queue.popleft()]
        if node.success:
            continue
        for action in task.actions:
            successor = execute(task.scene, node.state, action)
            if successor not in index:
                index[successor] = len(nodes)
                nodes.append(_make_node(task, successor))
                queue.append(index[successor])
            node.next.append(index[successor])
    return TaskGraph(task=task, nodes=nodes, index=index)


@functools.lru_cache(maxsize=None)
def task_graph(task_name: str, fix_typos: bool = False, legacy_wording: bool = False) -> TaskGraph:
    if task_name not in TASKS:
        raise ValueError(f"unknown VirtualHome task {task_name!r}; valid tasks: {', '.join(TASKS)}")
    task = TASKS[task_name]
    wording = replace(task.wording, fix_typos=bool(fix_typos), legacy=bool(legacy_wording))
    return build_graph(replace(task, wording=wording))


def policy_outcome(graph: TaskGraph, action_probs) -> tuple[float, float]:
    """Exact episode success probability and expected logged return of a memoryless policy.

    ``action_probs(node)`` gives the probabilities of ``node.action_ids`` (the offered actions, in
    order); the policy may depend on anything in the node, e.g. its prompt. The state distribution
    is propagated over the whole horizon, so the answer has no sampling error - what an episode
    count of 10 or 300 can only estimate (a policy that succeeds 0.1% of the time looks like 0).
    """
    gamma, horizon = graph.task.gamma, graph.task.horizon
    probs = {}
    mass, success, mean_return = {0: 1.0}, 0.0, 0.0
    for t in range(horizon):
        after: dict[int, float] = {}
        for i, p in mass.items():
            node = graph.nodes[i]
            if i not in probs:
                probs[i] = np.asarray(action_probs(node), dtype=np.float64)
                if probs[i].shape != (len(node.action_ids),):
                    raise ValueError(f"action_probs gave shape {probs[i].shape} for a node with "
                                     f"{len(node.action_ids)} offered actions")
            for action, q in zip(node.action_ids, probs[i]):
                j = node.next[action]
                if graph.nodes[j].success:
                    success += p * q
                    mean_return += p * q * gamma**t
                else:
                    after[j] = after.get(j, 0.0) + p * q
        mass = after
    return success, mean_return


def uniform_policy(node: Node) -> np.ndarray:
    """The random baseline: uniform over the offered actions."""
    return np.full(len(node.action_ids), 1.0 / len(node.action_ids))
