"""parse_values: every lab code becomes the right number / flag, junk names its row."""

import numpy as np
import pandas as pd
import pytest

from geoanomaly.clean import parse_values
from geoanomaly.errors import InputError


def parse(cells, **kw):
    return parse_values(pd.Series(cells, dtype=object), "Cu_ppm", "lab.csv", **kw)


def test_detection_limit_codes():
    p = parse(["<0.5", "< 0.5", "<0.5ppm", "BDL", "bdl", "ND", "n.d.", "L.D.", "<DL", "1.5"])
    assert p.below_detection.tolist() == [True] * 9 + [False]
    assert p.detection_limit[:3].tolist() == [0.5, 0.5, 0.5]
    assert np.isnan(p.detection_limit[3:]).all()
    assert np.isnan(p.values[:9]).all() and p.values[9] == 1.5
    assert p.counts["n_below_detection"] == 9


def test_missing_codes_and_sentinels():
    p = parse(["-", "NA", "n.a.", "N/A", "", "null", None, np.nan, "-9999", "-999", -99, "-9999.0",
               "3"])
    assert p.missing.tolist() == [True] * 12 + [False]
    assert p.sentinel.tolist() == [False] * 8 + [True] * 4 + [False]
    assert p.counts == {"n_below_detection": 0, "n_missing": 12, "n_sentinel": 4,
                        "n_above_limit": 0, "n_zero": 0}


def test_negative_codes_are_detection_limits():
    p = parse_values(pd.Series([-0.001, -9999.0, 2.0, 0.0]), "Au_ppm", "gswa.csv")
    assert p.below_detection.tolist() == [True, False, False, False]
    assert p.detection_limit[0] == pytest.approx(0.001)
    assert p.missing.tolist() == [False, True, False, False]
    assert p.zero.tolist() == [False, False, False, True]
    assert p.values[3] == 0.0


def test_negative_without_codes_is_an_error():
    with pytest.raises(InputError, match=r"row 3 holds the negative value -0.5"):
        parse_values(pd.Series([1.0, -0.5]), "Au_ppm", "a.csv", negative_codes_limit=False)


def test_above_limit_kept_and_counted():
    p = parse([">10000", "> 5", "7"])
    assert p.values.tolist() == [10000.0, 5.0, 7.0]
    assert p.above_limit.tolist() == [True, True, False]


def test_comma_decimals_only_when_whole_column_uses_them():
    p = parse(["0,5", "<0,2", "12"])
    assert p.decimal_comma and p.values[0] == 0.5 and p.detection_limit[1] == 0.2
    with pytest.raises(InputError, match="comma decimals"):
        parse(["0,5", "1.5"])


@pytest.mark.parametrize("junk", ["abc", "1.2.3", "see note"])
def test_junk_names_file_column_and_row(junk):
    cells = ["1"] * 15 + [junk]
    with pytest.raises(InputError) as err:
        parse(cells)
    assert str(err.value) == (
        f"lab.csv: column 'Cu_ppm' row 17 holds '{junk}', which is not a number, a "
        "detection-limit code ('<0.5', 'BDL') or a missing code; fix or blank it.")


def test_unit_in_cell_must_match_column_unit():
    assert parse(["<0.5ppm"], unit="ppm").detection_limit[0] == 0.5
    with pytest.raises(InputError, match="row 2"):
        parse(["<0.5ppb"], unit="ppm")


def test_float_raster_nan_is_missing():
    p = parse_values(pd.Series([1.0, np.nan, np.inf, 0.0]), "Cd", "Cd.tif")
    assert p.missing.tolist() == [False, True, True, False]
    assert p.zero.tolist() == [False, False, False, True]
