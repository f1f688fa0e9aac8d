"""Keyword-only query functions, one module per table family; the rule for which statements they use is in
the storage package's docstring."""
