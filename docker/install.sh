#!/usr/bin/env bash
# Installs bedrock-reconciler, without extras, into a fresh virtual environment and checks it.
#
#   docker/install.sh [VENV] [SOURCE]      defaults: /opt/reconciler /src
#
# The Dockerfile's build stage runs it; tests/test_container.py runs the same script in a
# temporary folder, since no Docker engine is at hand to build the image in CI.
# PYTHON picks the interpreter (default python3). pip's cache is kept out of the image
# (--no-cache-dir) unless RECONCILER_INSTALL_CACHE=1, which the tests set to save time.
set -euo pipefail

venv="${1:-/opt/reconciler}"
src="${2:-/src}"
python="${PYTHON:-python3}"

pip_options=(--quiet --disable-pip-version-check)
if [[ "${RECONCILER_INSTALL_CACHE:-0}" != "1" ]]; then
    pip_options+=(--no-cache-dir)
fi

if [[ ! -f "$src/pyproject.toml" ]]; then
    echo "install.sh: no pyproject.toml in $src" >&2
    exit 1
fi

"$python" -m venv "$venv"
# The package alone: its extras (sandbox: the moto emulator; test) stay out of the image.
"$venv/bin/pip" install "${pip_options[@]}" "$src"
"$venv/bin/pip" check --disable-pip-version-check >/dev/null

# The installed command runs, and nothing from the extras came along.
"$venv/bin/reconciler" --help >/dev/null
for module in moto pytest; do
    if "$venv/bin/python" -c "import $module" 2>/dev/null; then
        echo "install.sh: $module is installed in $venv; the image must not contain it" >&2
        exit 1
    fi
done
echo "install.sh: reconciler installed in $venv"
