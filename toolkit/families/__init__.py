"""Task families: one module per kind of task (featurisation, head, decoding), the `Family`
record they fill (`base`) and the registry of them (`registry`)."""
