"""Optuna hyperparameter sweeps whose trials are protocol runs.

Importing this package only registers ``harness sweep``; Optuna is imported when it runs.
"""
from harness.registry import register_command

register_command("sweep", help="Optuna hyperparameter sweep (harness sweep --help)",
                 target="sweeps.cli:main")
