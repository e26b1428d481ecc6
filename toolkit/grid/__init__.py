"""The experiment grid: approaches x intermediate tasks x target tasks x seeds, run inside one
launch (executor=local) or as one Slurm job per cell (executor=slurm, `toolkit.grid.slurm`).

A grid spec is a YAML file:

    base:                      # a run config, like configs/*.yaml (may start with `config: path`)
      experiment: paper
      model: {name_or_path: FacebookAI/xlm-roberta-large}
    approaches: [english, none]
    intermediates: [mnli, cosmosqa, mnli+cosmosqa]   # '+' joins a multi-task set; or a
                                                     # mapping approach -> list
    targets:                   # a task name, or {task, languages, overrides}
      - xnli
      - {task: udpos, languages: [en, de], overrides: {train.num_epochs: 5}}
    seeds: [1, 2, 3]
    axes:                      # optional: more dimensions, each value a label -> config overrides
      model:
        base:  {model.name_or_path: FacebookAI/xlm-roberta-base}
        large: {model.name_or_path: FacebookAI/xlm-roberta-large}
    intermediate_overrides: {train.num_epochs: 2}   # optional, per phase
    target_overrides: {train.learning_rate: 7.0e-6}
    slurm: {partition: gpu, target: {time_minutes: 240}}   # optional: executor=slurm's requests

Each (approach, intermediate) pair is one intermediate run (the `none` approach has none, and
one row whatever the intermediates), followed by every target x seed fine-tuned from it.
`>` chains intermediate stages (`mnli>squad_v2`, see `toolkit.pipeline.stages`): every prefix of a
chain is a cell of its own, shared with a grid entry of the same name. Axes multiply the
grid: every combination of their values is a variant, whose overrides apply after the phase
overrides and whose labels suffix the run folders (`squad@large`) and sit in results.json. The
phases own their run folders (DONE skips, checkpoints resume), so the grid only orders the
cells, isolates failures and builds the report. `plan` lists the cells and estimates their
compute without running anything.
"""
