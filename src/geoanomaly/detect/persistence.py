"""Save and load fitted detectors without pickle.

A saved detector is a folder:

* ``model.json``: format version, class and registry name, constructor parameters, fitted
  scalars (feature count, epochs, history ...);
* ``model.safetensors`` for PyTorch detectors (network weights + standardisation), or
  ``model.npz`` (numeric arrays only, read with ``allow_pickle=False``) for the classic ones.

Pickle can run arbitrary code when a file is loaded, so a model shared by e-mail or downloaded
with a report must never be one.  The isolation forest's trees have no pickle-free form in
scikit-learn; it is saved as parameters only and ``load_detector`` refits it when given the
training data (same seed + same data = same scores), otherwise raises an InputError saying so.

Detectors take part through two methods: ``_fitted_state() -> (scalars, arrays)`` and
``_restore_state(scalars, arrays)``; ``_fitted_state = None`` marks a parameters-only model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:  # annotations only: base.Detector.save / load import this module
    from .base import Detector

FORMAT = "geoanomaly-detector"
FORMAT_VERSION = 1
REFIT_NOTE = "refit with the same seed to reproduce"


def save_detector(detector: Detector, directory) -> Path:
    """Write a fitted ``detector`` into ``directory`` (created if needed); returns the folder.

    Files are written under temporary names and moved into place, so a crash never leaves a
    half-written model that looks complete.
    """
    from sklearn.utils.validation import check_is_fitted

    from . import DETECTORS

    check_is_fitted(detector)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = next((key for key, cls in DETECTORS.items() if type(detector) is cls), None)
    if name is None:
        raise InputError(f"{type(detector).__name__} is not a registered detector and cannot "
                         "be saved.")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
            "class": type(detector).__name__, "params": _json_params(detector),
            "tuple_params": sorted(key for key, value in detector.get_params(deep=False).items()
                                   if isinstance(value, tuple)),
            "n_features": int(detector.n_features_in_)}

    if detector._fitted_state is None:
        meta.update(state={}, arrays=None, note=REFIT_NOTE)
    else:
        scalars, arrays = detector._fitted_state()
        meta["state"] = scalars
        if _is_torch_state(arrays):
            from safetensors.torch import save_file

            meta["arrays"] = "model.safetensors"
            _write_atomically(directory / meta["arrays"],
                              lambda path: save_file(arrays, str(path)))
        elif arrays:
            meta["arrays"] = "model.npz"
            _write_atomically(directory / meta["arrays"],
                              lambda path: _save_npz(path, arrays))
        else:
            meta["arrays"] = None
    _write_atomically(directory / "model.json",
                      lambda path: path.write_text(json.dumps(meta, indent=2) + "\n"))
    return directory


def load_detector(directory, X=None, *, device: str | None = None) -> Detector:
    """A fitted detector from a folder written by :func:`save_detector`.

    ``X``: the training data, needed only for parameters-only models (isolation forest), which
    are refitted on it.  ``device`` overrides the saved ``device`` of a PyTorch model (e.g. load
    a GPU-trained model on a CPU-only machine).
    """
    from . import DETECTORS

    directory = Path(directory)
    meta_path = directory / "model.json"
    if not meta_path.is_file():
        raise InputError(f"{meta_path} does not exist; point to a folder written by "
                         "save_detector.")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{meta_path} is not readable JSON ({exc}); save the model again.") \
            from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{meta_path} is not a geoanomaly detector of format version "
                         f"{FORMAT_VERSION}; save the model again with this version.")
    cls = DETECTORS.get(meta.get("name"))
    if cls is None or cls.__name__ != meta.get("class"):
        raise InputError(f"{meta_path} holds an unknown model {meta.get('name')!r}; known "
                         f"models are {', '.join(DETECTORS)}.")
    params = _restore_param_types(cls, meta["params"], meta.get("tuple_params", []))
    if device is not None and "device" in params:
        params["device"] = device
    detector = cls(**params)

    if meta.get("note") == REFIT_NOTE:
        if X is None:
            raise InputError(f"{meta_path} stores the {meta['name']!r} model as parameters only "
                             f"({REFIT_NOTE}); pass the training data to load_detector.")
        return detector.fit(X)

    arrays = {}
    if meta.get("arrays"):
        array_path = directory / meta["arrays"]
        if not array_path.is_file():
            raise InputError(f"{array_path} is missing; save the model again.")
        if array_path.suffix == ".safetensors":
            from safetensors.torch import load_file

            arrays = load_file(str(array_path))
        else:
            with np.load(array_path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
    detector._restore_state(meta["state"], arrays)
    return detector


def _json_params(detector: Detector) -> dict:
    """Constructor parameters as JSON values; a progress callback is not saved (False)."""
    params = {}
    for key, value in detector.get_params(deep=False).items():
        if key == "progress":
            value = bool(value) if isinstance(value, bool) else False
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.generic):
            value = value.item()
        params[key] = value
    try:
        json.dumps(params)
    except TypeError as exc:
        raise InputError(f"the parameters of {type(detector).__name__} cannot be written as "
                         f"JSON ({exc}); use plain numbers, strings and lists.") from None
    return params


def _restore_param_types(cls, params: dict, tuple_params: list) -> dict:
    """JSON turns tuples into lists; give the parameters that were tuples their tuple back, so a
    loaded detector's ``get_params()`` equals the saved one's."""
    valid = cls._get_param_names()
    restored = {}
    for key, value in params.items():
        if key not in valid:
            raise InputError(f"the saved model has a parameter {key!r} that {cls.__name__} no "
                             "longer accepts; save the model again with this version.")
        restored[key] = tuple(value) if key in tuple_params else value
    return restored


def _is_torch_state(arrays: dict) -> bool:
    if not arrays:
        return False
    first = next(iter(arrays.values()))
    return type(first).__module__.startswith("torch")


def _save_npz(path: Path, arrays: dict) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **{key: np.asarray(value) for key, value in arrays.items()})


def _write_atomically(final_path: Path, write) -> None:
    temporary = final_path.with_name(f".{final_path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, final_path)
    finally:
        if temporary.exists():
            temporary.unlink()
