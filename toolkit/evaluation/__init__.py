"""Evaluation: XTREME's metrics, its submission file layout, and zero-shot scoring.

`metrics` computes every task's metric the way the official scripts do; `xtreme_format`
writes and reads predictions and gold labels in XTREME's submission layout and scores those
files exactly as XTREME's `evaluate.py` does.
"""
