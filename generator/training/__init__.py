"""Training: the GAN trainer (`train`), its losses and augmentations, torchrun processes, the
phantom datasets it reads (`data`), and the small phantom classifier behind the GestaltLoss and
the gates."""
