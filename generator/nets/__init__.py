"""The network core: configs, layers, the generator and discriminator, checkpoints, devices, and
loading a generator for inference (our own networks or an imported NVlabs one)."""
