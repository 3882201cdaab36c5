"""Training: the GAN trainer (`train` runs it, `step` is one optimisation step, `state` the state
and its checkpoints), its losses and augmentations, torchrun processes, the phantom datasets it
reads (`data`), and the small phantom classifier behind the GestaltLoss and the gates."""
