"""Inference: seeded inputs, batched sampling with provenance, and latent and pixel averages."""
