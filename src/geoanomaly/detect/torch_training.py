"""What every PyTorch detector shares: seeding, device choice, the train/validation split, one
training loop with early stopping, chunked scoring, the checks of the training parameters, and
the fitted state that ``persistence.py`` saves (one copy of each, so the detectors cannot drift
apart in how they refuse a parameter or name a saved tensor).

Why a hand-written loop instead of a DataLoader: the data are a small dense float matrix that fits
in memory, so a batch is one ``index_select`` on one tensor.  A per-row DataLoader would spend most
of the time in Python (collating rows one by one) and miss the speed target of the VAE (50 epochs
on 100,000 x 39 in < 10 s on 2 CPU cores).

Seeding without touching global state: weights are initialised inside ``torch.random.fork_rng``
with ``manual_seed(seed)``, shuffling and reparameterisation noise come from explicit
``torch.Generator`` objects, and the split from ``numpy.random.default_rng(seed)``.  The same seed
therefore gives bit-identical weights and scores on CPU, whatever the caller did with the global
RNGs.  ``torch.set_num_threads`` is left to torch's default on purpose.

This module imports torch at the top, so only the deep detectors import it, inside ``fit``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import InputError

#: rows per scoring chunk: large enough that per-chunk Python overhead is small (~1 %), small
#: enough that a chunk's activations stay in the CPU cache.  Measured on 1M x 39 (one core):
#: 4,096-8,192 rows ~3M samples/s, 16,384 ~2.5M/s, 65,536 ~1.3M/s (memory-bound beyond).
#: Re-measured with the feature-major scoring pass (benchmarks/bench_scoring.py, 2M x 39
#: float32, one torch thread, VAE / AE "recon", M rows/s): 4,096: 3.9 / 4.1; 8,192: 3.5 / 3.6;
#: 16,384: 3.8 / 3.6; 65,536: 3.4 / 3.5; 262,144: 2.1 / 2.2; 1,048,576: 1.5 / 1.5.  4k-16k are
#: equal within the noise of a shared machine, so 8,192 stays.
SCORE_CHUNK_ROWS = 8192

#: seed offset for the validation noise (VAE sampling) so it differs from the training stream
VALIDATION_SEED_OFFSET = 7919

#: ``batch_size="auto"`` aims at this many Adam steps per epoch, within the row limits below.
#: Why: the networks are tiny, so a step costs mostly fixed per-operation overhead (about 4 ms
#: for a VAE step on one slow CPU core whether the batch has 64 or 1,024 rows).  A fixed batch
#: is either too slow on large surveys (512 rows: 180 steps per epoch on 100,000 samples, ~35 s
#: for 50 epochs) or too coarse on small ones (512 rows: ONE step per epoch on a 500-sample
#: rock-chip survey).  A fixed number of steps per epoch gives every survey size the same number
#: of updates (up to 200 epochs x 32 steps) and a time per epoch proportional to its size.
AUTO_STEPS_PER_EPOCH = 32
AUTO_BATCH_MIN, AUTO_BATCH_MAX = 16, 4096

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}

#: a per-batch loss: (network, batch, noise generator) -> (scalar loss, {part name: scalar})
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Generator], "tuple[torch.Tensor, dict]"]


def resolve_device(device: str) -> torch.device:
    """'cpu', 'cuda' (an InputError if torch sees no GPU) or 'auto' (cuda when available)."""
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device={device!r} was asked for but PyTorch sees no CUDA GPU "
                             "on this machine; use device='cpu' or device='auto'.")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"device={device!r} is not known; use 'cpu', 'cuda' or 'auto'.")


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed`` (shuffling and sampling)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def build_seeded(builder: Callable[[], nn.Module], seed: int, device: torch.device) -> nn.Module:
    """Call ``builder`` with torch's global RNG set to ``seed`` and restore the RNG afterwards.

    ``nn.Linear`` draws its initial weights from the global RNG; forking keeps a user's own torch
    random state untouched while making the initial weights a function of ``seed`` only.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        network = builder()
    return network.to(device)


def check_activation(activation: str) -> None:
    """An InputError unless ``activation`` names one of ``ACTIVATIONS``."""
    if activation not in ACTIVATIONS:
        raise InputError(f"activation={activation!r} is not known; use one of "
                         f"{', '.join(sorted(ACTIVATIONS))}.")


def mlp(sizes: list[int], activation: str, *, last_activation: bool,
        leaky_slope: float | None = None) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...`` with ``activation`` between them;
    ``leaky_slope`` overrides torch's 0.01 of "leaky_relu" (the GANs use 0.2)."""
    check_activation(activation)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(leaky_slope)
                          if activation == "leaky_relu" and leaky_slope is not None
                          else ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def check_hidden(hidden, name: str) -> list[int]:
    """Hidden layer widths as a list of positive ints (an InputError otherwise)."""
    try:
        widths = [int(h) for h in hidden]
    except TypeError:
        raise InputError(f"{name} must be a sequence of layer widths such as (24, 12), "
                         f"got {hidden!r}.") from None
    if any(w < 1 for w in widths):
        raise InputError(f"{name} must hold positive layer widths, got {hidden!r}.")
    return widths


def resolve_batch_size(batch_size, n_train: int) -> int:
    """An int batch size, or "auto": ``ceil(n_train / AUTO_STEPS_PER_EPOCH)`` within
    [AUTO_BATCH_MIN, AUTO_BATCH_MAX] (see AUTO_STEPS_PER_EPOCH for why)."""
    if isinstance(batch_size, str):
        if batch_size != "auto":
            raise InputError(f"batch_size must be a positive integer or 'auto', "
                             f"got {batch_size!r}.")
        wanted = math.ceil(n_train / AUTO_STEPS_PER_EPOCH)
        return int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, wanted)))
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}.")
    return int(batch_size)


def train_validation_split(n_rows: int, fraction: float, seed: int):
    """Seeded random split of ``range(n_rows)`` into (train, validation) index arrays.

    ``fraction == 0`` gives an empty validation set (then early stopping watches the training
    loss).  Otherwise at least one row is held out and at least one is kept for training.
    """
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"validation_fraction must be in [0, 1), got {fraction!r}.")
    order = np.random.default_rng(seed).permutation(n_rows)
    n_val = 0 if fraction == 0 else min(max(1, int(round(n_rows * fraction))), n_rows - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@dataclass
class TrainingResult:
    """What ``train_network`` found; the network itself already holds the best weights."""

    history: dict = field(default_factory=dict)
    batch_size: int = 0
    n_epochs: int = 0
    best_epoch: int = 0
    best_loss: float = math.inf


class EarlyStopping:
    """The best epoch's weights and when to stop, for every training loop (``train_network``,
    the GANs', the PPF-CNN's), so that they agree on what an improvement is.

    An epoch improves when its monitored loss beats the best so far by more than
    ``tol * max(1, |best|)`` (the first epoch always does); after ``patience`` epochs without
    one training stops (``patience=None``: never); a loss that is not finite is an InputError.
    """

    def __init__(self, network: nn.Module, patience: int | None, tol: float):
        self.patience = None if patience is None else int(patience)
        self.tol = float(tol)
        self.best_loss, self.best_epoch, self.stale = math.inf, 0, 0
        self.best_state = copy.deepcopy(network.state_dict())

    def update(self, network: nn.Module, epoch: int, monitored: float) -> bool:
        """Take the monitored loss of ``epoch`` (keeping the weights if it improves); True when
        training should stop."""
        if not math.isfinite(monitored):
            raise InputError(f"training diverged (loss {monitored}) at epoch {epoch}; "
                             "standardise the data or lower learning_rate.")
        if self.best_epoch == 0 \
                or monitored < self.best_loss - self.tol * max(1.0, abs(self.best_loss)):
            self.best_loss, self.best_epoch, self.stale = monitored, epoch, 0
            self.best_state = copy.deepcopy(network.state_dict())
        else:
            self.stale += 1
        return self.patience is not None and self.stale >= self.patience

    def restore(self, network: nn.Module) -> None:
        """Put the best epoch's weights back into ``network``."""
        network.load_state_dict(self.best_state)


def evaluate_loss(network: nn.Module, batch_loss: BatchLoss, X: torch.Tensor, seed: int,
                  chunk_rows: int = SCORE_CHUNK_ROWS) -> dict[str, float]:
    """Mean loss and its parts over ``X`` with noise re-seeded from ``seed`` (repeatable).

    Re-seeding on every call makes validation losses of different epochs comparable: the only
    thing that changes between epochs is the network.
    """
    generator = make_generator(seed, X.device)
    totals: torch.Tensor | None = None
    names: list[str] = []
    network.eval()
    with torch.inference_mode():
        for start in range(0, X.shape[0], chunk_rows):
            batch = X[start:start + chunk_rows]
            loss, parts = batch_loss(network, batch, generator)
            names = list(parts)
            values = torch.stack([loss, *parts.values()]) * batch.shape[0]
            totals = values if totals is None else totals + values
    network.train()
    means = (totals / X.shape[0]).tolist()
    return dict(zip(["loss", *names], means))


#: Below this many values per mini-batch, torch's intra-op threads cost more than they give: the
#: matrices of a 24-12-3 network are tiny, and on a busy machine the spinning worker threads
#: made training up to 10x slower (measured on 2 shared cores, see BENCHMARKS.md).
SINGLE_THREAD_BELOW = 50_000


class torch_threads:
    """Context manager: run with ``n`` torch threads, then restore the caller's setting."""

    def __init__(self, n: int | None):
        self.n = n

    def __enter__(self):
        self.before = torch.get_num_threads()
        if self.n is not None and self.n != self.before:
            torch.set_num_threads(int(self.n))
        return self

    def __exit__(self, *exc):
        if torch.get_num_threads() != self.before:
            torch.set_num_threads(self.before)
        return False


def training_threads(batch_size: int, n_features: int, device) -> int | None:
    """1 thread for small CPU batches, torch's default (None) otherwise."""
    if getattr(device, "type", str(device)) != "cpu":
        return None
    return 1 if batch_size * n_features < SINGLE_THREAD_BELOW else None


def train_network(network: nn.Module, batch_loss: BatchLoss, X_train: torch.Tensor,
                  X_val: torch.Tensor, *, epochs: int, batch_size: int, learning_rate: float,
                  patience: int | None, tol: float, seed: int, progress=None) -> TrainingResult:
    """Adam on shuffled in-memory mini-batches, early stopping, best weights restored.

    The monitored quantity is the validation loss (the training loss when ``X_val`` is empty).
    An epoch counts as an improvement when it beats the best so far by more than
    ``tol * max(1, |best|)``; after ``patience`` epochs without one, training stops
    (``patience=None`` always runs ``epochs``).  Either way the weights of the best epoch are put
    back.  ``progress`` is None/False, True (a tqdm bar) or a callable
    ``progress(epoch, epochs, record)`` called after every epoch.

    History keys: ``loss`` and each part name for training (batch-size-weighted means over the
    epoch, taken while the weights change), and the same with a ``val_`` prefix.
    """
    epochs, batch_size = int(epochs), resolve_batch_size(batch_size, X_train.shape[0])
    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}.")
    if patience is not None and int(patience) < 1:
        raise InputError(f"patience must be at least 1 (or None to disable early stopping), "
                         f"got {patience}.")
    device = X_train.device
    with torch_threads(training_threads(batch_size, X_train.shape[1], device)):
        return _train(network, batch_loss, X_train, X_val, epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, patience=patience, tol=tol, seed=seed,
                      progress=progress)


def _train(network, batch_loss, X_train, X_val, *, epochs, batch_size, learning_rate, patience,
           tol, seed, progress) -> TrainingResult:
    device = X_train.device
    optimizer = adam(network.parameters(), learning_rate, device)
    shuffle_generator = make_generator(seed, device)
    noise_generator = make_generator(seed + 1, device)
    n_train = X_train.shape[0]
    has_val = X_val.shape[0] > 0

    report = _progress_reporter(progress, epochs)
    result = TrainingResult(batch_size=batch_size)
    stopping = EarlyStopping(network, patience, tol)
    network.train()
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n_train, generator=shuffle_generator, device=device)
            totals = None
            names: list[str] = []
            for start in range(0, n_train, batch_size):
                batch = X_train.index_select(0, order[start:start + batch_size])
                loss, parts = batch_loss(network, batch, noise_generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                names = list(parts)
                # Accumulate on the tensor side: no .item() sync per batch.
                values = torch.stack([loss.detach(), *parts.values()]) * batch.shape[0]
                totals = values if totals is None else totals + values
            record = dict(zip(["loss", *names], (totals / n_train).tolist()))
            if has_val:
                val = evaluate_loss(network, batch_loss, X_val, seed + VALIDATION_SEED_OFFSET)
                record.update({f"val_{key}": value for key, value in val.items()})
            for key, value in record.items():
                result.history.setdefault(key, []).append(value)
            result.n_epochs = epoch

            stop = stopping.update(network, epoch, record["val_loss"] if has_val
                                   else record["loss"])
            report(epoch, record)
            if stop:
                break
    finally:
        report.close()
    stopping.restore(network)
    network.eval()
    result.best_loss, result.best_epoch = stopping.best_loss, stopping.best_epoch
    return result


def score_in_chunks(score_fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray,
                    device: torch.device, chunk_rows: int = SCORE_CHUNK_ROWS,
                    name: str = "X") -> np.ndarray:
    """Apply ``score_fn`` (float32 rows -> one score per row) to ``X`` in chunks of
    ``chunk_rows`` rows, checking each chunk for missing or infinite values on the way.

    ``X`` is float32 or float64 and C-contiguous or not: a float32 chunk of a C-contiguous
    matrix reaches torch as a view (``torch.from_numpy``, no copy); any other chunk is converted
    one chunk at a time, so the input is never copied whole.  The finiteness check is one sum per
    chunk (a NaN or an infinity makes the sum non-finite; only then, or when finite values are so
    large that their sum overflows, is the chunk searched value by value), so it costs a small
    fraction of the network and needs no (n, d) temporary.  Runs under
    ``torch.inference_mode``; returns float64 numpy scores (float32 values, exactly widened).
    """
    out = np.empty(X.shape[0], dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, X.shape[0], chunk_rows):
            rows = torch.from_numpy(np.ascontiguousarray(X[start:start + chunk_rows]))
            if not math.isfinite(rows.sum()):
                _check_finite_chunk(rows, start, name)
            chunk = rows.to(device=device, dtype=torch.float32)
            out[start:start + chunk.shape[0]] = score_fn(chunk).cpu().numpy()
    return out


def _check_finite_chunk(rows: torch.Tensor, first_row: int, name: str) -> None:
    """An InputError naming the first non-finite value of ``rows`` (none: a sum that overflowed)."""
    bad = torch.nonzero(~torch.isfinite(rows))
    if bad.shape[0]:
        raise InputError(
            f"{name} holds a missing or infinite value at row {first_row + int(bad[0, 0])}, "
            f"feature {int(bad[0, 1])}; clean and transform the data before scoring.")


def feature_major_forward(layers, x: torch.Tensor, keep_rows: tuple | None = None) -> torch.Tensor:
    """The forward pass of a chain of ``nn.Linear`` layers and elementwise activations on the
    (n, d) rows ``x``, computed with the activations stored feature by row ((width, n)), for
    scoring.  Returns the last Linear's output as (n, out) rows, as ``nn.Sequential`` would.

    Why: the layers are narrow (39-24-12-...) and a chunk has thousands of rows.  Row-major,
    every product is (n x 39) @ (39 x 24) etc., with a small output width that BLAS handles
    poorly; feature-major, every product is W (width x k) @ H (k x n), whose long side is the
    row count (measured 1.3-1.6x faster for the 24-12-3 VAE on one core, 8,192-row chunks).
    The input and the last output stay row-major through transposed views (no copies).
    ``keep_rows=(index, k)``: after layer ``index`` keep only its first ``k`` outputs (the
    VAE's latent mean of its joint [mu | log-variance] head).  Results equal the row-major pass
    to float32 rounding (the products sum in another order).
    """
    h = x.t()
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            if i == last:
                return torch.addmm(layer.bias, h.t(), layer.weight.t())
            h = torch.addmm(layer.bias.unsqueeze(1), layer.weight, h)
        elif isinstance(layer, nn.ReLU):
            h = h.relu_()
        else:
            h = layer(h)
        if keep_rows is not None and i == keep_rows[0]:
            h = h[:keep_rows[1]]
    raise ValueError("feature_major_forward needs a chain that ends with an nn.Linear")


def forward_columns(layers, h: torch.Tensor) -> torch.Tensor:
    """:func:`feature_major_forward` on data that is already feature-major: ``h`` is
    (width, n), and so is the result (the last Linear's outputs by row). The streamed path keeps
    a window's cells as columns from the read to the score (stream/scoring.py)."""
    for layer in layers:
        if isinstance(layer, nn.Linear):
            h = torch.addmm(layer.bias.unsqueeze(1), layer.weight, h)
        elif isinstance(layer, nn.ReLU):
            h = h.relu_()
        else:
            h = layer(h)
    return h


def linear_chain(*modules: nn.Module) -> list[nn.Module]:
    """The leaf layers of ``modules`` (Sequentials flattened) in order, for
    :func:`feature_major_forward`."""
    out: list[nn.Module] = []
    for module in modules:
        if isinstance(module, nn.Sequential):
            out.extend(linear_chain(*module))
        else:
            out.append(module)
    return out


def adam(params, learning_rate: float, device: torch.device, betas=None) -> torch.optim.Adam:
    """Adam at ``learning_rate`` (``betas`` None = torch's (0.9, 0.999)), fused where the device
    supports it (see ``_fast_adam_options``)."""
    extra = {} if betas is None else {"betas": (float(betas[0]), float(betas[1]))}
    return torch.optim.Adam(params, lr=float(learning_rate), **extra,
                            **_fast_adam_options(device))


def _fast_adam_options(device: torch.device) -> dict:
    """Fused Adam updates all parameters in one kernel: the per-step Python cost is what limits
    small MLPs.  Falls back to the default implementation where fused is not supported."""
    try:
        torch.optim.Adam([nn.Parameter(torch.zeros(1, device=device))], fused=True)
    except (RuntimeError, ValueError, TypeError):
        return {}
    return {"fused": True}


# -- parameter checks (named attributes of a detector, one message each) ---------------------------
def check_positive(owner, *names: str) -> None:
    """An InputError unless each named parameter of ``owner`` is a number > 0 (NaN is not)."""
    for name in names:
        if not float(getattr(owner, name)) > 0:
            raise InputError(f"{name} must be positive, got {getattr(owner, name)!r}.")


def check_at_least_one(owner, *names: str) -> None:
    """An InputError unless each named parameter of ``owner`` is at least 1 (as an int)."""
    for name in names:
        if int(getattr(owner, name)) < 1:
            raise InputError(f"{name} must be at least 1, got {getattr(owner, name)!r}.")


def check_finite_nonnegative(owner, *names: str) -> None:
    """An InputError unless each named parameter of ``owner`` (a loss weight, a threshold) is
    finite and >= 0."""
    for name in names:
        value = float(getattr(owner, name))
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"{name} must be a finite number >= 0, got "
                             f"{getattr(owner, name)!r}.")


def check_unit_interval(owner, *names: str) -> None:
    """An InputError unless each named parameter of ``owner`` (Adam's betas) lies in [0, 1)."""
    for name in names:
        if not 0.0 <= float(getattr(owner, name)) < 1.0:
            raise InputError(f"{name} must be in [0, 1), got {getattr(owner, name)!r}.")


def check_patience(patience) -> None:
    """An InputError unless ``patience`` is None (no early stopping) or at least 1."""
    if patience is not None and int(patience) < 1:
        raise InputError(f"patience must be at least 1 (or None to disable early stopping), "
                         f"got {patience!r}.")


# -- fitted state (the tensors and scalars that persistence.py writes) ----------------------------
def network_tensors(network: nn.Module, prefix: str = "network.") -> dict:
    """The weights of ``network`` as CPU tensors named ``prefix + key``."""
    return {f"{prefix}{k}": v.detach().cpu().contiguous()
            for k, v in network.state_dict().items()}


def load_network(network: nn.Module, tensors: dict, device, prefix: str = "network.") -> nn.Module:
    """``network`` with the weights that :func:`network_tensors` named ``prefix + key``, on
    ``device``, in eval mode."""
    network.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                             if k.startswith(prefix)})
    return network.to(device).eval()


def fitted_network_state(detector) -> tuple[dict, dict]:
    """(JSON-able scalars, {name: tensor}) of a detector with one fitted ``network_``: the ints
    named in its ``_saved_ints``, floats in ``_saved_floats`` and ``history_``; the network's
    weights, the float64 arrays in ``_saved_arrays`` and the int64 ones in
    ``_saved_index_arrays``. safetensors holds tensors only, so the arrays go as tensors."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(detector, "network_")
    scalars = {name: int(getattr(detector, name)) for name in detector._saved_ints}
    scalars.update({name: float(getattr(detector, name)) for name in detector._saved_floats})
    scalars["history_"] = detector.history_
    tensors = network_tensors(detector.network_)
    for name in detector._saved_arrays:
        tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(detector, name)))
    for name in detector._saved_index_arrays:
        tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(detector, name),
                                                              dtype=np.int64))
    return scalars, tensors


def restore_network_state(detector, scalars: dict, tensors: dict) -> None:
    """The inverse of :func:`fitted_network_state`: the network is rebuilt with
    ``_build_network(n_features_in_)`` on the detector's ``device``."""
    device = resolve_device(detector.device)
    for name in detector._saved_ints:
        setattr(detector, name, int(scalars[name]))
    for name in detector._saved_floats:
        setattr(detector, name, float(scalars[name]))
    detector.history_ = scalars["history_"]
    for name in detector._saved_arrays:
        setattr(detector, name, tensors[name].numpy().astype(np.float64))
    for name in detector._saved_index_arrays:
        setattr(detector, name, tensors[name].numpy().astype(np.int64))
    detector.network_ = load_network(detector._build_network(detector.n_features_in_), tensors,
                                     device)
    detector.device_ = str(device)


class _NoProgress:
    def __call__(self, epoch, record):
        pass

    def close(self):
        pass


class _CallbackProgress(_NoProgress):
    def __init__(self, callback, epochs):
        self.callback, self.epochs = callback, epochs

    def __call__(self, epoch, record):
        self.callback(epoch, self.epochs, record)


class _TqdmProgress(_NoProgress):
    def __init__(self, epochs):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=epochs, desc="training", unit="epoch", leave=False)

    def __call__(self, epoch, record):
        self.bar.update(1)
        shown = {k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "val_loss")}
        self.bar.set_postfix(shown, refresh=False)

    def close(self):
        self.bar.close()


def _progress_reporter(progress, epochs):
    if progress is None or progress is False:
        return _NoProgress()
    if progress is True:
        return _TqdmProgress(epochs)
    if callable(progress):
        return _CallbackProgress(progress, epochs)
    raise InputError(f"progress must be True, False or a callable, got {progress!r}.")
