# Sourced by the other scripts: make .venv with Python 3.11 and install a requirements file into it,
# skipping pip when the file has not changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ensure_venv() {
  local requirements="$1"
  local python="${PYTHON:-}"
  if [ -z "$python" ]; then
    python=$(command -v python3.11 || command -v python3 || true)
  fi
  if [ -z "$python" ]; then
    echo "Python 3.11 is needed: install it, or set PYTHON=/path/to/python3.11" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($python --version)"
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename "$requirements")"
  if [ ! -f "$stamp" ]; then
    echo "Installing $requirements into .venv"
    # This machine's pip configuration names extra local indexes; their "is ignored" notes are noise.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    touch "$stamp"
  fi
}
