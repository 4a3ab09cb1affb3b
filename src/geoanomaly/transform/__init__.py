"""Transform stage: log / log-ratio transforms, scaling and per-survey levelling."""

from .transforms import TRANSFORMS, Transformer, ilr_names, level_by_group, pivot_basis

__all__ = ["TRANSFORMS", "Transformer", "ilr_names", "level_by_group", "pivot_basis"]
