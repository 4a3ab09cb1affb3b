"""Info-DAN: Infomax-based deep autoencoder network (Esmaeiloghli, Tabatabaei & Carranza 2023,
Computers & Geosciences 175:105341), after the authors' R script (GitHub Saeid1986/Info-DAN).

The published workflow, step by step, and what this module does at each step:

1. ilr: ``compositions::ilr(data, V = ilrBase(data))``, the R default basis (normalised Helmert
   contrasts, :mod:`geoanomaly.transform.ilr_base`) on the raw concentrations.
2. Infomax ICA: ``ica::icaimax(x, nc = 8, alg = "gradient", fun = "tanh", rate = 1,
   maxit = 100, tol = 1e-6, Rmat = diag(nc))`` (:func:`geoanomaly.detect.infomax.infomax_ica`),
   all D-1 components by default; sources ordered by variance accounted for.
3. Min-max scaling of every source to [0, 1] over the fitted rows (the same minimum and range
   are applied to rows scored later, which may fall outside [0, 1]).
4. Autoencoder (``ANN2::autoencoder``): hidden layers 32-24-16-8-16-24-32 (``hidden`` gives the
   encoder half, mirrored without repeating the bottleneck), tanh on every hidden layer, linear
   output; ANN2's initialisation (weights N(0, 1 / fan_in), zero biases); squared loss summed
   over features and averaged over the batch; SGD with momentum 0.9, learning rate 1e-4;
   100 epochs of batches of 32 with the last incomplete batch dropped; 10 % of the rows held out
   as validation (n_train = ceil(0.9 n), as ANN2), used only to record a validation loss; the
   weights after the last epoch are kept (ANN2 has no early stopping).
5. Score: ``ANN2::reconstruct(...)$anomaly_scores``, the squared reconstruction error of the
   min-max scaled sources averaged over sources (sum / k); higher = more anomalous.

Choices where the paper's code leaves none to copy:

* Seeding: the authors ran with ``random.seed = NULL`` (unseeded Armadillo RNG), so their scores
  cannot be reproduced bit for bit.  Here ``seed`` fixes the weights (a private torch generator),
  the split and the shuffling (``numpy.random.default_rng(seed)``): the same seed gives the same
  scores.  Computation is in float64, as ANN2's.
* Tiny data: ANN2 with ``drop.last = TRUE`` trains on zero batches when the training rows are
  fewer than one batch; here one (partial) batch is kept instead.
* Training budget: with the published settings a network sees few updates (on the 100 test
  samples: 90 training rows, 2 batches per epoch, 200 steps at an effective rate of 1e-3), so on
  small or medium surveys it stays close to its random start and the scores mostly reflect the
  initial weights.  The published settings remain the default, for fidelity;
  ``optimizer="adam"``, a larger ``learning_rate``, more ``epochs`` and early stopping
  (``patience``: stop after that many epochs without a validation improvement of more than
  ``tol`` x max(1, |best|) and restore the best weights) are documented options that do train.

Input: this detector takes positive element concentrations (the cleaned survey values, one
column per element, any units), NOT the transformed features the other detectors take: it
declares ``input_kind = "composition"`` and does its own ilr.  ``export_tables(directory)``
writes the ilr coordinates (``ilr.csv``) and the sources (``sources.csv``) of the fitted rows.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from ..transform.ilr_base import check_positive, ilr_coordinates, ilr_names
from .base import Detector, check_matrix
from .infomax import infomax_ica

OPTIMIZERS = ("sgd", "adam")
#: rows per scoring chunk (float64 activations of a 32-wide network stay small)
SCORE_CHUNK_ROWS = 8192


class InfoDANDetector(Detector):
    """Info-DAN: ilr -> Infomax ICA -> min-max -> deep autoencoder; score = reconstruction error
    (see the module docstring for every step and choice).

    Parameters
    ----------
    hidden : encoder widths; the decoder mirrors them without repeating the last (bottleneck)
        width: (32, 24, 16, 8) gives 32-24-16-8-16-24-32 as published.
    activation : hidden-layer activation (a name of ``torch_training.ACTIVATIONS``); the output
        layer is linear.
    optimizer : "sgd" (with ``momentum``, published) or "adam".
    learning_rate, momentum : step size; SGD momentum (ignored by Adam).
    epochs, batch_size, drop_last : passes over the training rows; rows per batch (or "auto",
        see ``torch_training.resolve_batch_size``); drop the last incomplete batch.
    validation_fraction : share of rows held out (n_train = ceil((1 - f) n), as ANN2).
    patience, tol : None (published: train all epochs, keep the last weights) or early stopping
        on the validation loss after ``patience`` epochs without an improvement of more than
        ``tol`` x max(1, |best|), with the best weights restored.
    n_components : Infomax sources (None = D - 1, all ilr coordinates, as published).
    ica_max_iter, ica_tol : ``maxit`` and ``tol`` of ``icaimax`` (100, 1e-6).
    seed, device, progress : as the other deep detectors.

    Fitted attributes: ``n_features_in_`` (D elements), ``elements_`` (column names when fitted
    on a DataFrame, else None), ``n_components_``, ``ica_mean_`` (ilr means), ``unmixing_``
    (k x (D-1), sources = (ilr - ica_mean_) @ unmixing_.T), ``mixing_`` ((D-1) x k), ``vafs_``,
    ``ica_n_iter_``, ``ica_converged_``, ``ica_change_``, ``source_min_``, ``source_range_``,
    ``network_``, ``history_`` (per-epoch ``loss`` and ``val_loss``), ``n_epochs_``,
    ``best_epoch_`` (the epoch whose weights are kept), ``batch_size_``; right after ``fit``
    also ``ilr_`` and ``sources_`` of the fitted rows (not saved with the model).
    """

    name = "infodan"
    #: what ``fit`` and ``anomaly_score`` expect: positive concentrations, not transformed features
    input_kind = "composition"

    def __init__(self, hidden=(32, 24, 16, 8), activation="tanh", optimizer="sgd",
                 learning_rate=1e-4, momentum=0.9, epochs=100, batch_size=32, drop_last=True,
                 validation_fraction=0.1, patience=None, tol=1e-4, n_components=None,
                 ica_max_iter=100, ica_tol=1e-6, seed=0, device="cpu", progress=False):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.n_components = n_components
        self.ica_max_iter = ica_max_iter
        self.ica_tol = ica_tol
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """ilr, Infomax ICA, min-max scaling and autoencoder training on the rows of ``X``
        (positive concentrations, samples x elements)."""
        import torch

        from . import torch_training as tt

        values, names = self._compositions(X)
        self._check_params()
        device = tt.resolve_device(self.device)
        n, D = values.shape
        if D < 2:
            raise InputError("Info-DAN needs at least 2 elements (one ilr coordinate).")
        coords = ilr_coordinates(values)
        ica = infomax_ica(coords, self.n_components, max_iter=int(self.ica_max_iter),
                          tol=float(self.ica_tol), algorithm="gradient", nonlinearity="tanh",
                          rate=1.0)
        self.n_features_in_ = D
        self.elements_ = names
        self.n_components_ = int(ica.sources.shape[1])
        self.ica_mean_, self.unmixing_, self.mixing_ = ica.mean, ica.unmixing, ica.mixing
        self.vafs_ = ica.vafs
        self.ica_n_iter_, self.ica_converged_ = int(ica.n_iter), bool(ica.converged)
        self.ica_change_ = float(ica.change)
        sources = ica.sources
        self.source_min_ = sources.min(axis=0)
        span = sources.max(axis=0) - self.source_min_
        self.source_range_ = np.where(span > 0, span, 1.0)
        self.ilr_, self.sources_ = coords, sources

        U = torch.from_numpy((sources - self.source_min_) / self.source_range_).to(device)
        train_idx, val_idx, rng = self._split(n)
        network = self._build_network(self.n_components_).to(device)
        batch_size = tt.resolve_batch_size(self.batch_size, len(train_idx))
        with tt.torch_threads(tt.training_threads(batch_size, self.n_components_, device)):
            self._train(network, U[torch.from_numpy(train_idx).to(device)],
                        U[torch.from_numpy(val_idx).to(device)], batch_size, rng)
        self.network_ = network.eval()
        self.device_ = str(device)
        self.batch_size_ = int(batch_size)
        return self

    def _compositions(self, X, *, n_features: int | None = None):
        """(float64 array, column names or None) of positive concentrations.  A DataFrame scored
        by a detector fitted on one is matched to the fitted elements by name (the ilr depends
        on the order of the parts)."""
        names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
        fitted = getattr(self, "elements_", None)
        if names is not None and n_features is not None and fitted:
            absent = [e for e in fitted if e not in names]
            if absent:
                raise InputError(f"the data lack the element(s) {', '.join(absent)}; the "
                                 f"detector was fitted on {len(fitted)} features "
                                 f"({', '.join(fitted)}).")
            X = X.set_axis(names, axis=1)[fitted]
            names = list(fitted)
        values = check_matrix(X.to_numpy(dtype=np.float64) if names is not None else X,
                              n_features=n_features)
        check_positive(values, names)
        return values, names

    def _check_params(self) -> None:
        from . import torch_training as tt

        if not tt.check_hidden(self.hidden, "hidden"):
            raise InputError("hidden must hold at least one layer width, e.g. (32, 24, 16, 8).")
        if self.activation not in tt.ACTIVATIONS:
            raise InputError(f"activation={self.activation!r} is not known; use one of "
                             f"{', '.join(sorted(tt.ACTIVATIONS))}.")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer={self.optimizer!r} is not known; use one of "
                             f"{', '.join(OPTIMIZERS)}.")
        if not float(self.learning_rate) > 0:
            raise InputError(f"learning_rate must be positive, got {self.learning_rate!r}.")
        if not 0 <= float(self.momentum) < 1:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum!r}.")
        if int(self.epochs) < 1:
            raise InputError(f"epochs must be at least 1, got {self.epochs!r}.")
        if not 0 <= float(self.validation_fraction) < 1:
            raise InputError(f"validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction!r}.")
        if self.patience is not None and int(self.patience) < 1:
            raise InputError(f"patience must be at least 1 (or None: no early stopping), got "
                             f"{self.patience!r}.")
        if self.n_components is not None and int(self.n_components) < 1:
            raise InputError(f"n_components must be at least 1 (or None), got "
                             f"{self.n_components!r}.")

    def _split(self, n: int):
        """(train rows, validation rows, the generator that then shuffles): ANN2's split,
        n_train = ceil((1 - f) n) rows of a seeded permutation."""
        rng = np.random.default_rng(int(self.seed))
        order = rng.permutation(n)
        n_train = min(n, max(1, math.ceil((1.0 - float(self.validation_fraction)) * n)))
        return np.sort(order[:n_train]), np.sort(order[n_train:]), rng

    def _layer_widths(self, n_inputs: int) -> list[int]:
        from . import torch_training as tt

        encoder = tt.check_hidden(self.hidden, "hidden")
        return [n_inputs, *encoder, *reversed(encoder[:-1]), n_inputs]

    def _build_network(self, n_inputs: int):
        """Linear layers with ANN2's start (weights N(0, 1/fan_in), zero biases) drawn from a
        private generator seeded with ``seed``; torch's global RNG is left as it was."""
        import torch
        from torch import nn

        from . import torch_training as tt

        widths = self._layer_widths(n_inputs)
        generator = torch.Generator().manual_seed(int(self.seed))
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the global RNG
            for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
                linear = nn.Linear(n_in, n_out, dtype=torch.float64)
                with torch.no_grad():
                    linear.weight.copy_(torch.randn(n_out, n_in, generator=generator,
                                                    dtype=torch.float64) / math.sqrt(n_in))
                    linear.bias.zero_()
                layers.append(linear)
                if i < len(widths) - 2:
                    layers.append(tt.ACTIVATIONS[self.activation]())
        return nn.Sequential(*layers)

    def _train(self, network, U_train, U_val, batch_size: int, rng) -> None:
        """Mini-batch training (module docstring, step 4); fills history_, n_epochs_,
        best_epoch_ and leaves the kept weights in ``network``."""
        import torch

        from . import torch_training as tt

        if self.optimizer == "sgd":
            optimizer = torch.optim.SGD(network.parameters(), lr=float(self.learning_rate),
                                        momentum=float(self.momentum))
        else:
            optimizer = torch.optim.Adam(network.parameters(), lr=float(self.learning_rate))
        n_train, epochs = U_train.shape[0], int(self.epochs)
        n_batches = math.ceil(n_train / batch_size)
        if self.drop_last and n_train % batch_size:
            n_batches = max(1, n_batches - 1)  # ANN2 would train on no batch at all
        has_val = U_val.shape[0] > 0
        history: dict[str, list[float]] = {"loss": [], **({"val_loss": []} if has_val else {})}
        best_loss, best_epoch, best_state, waited = math.inf, 0, None, 0
        report = tt._progress_reporter(self.progress, epochs)
        network.train()
        try:
            for epoch in range(1, epochs + 1):
                order = torch.from_numpy(rng.permutation(n_train)).to(U_train.device)
                total = U_train.new_zeros(())
                seen = 0
                for b in range(n_batches):
                    batch = U_train.index_select(0, order[b * batch_size:(b + 1) * batch_size])
                    loss = (network(batch) - batch).square().sum(dim=1).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach() * batch.shape[0]
                    seen += batch.shape[0]
                record = {"loss": float(total) / seen}
                if has_val:
                    record["val_loss"] = float(self._row_errors(network, U_val).sum(dim=1).mean())
                for key, value in record.items():
                    history[key].append(value)
                monitored = record["val_loss"] if has_val else record["loss"]
                if not math.isfinite(monitored):
                    raise InputError(f"Info-DAN training diverged (loss {monitored}) at epoch "
                                     f"{epoch}; lower learning_rate.")
                report(epoch, record)
                if self.patience is None:
                    best_epoch = epoch
                    continue
                margin = float(self.tol) * max(1.0, abs(best_loss)) if best_epoch else 0.0
                if best_epoch == 0 or monitored < best_loss - margin:
                    best_loss, best_epoch, waited = monitored, epoch, 0
                    best_state = copy.deepcopy(network.state_dict())
                else:
                    waited += 1
                    if waited >= int(self.patience):
                        break
        finally:
            report.close()
        if best_state is not None:
            network.load_state_dict(best_state)
        network.eval()
        self.history_ = history
        self.n_epochs_ = len(history["loss"])
        self.best_epoch_ = int(best_epoch)

    @staticmethod
    def _row_errors(network, U):
        """(rows, k) squared reconstruction errors, without gradients."""
        import torch

        was_training = network.training
        network.eval()
        with torch.inference_mode():
            errors = (network(U) - U).square()
        network.train(was_training)
        return errors

    # -- transforms and scoring ------------------------------------------------------------------
    def ilr_transform(self, X) -> np.ndarray:
        """ilr coordinates (n, D-1) of compositions ``X`` (the R ``compositions`` default)."""
        check_is_fitted(self, "unmixing_")
        values, _ = self._compositions(X, n_features=self.n_features_in_)
        return ilr_coordinates(values)

    def ica_sources(self, X) -> np.ndarray:
        """Infomax sources (n, k) of compositions ``X``, before min-max scaling."""
        return (self.ilr_transform(X) - self.ica_mean_) @ self.unmixing_.T

    def anomaly_score(self, X) -> np.ndarray:
        """Mean over sources of the squared reconstruction error of the min-max scaled sources
        (``ANN2::reconstruct()$anomaly_scores``); higher = more anomalous."""
        import torch

        check_is_fitted(self, "network_")
        U = (self.ica_sources(X) - self.source_min_) / self.source_range_
        device = torch.device(self.device_)
        out = np.empty(U.shape[0], dtype=np.float64)
        self.network_.eval()
        with torch.inference_mode():
            for start in range(0, U.shape[0], SCORE_CHUNK_ROWS):
                chunk = torch.from_numpy(np.ascontiguousarray(U[start:start + SCORE_CHUNK_ROWS]))
                chunk = chunk.to(device)
                error = (self.network_(chunk) - chunk).square().mean(dim=1)
                out[start:start + chunk.shape[0]] = error.cpu().numpy()
        return out

    # -- tables for the model folder -------------------------------------------------------------
    def export_tables(self, directory, X=None, index=None) -> list[Path]:
        """Write ``ilr.csv`` (columns ilr1 .. ilr{D-1}) and ``sources.csv`` (IC1 .. ICk, in the
        order of variance accounted for) into ``directory``; returns the two paths.

        ``X``: compositions to tabulate; None = the fitted rows (available after ``fit``, not
        after loading a saved model).  ``index``: row labels written as the first column (e.g.
        sample ids; its ``name`` or "sample" heads it); None = a "row" column 0 .. n-1.
        """
        from ..export.atomic import atomic_write_text

        check_is_fitted(self, "unmixing_")
        if X is None:
            if getattr(self, "ilr_", None) is None:
                raise InputError("the fitted rows' ilr coordinates are only kept after fit; pass "
                                 "the compositions to export_tables(directory, X).")
            coords, sources = self.ilr_, self.sources_
        else:
            coords = self.ilr_transform(X)
            sources = (coords - self.ica_mean_) @ self.unmixing_.T
        n = coords.shape[0]
        if index is None:
            labels = pd.Index(np.arange(n), name="row")
        else:
            labels = pd.Index(index)
            if len(labels) != n:
                raise InputError(f"index has {len(labels)} labels for {n} rows.")
            labels = labels.rename(labels.name if labels.name is not None else "sample")
        directory = Path(directory)
        written = []
        for file, table, columns in (
                ("ilr.csv", coords, ilr_names(self.n_features_in_)),
                ("sources.csv", sources, [f"IC{j + 1}" for j in range(sources.shape[1])])):
            frame = pd.DataFrame(table, index=labels, columns=columns)
            written.append(atomic_write_text(directory / file, frame.to_csv()))
        return written

    # -- persistence (used by geoanomaly.detect.persistence) --------------------------------------
    _ARRAYS = ("ica_mean_", "unmixing_", "mixing_", "vafs_", "source_min_", "source_range_")

    def _fitted_state(self):
        """(JSON-able scalars, {name: float64 tensor}): ICA, scaling and network weights."""
        import torch

        check_is_fitted(self, "network_")
        scalars = {"n_features_in_": int(self.n_features_in_), "elements_": self.elements_,
                   "n_components_": int(self.n_components_), "ica_n_iter_": int(self.ica_n_iter_),
                   "ica_converged_": bool(self.ica_converged_),
                   "ica_change_": float(self.ica_change_), "n_epochs_": int(self.n_epochs_),
                   "best_epoch_": int(self.best_epoch_), "batch_size_": int(self.batch_size_),
                   "history_": self.history_}
        tensors = {f"network.{k}": v.detach().cpu().contiguous()
                   for k, v in self.network_.state_dict().items()}
        for key in self._ARRAYS:
            tensors[key] = torch.from_numpy(np.ascontiguousarray(getattr(self, key),
                                                                 dtype=np.float64))
        return scalars, tensors

    def _restore_state(self, scalars: dict, tensors: dict) -> None:
        from . import torch_training as tt

        device = tt.resolve_device(self.device)
        for key in ("n_features_in_", "n_components_", "ica_n_iter_", "n_epochs_", "best_epoch_",
                    "batch_size_"):
            setattr(self, key, int(scalars[key]))
        self.elements_ = scalars["elements_"]
        self.ica_converged_ = bool(scalars["ica_converged_"])
        self.ica_change_ = float(scalars["ica_change_"])
        self.history_ = scalars["history_"]
        for key in self._ARRAYS:
            setattr(self, key, tensors[key].numpy().astype(np.float64))
        network = self._build_network(self.n_components_)
        network.load_state_dict({k[len("network."):]: v for k, v in tensors.items()
                                 if k.startswith("network.")})
        self.network_ = network.to(device).eval()
        self.device_ = str(device)
