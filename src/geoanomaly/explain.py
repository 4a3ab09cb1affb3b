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

import numpy as np
import pandas as pd

#: leading elements named per sample (scores.csv, anomalies.gpkg) and per target
N_TOP = 3
#: how the named elements are chosen, added to every attribution's sentence
NAMED = (" Named as top elements: the largest positive parts among the elements above the "
         "model's background (an element far below it can raise a two-sided score too, but an "
         "explorer does not read that as what drives the anomaly).")


@dataclass
class Explanation:
    """(n, m) numbers per sample / cell and element: higher = pushes the sample towards
    anomalous; ``attribution`` False for the descriptive fallback."""

    values: pd.DataFrame
    method: str
    attribution: bool
    above: np.ndarray | None = None
    """(n, m) bool: the element lies above the model's background; only those are named"""

    def top(self, k: int = N_TOP) -> list[str]:
        """Per row the leading elements above their background, "Cu, Zn, Pb" ("" when none)."""
        from .detect.contributions import top_elements

        return top_elements(self.values, k=k, among=self.above)

    def shares(self, k: int = N_TOP) -> list[str]:
        """The same elements with their share of all the row's positive parts: "Cu 52%, Zn
        30%, Pb 9%" (less than 100 % in all when elements below their background or beyond
        the first k add to the score too)."""
        from .detect.contributions import top_element_shares

        return top_element_shares(self.values, k=k, among=self.above)

    def named_values(self) -> pd.DataFrame:
        """The values with elements at or below the model's background set to 0: what a
        target's top elements are averaged from."""
        if self.above is None:
            return self.values
        return self.values.where(self.above, 0.0)

    def columns(self) -> dict[str, list[str]]:
        """The columns scores.csv and anomalies.gpkg carry."""
        from .detect.contributions import top_elements_and_shares

        named, shares = top_elements_and_shares(self.values, k=N_TOP, among=self.above)
        if self.attribution:
            return {"top_elements": named, "top_shares": shares}
        return {"top_elements": named}


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

        if config.model == "mcd" and data.transformer.method in ("clr", "ilr"):
            return _mcd_on_balances(config, data, detector)
        X = model_features(config.model, config, data)
        names = list(data.feature_names) if X is data.X else None
        contrib = feature_contributions(detector, X, names)
        if contrib is None:
            why_not = ("the univariate score is the target element alone"
                       if config.model == "univariate"
                       else f"the {config.model} score has no per-element form")
        elif names is None:
            why_not = "its features are log-ratio balances that mix elements"
        else:
            per_element = element_contributions(contrib, contrib.feature_names, elements)
            if per_element is None:
                why_not = "its features mix elements"
            else:
                above = element_contributions(contrib.above.astype(np.float64),
                                              contrib.feature_names, elements) > 0.5
                return Explanation(pd.DataFrame(per_element, columns=elements,
                                                index=data.survey.values.index),
                                   contrib.method + NAMED, attribution=True, above=above)
    excess = background_excess(data.survey.values[elements])
    return Explanation(excess, f"{BACKGROUND_EXCESS_METHOD} (No attribution: {why_not}.)",
                       attribution=False)


def _mcd_on_balances(config, data, detector) -> Explanation:
    """MCD needs full-rank features, so on a composition it runs on scaled ilr balances (the
    run's own transform, or compare.model_features' for clr data); its Mahalanobis terms are
    taken back to the elements' clr values (contributions.mcd_clr_contributions)."""
    import numpy as np

    from .detect.contributions import mcd_clr_contributions
    from .transform import Transformer, pivot_basis

    values = data.survey.values
    balances = data.transformer if data.transformer.method == "ilr" else \
        Transformer(method="ilr", scale=config.scale).fit(values)  # as model_features
    logs = np.log(values[balances.elements_].to_numpy(dtype=np.float64))
    clr = logs - logs.mean(axis=1, keepdims=True)
    parts, above, method = mcd_clr_contributions(detector, clr, pivot_basis(clr.shape[1]),
                                                 balances.center_, balances.scale_)
    return Explanation(pd.DataFrame(parts, columns=list(balances.elements_), index=values.index),
                       method + NAMED, attribution=True, above=above)
