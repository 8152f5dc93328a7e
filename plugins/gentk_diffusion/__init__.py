"""Bundled plugin: denoising diffusion (DDPM), classifier-free guidance and DDIM sampling."""
