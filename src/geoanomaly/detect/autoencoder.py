"""Deep autoencoder detector (DAN of Xiong & Zuo 2016) and the base shared by the deep detectors.

A plain autoencoder learns to reconstruct the background population; samples it reconstructs
badly are anomalous.  Score = squared reconstruction error summed over features.

``DeepDetector`` holds everything the AE and the VAE share (parameters, standardisation, the
fit/score flow, persistence hooks), so the two differ only in network, loss and score.  torch is
imported inside methods: importing this module (for the detector registry or ``--help``) stays
cheap.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .base import Detector, check_matrix
from ..errors import InputError


class DeepDetector(Detector):
    """Fit/score flow of the PyTorch detectors; subclasses give network, loss and score.

    Subclasses implement ``_build_network(n_features)`` (an ``nn.Module``),
    ``_batch_loss(network, batch, generator)`` (scalar loss and a dict of scalar parts) and
    ``_score_tensor(batch)`` (standardised float32 rows -> one score per row, higher = more
    anomalous).
    """

    #: fitted ints that ``_fitted_state`` saves (subclasses add theirs), and the float64 arrays
    _saved_ints = ("n_features_in_", "n_epochs_", "best_epoch_", "batch_size_")
    _saved_floats: tuple = ()
    _saved_arrays = ("mean_", "scale_")
    _saved_index_arrays: tuple = ()

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Standardise, split off a seeded validation set, train with early stopping."""
        from . import torch_training as tt

        device, Z, X_train, X_val = self._standardised_split(X)
        network = tt.build_seeded(lambda: self._build_network(Z.shape[1]), int(self.seed), device)
        result = tt.train_network(
            network, self._batch_loss, X_train, X_val, epochs=self.epochs,
            batch_size=self.batch_size, learning_rate=self.learning_rate,
            patience=self.patience, tol=float(self.tol), seed=int(self.seed),
            progress=self.progress)
        self.network_ = network
        self.device_ = str(device)
        self.history_ = result.history
        self.n_epochs_ = result.n_epochs
        self.batch_size_ = result.batch_size
        self.best_epoch_ = result.best_epoch
        self._after_fit(Z)
        return self

    def _standardised_split(self, X):
        """(device, Z, Z_train, Z_val): the rows checked, the parameters checked, the
        standardisation fitted (``mean_``, ``scale_``, ``n_features_in_``), the standardised
        rows as float32 on the device and their seeded train / validation split. The start of
        every row model's ``fit`` (the GANs' too)."""
        import torch

        from . import torch_training as tt

        X = check_matrix(X)
        self._check_params()
        device = tt.resolve_device(self.device)
        self.n_features_in_ = X.shape[1]
        self.mean_, self.scale_ = _standardisation(X, self.standardize)
        Z = torch.from_numpy(((X - self.mean_) / self.scale_).astype(np.float32)).to(device)
        train_idx, val_idx = tt.train_validation_split(X.shape[0], float(self.validation_fraction),
                                                       int(self.seed))
        return (device, Z, Z[torch.from_numpy(train_idx).to(device)],
                Z[torch.from_numpy(val_idx).to(device)])

    def _after_fit(self, Z) -> None:
        """Hook for fitted summaries computed with the best weights (the VAE's ``kl_``)."""

    def _check_params(self) -> None:
        from . import torch_training as tt

        tt.check_hidden(self.hidden, "hidden")
        if self.decoder_hidden is not None:
            tt.check_hidden(self.decoder_hidden, "decoder_hidden")
        tt.check_at_least_one(self, "latent_dim")
        tt.check_positive(self, "learning_rate")

    def _layer_sizes(self, n_features: int) -> tuple[list[int], list[int]]:
        """Encoder widths d -> hidden..., decoder widths latent -> decoder_hidden... (mirrored
        encoder when ``decoder_hidden`` is None)."""
        from . import torch_training as tt

        hidden = tt.check_hidden(self.hidden, "hidden")
        decoder = (list(reversed(hidden)) if self.decoder_hidden is None
                   else tt.check_hidden(self.decoder_hidden, "decoder_hidden"))
        return [n_features, *hidden], [int(self.latent_dim), *decoder]

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """One score per row, higher = more anomalous (see the class docstring for which)."""
        import torch

        from . import torch_training as tt

        check_is_fitted(self, "network_")
        # float32 input stays float32 (no float64 copy); score_in_chunks checks finiteness
        X = check_matrix(X, n_features=self.n_features_in_, dtype=None, check_finite=False)
        device = torch.device(self.device_)
        # standardise as one fused multiply-add per chunk: (x - mean) / scale = x * inv + shift
        inverse = torch.as_tensor(1.0 / self.scale_, dtype=torch.float32, device=device)
        shift = torch.as_tensor(-self.mean_ / self.scale_, dtype=torch.float32, device=device)
        self.network_.eval()
        state = self._scoring_state(device)
        return tt.score_in_chunks(
            lambda chunk: self._score_tensor(torch.addcmul(shift, chunk, inverse), state), X,
            device, chunk_rows=self._score_chunk_rows())

    def score_columns(self, XT: np.ndarray) -> np.ndarray:
        """One score per column of (features, n) float32 data that is clean and finite (the
        layout of a streamed window: stream/scoring.py), without transposing it to rows.

        Detectors with a column-wise score (``_columns_score``) run it on the CPU, the
        detector's standardisation one fused multiply-add per chunk; the others score the
        transposed view with ``anomaly_score``. Equal to ``anomaly_score`` to float32 rounding."""
        import torch

        from . import torch_training as tt

        check_is_fitted(self, "network_")
        if XT.ndim != 2 or XT.shape[0] != self.n_features_in_:
            raise InputError(f"expected ({self.n_features_in_}, n) columns, got {XT.shape}.")
        if not self._has_columns_score() or self.device_ != "cpu":
            return self.anomaly_score(XT.T)
        inverse = torch.as_tensor(1.0 / self.scale_, dtype=torch.float32).unsqueeze(1)
        shift = torch.as_tensor(-self.mean_ / self.scale_, dtype=torch.float32).unsqueeze(1)
        self.network_.eval()
        out = np.empty(XT.shape[1], dtype=np.float64)
        step = tt.SCORE_CHUNK_ROWS
        with torch.inference_mode():
            for start in range(0, XT.shape[1], step):
                chunk = torch.from_numpy(XT[:, start:start + step])
                out[start:start + chunk.shape[1]] = \
                    self._columns_score(torch.addcmul(shift, chunk, inverse)).numpy()
        return out

    def _has_columns_score(self) -> bool:
        return False

    def _columns_score(self, xT):
        """Standardised (features, n) float32 columns -> one score per column (scratch: xT)."""
        raise NotImplementedError

    def _scoring_state(self, device):
        """Per-call state for ``_score_tensor`` (the VAE's seeded sampling generator)."""
        return None

    def _score_chunk_rows(self) -> int:
        from . import torch_training as tt

        return tt.SCORE_CHUNK_ROWS

    # -- persistence (used by geoanomaly.detect.persistence) ------------------------------------
    def _fitted_state(self):
        """(JSON-able fitted scalars, {name: tensor}) that ``_restore_state`` turns back into a
        fitted detector (the attributes named in ``_saved_*``)."""
        from . import torch_training as tt

        return tt.fitted_network_state(self)

    def _restore_state(self, scalars: dict, tensors: dict) -> None:
        from . import torch_training as tt

        tt.restore_network_state(self, scalars, tensors)


class AutoencoderDetector(DeepDetector):
    """Deterministic deep autoencoder (DAN, Xiong & Zuo 2016); score = squared reconstruction
    error summed over (standardised) features.

    Parameters mirror :class:`geoanomaly.detect.vae.VAEDetector` (same 24-12-3-12-24 shape, same
    training loop, early stopping and seeding); the loss is the mean squared error.
    ``score``: "recon" (both signs) or "enrich" (only features above their reconstruction).
    ``standardize`` (default True) centres and scales each feature with the training mean and
    standard deviation inside the detector, so unscaled input cannot stall training; it is close
    to a no-op on data that the transform stage already standardised.
    """

    name = "ae"

    def __init__(self, hidden=(24, 12), latent_dim=3, decoder_hidden=None, activation="relu",
                 learning_rate=1e-3, epochs=200, batch_size="auto", validation_fraction=0.1,
                 patience=20, tol=1e-4, score="recon", standardize=True, seed=0, device="cpu",
                 progress=False, feature_weights=None):
        self.feature_weights = feature_weights
        self.score = score
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.decoder_hidden = decoder_hidden
        self.activation = activation
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.standardize = standardize
        self.seed = seed
        self.device = device
        self.progress = progress

    def _build_network(self, n_features: int):
        from torch import nn

        from . import torch_training as tt

        encoder, decoder = self._layer_sizes(n_features)
        return nn.Sequential(
            tt.mlp([*encoder, int(self.latent_dim)], self.activation, last_activation=False),
            tt.mlp([*decoder, n_features], self.activation, last_activation=False))

    @staticmethod
    def _batch_loss(network, batch, generator):
        error = (network(batch) - batch).square().mean()
        return error, {}

    def _check_params(self) -> None:
        super()._check_params()
        if self.score not in ("recon", "enrich"):
            raise InputError(f"score={self.score!r} is not known for the autoencoder; use recon "
                             "or enrich.")

    def _has_columns_score(self) -> bool:
        return True

    def _columns_score(self, xT):
        from . import torch_training as tt

        x_hat = tt.forward_columns(tt.linear_chain(self.network_), xT)
        error = xT.sub_(x_hat)
        if self.score == "enrich":
            error.clamp_min_(0.0)
        return column_weighted_sum(error.square_(), self.feature_weights)

    def _score_tensor(self, batch, state=None):
        import torch

        from . import torch_training as tt

        # the network's forward pass with feature-major activations (faster for narrow layers)
        x_hat = tt.feature_major_forward(tt.linear_chain(self.network_), batch)
        if self.score == "enrich":  # only enrichment above the reconstruction counts
            return weighted_sum(torch.sub(batch, x_hat, out=x_hat).clamp_min_(0.0).square_(),
                                self.feature_weights)
        return weighted_sum(x_hat.sub_(batch).square_(), self.feature_weights)


def weighted_sum(per_feature, weights):
    """Sums over the last (feature) axis of a (..., d) tensor, each feature times its weight
    (None = all ones)."""
    if weights is None:
        return per_feature.sum(dim=-1)
    import torch

    w = torch.as_tensor(list(weights), dtype=per_feature.dtype, device=per_feature.device)
    if w.shape[0] != per_feature.shape[-1]:
        raise InputError(f"feature_weights has {w.shape[0]} weights for {per_feature.shape[-1]} "
                         "features.")
    return per_feature @ w


def column_weighted_sum(per_feature, weights):
    """:func:`weighted_sum` over the first (feature) axis of (d, n) columns."""
    if weights is None:
        return per_feature.sum(dim=0)
    import torch

    w = torch.as_tensor(list(weights), dtype=per_feature.dtype, device=per_feature.device)
    return w @ per_feature


def _standardisation(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (std; 1 for constant features), or (0, 1) when switched off."""
    if not standardize:
        return np.zeros(X.shape[1]), np.ones(X.shape[1])
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return mean, scale
