#!/usr/bin/env bash
# Fetch what a grid or a phase reads from the Hugging Face Hub into the Hugging Face cache, on a
# machine with network, so the same runs work with HF_HUB_OFFLINE=1 on nodes without it:
#   bash run_scripts/prepare.sh spec=configs/grids/X.yaml [key=value ...]
#   bash run_scripts/prepare.sh config=configs/X.yaml [key=value ...]
# Point HF_HOME (or HF_HUB_CACHE and HF_DATASETS_CACHE) at storage the compute nodes share.
# Valid bash and valid Python at once, like the other run scripts.
""":"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" -u "$here/prepare.sh" "$@"
":"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from toolkit.cli import main  # noqa: E402

sys.exit(main(["prepare"] + sys.argv[1:]))
