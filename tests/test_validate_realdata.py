"""The opengad protocols against BASELINES.md numbers on the shared GSWA sed1 data.

Preprocessing as BASELINES.md: -9999 missing, other negatives = -DL -> DL / 2, exact duplicates
(position + assays) removed with each kept sample carrying the set of its WAMEX_A_NO reports.
Au zeros: in short-suite rows (zero in at least half the reported elements) they become the
median, elsewhere half the 1st percentile of the positive Au values (BASELINES steps 4-6).
"""

import re
from pathlib import Path

import numpy as np
import pytest

from geoanomaly.validate import (
    evaluate_opengad, evaluate_opengad_stratified, evaluate_samples, sample_labels,
)

DATA = Path(__file__).parents[2] / "shared" / "data" / "gswa"
META = ["X", "Y", "SAMPLEID", "SAMPLETYPE", "WAMEX_A_NO", "COMPSAMPID"]


@pytest.fixture(scope="module")
def sed1():
    pd = pytest.importorskip("pandas")
    table = DATA / "geochemical" / "area1_sediment_au.csv"
    sites = DATA / "site" / "area1_sediment_au_site.csv"
    if not (table.exists() and sites.exists()):
        pytest.skip(f"shared GSWA data not found under {DATA}")
    raw = pd.read_csv(table, dtype={"WAMEX_A_NO": str, "SAMPLEID": str})
    assays = raw[[c for c in raw.columns if c not in META]].astype(float)
    assays = assays.mask(assays == -9999)
    assays = assays.mask(assays < 0, -assays / 2)
    frame = pd.concat([raw[["X", "Y", "WAMEX_A_NO"]], assays], axis=1)
    frame["group"] = frame.groupby(["X", "Y", *assays.columns], dropna=False, sort=False).ngroup()
    strata = frame.groupby("group")["WAMEX_A_NO"].agg(frozenset)
    kept = frame.drop_duplicates("group").reset_index(drop=True)
    kept["strata"] = kept["group"].map(strata)
    elements = kept[[c for c in assays.columns if re.search(r"_(ppm|ppb|pct)$", c)]]
    short_suite = ((elements == 0).sum(axis=1) >= elements.notna().sum(axis=1) / 2).to_numpy()
    au = kept["Au_ppm"].to_numpy().copy()
    au[short_suite & (au == 0)] = np.nan
    au = np.where(np.isnan(au), np.nanmedian(au), au)
    au = np.where(au == 0, 0.5 * np.quantile(au[au > 0], 0.01), au)
    deposits = pd.read_csv(sites)
    return kept, np.log10(au), deposits


def test_sed1_dedup_count(sed1):
    kept, _, _ = sed1
    assert len(kept) == 866


@pytest.mark.realdata
def test_sed1_univariate_au_matches_baselines(sed1):
    kept, log_au, dep = sed1
    args = (kept.X, kept.Y, dep.X, dep.Y, True)
    plain = evaluate_opengad(log_au, *args)
    assert plain["roc_auc"] == pytest.approx(0.693, abs=0.02)
    assert plain["roc_auc_std"] == pytest.approx(0.041, abs=0.01)
    strat = evaluate_opengad_stratified(log_au, *args, strata=kept["strata"])
    assert strat["roc_auc"] == pytest.approx(0.697, abs=0.02)
    labels = sample_labels(kept.X, kept.Y, dep.X, dep.Y, radius=2000.0, geographic=True)
    samples = evaluate_samples(log_au, labels)
    assert samples["n_positive"] == 10
    assert samples["roc_auc"] == pytest.approx(0.816, abs=0.02)


@pytest.mark.realdata
def test_sed1_survey_indicator_is_confounded(sed1):
    kept, _, dep = sed1
    from_94616 = kept["strata"].map(lambda s: "94616" in s).to_numpy(dtype=float)
    args = (kept.X, kept.Y, dep.X, dep.Y, True)
    assert evaluate_opengad(from_94616, *args)["roc_auc"] == pytest.approx(0.85, abs=0.02)
    strat = evaluate_opengad_stratified(from_94616, *args, strata=kept["strata"])
    assert strat["roc_auc"] == pytest.approx(0.50, abs=0.02)
