"""Shared LLM policy core of SayCan and TWOSOME: model loading, action scoring, LoRA actor, critic.

Nothing heavy is imported here: ``methods/__init__.py`` imports this package while registering
methods, and ``harness list`` must stay fast. Import the submodules where they are needed::

    from methods.llm.policy import LLMConfig, LLMPolicy
"""
from harness.registry import register_command

register_command("ability", help="original-ability check: base vs tuned LLM of trained runs "
                 "(harness ability --help)", target="methods.llm.ability:main")
