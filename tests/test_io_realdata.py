"""The readers on the real survey files in ../shared/data (skipped when they are absent)."""

from pathlib import Path

import numpy as np
import pytest

from geoanomaly.io import deposits_inside, read_deposits, read_survey

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.realdata


@pytest.fixture
def data_dir():
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA} (only present in the project workspace)")
    return DATA


@pytest.mark.parametrize("name", ["area1_sediment_au", "area6_soil_au", "area4_rockchip_au",
                                  "area4_rockchip_li"])
def test_gswa_tables_and_sites(data_dir, name):
    survey = read_survey([str(data_dir / "gswa" / "geochemical" / f"{name}.csv")])
    assert survey.crs.to_epsg() == 4326
    assert np.all((survey.x > 110) & (survey.x < 130)) and np.all((survey.y > -40) & (survey.y < -15))
    assert {"Au", "Cu", "Fe2O3", "Fe2O3T", "CeO2", "S", "I"} <= set(survey.elements)
    assert survey.units["Au"] == "ppm" and survey.units["Fe2O3T"] == "pct"
    assert not {"LOI", "CO2", "SO3", "X", "H2Oneg"} & set(survey.elements)
    assert survey.columns["Y"] == "Y_ppm"  # yttrium, not the latitude column
    assert {"SAMPLEID", "WAMEX_A_NO", "LOI_pct"} <= set(survey.meta.columns)
    assert (survey.values == -9999).to_numpy().any()  # sentinels are left for the cleaner
    sites = read_deposits(data_dir / "gswa" / "site" / f"{name}_site.csv", survey.crs)
    assert sites.n >= 9 and deposits_inside(sites, survey, 1000.0).all()


def test_xinjiang_grid_and_deposit_cells(data_dir):
    root = data_dir / "xinjiang_au"
    survey = read_survey([str(root / "elements")])
    assert survey.n == 33813 and len(survey.elements) == 39
    assert (survey.grid.height, survey.grid.width) == (117, 289)
    assert survey.crs.to_epsg() == 32645
    deposits = read_deposits(root / "deposits.csv", survey.crs)
    inv = ~survey.grid.transform
    cols = inv.a * deposits.x + inv.b * deposits.y + inv.c
    rows = inv.d * deposits.x + inv.e * deposits.y + inv.f
    assert np.floor(rows).astype(int).tolist() == deposits.table["row"].tolist()
    assert np.floor(cols).astype(int).tolist() == deposits.table["col"].tolist()
    assert deposits_inside(deposits, survey, 0.0).all()
