"""Procedural phantom portraits of fictional disorders: demo and training data with known ground truth.

numpy + Pillow only, so the web tier can render demo portraits without torch.
"""

from phantoms.dataset import write_dataset
from phantoms.disorders import DISORDERS, UNAFFECTED, PhantomDisorder, class_codes
from phantoms.render import render_portrait

__all__ = [
    "DISORDERS",
    "UNAFFECTED",
    "PhantomDisorder",
    "class_codes",
    "render_portrait",
    "write_dataset",
]
