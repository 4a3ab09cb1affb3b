"""Seeded synthetic point surveys whose anomalies are of one known *kind*.

A reconstruction-type score (PCA residual, an autoencoder's reconstruction error) only sees a
sample that lies OFF the background's correlation structure; a sample far out ALONG that
structure (every pathfinder enriched in its usual proportions) is reconstructed well and scores
low, while a density-type score (Mahalanobis distance, a VAE's latent KL divergence) sees it.
These surveys make that difference testable: each one hides deposits of a single kind.

* ``off-structure``: Au alone enriched around the deposits: the Au-pathfinder correlation is
  broken, which a reconstruction error sees and a sum of pathfinders barely does.
* ``joint``: all pathfinders enriched together in proportion to the background's own first
  factor loadings, several sd out: the samples stay on the structure, so a reconstruction
  error is at chance while a Mahalanobis distance or a sum of pathfinders finds them.
* ``mixed``: half the deposits of each kind, so one score cannot catch all of them.
* ``point-source``: off-structure Au deposits plus anthropogenic Pb-Zn-Cu-Sb-As-Ag plumes
  (smelters, towns) with no deposit: false positives, labelled apart, that fool a
  sum of pathfinders but not an Au-based score.

The setting is orogenic gold in a granite-greenstone terrane (Yilgarn-style, UTM 50S):
scattered soil samples over ~60 x 60 km, three rock units (greenstone, metasediment,
granitoid) as smooth random domains, each a multivariate log-normal with its own medians and
one shared correlation structure of three latent factors: a strong sulphide / pathfinder factor
on Au-As-Sb (with Bi, W, Ag, Cu), a granite W-Bi-Pb factor and a mafic Ni-Cu-Zn-Ag factor.
Among the seven Au pathfinders the background is thus close to three-dimensional, so a 2-3
component model spends its components on geology, not on the anomalies.

For one seed every kind shares the sample positions, rock units, background and deposit
positions; only what is added around the deposits (and the plumes) differs. Each generation step
draws from its own child of one ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from geoanomaly.demo.synthetic import _write_text

ANOMALY_KINDS: tuple[str, ...] = ("off-structure", "joint", "mixed", "point-source")

ELEMENTS: tuple[str, ...] = ("Au", "As", "Sb", "Bi", "W", "Ag", "Cu", "Pb", "Zn", "Ni")
#: The Au pathfinder set of geoanomaly.targets (what ``--target Au`` models).
PATHFINDERS: tuple[str, ...] = ("Au", "As", "Sb", "Bi", "W", "Ag", "Cu")
UNITS: dict[str, str] = {e: ("ppb" if e == "Au" else "ppm") for e in ELEMENTS}
LITHOLOGIES: tuple[str, ...] = ("greenstone", "metasediment", "granitoid")
CRS = "EPSG:32750"  # WGS 84 / UTM zone 50S: the western Yilgarn Craton
TARGET = "Au"

AREA_M = 60_000.0  # side of the square survey area
_ORIGIN = (640_000.0, 6_560_000.0)  # south-west corner (near Southern Cross, WA)
HALO_RADIUS_M = 2500.0  # truth: a sample within this distance of a deposit is positive
CONTAMINATION_RADIUS_M = 1500.0  # truth: contaminated within this (wind-stretched) distance

# Background medians per rock unit (Au ppb, others ppm). Units differ along the background's
# own factors (metasediment richer in the sulphide pathfinders, granitoid in W-Bi-Pb,
# greenstone in Ni-Cu-Zn-Ag), so geology adds variance to the structure, not a new direction.
_UNIT_MEDIANS = {
    #               Au   As   Sb    Bi    W    Ag     Cu    Pb    Zn    Ni
    "greenstone": (2.0, 6.0, 0.30, 0.10, 0.7, 0.060, 60.0, 6.0, 85.0, 110.0),
    "metasediment": (2.6, 8.5, 0.42, 0.14, 1.0, 0.055, 38.0, 12.0, 70.0, 40.0),
    "granitoid": (1.6, 4.5, 0.24, 0.16, 1.5, 0.045, 25.0, 22.0, 45.0, 10.0),
}
# Natural-log standard deviation per element (ELEMENTS order), scaled per unit below.
_LOG_SD = np.array([0.50, 0.50, 0.45, 0.45, 0.45, 0.40, 0.45, 0.40, 0.35, 0.50])
_UNIT_SD_SCALE = {"greenstone": 1.0, "metasediment": 1.1, "granitoid": 0.9}
# Loadings of the standardised log background on three latent factors (ELEMENTS order).
# Factor 1 is the sulphide / pathfinder axis: disseminated sulphides carry Au, As, Sb (and some
# Bi, W, Ag, Cu) together, so the background itself varies along it; joint halos move along it.
# Communalities of the pathfinders are ~0.8-0.9: a strong, nearly three-dimensional structure.
_LOADINGS = np.array([
    # Au    As    Sb    Bi    W     Ag    Cu    Pb     Zn    Ni
    [0.90, 0.90, 0.90, 0.50, 0.40, 0.45, 0.35, 0.35, 0.25, 0.05],  # sulphide / pathfinder
    [0.00, -0.15, 0.00, 0.80, 0.85, 0.10, -0.15, 0.55, 0.05, -0.25],  # granite (W-Bi-Pb)
    [0.10, 0.10, 0.10, 0.05, -0.05, 0.80, 0.85, -0.20, 0.65, 0.90],  # mafic (Ni-Cu-Zn-Ag)
]).T
_FIELD_SHARE = 0.6  # share of the factor variance that is regional (smooth), the rest nugget
_ANALYTICAL_LOG_SD = math.log(1.03)

# Off-structure halos: natural-log enrichment of Au alone at the deposit (drawn per deposit).
_AU_LOG_ENRICHMENT = (2.0, 3.0)
# Joint halos: shift along the pathfinder factor, in background factor sd (drawn per deposit).
_JOINT_FACTOR_SHIFT = (7.0, 9.0)
# Halo shape exp(-ln2 (d / R) ** p): flat near the deposit, half strength at the labelled
# radius R, nearly gone at 1.5 R, so the truth radius separates enriched from barren ground.
_HALO_POWER = 4.0
# Plumes: natural-log enrichment at the source, decaying as exp(-d / length) with the distance
# shrunk downwind (fallout is carried along the prevailing wind): sharp and short-range, and
# strongest in the smelter metals, which include four of the seven Au pathfinders.
_PLUME_LOG_ENRICHMENT = {"Pb": 3.5, "Zn": 3.0, "Cu": 3.0, "Sb": 3.5, "As": 3.0, "Ag": 3.0}
_PLUME_LENGTH_M = (1200.0, 1600.0)
_PLUME_DOWNWIND_STRETCH = 2.5
# Plumes end at this (stretched) distance: the exponential is lowered to reach 0 there, so
# ground beyond it is untouched and sources can be kept clear of every deposit halo.
PLUME_REACH_M = 3000.0

# Decimals written per element, enough for ~3 significant figures at background levels.
_DECIMALS = {"Au": 2, "As": 2, "Sb": 4, "Bi": 4, "W": 3, "Ag": 4, "Cu": 1, "Pb": 1, "Zn": 1,
             "Ni": 1}

_DESCRIPTIONS = {
    "off-structure": "Au alone enriched around {n} deposits: breaks the Au-pathfinder "
                     "correlation, so a reconstruction error sees it.",
    "joint": "all pathfinders enriched in proportion to the background's first factor around "
             "{n} deposits: far out along the structure, invisible to a reconstruction error.",
    "mixed": "{n} deposits, {n_off} off-structure (Au alone) and {n_joint} joint (along the "
             "pathfinder factor): no single kind of score catches both.",
    "point-source": "{n} off-structure Au deposits plus {n_src} smelter / town Pb-Zn-Cu-Sb-As-Ag "
                    "plumes (false positives, in contamination) that fool a sum of pathfinders.",
}


@dataclass
class KindSurvey:
    """A generated point survey and its truth.

    ``table`` holds x, y (metres in ``crs``) and one column per element (Au in ppb, the rest in
    ppm, rounded as written to samples.csv). Per sample: ``positive`` (within ``halo_radius`` of
    a deposit), ``contamination`` (within ``contamination_radius`` of a plume source; only in
    ``point-source``), ``halo_kind`` (the kind of the deposit a positive belongs to, else "")
    and ``lithology`` (codes into ``lithology_names``). ``factor_loadings`` are the background's
    first-factor loadings per element, the direction joint halos move along.
    """

    kind: str
    seed: int
    table: pd.DataFrame
    positive: np.ndarray
    contamination: np.ndarray
    halo_kind: np.ndarray
    lithology: np.ndarray
    deposits: pd.DataFrame  # name, x, y, kind, strength (ln Au or factor sd)
    sources: pd.DataFrame  # name, x, y, length_m, wind_to_deg: plume sources (point-source)
    units: dict[str, str]
    crs: str
    target: str
    halo_radius: float
    contamination_radius: float
    description: str
    elements: tuple[str, ...] = ELEMENTS
    pathfinders: tuple[str, ...] = PATHFINDERS
    lithology_names: tuple[str, ...] = LITHOLOGIES
    factor_loadings: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.table)

    def truth_table(self) -> pd.DataFrame:
        """One row per sample: sample_id, x, y, positive, contamination, halo_kind, lithology."""
        return pd.DataFrame({
            "sample_id": _sample_ids(self.n), "x": self.table["x"], "y": self.table["y"],
            "positive": self.positive, "contamination": self.contamination,
            "halo_kind": self.halo_kind,
            "lithology": np.asarray(self.lithology_names, dtype=object)[self.lithology],
        })


@dataclass
class KindPaths:
    """Where :func:`write_kind_inputs` put each file."""

    root: Path
    samples_csv: Path
    deposits_csv: Path
    truth_csv: Path
    readme: Path


# --------------------------------------------------------------------------------------------
# generation


def make_kind_survey(kind: str, seed: int = 0, n_samples: int = 1500) -> KindSurvey:
    """Generate the survey of anomaly ``kind`` (one of :data:`ANOMALY_KINDS`) for ``seed``."""
    if kind not in ANOMALY_KINDS:
        raise ValueError(f"unknown anomaly kind {kind!r}; use one of {', '.join(ANOMALY_KINDS)}")
    n_samples = int(n_samples)
    if n_samples < 200:
        raise ValueError("a kind survey needs at least 200 samples")
    (rng_positions, rng_litho, rng_regional, rng_nugget, rng_deposits, rng_strength,
     rng_sources, rng_noise) = [np.random.default_rng(s)
                                for s in np.random.SeedSequence(seed).spawn(8)]

    x, y = _sample_positions(rng_positions, n_samples)
    lithology = _lithology(rng_litho, x, y)
    log_values = _background(rng_regional, rng_nugget, x, y, lithology)

    dep_x, dep_y = np.round(_place_deposits(rng_deposits), 1)  # as written to deposits.csv
    n_dep = len(dep_x)
    # Drawn for every kind, so that one seed gives the same deposits whatever the kind.
    au_strength = rng_strength.uniform(*_AU_LOG_ENRICHMENT, n_dep)
    joint_strength = rng_strength.uniform(*_JOINT_FACTOR_SHIFT, n_dep)
    joint_first = rng_strength.permutation(n_dep)
    if kind in ("off-structure", "point-source"):
        dep_kind = np.array(["off-structure"] * n_dep, dtype=object)
    elif kind == "joint":
        dep_kind = np.array(["joint"] * n_dep, dtype=object)
    else:
        dep_kind = np.array(["off-structure"] * n_dep, dtype=object)
        dep_kind[joint_first[: n_dep // 2]] = "joint"
    strength = np.where(dep_kind == "joint", joint_strength, au_strength)

    distance = np.hypot(x[:, None] - dep_x[None, :], y[:, None] - dep_y[None, :])
    shape = np.exp(-math.log(2.0) * (distance / HALO_RADIUS_M) ** _HALO_POWER)
    au = ELEMENTS.index("Au")
    joint_direction = _LOG_SD * _LOADINGS[:, 0]  # one factor sd along the pathfinder axis
    for d in range(n_dep):
        if dep_kind[d] == "joint":
            log_values += strength[d] * shape[:, d, None] * joint_direction[None, :]
        else:
            log_values[:, au] += strength[d] * shape[:, d]

    contamination = np.zeros(n_samples, dtype=bool)
    sources = pd.DataFrame(columns=["name", "x", "y", "length_m", "wind_to_deg"])
    if kind == "point-source":
        src_x, src_y, length, wind = _place_sources(rng_sources, dep_x, dep_y)
        src_x, src_y = np.round(src_x, 1), np.round(src_y, 1)
        dx, dy = x[:, None] - src_x[None, :], y[:, None] - src_y[None, :]
        along = dx * np.cos(wind) + dy * np.sin(wind)
        across = -dx * np.sin(wind) + dy * np.cos(wind)
        src_distance = np.hypot(np.where(along > 0, along / _PLUME_DOWNWIND_STRETCH, along),
                                across)
        plume = _plume_shape(src_distance, length[None, :]).sum(axis=1)
        for element, log_factor in _PLUME_LOG_ENRICHMENT.items():
            log_values[:, ELEMENTS.index(element)] += log_factor * plume
        contamination = src_distance.min(axis=1) <= CONTAMINATION_RADIUS_M
        sources = pd.DataFrame({"name": [f"S{i + 1}" for i in range(len(src_x))],
                                "x": src_x, "y": src_y,
                                "length_m": length, "wind_to_deg": np.degrees(wind) % 360})

    log_values += rng_noise.normal(0.0, _ANALYTICAL_LOG_SD, log_values.shape)

    nearest = distance.argmin(axis=1)
    positive = distance.min(axis=1) <= HALO_RADIUS_M
    halo_kind = np.where(positive, dep_kind[nearest], "").astype(object)

    table = pd.DataFrame({"x": x, "y": y})
    for k, element in enumerate(ELEMENTS):
        table[element] = np.round(np.exp(log_values[:, k]), _DECIMALS[element])
    deposits = pd.DataFrame({"name": [f"D{i + 1:02d}" for i in range(n_dep)],
                             "x": dep_x, "y": dep_y,
                             "kind": dep_kind, "strength": strength})
    n_joint = int((dep_kind == "joint").sum())
    description = _DESCRIPTIONS[kind].format(n=n_dep, n_off=n_dep - n_joint, n_joint=n_joint,
                                             n_src=len(sources))
    return KindSurvey(
        kind=kind, seed=seed, table=table, positive=positive, contamination=contamination,
        halo_kind=halo_kind, lithology=lithology, deposits=deposits, sources=sources,
        units=dict(UNITS), crs=CRS, target=TARGET, halo_radius=HALO_RADIUS_M,
        contamination_radius=CONTAMINATION_RADIUS_M, description=description,
        factor_loadings={e: float(v) for e, v in zip(ELEMENTS, _LOADINGS[:, 0])},
    )


def _sample_positions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniformly scattered soil samples, GPS positions to the metre."""
    x = np.round(_ORIGIN[0] + rng.uniform(0.0, AREA_M, n))
    y = np.round(_ORIGIN[1] + rng.uniform(0.0, AREA_M, n))
    return x, y


_FIELD_CELL_M = 500.0
_FIELD_CELLS = int(AREA_M / _FIELD_CELL_M) + 1


def _field_at(rng: np.random.Generator, count: int, range_m: float, x: np.ndarray,
              y: np.ndarray) -> np.ndarray:
    """``count`` unit-variance smooth random fields on a 500 m grid, read at the samples:
    shape (count, n). Smoothed white noise has a Gaussian covariance with range ~ ``range_m``."""
    noise = rng.standard_normal((count, _FIELD_CELLS, _FIELD_CELLS))
    sigma = range_m / _FIELD_CELL_M
    smooth = ndimage.gaussian_filter(noise, sigma=(0, sigma, sigma), mode="reflect")
    smooth -= smooth.mean(axis=(1, 2), keepdims=True)
    smooth /= smooth.std(axis=(1, 2), keepdims=True)
    rows = (y - _ORIGIN[1]) / _FIELD_CELL_M
    cols = (x - _ORIGIN[0]) / _FIELD_CELL_M
    return np.stack([ndimage.map_coordinates(f, [rows, cols], order=1, mode="nearest")
                     for f in smooth])


def _lithology(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rock units as the argmax of one smooth field per unit: curved domains ~10-20 km across."""
    fields = _field_at(rng, len(LITHOLOGIES), 5000.0, x, y)
    bias = np.array([0.2, 0.1, -0.2])[:, None]  # greenstone and metasediment most extensive
    return np.argmax(fields + bias, axis=0).astype(np.int8)


def _background(rng_regional: np.random.Generator, rng_nugget: np.random.Generator,
                x: np.ndarray, y: np.ndarray, lithology: np.ndarray) -> np.ndarray:
    """Log concentrations (sample, element) of the barren background.

    log c = unit log-median + unit sd * (loadings @ factors + unique part). The factor scores
    are part regional (smooth field, weathering and alteration footprints) and part nugget, so
    the correlation structure is the same in every unit while medians and spreads differ.
    """
    n = len(x)
    k = _LOADINGS.shape[1]
    regional = _field_at(rng_regional, k, 2500.0, x, y).T  # (n, k)
    factors = (math.sqrt(_FIELD_SHARE) * regional
               + math.sqrt(1 - _FIELD_SHARE) * rng_nugget.standard_normal((n, k)))
    communality = (_LOADINGS ** 2).sum(axis=1)
    unique = rng_nugget.standard_normal((n, len(ELEMENTS))) * np.sqrt(1 - communality)
    standard = factors @ _LOADINGS.T + unique
    medians = np.log(np.array([_UNIT_MEDIANS[u] for u in LITHOLOGIES]))[lithology]
    sd_scale = np.array([_UNIT_SD_SCALE[u] for u in LITHOLOGIES])[lithology]
    return medians + sd_scale[:, None] * _LOG_SD[None, :] * standard


def _spaced_points(rng: np.random.Generator, count: int, margin: float, min_separation: float,
                   avoid: list[tuple[np.ndarray, np.ndarray, float]] = ()
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` random points ``margin`` inside the area, ``min_separation`` apart and
    farther than each (xs, ys, distance) of ``avoid``; a fixed number of tries keeps it seeded."""
    xs: list[float] = []
    ys: list[float] = []
    for _ in range(5000):
        if len(xs) == count:
            break
        u = rng.uniform(margin, AREA_M - margin, 2)
        px, py = _ORIGIN[0] + u[0], _ORIGIN[1] + u[1]
        if any(math.hypot(px - qx, py - qy) < min_separation for qx, qy in zip(xs, ys)):
            continue
        if any(np.any(np.hypot(px - ax, py - ay) < dist) for ax, ay, dist in avoid):
            continue
        xs.append(px)
        ys.append(py)
    return np.array(xs), np.array(ys)


def _place_deposits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """8-12 deposits anywhere in the area (all rock units), halos apart and fully surveyed."""
    count = int(rng.integers(8, 13))
    return _spaced_points(rng, count, margin=1.5 * HALO_RADIUS_M,
                          min_separation=3.5 * HALO_RADIUS_M)


def _place_sources(rng: np.random.Generator, dep_x: np.ndarray, dep_y: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """4-6 smelters / towns clear of every deposit halo: positions, decay lengths and the
    direction (radians from east) the wind carries each plume."""
    count = int(rng.integers(4, 7))
    reach = _PLUME_DOWNWIND_STRETCH * PLUME_REACH_M  # no plume beyond it in any direction
    sx, sy = _spaced_points(rng, count, margin=CONTAMINATION_RADIUS_M,
                            min_separation=2 * reach,
                            avoid=[(dep_x, dep_y, 1.5 * HALO_RADIUS_M + reach)])
    length = rng.uniform(*_PLUME_LENGTH_M, len(sx))
    wind = rng.uniform(0.0, 2 * np.pi, len(sx))
    return sx, sy, length, wind


def _plume_shape(distance: np.ndarray, length) -> np.ndarray:
    """exp(-d / length), lowered and rescaled so it is 1 at the source and 0 from the reach on."""
    floor = np.exp(-PLUME_REACH_M / length)
    return np.clip((np.exp(-distance / length) - floor) / (1.0 - floor), 0.0, None)


def _sample_ids(n: int) -> list[str]:
    return [f"KS{i:05d}" for i in range(1, n + 1)]


# --------------------------------------------------------------------------------------------
# writing


def write_kind_inputs(kind: str, out_dir: str | os.PathLike, seed: int = 0,
                      n_samples: int = 1500) -> KindPaths:
    """Write the survey of ``kind`` as inputs for ``geoanomaly run``; returns where each went.

    ``samples.csv`` (SAMPLE_ID, X, Y, Au_ppb, As_ppm, ...), ``deposits.csv`` (name, x, y),
    ``truth.csv`` (per sample: positive, contamination, halo_kind, lithology) and README.txt.
    Then: ``geoanomaly run samples.csv --deposits deposits.csv --crs EPSG:32750 --target Au
    --radius 3000 --out DIR``.
    """
    survey = make_kind_survey(kind, seed=seed, n_samples=n_samples)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)

    samples = pd.DataFrame({"SAMPLE_ID": _sample_ids(survey.n),
                            "X": survey.table["x"].astype(np.int64),
                            "Y": survey.table["y"].astype(np.int64)})
    for element in ELEMENTS:
        samples[f"{element}_{UNITS[element]}"] = survey.table[element].map(
            f"{{:.{_DECIMALS[element]}f}}".format)
    samples_csv = root / "samples.csv"
    _write_text(samples_csv, samples.to_csv(index=False))

    deposits_csv = root / "deposits.csv"
    _write_text(deposits_csv, survey.deposits[["name", "x", "y"]].to_csv(
        index=False, float_format="%.1f"))
    truth_csv = root / "truth.csv"
    _write_text(truth_csv, survey.truth_table().to_csv(index=False))
    readme = root / "README.txt"
    _write_text(readme, _readme_text(survey))
    return KindPaths(root=root, samples_csv=samples_csv, deposits_csv=deposits_csv,
                     truth_csv=truth_csv, readme=readme)


def _readme_text(survey: KindSurvey) -> str:
    deposits = "\n".join(
        f"  {r.name}  x {r.x:.1f}  y {r.y:.1f}  {r.kind}"
        + (f"  (+{r.strength:.2f} ln Au)" if r.kind == "off-structure"
           else f"  ({r.strength:.2f} factor sd)")
        for r in survey.deposits.itertuples())
    if len(survey.sources):
        listed = "\n".join(f"  {r.name}  x {r.x:.1f}  y {r.y:.1f}  decay {r.length_m:.0f} m, "
                           f"wind towards {r.wind_to_deg:.0f} deg (anticlockwise from east)"
                           for r in survey.sources.itertuples())
        enrichment = ", ".join(f"{e} {math.exp(v):.0f}x" for e, v in _PLUME_LOG_ENRICHMENT.items())
        n_contaminated = int(survey.contamination.sum())
        sources = (
            f"Contamination sources (smelters / towns, no deposit). At the source {enrichment};\n"
            f"decaying as exp(-d / length) to 0 at {PLUME_REACH_M:.0f} m, d shrunk "
            f"{_PLUME_DOWNWIND_STRETCH:g}x downwind. "
            f"Samples within\n{survey.contamination_radius:.0f} m (the same stretched distance) "
            f"are contamination in truth.csv ({n_contaminated} samples):\n{listed}\n")
    else:
        sources = "No contamination sources in this kind.\n"
    radius = f"{survey.halo_radius:.0f}"
    au_low, au_high = _AU_LOG_ENRICHMENT
    shift_low, shift_high = _JOINT_FACTOR_SHIFT
    units = ", ".join(f"{e} ({u})" for e, u in survey.units.items())
    run = (f"geoanomaly run samples.csv --deposits deposits.csv --crs {survey.crs} "
           f"--target {survey.target} --radius {radius} --out OUT")
    return f"""SYNTHETIC DATA -- NOT A REAL SURVEY

Generated by geoanomaly.demo.kinds.write_kind_inputs({survey.kind!r}, seed={survey.seed}); the
same seed gives the same files. Anomaly kind: {survey.kind}.
{survey.description}

Coordinate reference system: {survey.crs} (WGS 84 / UTM zone 50S), metres; X, Y in
samples.csv and x, y in deposits.csv. Area {AREA_M / 1000:.0f} x {AREA_M / 1000:.0f} km.

Background: {len(survey.lithology_names)} rock units ({", ".join(survey.lithology_names)}) as
smooth random domains, each a multivariate log-normal with its own medians and spreads and one
shared correlation structure: a pathfinder factor (Au, As, Sb strongly; Bi, W, Ag, Cu), a
granite factor (W, Bi, Pb) and a mafic factor (Ni, Cu, Zn, Ag).
Elements: {units}.

Truth
- positives: samples within {radius} m of a deposit ({int(survey.positive.sum())} of {survey.n});
  use --radius {radius} for protocol "samples".
- off-structure halo: Au alone enriched, +{au_low:g} to {au_high:g} ln units at the deposit.
- joint halo: every element shifted by {shift_low:g} to {shift_high:g} background sd of the
  pathfinder factor, in proportion to its loadings: far out along the structure, not off it.
- halo strength exp(-ln2 (d / {radius} m)^{_HALO_POWER:g}): half at the truth radius.
Deposits:
{deposits}
{sources}
Files
- samples.csv: SAMPLE_ID, X, Y, element columns with units (Au_ppb, As_ppm, ...).
- deposits.csv: name, x, y of the deposits (kinds are listed above, not in the file).
- truth.csv: sample_id, x, y, positive, contamination, halo_kind, lithology per sample.

Run: {run}
"""
