"""Classic baselines under the Detector interface (scikit-learn underneath).

Every deep model must be compared with these: robust Mahalanobis distance (MCD), PCA
reconstruction error, isolation forest, and the single-element map a geochemist would draw
first.  Scores are computed from plain fitted arrays (location/precision, mean/components) rather
than by calling the sklearn estimator, so that a detector restored from an .npz (no pickle) gives
bit-identical scores.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .base import Detector, check_matrix


class MCDDetector(Detector):
    """Squared robust Mahalanobis distance from the Minimum Covariance Determinant estimate.

    ``support_fraction`` is passed to ``sklearn.covariance.MinCovDet`` (None = its default,
    (n + p + 1) / 2 rows); ``seed`` seeds its random starts.  Closed data (clr parts summing to
    zero) make the covariance singular: MCD then raises an InputError asking for ilr or for one
    part to be dropped, since a pseudo-inverse would silently ignore a direction.
    """

    name = "mcd"

    def __init__(self, support_fraction=None, seed=0):
        self.support_fraction = support_fraction
        self.seed = seed

    def fit(self, X, y=None):
        from sklearn.covariance import MinCovDet

        X = check_matrix(X)
        if X.shape[0] <= X.shape[1]:
            raise InputError(f"MCD needs more samples than features, got {X.shape[0]} samples "
                             f"and {X.shape[1]} features; use fewer elements or another model.")
        centred = X - X.mean(axis=0)
        if np.linalg.matrix_rank(centred) < X.shape[1]:
            raise InputError("the features are linearly dependent (for example clr parts that "
                             "sum to zero), so the MCD covariance is singular; use an ilr "
                             "transform or drop one feature.")
        estimator = MinCovDet(support_fraction=self.support_fraction,
                              random_state=int(self.seed)).fit(X)
        self.n_features_in_ = X.shape[1]
        self.location_ = estimator.location_.copy()
        self.covariance_ = estimator.covariance_.copy()
        self.precision_ = estimator.get_precision().copy()
        self.support_ = estimator.support_.copy()
        return self

    def anomaly_score(self, X) -> np.ndarray:
        check_is_fitted(self, "precision_")
        X = check_matrix(X, n_features=self.n_features_in_)
        centred = X - self.location_
        return np.einsum("ij,jk,ik->i", centred, self.precision_, centred)

    def _fitted_state(self):
        return ({"n_features_in_": int(self.n_features_in_)},
                {"location_": self.location_, "covariance_": self.covariance_,
                 "precision_": self.precision_, "support_": self.support_})

    def _restore_state(self, scalars, arrays) -> None:
        self.n_features_in_ = int(scalars["n_features_in_"])
        for key in ("location_", "covariance_", "precision_", "support_"):
            setattr(self, key, arrays[key])


class PCADetector(Detector):
    """Squared PCA reconstruction error summed over features.

    ``n_components``: an int (that many components) or a float in (0, 1) (the fewest components
    that explain that fraction of the variance; default 0.9).  At most p - 1 components are
    kept: with all p the reconstruction is exact and every score would be 0.
    """

    name = "pca"

    def __init__(self, n_components=0.9):
        self.n_components = n_components

    def fit(self, X, y=None):
        from sklearn.decomposition import PCA

        X = check_matrix(X)
        if X.shape[1] < 2:
            raise InputError("PCA reconstruction error needs at least 2 features; use the "
                             "'univariate' model for a single element.")
        wanted = self.n_components
        if isinstance(wanted, (float, np.floating)) and not 0 < wanted < 1:
            raise InputError(f"n_components={wanted!r}: a float must be a variance fraction "
                             "in (0, 1); give an int for a number of components.")
        if not isinstance(wanted, (float, np.floating)) and int(wanted) < 1:
            raise InputError(f"n_components must be at least 1, got {wanted!r}.")
        pca = PCA(n_components=wanted if isinstance(wanted, (float, np.floating)) else None,
                  svd_solver="full").fit(X)
        k = pca.n_components_ if isinstance(wanted, (float, np.floating)) else int(wanted)
        k = min(k, X.shape[1] - 1, pca.components_.shape[0])
        self.n_features_in_ = X.shape[1]
        self.n_components_ = int(k)
        self.mean_ = pca.mean_.copy()
        self.components_ = pca.components_[:k].copy()
        self.explained_variance_ratio_ = pca.explained_variance_ratio_[:k].copy()
        return self

    def anomaly_score(self, X) -> np.ndarray:
        check_is_fitted(self, "components_")
        X = check_matrix(X, n_features=self.n_features_in_)
        centred = X - self.mean_
        residual = centred - (centred @ self.components_.T) @ self.components_
        return np.square(residual).sum(axis=1)

    def _fitted_state(self):
        return ({"n_features_in_": int(self.n_features_in_),
                 "n_components_": int(self.n_components_)},
                {"mean_": self.mean_, "components_": self.components_,
                 "explained_variance_ratio_": self.explained_variance_ratio_})

    def _restore_state(self, scalars, arrays) -> None:
        self.n_features_in_ = int(scalars["n_features_in_"])
        self.n_components_ = int(scalars["n_components_"])
        for key in ("mean_", "components_", "explained_variance_ratio_"):
            setattr(self, key, arrays[key])


class IsolationForestDetector(Detector):
    """Isolation forest; score = ``-score_samples`` (higher = more anomalous).

    The fitted trees cannot be written without pickle, so a saved isolation forest keeps only
    its parameters: refit it with the same seed on the same data to reproduce the scores.
    """

    name = "iforest"

    def __init__(self, n_estimators=100, max_samples="auto", max_features=1.0, seed=0):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.seed = seed

    def fit(self, X, y=None):
        from sklearn.ensemble import IsolationForest

        X = check_matrix(X)
        self.n_features_in_ = X.shape[1]
        self.forest_ = IsolationForest(
            n_estimators=int(self.n_estimators), max_samples=self.max_samples,
            max_features=self.max_features, random_state=int(self.seed)).fit(X)
        return self

    def anomaly_score(self, X) -> np.ndarray:
        check_is_fitted(self, "forest_")
        X = check_matrix(X, n_features=self.n_features_in_)
        return -self.forest_.score_samples(X)

    #: read by persistence: this model is stored as parameters only
    _fitted_state = None


class UnivariateDetector(Detector):
    """The value of one feature (an element map): the baseline every multivariate score must beat.

    ``feature`` is a column index or a name looked up in ``feature_names`` (exact match first,
    then case-insensitive, so "cu" finds "Cu").  Apply it to transformed data (log or clr) so
    that "higher" means enriched.
    """

    name = "univariate"

    def __init__(self, feature=0, feature_names=None):
        self.feature = feature
        self.feature_names = feature_names

    def _feature_index(self, n_features: int) -> int:
        feature = self.feature
        if isinstance(feature, str):
            if self.feature_names is None:
                raise InputError(f"feature={feature!r} is a name but no feature_names were "
                                 "given; pass the column names or a column index.")
            names = [str(n) for n in self.feature_names]
            if len(names) != n_features:
                raise InputError(f"feature_names lists {len(names)} names but the data have "
                                 f"{n_features} features.")
            if feature in names:
                return names.index(feature)
            lowered = [n.lower() for n in names]
            if feature.lower() in lowered:
                return lowered.index(feature.lower())
            raise InputError(f"feature {feature!r} is not among the features "
                             f"({', '.join(names)}); pick one of them.")
        try:
            index = int(feature)
        except (TypeError, ValueError):
            raise InputError(f"feature must be a column index or name, got {feature!r}.") from None
        if not -n_features <= index < n_features:
            raise InputError(f"feature index {index} is out of range for {n_features} features.")
        return index % n_features

    def fit(self, X, y=None):
        X = check_matrix(X)
        self.n_features_in_ = X.shape[1]
        self.feature_index_ = self._feature_index(X.shape[1])
        return self

    def anomaly_score(self, X) -> np.ndarray:
        check_is_fitted(self, "feature_index_")
        X = check_matrix(X, n_features=self.n_features_in_)
        return X[:, self.feature_index_].copy()

    def _fitted_state(self):
        return ({"n_features_in_": int(self.n_features_in_),
                 "feature_index_": int(self.feature_index_)}, {})

    def _restore_state(self, scalars, arrays) -> None:
        self.n_features_in_ = int(scalars["n_features_in_"])
        self.feature_index_ = int(scalars["feature_index_"])
