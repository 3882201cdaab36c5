"""NVlabs StyleGAN2-ADA / StyleGAN3 models: `snapshot` reads a network-snapshot pickle without
running its code, `importer` converts it into a generator checkpoint (its mapping network through
`mapping`, its synthesis network's spec and tensors through `synthesis_spec`), and `stylegan2`,
`stylegan3` and `ops` compute what NVlabs' synthesis networks compute, behind `networks.ImportedGenerator`."""
