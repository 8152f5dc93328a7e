"""Bundled plugin: the probability tools of `gentk.prob` as components (Langevin sampler,
Langevin and EM models on toy mixtures, mode-coverage and log-likelihood metrics)."""
