"""The three phases as functions of a checked RunConfig, and what they share: the run folder
layout (`run_dirs`), intermediate stages (`stages`), config checks, inputs and results."""
