#!/usr/bin/env bash
# The experiment grid (toolkit/grid/). Works both ways:
#   bash run_scripts/grid.sh spec=configs/grids/X.yaml key=value ...   (one process)
#   deepspeed [launcher flags] run_scripts/grid.sh spec=configs/grids/X.yaml key=value ...
# The DeepSpeed launcher runs this file with `python -u` on every rank, so it is written to be
# valid bash and valid Python at once: bash reads the next line as a no-op and execs Python;
# Python reads the bash part as a string literal.
""":"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" -u "$here/grid.sh" "$@"
":"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from toolkit.cli import main  # noqa: E402

sys.exit(main(["grid"] + sys.argv[1:]))
