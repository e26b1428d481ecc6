"""The run configuration: its schema (`schema`), how values are merged and checked
(`overrides`), and how a DeepSpeed JSON is filled from it (`deepspeed`)."""
