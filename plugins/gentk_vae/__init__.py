"""Bundled plugin: variational autoencoders (VAE, β-VAE, IWAE) and importance-sampled NLL."""
