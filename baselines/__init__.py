"""The paper's alternative baselines, each feeding the same intermediate and target phases.

`baselines.translate`: the intermediate task's training data machine-translated into target
languages (the `translated` approach).
"""
