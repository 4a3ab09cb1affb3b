"""A seeded synthetic regional stream-sediment survey with hidden skarn deposits.

Modelled loosely on the southwest Fujian data of Luo, Xiong & Zuo (2020): a 78 x 88 grid of
2 km cells with Cu, Pb, Zn, Mn (ppm) and Fe2O3 (wt %), Fe-polymetallic skarn deposits near the
contact of a Yanshanian granite. The point is a survey whose truth is known, built so that

* the background is not one population: each rock unit has its own log-mean and covariance,
  so a method must cope with geology as well as with noise;
* deposits leave multi-element halos (strong Cu-Pb-Zn, moderate Fe2O3-Mn) of varying strength;
* a few false anomalies (a Mn-rich carbonate, a Pb-rich granite, a Cu-rich mafic lens) look like
  deposits to any single element but not to the joint signature;
* the messy parts of real inputs are there: censored values, an irregular survey boundary,
  lab-style CSV files with "<2" strings, -9999 sentinels, blanks and duplicate rows.

Everything is determined by ``seed``: each generation step draws from its own child of one
``numpy.random.SeedSequence``, so changing one step's parameters does not reshuffle the others.
Only numpy and scipy are needed to generate; rasterio and pandas are imported to write files.

The geology layer (:func:`make_demo_geology`, written as ``geology.gpkg``) was added later and
changes nothing above: it reads the finished survey and draws from its own generator,
``SeedSequence([seed, 2])`` (the lab samples use ``[seed, 1]``), never from the survey's streams.
Its layers are the ore controls of the physically constrained VAE (Xiong, Zuo, Luo & Wang 2022):
"intrusions", the polygons of the granite mask (``rasterio.features.shapes``), and "faults",
3-6 slightly wavy straight traces across the sheet. At least half of the faults, and at least
one fewer than all, are structural controls, each
drawn through two deposits and chosen among candidate pairs to pass within 2 cells of as many
deposits as possible; the others are barren, at least 6 cells from every deposit. Whether a
fault is mineralised is kept in :class:`DemoGeology`, not in the file a user reads.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from scipy import ndimage

ELEMENTS: tuple[str, ...] = ("Cu", "Pb", "Zn", "Mn", "Fe2O3")
UNITS: dict[str, str] = {"Cu": "ppm", "Pb": "ppm", "Zn": "ppm", "Mn": "ppm", "Fe2O3": "pct"}
LITHOLOGIES: tuple[str, ...] = ("clastic", "carbonate", "volcanic", "granite")
CRS = "EPSG:32650"  # WGS 84 / UTM zone 50N, the zone of southwest Fujian
NODATA = -9999.0

# Lower detection limits, chosen so that a few % of Cu and Pb cells are censored, as in
# regional surveys over granite and limestone (values are in each element's unit).
DETECTION_LIMITS: dict[str, float] = {"Cu": 5.0, "Pb": 12.0, "Zn": 10.0, "Mn": 30.0, "Fe2O3": 0.1}

# Background medians per rock unit, in ELEMENTS order (ppm, Fe2O3 in %). Rough crustal
# values: limestone is poor in everything but Mn; granite is poor in Fe, Mn and Cu but rich in
# Pb (K-feldspar); intermediate volcanics carry more Cu, Zn and Fe.
_UNIT_MEDIANS = {
    "clastic": (22.0, 30.0, 75.0, 550.0, 4.0),
    "carbonate": (12.0, 19.0, 45.0, 900.0, 2.6),
    "volcanic": (38.0, 32.0, 105.0, 950.0, 5.5),
    "granite": (7.0, 48.0, 60.0, 330.0, 2.3),
}
# Natural-log standard deviations per unit (ELEMENTS order): each unit has its own spread.
_UNIT_LOG_SD = {
    "clastic": (0.40, 0.35, 0.35, 0.40, 0.30),
    "carbonate": (0.45, 0.40, 0.40, 0.45, 0.40),
    "volcanic": (0.40, 0.35, 0.30, 0.35, 0.25),
    "granite": (0.45, 0.35, 0.30, 0.40, 0.35),
}
# Correlation of the log background between elements (ELEMENTS order): Fe2O3-Mn share Fe-Mn
# oxides, Pb-Zn share sulphide / feldspar hosts, Cu-Zn-Fe share mafic minerals.
_LOG_CORRELATION = np.array([
    # Cu   Pb    Zn    Mn    Fe2O3
    [1.00, 0.30, 0.50, 0.30, 0.50],  # Cu
    [0.30, 1.00, 0.60, 0.20, 0.20],  # Pb
    [0.50, 0.60, 1.00, 0.45, 0.50],  # Zn
    [0.30, 0.20, 0.45, 1.00, 0.65],  # Mn
    [0.50, 0.20, 0.50, 0.65, 1.00],  # Fe2O3
])
# Log enrichment at the centre of a full-strength deposit halo (exp(1.6) ~ 5x for Cu).
_HALO_LOG_ENRICHMENT = {"Cu": 1.6, "Pb": 1.6, "Zn": 1.5, "Mn": 0.6, "Fe2O3": 0.6}

# False anomalies: kind -> (host unit, log enrichment per element, decay length in cells).
_FALSE_ANOMALIES = {
    # Mn-oxide (wad) accumulation on limestone: Mn and some Fe, no base metals.
    "Mn-rich carbonate": ("carbonate", {"Mn": 1.4, "Fe2O3": 0.35}, 2.5),
    # A fractionated K-feldspar-rich granite phase: broad Pb high with a little Zn.
    "Pb-rich granite": ("granite", {"Pb": 1.1, "Zn": 0.2}, 3.0),
    # A mafic lava lens: Cu, Fe, Zn, Mn up together, Pb down; a Cu-only map flags it.
    "Cu-rich mafic lens": ("volcanic", {"Cu": 1.4, "Fe2O3": 0.3, "Zn": 0.25, "Mn": 0.2,
                                        "Pb": -0.2}, 2.0),
}

# Centre of the default map, projected from 116.5 E / 25.0 N to UTM 50N (metres).
_CENTRE_XY = (449_545.0, 2_765_041.0)


@dataclass
class SyntheticSurvey:
    """The generated survey and its hidden truth.

    ``elements`` holds the true concentrations (before censoring) per element, NaN outside the
    survey boundary; :meth:`reported` gives what a lab would report on a grid. Rows run north
    to south, columns west to east, and ``transform`` maps (col, row) to the cell's corner.
    """

    seed: int
    elements: dict[str, np.ndarray]
    units: dict[str, str]
    detection_limits: dict[str, float]
    transform: Affine
    crs: str
    cell_size: float
    valid: np.ndarray  # bool: inside the survey boundary
    lithology: np.ndarray  # int8 codes into LITHOLOGIES
    intrusion: np.ndarray  # bool: the Yanshanian granite
    contact_zone: np.ndarray  # bool: band outside the intrusion where skarns form
    deposits: pd.DataFrame  # name, row, col, x, y, setting, host, strength
    halo_intensity: np.ndarray  # 0..1: strongest deposit influence in each cell
    halo: np.ndarray  # bool truth map: cells inside a mineralised halo
    false_anomalies: pd.DataFrame  # kind, row, col, x, y
    lithology_names: tuple[str, ...] = LITHOLOGIES
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.valid.shape

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Projected x and y of every cell centre, each shaped like the grid."""
        rows, cols = np.mgrid[0:self.shape[0], 0:self.shape[1]]
        return _cell_to_xy(self.transform, cols + 0.5, rows + 0.5)

    def below_detection(self, element: str) -> np.ndarray:
        """Cells whose true value is under the element's detection limit (censored by a lab)."""
        return self.valid & (np.nan_to_num(self.elements[element], nan=np.inf)
                             < self.detection_limits[element])

    def reported(self, element: str) -> np.ndarray:
        """The grid as a lab would report it: censored cells at half the detection limit."""
        values = self.elements[element].copy()
        values[self.below_detection(element)] = 0.5 * self.detection_limits[element]
        return values

    def deposit_cells(self) -> np.ndarray:
        """Bool grid, True in each cell that holds a deposit (the positives for ROC)."""
        mask = np.zeros(self.shape, dtype=bool)
        mask[self.deposits["row"].to_numpy(), self.deposits["col"].to_numpy()] = True
        return mask

    def to_survey(self):
        """The reported grid as a :class:`geoanomaly.survey.Survey` (valid cells, row-major)."""
        from pyproj import CRS as ProjCRS

        from geoanomaly.survey import Grid, Survey

        crs = ProjCRS.from_user_input(self.crs)
        rows, cols = np.nonzero(self.valid)
        x, y = self.cell_centres()
        values = pd.DataFrame({e: self.reported(e)[rows, cols] for e in ELEMENTS})
        grid = Grid(self.transform, self.shape[1], self.shape[0], crs, self.valid.copy())
        return Survey(values=values, x=x[rows, cols], y=y[rows, cols], crs=crs,
                      units=dict(self.units), columns={e: f"synthetic:{e}" for e in ELEMENTS},
                      grid=grid, sources=[f"synthetic survey, seed {self.seed}"],
                      notes=list(self.notes))


@dataclass
class DemoPaths:
    """Where :func:`write_demo_inputs` put each file."""

    root: Path
    grid_dir: Path
    element_grids: dict[str, Path]
    deposits_csv: Path
    samples_csv: Path
    readme: Path
    truth_dir: Path
    geology_gpkg: Path | None = None  # layers "intrusions" and "faults" (added later)


@dataclass
class DemoGeology:
    """The demo's geology controls in the survey CRS: granite polygons and fault traces.

    ``fault_mineralised[i]`` says whether fault ``i`` was drawn as a structural control (through
    deposits) or as a barren one: truth, not an input.
    """

    intrusions: list  # shapely Polygons
    faults: list  # shapely LineStrings
    fault_names: list[str]
    fault_mineralised: list[bool]
    crs: str


# --------------------------------------------------------------------------------------------
# generation


def make_synthetic_survey(seed: int = 0, shape: tuple[int, int] = (78, 88),
                          cell_size: float = 2000.0) -> SyntheticSurvey:
    """Generate the survey for ``seed`` on a ``shape`` = (rows, cols) grid of ``cell_size`` m.

    The steps follow how such a map comes about: rock units, an intrusion cutting them, skarn
    deposits at its contact, background chemistry per unit with regional and sample-scale
    variation, deposit halos, other (barren) anomalies, analytical noise, survey boundary.
    """
    height, width = int(shape[0]), int(shape[1])
    if height < 20 or width < 20:
        raise ValueError("the synthetic survey needs at least 20 x 20 cells")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    rng_boundary, rng_intrusion, rng_litho, rng_deposits, rng_chem, rng_false, rng_noise = \
        streams
    scale = min(height, width) / 78.0  # keeps feature sizes proportional on other grid sizes

    valid = _survey_boundary(rng_boundary, (height, width))
    intrusion = _intrusion_blob(rng_intrusion, (height, width), scale)
    distance_outside = ndimage.distance_transform_edt(~intrusion)
    # Skarns form in the host rock within a few km of the contact (exoskarn): a 3-cell band.
    contact_zone = (~intrusion) & (distance_outside <= 3.0) & valid
    lithology = _lithology(rng_litho, (height, width), intrusion, distance_outside, scale)

    deposits = _place_deposits(rng_deposits, valid, intrusion, contact_zone, lithology)
    log_values = _background(rng_chem, lithology, scale)
    halo_intensity = _add_halos(log_values, deposits)
    false_anomalies = _add_false_anomalies(rng_false, log_values, lithology, valid, deposits)

    # Analytical noise: a few % relative error, independent per element and cell.
    log_values += rng_noise.normal(0.0, math.log(1.03), size=log_values.shape)

    elements = {}
    for k, element in enumerate(ELEMENTS):
        grid = np.exp(log_values[k])
        grid[~valid] = np.nan  # the sea: no stream sediments
        elements[element] = grid

    x0 = round((_CENTRE_XY[0] - width * cell_size / 2) / 1000.0) * 1000.0
    y0 = round((_CENTRE_XY[1] + height * cell_size / 2) / 1000.0) * 1000.0
    transform = Affine(cell_size, 0.0, x0, 0.0, -cell_size, y0)

    deposit_table = _deposit_table(deposits, transform, lithology)
    false_table = pd.DataFrame(
        [(kind, r, c, *_cell_to_xy(transform, c + 0.5, r + 0.5))
         for kind, r, c in false_anomalies],
        columns=["kind", "row", "col", "x", "y"])

    # Truth: where the deposit influence is material, plus every deposit cell itself.
    halo = (halo_intensity >= 0.35) & valid
    halo[deposit_table["row"].to_numpy(), deposit_table["col"].to_numpy()] = True

    return SyntheticSurvey(
        seed=seed, elements=elements, units=dict(UNITS),
        detection_limits=dict(DETECTION_LIMITS), transform=transform, crs=CRS,
        cell_size=float(cell_size), valid=valid, lithology=lithology, intrusion=intrusion,
        contact_zone=contact_zone, deposits=deposit_table, halo_intensity=halo_intensity,
        halo=halo, false_anomalies=false_table,
        notes=[f"synthetic survey generated by geoanomaly.demo with seed {seed}"],
    )


def _cell_to_xy(transform: Affine, col, row) -> tuple:
    """Projected x, y of fractional (col, row) positions; written out because the affine
    package's operator for this changed (``*`` to ``@``) between versions."""
    x = transform.a * np.asarray(col) + transform.b * np.asarray(row) + transform.c
    y = transform.d * np.asarray(col) + transform.e * np.asarray(row) + transform.f
    return x.astype(float), y.astype(float)


def _gaussian_field(rng: np.random.Generator, shape: tuple[int, ...],
                    correlation_cells: float) -> np.ndarray:
    """A stationary Gaussian random field with unit variance: smoothed white noise.

    Gaussian smoothing of white noise gives a Gaussian covariance whose range scales with
    ``correlation_cells``; standardising afterwards makes amplitudes easy to set.
    """
    noise = rng.standard_normal(shape)
    sigma = (0,) * (len(shape) - 2) + (correlation_cells, correlation_cells)
    smooth = ndimage.gaussian_filter(noise, sigma=sigma, mode="reflect")
    axes = (-2, -1)
    smooth -= smooth.mean(axis=axes, keepdims=True)
    return smooth / smooth.std(axis=axes, keepdims=True)


def _survey_boundary(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Inside-the-survey mask: an irregular coastline cuts off the south-east corner.

    A few % of cells become nodata so that readers and models must handle an irregular
    survey outline, as real national-programme sheets do at coasts and borders.
    """
    height, width = shape
    rows, cols = np.mgrid[0:height, 0:width]
    towards_sea = cols / width + rows / height  # 0 at the NW corner, 2 at the SE corner
    wiggle = 0.07 * _gaussian_field(rng, shape, correlation_cells=4.0)
    return towards_sea < 1.72 + wiggle


def _intrusion_blob(rng: np.random.Generator, shape: tuple[int, int],
                    scale: float) -> np.ndarray:
    """The Yanshanian granite: a lobate blob (a radius modulated by a few harmonics).

    Batholiths in map view are roughly equant with lobes; ~14 km across on default settings.
    """
    height, width = shape
    rows, cols = np.mgrid[0:height, 0:width]
    centre_row = rng.uniform(0.35, 0.55) * height
    centre_col = rng.uniform(0.35, 0.60) * width
    radius = rng.uniform(6.0, 8.0) * scale
    theta = np.arctan2(rows - centre_row, cols - centre_col)
    boundary = np.full(shape, radius)
    for harmonic in (2, 3, 4):
        amplitude = rng.uniform(0.05, 0.15)
        phase = rng.uniform(0.0, 2 * np.pi)
        boundary += radius * amplitude * np.cos(harmonic * theta + phase)
    return np.hypot(rows - centre_row, cols - centre_col) <= boundary


def _lithology(rng: np.random.Generator, shape: tuple[int, int], intrusion: np.ndarray,
               distance_outside: np.ndarray, scale: float) -> np.ndarray:
    """Rock units as smooth domains: the argmax of one smooth random field per unit.

    Competing smooth fields give map units with curved boundaries and realistic sizes (tens of
    km). The carbonate field is raised near the intrusion because the granite was emplaced into
    the Late Palaeozoic carbonate-clastic basin, which is why skarns occur there at all.
    """
    fields = _gaussian_field(rng, (len(LITHOLOGIES), *shape), correlation_cells=7.0 * scale)
    bias = {"clastic": 0.3, "carbonate": 0.0, "volcanic": -0.1, "granite": -0.4}
    for k, unit in enumerate(LITHOLOGIES):
        fields[k] += bias[unit]
    fields[LITHOLOGIES.index("carbonate")] += 3.0 * np.exp(-distance_outside / (5.0 * scale))
    lithology = np.argmax(fields, axis=0).astype(np.int8)
    lithology[intrusion] = LITHOLOGIES.index("granite")
    return lithology


def _pick_spaced(rng: np.random.Generator, candidates: np.ndarray, count: int,
                 taken: list[tuple[int, int]], min_separation: float) -> list[tuple[int, int]]:
    """Up to ``count`` random cells from ``candidates`` at least ``min_separation`` apart
    (from each other and from ``taken``), so that halos do not simply merge into one."""
    rows, cols = np.nonzero(candidates)
    picked: list[tuple[int, int]] = []
    for i in rng.permutation(len(rows)):
        if len(picked) == count:
            break
        cell = (int(rows[i]), int(cols[i]))
        if all(math.dist(cell, other) >= min_separation for other in taken + picked):
            picked.append(cell)
    return picked


@dataclass
class _Deposit:
    row: int
    col: int
    row_f: float  # exact position, in cell units from the top-left corner
    col_f: float
    setting: str  # "contact" or "elsewhere"
    strength: float  # 0..1, scales every element's halo
    halo_length: float  # e-folding length in cells
    flow_direction: float  # radians: the drainage direction that stretches the halo
    element_factor: dict[str, float]


def _place_deposits(rng: np.random.Generator, valid: np.ndarray, intrusion: np.ndarray,
                    contact_zone: np.ndarray, lithology: np.ndarray) -> list[_Deposit]:
    """8-12 deposits: at least 70 % in the contact zone (carbonate hosts first), the rest
    elsewhere, away from the map edge and the coast so their halos are fully surveyed."""
    height, width = valid.shape
    inland = ndimage.binary_erosion(valid, iterations=3, border_value=0)
    count = int(rng.integers(8, 13))
    count_elsewhere = min(int(rng.integers(1, 4)), int(0.3 * count))
    carbonate = lithology == LITHOLOGIES.index("carbonate")

    cells = _pick_spaced(rng, contact_zone & carbonate & inland,
                         count - count_elsewhere, [], min_separation=3.0)
    if len(cells) < count - count_elsewhere:  # not enough carbonate: hornfels-hosted skarns
        cells += _pick_spaced(rng, contact_zone & ~carbonate & inland,
                              count - count_elsewhere - len(cells), cells, min_separation=3.0)
    settings = ["contact"] * len(cells)
    elsewhere = ~contact_zone & ~intrusion & inland
    more = _pick_spaced(rng, elsewhere, count - len(cells), cells, min_separation=5.0)
    cells += more
    settings += ["elsewhere"] * len(more)

    deposits = []
    for (row, col), setting in zip(cells, settings):
        deposits.append(_Deposit(
            row=row, col=col,
            row_f=row + 0.5 + rng.uniform(-0.45, 0.45),
            col_f=col + 0.5 + rng.uniform(-0.45, 0.45),
            setting=setting,
            strength=float(rng.uniform(0.35, 1.0)),  # some deposits leave faint halos
            halo_length=float(rng.uniform(1.2, 3.0)),
            flow_direction=float(rng.uniform(0.0, 2 * np.pi)),
            # Metal zoning differs between deposits (Cu-Fe-rich vs Pb-Zn-rich).
            element_factor={e: float(rng.uniform(0.75, 1.25)) for e in ELEMENTS},
        ))
    return deposits


def _background(rng: np.random.Generator, lithology: np.ndarray, scale: float) -> np.ndarray:
    """Log concentrations of the barren background, shape (element, row, col).

    Each unit has its own log-mean and log-sd; the deviations share one cross-element
    correlation and are part regional (a random field with a range of ~3 cells: weathering,
    catchment geology below the map's resolution) and part cell-scale (a nugget). The unit means
    are blurred by ~1 cell because a stream sediment mixes material from its whole catchment,
    so chemistry changes over a few km at a unit contact, not in one step.
    """
    n = len(ELEMENTS)
    medians = np.array([_UNIT_MEDIANS[u] for u in LITHOLOGIES])  # (unit, element)
    log_sd = np.array([_UNIT_LOG_SD[u] for u in LITHOLOGIES])
    mean_map = np.log(medians)[lithology].transpose(2, 0, 1)  # (element, row, col)
    sd_map = log_sd[lithology].transpose(2, 0, 1)
    mean_map = ndimage.gaussian_filter(mean_map, sigma=(0, 0.8, 0.8), mode="nearest")
    sd_map = ndimage.gaussian_filter(sd_map, sigma=(0, 0.8, 0.8), mode="nearest")

    cholesky = np.linalg.cholesky(_LOG_CORRELATION)
    regional = _gaussian_field(rng, (n, *lithology.shape), correlation_cells=2.5 * scale)
    nugget = rng.standard_normal((n, *lithology.shape))
    nugget_share = 0.3
    deviations = np.sqrt(1 - nugget_share) * regional + np.sqrt(nugget_share) * nugget
    correlated = np.einsum("ij,jhw->ihw", cholesky, deviations)
    return mean_map + sd_map * correlated


def _halo_shape(shape: tuple[int, int], row_f: float, col_f: float, length: float,
                direction: float, downstream_stretch: float = 1.8) -> np.ndarray:
    """exp(-distance / length), with the distance shrunk downstream: stream sediments carry a
    dispersion train down the drainage, so a halo is longer on its downstream side."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    d_row = rows + 0.5 - row_f
    d_col = cols + 0.5 - col_f
    along = d_col * np.cos(direction) + d_row * np.sin(direction)
    across = -d_col * np.sin(direction) + d_row * np.cos(direction)
    along = np.where(along > 0, along / downstream_stretch, along)
    return np.exp(-np.hypot(along, across) / length)


def _add_halos(log_values: np.ndarray, deposits: list[_Deposit]) -> np.ndarray:
    """Multiplicative enrichment around each deposit (additive in log space); returns the
    halo intensity map, the strongest single deposit's strength x shape in each cell."""
    intensity = np.zeros(log_values.shape[1:])
    for deposit in deposits:
        shape = _halo_shape(intensity.shape, deposit.row_f, deposit.col_f,
                            deposit.halo_length, deposit.flow_direction)
        for k, element in enumerate(ELEMENTS):
            log_values[k] += (_HALO_LOG_ENRICHMENT[element] * deposit.element_factor[element]
                              * deposit.strength * shape)
        intensity = np.maximum(intensity, deposit.strength * shape)
    return intensity


def _add_false_anomalies(rng: np.random.Generator, log_values: np.ndarray,
                         lithology: np.ndarray, valid: np.ndarray,
                         deposits: list[_Deposit]) -> list[tuple[str, int, int]]:
    """Barren anomalies that one element alone would flag, placed in their host unit and away
    from every deposit, so that a good method can be scored on not flagging them."""
    shape = lithology.shape
    far_from_deposits = np.ones(shape, dtype=bool)
    if deposits:
        seeds = np.zeros(shape, dtype=bool)
        for deposit in deposits:
            seeds[deposit.row, deposit.col] = True
        far_from_deposits = ndimage.distance_transform_edt(~seeds) >= 8.0
    inland = ndimage.binary_erosion(valid, iterations=2, border_value=0)
    placed: list[tuple[str, int, int]] = []
    for kind, (host, enrichment, length) in _FALSE_ANOMALIES.items():
        # Inside the host unit, not on its edge, where catchment mixing would dilute it.
        in_host = lithology == LITHOLOGIES.index(host)
        candidates = inland & far_from_deposits & ndimage.binary_erosion(in_host, iterations=2)
        if not candidates.any():
            candidates = inland & far_from_deposits & in_host
        if not candidates.any():
            candidates = inland & far_from_deposits
        cells = _pick_spaced(rng, candidates, 1, [(r, c) for _, r, c in placed], 8.0)
        if not cells:
            continue
        row, col = cells[0]
        halo = _halo_shape(shape, row + 0.5, col + 0.5, length, 0.0, downstream_stretch=1.0)
        for element, log_factor in enrichment.items():
            log_values[ELEMENTS.index(element)] += log_factor * halo
        placed.append((kind, row, col))
    return placed


def _deposit_table(deposits: list[_Deposit], transform: Affine,
                   lithology: np.ndarray) -> pd.DataFrame:
    records = []
    for i, d in enumerate(deposits, start=1):
        x, y = _cell_to_xy(transform, d.col_f, d.row_f)
        records.append({
            "name": f"D{i:02d}", "row": d.row, "col": d.col, "x": float(x), "y": float(y),
            "setting": d.setting, "host": LITHOLOGIES[lithology[d.row, d.col]],
            "strength": d.strength,
        })
    columns = ["name", "row", "col", "x", "y", "setting", "host", "strength"]
    return pd.DataFrame.from_records(records, columns=columns)


# Fault geometry, in cells: a mineralised fault passes within _FAULT_NEAR of the deposits it
# controls; a barren one stays _FAULT_FAR from all of them.
_FAULT_NEAR = 2.0
_FAULT_FAR = 6.0


def make_demo_geology(survey: SyntheticSurvey) -> DemoGeology:
    """The survey's geology layer: the granite as polygons and 3-6 seeded faults.

    Reads the survey only; draws from ``SeedSequence([survey.seed, 2])``, so the survey's values
    are the same whether or not this is called.
    """
    import shapely
    from rasterio import features

    rng = np.random.default_rng(np.random.SeedSequence([survey.seed, 2]))
    mask = survey.intrusion.astype(np.uint8)
    intrusions = [shapely.geometry.shape(geometry) for geometry, value in
                  features.shapes(mask, mask=survey.intrusion, transform=survey.transform)
                  if value == 1]

    height, width = survey.shape
    cell = survey.cell_size
    x0, y0 = survey.transform.c, survey.transform.f
    frame = shapely.box(x0, y0 - height * cell, x0 + width * cell, y0)
    deposits = shapely.points(survey.deposits["x"].to_numpy(), survey.deposits["y"].to_numpy())
    n_faults = int(rng.integers(3, 7))
    # at least half of them mineralised, at least one barren
    n_mineralised = int(rng.integers((n_faults + 1) // 2, n_faults)) if len(deposits) >= 2 else 0

    faults, mineralised = [], []
    used_angles: list[float] = []
    for _ in range(n_mineralised):
        best = None
        for _ in range(40):
            i, j = rng.choice(len(deposits), size=2, replace=False)
            (xa, ya), (xb, yb) = shapely.get_coordinates(deposits[[i, j]])
            angle = math.atan2(yb - ya, xb - xa) % math.pi
            if any(abs(math.remainder(angle - a, math.pi)) < math.radians(20)
                   for a in used_angles):
                continue
            line = _trace_across(frame, (xa + xb) / 2, (ya + yb) / 2, angle, cell)
            near = int((shapely.distance(deposits, line) <= _FAULT_NEAR * cell).sum())
            if best is None or near > best[0]:
                best = (near, angle, (xa + xb) / 2, (ya + yb) / 2)
        if best is None:
            continue
        _, angle, xm, ym = best
        angle += math.radians(rng.uniform(-3.0, 3.0))
        offset = rng.uniform(-0.5, 0.5) * cell
        xm, ym = xm - offset * math.sin(angle), ym + offset * math.cos(angle)
        faults.append(_wavy(rng, _trace_across(frame, xm, ym, angle, cell), frame, cell))
        mineralised.append(True)
        used_angles.append(angle % math.pi)
    while len(faults) < n_faults:
        best = None
        for _ in range(200):
            angle = rng.uniform(0.0, math.pi)
            xm, ym = rng.uniform(x0, x0 + width * cell), rng.uniform(y0 - height * cell, y0)
            line = _trace_across(frame, xm, ym, angle, cell)
            if line.length < 20 * cell:
                continue
            clearance = float(shapely.distance(deposits, line).min()) if len(deposits) else np.inf
            if best is None or clearance > best[0]:
                best = (clearance, line)
            if clearance >= (_FAULT_FAR + 1.0) * cell:  # room for the wiggle
                break
        faults.append(_wavy(rng, best[1], frame, cell))
        mineralised.append(False)
    names = [f"F{i + 1}" for i in range(len(faults))]
    return DemoGeology(intrusions=intrusions, faults=faults, fault_names=names,
                       fault_mineralised=mineralised, crs=survey.crs)


def _trace_across(frame, x: float, y: float, angle: float, cell: float):
    """The straight line through (x, y) at ``angle`` (radians from east), cut to the map."""
    import shapely

    reach = 1000.0 * cell
    dx, dy = reach * math.cos(angle), reach * math.sin(angle)
    return shapely.intersection(shapely.LineString([(x - dx, y - dy), (x + dx, y + dy)]), frame)


def _wavy(rng: np.random.Generator, line, frame, cell: float):
    """A straight trace made slightly wavy (12 vertices, sideways jitter of ~0.3 cell)."""
    import shapely

    (xa, ya), (xb, yb) = shapely.get_coordinates(line)[[0, -1]]
    t = np.linspace(0.0, 1.0, 12)
    length = math.hypot(xb - xa, yb - ya)
    nx, ny = -(yb - ya) / length, (xb - xa) / length
    side = rng.normal(0.0, 0.3 * cell, t.size)
    side[[0, -1]] = 0.0
    coords = np.column_stack([xa + t * (xb - xa) + side * nx, ya + t * (yb - ya) + side * ny])
    return shapely.intersection(shapely.LineString(coords), frame)


# --------------------------------------------------------------------------------------------
# writing


def write_demo_inputs(out_dir: str | os.PathLike, seed: int = 0,
                      n_samples: int = 1500) -> DemoPaths:
    """Write the demo survey as a user would receive it; returns where each file went.

    ``grid/<element>.tif`` (float32, nodata -9999, censored cells at half the limit),
    ``deposits.csv`` (name, x, y), ``samples.csv`` (a lab-style point file), ``truth/``
    (lithology, intrusion, contact zone, halo, false anomalies), ``README.txt`` and
    ``geology.gpkg`` (layers "intrusions" and "faults": the ore controls for ``--control``).
    """
    survey = make_synthetic_survey(seed=seed)
    root = Path(out_dir)
    grid_dir = root / "grid"
    truth_dir = root / "truth"
    grid_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)

    element_grids = {}
    for element in ELEMENTS:
        path = grid_dir / f"{element}.tif"
        _write_geotiff(path, survey.reported(element), survey, description=element,
                       unit=UNITS[element], dtype="float32", nodata=NODATA)
        element_grids[element] = path
    for name, grid in (("lithology", survey.lithology), ("intrusion", survey.intrusion),
                       ("contact_zone", survey.contact_zone), ("halo", survey.halo)):
        values = grid.astype(np.float64)
        values[~survey.valid] = np.nan
        _write_geotiff(truth_dir / f"{name}.tif", values, survey, description=name, unit="",
                       dtype="uint8", nodata=255)
    _write_text(truth_dir / "false_anomalies.csv",
                survey.false_anomalies.to_csv(index=False, float_format="%.1f"))
    _write_text(truth_dir / "deposits_truth.csv",
                survey.deposits.to_csv(index=False, float_format="%.3f"))

    deposits_csv = root / "deposits.csv"
    _write_text(deposits_csv, survey.deposits[["name", "x", "y"]].to_csv(
        index=False, float_format="%.1f"))

    samples_csv = root / "samples.csv"
    samples = _lab_samples(survey, n_samples)
    _write_text(samples_csv, samples.to_csv(index=False))

    readme = root / "README.txt"
    _write_text(readme, _readme_text(survey, n_samples, len(samples)))

    geology_gpkg = root / "geology.gpkg"
    _write_geology(geology_gpkg, make_demo_geology(survey))
    return DemoPaths(root=root, grid_dir=grid_dir, element_grids=element_grids,
                     deposits_csv=deposits_csv, samples_csv=samples_csv, readme=readme,
                     truth_dir=truth_dir, geology_gpkg=geology_gpkg)


def _write_geology(path: Path, geology: DemoGeology) -> None:
    """Two layers, "intrusions" and "faults", in one GeoPackage, moved into place when whole."""
    import geopandas

    # the GPKG driver wants the .gpkg extension, so the partial name keeps it
    partial = path.with_name(f"{path.stem}.part{path.suffix}")
    partial.unlink(missing_ok=True)
    intrusions = geopandas.GeoDataFrame(
        {"name": [f"granite {i + 1}" for i in range(len(geology.intrusions))],
         "unit": "Yanshanian granite"},
        geometry=geology.intrusions, crs=geology.crs)
    faults = geopandas.GeoDataFrame({"name": geology.fault_names}, geometry=geology.faults,
                                    crs=geology.crs)
    intrusions.to_file(partial, layer="intrusions", driver="GPKG", engine="pyogrio")
    faults.to_file(partial, layer="faults", driver="GPKG", engine="pyogrio", mode="a")
    os.replace(partial, path)


def _write_text(path: Path, text: str) -> None:
    """Write to a temporary name and move into place, so a crash leaves no half file."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8", newline="")
    os.replace(partial, path)


def _write_geotiff(path: Path, values: np.ndarray, survey: SyntheticSurvey, description: str,
                   unit: str, dtype: str, nodata: float) -> None:
    import rasterio

    data = np.where(np.isnan(values), nodata, values).astype(dtype)
    profile = {
        "driver": "GTiff", "width": values.shape[1], "height": values.shape[0], "count": 1,
        "dtype": dtype, "crs": survey.crs, "transform": survey.transform, "nodata": nodata,
        "compress": "deflate",
    }
    partial = path.with_name(path.name + ".part")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, description)
        if unit:
            dst.set_band_unit(1, unit)
        dst.update_tags(synthetic="true", seed=str(survey.seed))
    os.replace(partial, path)


# Lab-file column per element, and the number of decimals the lab reports.
_SAMPLE_COLUMNS = {"Cu": ("Cu_ppm", 1), "Pb": ("Pb_ppm", 1), "Zn": ("Zn_ppm", 0),
                   "Mn": ("Mn_ppm", 0), "Fe2O3": ("Fe2O3_pct", 2)}


def _lab_samples(survey: SyntheticSurvey, n_samples: int) -> pd.DataFrame:
    """A point survey formatted like a real lab return, traps included.

    Each sample takes its cell's true value times sample-scale noise (a sample sees one
    catchment, not the 2 km average), a small per-batch bias and analytical noise; then the lab
    writes "<DL" for censored values, -9999 or nothing for missing ones, and a merge of
    files has left a few exact duplicate rows.
    """
    rng = np.random.default_rng(np.random.SeedSequence([survey.seed, 1]))
    height, width = survey.shape
    cell = survey.cell_size
    x0, y0 = survey.transform.c, survey.transform.f

    # Uniform positions over the surveyed land only: draw over the box, keep valid cells.
    row_f = np.empty(0)
    col_f = np.empty(0)
    while len(row_f) < n_samples:
        draw_row = rng.uniform(0, height, n_samples)
        draw_col = rng.uniform(0, width, n_samples)
        keep = survey.valid[draw_row.astype(int), draw_col.astype(int)]
        row_f = np.concatenate([row_f, draw_row[keep]])
        col_f = np.concatenate([col_f, draw_col[keep]])
    row_f, col_f = row_f[:n_samples], col_f[:n_samples]
    rows, cols = row_f.astype(int), col_f.astype(int)
    xs = np.round(x0 + col_f * cell)  # GPS positions to the metre
    ys = np.round(y0 - row_f * cell)

    # Field numbering follows 1:50,000 map sheets (10 x 10 cells here), then north to south.
    sheet = (rows // 10) * 100 + cols // 10
    order = np.lexsort((-ys, sheet))
    rows, cols, xs, ys = rows[order], cols[order], xs[order], ys[order]
    batch = np.arange(n_samples) // 100

    n_el = len(ELEMENTS)
    cholesky = np.linalg.cholesky(_LOG_CORRELATION)
    sample_noise = 0.15 * (cholesky @ rng.standard_normal((n_el, n_samples)))
    batch_bias = rng.normal(0.0, 0.02, (n_el, batch.max() + 1))[:, batch]
    analytical = rng.normal(0.0, math.log(1.03), (n_el, n_samples))

    table = {
        "SAMPLE_ID": [f"SWF{i:05d}" for i in range(1, n_samples + 1)],
        "EASTING": xs.astype(np.int64),
        "NORTHING": ys.astype(np.int64),
    }
    for k, element in enumerate(ELEMENTS):
        column, decimals = _SAMPLE_COLUMNS[element]
        values = survey.elements[element][rows, cols] * np.exp(
            sample_noise[k] + batch_bias[k] + analytical[k])
        limit = survey.detection_limits[element]
        text = np.array([f"{v:.{decimals}f}" for v in values], dtype=object)
        text[values < limit] = f"<{limit:g}"
        missing = rng.random(n_samples)
        text[missing < 0.004] = "-9999"  # not analysed (sentinel)
        text[(missing >= 0.004) & (missing < 0.007)] = ""  # left blank
        table[column] = text
    table["LAB_BATCH"] = [f"B2015-{b + 1:02d}" for b in batch]
    first_day = np.datetime64("2015-03-02")
    table["DATE"] = [str(first_day + np.timedelta64(7 * int(b), "D")) for b in batch]
    samples = pd.DataFrame(table)

    # A few rows entered twice when two lab files were merged: exact duplicates.
    duplicated = np.sort(rng.choice(n_samples, size=int(rng.integers(3, 6)), replace=False))
    positions = np.sort(np.concatenate([np.arange(n_samples), duplicated]))
    return samples.iloc[positions].reset_index(drop=True)


def _readme_text(survey: SyntheticSurvey, n_samples: int, n_rows: int) -> str:
    height, width = survey.shape
    n_censored = {e: int(survey.below_detection(e).sum()) for e in ELEMENTS}
    shown_unit = {"ppm": "ppm", "pct": "wt %"}
    limits = ", ".join(f"{e} {survey.detection_limits[e]:g} {shown_unit[UNITS[e]]}"
                       for e in ELEMENTS)
    n_contact = int((survey.deposits["setting"] == "contact").sum())
    example = f"<{survey.detection_limits['Cu']:g}"
    censored = ", ".join(f"{e} {n}" for e, n in n_censored.items())
    return f"""SYNTHETIC DEMO DATA -- NOT A REAL SURVEY

Generated by geoanomaly.demo.write_demo_inputs(seed={survey.seed}); the same seed gives the
same files. Loosely modelled on the southwest Fujian stream-sediment data used by Luo, Xiong &
Zuo (2020, Applied Geochemistry 122, 104710): Fe-polymetallic skarn deposits at the contact of
a Yanshanian granite.

Coordinate reference system: EPSG:32650 (WGS 84 / UTM zone 50N), metres. This applies to the
GeoTIFFs, to deposits.csv (x, y) and to samples.csv (EASTING, NORTHING).

How it was made
- 4 rock units ({", ".join(survey.lithology_names)}) as smooth random domains, each with
  its own log-normal background (log-mean and covariance) for Cu, Pb, Zn, Mn (ppm), Fe2O3 (%).
- Spatially correlated regional variation, a cell-scale nugget and ~3 % analytical noise.
- One granite intrusion; {n_contact} of {len(survey.deposits)} deposits lie in a 3-cell contact
  zone around it (skarns, mostly in carbonate), the rest elsewhere. Each deposit has a
  multi-element halo (strong Cu, Pb, Zn; moderate Fe2O3, Mn) of its own strength, stretched
  down the drainage.
- False anomalies that single elements flag but that are not mineralised:
  {", ".join(survey.false_anomalies["kind"])}.

Files
- grid/Cu.tif, Pb.tif, Zn.tif, Mn.tif, Fe2O3.tif: {height} rows x {width} columns of
  {survey.cell_size:g} m cells, float32, nodata -9999 (the sea in the south-east corner).
  Values below the detection limit are reported as half the limit.
  Detection limits: {limits}.
  Censored cells: {censored}.
- deposits.csv: name, x, y of the known deposits.
- samples.csv: {n_samples} stream-sediment samples ({n_rows} rows) at random positions, the value of
  their cell plus sample noise, formatted like a lab return: below-detection values as text
  ("{example}"), -9999 and blank cells for missing values, a few exact duplicate rows, a small
  between-batch bias (LAB_BATCH), text sample ids.
- geology.gpkg: the ore controls a geologist would map, for the knowledge-guided models
  (--control geology.gpkg): layer "intrusions" (the granite outline) and layer "faults" (fault
  traces; some pass through deposits, some are barren). Drawn so that they control the
  deposits, so these models are flattered here: a real survey's geology will be weaker.
- truth/: lithology (codes {", ".join(f"{i}={n}" for i, n in enumerate(survey.lithology_names))}),
  intrusion, contact_zone and halo (1 = inside a mineralised halo) as GeoTIFFs;
  deposits_truth.csv and false_anomalies.csv. Use them to check results, not as inputs.
"""
