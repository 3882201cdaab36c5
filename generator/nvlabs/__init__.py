"""NVlabs StyleGAN2-ADA / StyleGAN3 models: `snapshot` reads a network-snapshot pickle without
running its code, `importer` converts it into a generator checkpoint, and `stylegan2`, `stylegan3`
and `ops` compute what NVlabs' synthesis networks compute, behind `networks.ImportedGenerator`."""
