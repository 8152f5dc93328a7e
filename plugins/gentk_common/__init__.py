"""Bundled plugin: optimizers (and other components every family shares)."""
