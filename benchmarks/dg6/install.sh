#!/bin/sh
# The original DeltaGlider 6.2.0 in a virtualenv of its own (never the project's), for
# benchmarks/series.py --dg6 benchmarks/dg6/.venv/bin/deltaglider. It needs xdelta3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install --quiet deltaglider==6.2.0
"$here/.venv/bin/deltaglider" --version
