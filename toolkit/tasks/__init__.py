"""Tasks as data: typed records (`records`), readers (`io`), one module per task family's
datasets, the registry (`registry`) and the benchmarks built from it (`benchmarks`)."""
