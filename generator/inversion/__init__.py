"""GAN inversion of real portraits (`invert`) and the unseen-disorder study on it (`study`)."""
