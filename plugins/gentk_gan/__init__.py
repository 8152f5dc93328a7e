"""Bundled plugin: generative adversarial networks (GAN, WGAN, WGAN-GP, conditional and AC-GAN)."""
