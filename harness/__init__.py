"""Core of the harness: registries, config, evaluation protocol, results store and CLI.

This package knows the method and environment *interfaces* only; concrete methods and envs live in
the top-level ``methods`` and ``envs`` packages (or any package declared under the
``harness.plugins`` entry-point group) and register themselves by name.
"""
