"""Why a sample is anomalous: per-sample, per-element numbers behind its score.

A detector whose score is a sum over features (the VAE and PPCA scores, the autoencoder's
reconstruction, MCD's Mahalanobis distance, PCA's residual) gives each element its own part of
the score (``detect/contributions.py``). Every other detector (isolation forest, ensembles, map
and guided models) and features that mix elements (ilr balances) get the descriptive fallback:
how far each element lies above the survey's background, as a robust z of log10 concentration.
The method sentence says which of the two a run shows, so a reader never takes the second for
the first.

The numbers explain the detector's own score of a sample, before the spatial context averages
ranks over neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: leading elements named per sample (scores.csv, anomalies.gpkg) and per target
N_TOP = 3


@dataclass
class Explanation:
    """(n, m) numbers per sample / cell and element: higher = pushes the sample towards
    anomalous; ``attribution`` False for the descriptive fallback."""

    values: pd.DataFrame
    method: str
    attribution: bool

    def top(self, k: int = N_TOP) -> list[str]:
        """Per row the leading elements, "Cu, Zn, Pb" ("" when none is positive)."""
        from .detect.contributions import top_elements

        return top_elements(self.values, k=k)

    def shares(self, k: int = N_TOP) -> list[str]:
        """Per row the leading elements with their share: "Cu 52%, Zn 30%, Pb 9%"."""
        from .detect.contributions import top_element_shares

        return top_element_shares(self.values, k=k)

    def columns(self) -> dict[str, list[str]]:
        """The columns scores.csv and anomalies.gpkg carry."""
        if self.attribution:
            return {"top_elements": self.top(), "top_shares": self.shares()}
        return {"top_elements": self.top()}


def explain(config, data, detector) -> Explanation:
    """The element contributions of the fitted ``detector`` to its score of every sample / cell
    of ``data``, or the background excess when it has none."""
    from .config import is_ensemble
    from .detect.contributions import (BACKGROUND_EXCESS_METHOD, background_excess,
                                       element_contributions, feature_contributions)
    from .detect.registry import spec

    elements = list(data.survey.elements)
    why_not = None
    if is_ensemble(config):
        why_not = "an ensemble's score is a mean of ranks"
    elif spec(config.model).input_kind == "windows":
        why_not = "a map model scores windows of cells"
    elif spec(config.model).guidance != "none":
        why_not = "a guided model is fitted per spatial fold"
    else:
        from .compare import model_features

        X = model_features(config.model, config, data)
        names = list(data.feature_names) if X is data.X else None
        contrib = feature_contributions(detector, X, names)
        if contrib is None:
            why_not = f"the {config.model} score has no per-element form"
        elif names is None:
            why_not = "its features are log-ratio balances that mix elements"
        else:
            per_element = element_contributions(contrib, contrib.feature_names, elements)
            if per_element is None:
                why_not = "its features mix elements"
            else:
                return Explanation(pd.DataFrame(per_element, columns=elements,
                                                index=data.survey.values.index),
                                   contrib.method, attribution=True)
    excess = background_excess(data.survey.values[elements])
    return Explanation(excess, f"{BACKGROUND_EXCESS_METHOD} (No attribution: {why_not}.)",
                       attribution=False)

