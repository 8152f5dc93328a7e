"""Hypothesis strategies shared by the probability tests."""

import torch
from hypothesis import strategies as st


def probabilities(size: int, min_value: float = 0.0):
    """Probability vectors of a given size (float64), possibly with zeros when min_value = 0."""
    raw = st.lists(st.floats(min_value, 1.0), min_size=size, max_size=size).filter(lambda v: sum(v) > 1e-3)
    return raw.map(lambda v: torch.tensor(v, dtype=torch.float64) / sum(v))


def pairs_of_probabilities():
    return st.integers(2, 6).flatmap(lambda k: st.tuples(probabilities(k), probabilities(k)))


def vectors(dim: int, low: float, high: float):
    return st.lists(st.floats(low, high), min_size=dim, max_size=dim).map(
        lambda v: torch.tensor(v, dtype=torch.float64))


seeds = st.integers(0, 2**31 - 1)
