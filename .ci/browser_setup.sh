#!/usr/bin/env bash
# Install what the browser test (tests/test_browser.py, marker `browser`) needs: Debian's chromium, JupyterLab 4
# and Playwright's Python package. Idempotent. Never downloads a Playwright-managed browser
# (`playwright install` is NOT run: the test launches /usr/bin/chromium).
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium
fi

python -m pip install --quiet "jupyterlab>=4,<5" "playwright>=1.40"

/usr/bin/chromium --version
python -c "import jupyterlab, playwright, importlib.metadata as m; print('jupyterlab', jupyterlab.__version__, '| playwright', m.version('playwright'))"
