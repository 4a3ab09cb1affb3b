"""The read stage: user files -> one :class:`~geoanomaly.survey.Survey` (+ deposits).

``read_survey`` decides by what it is given: folders and GeoTIFFs are element grids, any other
file is a table of point samples.  Several tables are joined into one survey only when they
agree on elements, units and CRS (e.g. one survey delivered in batches); a ``source_file``
metadata column then says which file each row came from, so per-file levelling stays possible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geoanomaly.errors import InputError
from geoanomaly.io.crs import crs_label, parse_crs
from geoanomaly.io.deposits import Deposits, deposits_inside, read_deposits
from geoanomaly.io.rasters import RASTER_SUFFIXES, read_rasters
from geoanomaly.io.samples import read_samples
from geoanomaly.survey import Survey

__all__ = ["read_survey", "read_deposits", "deposits_inside", "Deposits", "read_samples",
           "read_rasters"]


def _is_raster_source(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in RASTER_SUFFIXES


def read_survey(sources: list[str], *, x=None, y=None, crs=None, elements=None) -> Survey:
    """One Survey from element grids (folders / GeoTIFFs) or from point-sample table(s)."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    paths = [Path(s) for s in sources]
    if not paths:
        raise InputError("No input given: pass a sample table or a folder of element GeoTIFFs.")
    for path in paths:
        if not path.exists():
            raise InputError(f"{path} does not exist: check the path.")
    kinds = {_is_raster_source(p) for p in paths}
    if kinds == {True, False}:
        raise InputError(f"Mixed inputs ({', '.join(p.name for p in paths)}): give either element "
                         "GeoTIFFs / a folder of them, or sample tables, not both.")
    if kinds == {True}:
        return _read_grid_survey(paths, crs=crs, elements=elements)
    surveys = [read_samples(p, x=x, y=y, crs=crs, elements=elements) for p in paths]
    return surveys[0] if len(surveys) == 1 else _join_tables(surveys)


def _read_grid_survey(paths: list[Path], *, crs, elements) -> Survey:
    return apply_grid_options(read_rasters([str(p) for p in paths]), crs=crs, elements=elements)


def apply_grid_options(survey: Survey, *, crs, elements) -> Survey:
    """--crs (when the grids have none) and --elements on a survey read from grids (whole, or
    the sampled cells of a streamed run)."""
    if crs is not None:
        given = parse_crs(crs)
        if survey.crs is None:
            survey.crs = given
            if survey.grid is not None:
                survey.grid.crs = given
            survey.notes.append(f"CRS {crs_label(given)} as given with --crs (the grids have none).")
        elif not given.equals(survey.crs):
            survey.notes.append(f"--crs {crs} ignored: the grids declare {crs_label(survey.crs)}.")
    if elements:
        keep: list[str] = []
        for want in elements:
            want = str(want).strip()
            hits = [k for k in survey.elements
                    if k == want or survey.columns[k] == want or Path(survey.columns[k]).stem == want]
            if not hits:
                raise InputError(f"The grids have no element '{want}' (from --elements); "
                                 f"they hold: {', '.join(survey.elements)}.")
            keep += [h for h in hits if h not in keep]
        survey.values = survey.values[keep]
        survey.units = {k: survey.units[k] for k in keep}
        survey.columns = {k: survey.columns[k] for k in keep}
        survey.notes.append(f"Elements kept (--elements): {', '.join(keep)}.")
    _one_map_per_element(survey)
    if survey.crs is None:
        raise InputError(f"{Path(survey.sources[0]).name if survey.sources else 'The grids'} "
                         "has no CRS, so distances, areas and the map's place are unknown: give "
                         "it with --crs (e.g. --crs EPSG:32750), or assign one with gdal_edit.py "
                         "-a_srs.")
    return survey


def _one_map_per_element(survey: Survey) -> None:
    """The reader keys a second map of an element ``Cu_2``: refused while both are kept (see
    columns.refuse_duplicate); a lone ``Cu_2`` that --elements chose becomes ``Cu``."""
    import re

    from geoanomaly.io.columns import refuse_duplicate

    for key in list(survey.elements):
        match = re.fullmatch(r"(.+)_(\d+)", key)
        if match is None:
            continue
        base = match.group(1)
        if base in survey.units:
            refuse_duplicate("The grids", base, survey.columns[base], survey.columns[key],
                             [Path(survey.columns[k]).stem for k in survey.elements if k != key],
                             noun="maps")
        survey.values = survey.values.rename(columns={key: base})
        survey.units = {(base if k == key else k): u for k, u in survey.units.items()}
        survey.columns = {(base if k == key else k): c for k, c in survey.columns.items()}


def _join_tables(surveys: list[Survey]) -> Survey:
    """Rows of several tables as one survey; refused unless elements, units and CRS agree."""
    first = surveys[0]
    for other in surveys[1:]:
        name, first_name = Path(other.sources[0]).name, Path(first.sources[0]).name
        if other.elements != first.elements or other.units != first.units:
            raise InputError(f"{name} and {first_name} have different element columns or units, "
                             "so they cannot be read as one survey: merge them into one table "
                             "yourself, or run them separately.")
        same_crs = (other.crs is None and first.crs is None) or (
            other.crs is not None and first.crs is not None and other.crs.equals(first.crs))
        if not same_crs:
            raise InputError(f"{name} is in CRS {crs_label(other.crs)} but {first_name} is in "
                             f"{crs_label(first.crs)}: reproject one, or run them separately.")
    metas = []
    for survey in surveys:
        meta = survey.meta if survey.meta is not None else pd.DataFrame(index=survey.values.index)
        metas.append(meta.assign(source_file=Path(survey.sources[0]).name))
    notes = [note for s in surveys for note in s.notes]
    notes.append(f"Joined {len(surveys)} tables ({sum(s.n for s in surveys)} rows) into one "
                 "survey; metadata column source_file says where each row came from.")
    return Survey(
        values=pd.concat([s.values for s in surveys], ignore_index=True),
        x=np.concatenate([s.x for s in surveys]), y=np.concatenate([s.y for s in surveys]),
        crs=first.crs, units=dict(first.units), columns=dict(first.columns),
        meta=pd.concat(metas, ignore_index=True),
        sources=[src for s in surveys for src in s.sources], notes=notes,
    )
