"""Conditional StyleGAN2-style generator of phantom portraits: training, sampling, latent averages.

Importing this package is cheap: torch loads only when a submodule (api, cli, ...) is imported.
Never imports Django; the survey calls `generator.api` lazily.
"""
