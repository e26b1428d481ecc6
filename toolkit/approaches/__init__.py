"""The intermediate-phase approaches (english, mlm, translated, none), each a record of what it
feeds the one training engine, the domain corpora a stage may mix in, and their registry."""
