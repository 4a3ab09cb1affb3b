"""Pathfinder-element sets per target commodity, each with the source it rests on.

``--target Au`` selects the elements of the Au set that the survey has (after cleaning), so that
the multivariate score looks at the elements that mineralisation of that kind enriches instead
of at every lithological variation of 50 elements. The sets are deliberately short lists of
well-established associations; pass ``--elements`` to choose your own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class PathfinderSet:
    target: str
    deposit_type: str
    elements: tuple[str, ...]
    citation: str


#: Alternative names under which an element of a set may appear in a survey.
ALIASES = {"Fe2O3": ("Fe2O3", "Fe2O3T", "Fe", "FeO"), "Fe": ("Fe", "Fe2O3", "Fe2O3T", "FeO"),
           "Mn": ("Mn", "MnO"), "Mg": ("Mg", "MgO"), "Ca": ("Ca", "CaO"), "K": ("K", "K2O"),
           "Na": ("Na", "Na2O"), "P": ("P", "P2O5"), "Ti": ("Ti", "TiO2"), "Ba": ("Ba", "BaO"),
           "W": ("W", "WO3"), "Li": ("Li", "Li2O"), "Cs": ("Cs", "Cs2O"), "Ta": ("Ta", "Ta2O5"),
           "Nb": ("Nb", "Nb2O5"), "Rb": ("Rb", "Rb2O"), "Cr": ("Cr", "Cr2O3"), "S": ("S", "SO3")}

PATHFINDERS: dict[str, PathfinderSet] = {s.target.lower(): s for s in (
    PathfinderSet(
        "Au", "orogenic and intrusion-related gold",
        ("Au", "As", "Sb", "Bi", "W", "Ag", "Cu"),
        "Eilu, P. & Groves, D.I. (2001) Primary alteration and geochemical dispersion haloes of "
        "Archaean orogenic gold deposits in the Yilgarn Craton. Geochemistry: Exploration, "
        "Environment, Analysis 1, 183-200; Boyle, R.W. (1979) The geochemistry of gold and its "
        "deposits. Geological Survey of Canada Bulletin 280. The core set; Te, Mo, Hg, Pb and Zn "
        "were no better on the shared data (benchmarks/STUDY.md)."),
    PathfinderSet(
        "Cu", "porphyry copper",
        ("Cu", "Mo", "Au", "Ag", "As", "Zn", "Pb", "Mn", "Sb", "Bi"),
        "Sillitoe, R.H. (2010) Porphyry copper systems. Economic Geology 105, 3-41."),
    PathfinderSet(
        "Fe-poly", "Fe-polymetallic skarn (the element set of the reference VAE paper)",
        ("Cu", "Pb", "Mn", "Zn", "Fe2O3"),
        "Luo, Z., Xiong, Y. & Zuo, R. (2020) Recognition of geochemical anomalies using a deep "
        "variational autoencoder network. Applied Geochemistry 122, 104710."),
    PathfinderSet(
        "Li", "LCT (lithium-caesium-tantalum) pegmatite",
        ("Li", "Cs", "Rb", "Ta", "Nb", "Sn", "Be", "Ga"),
        "Bradley, D.C. et al. (2017) Lithium. USGS Professional Paper 1802-K; Cerny, P. (1991) "
        "Rare-element granitic pegmatites. Geoscience Canada 18, 49-67."),
    PathfinderSet(
        "Ni", "magmatic Ni-Cu-(PGE) sulphide",
        ("Ni", "Cu", "Co", "Cr", "Pt", "Pd", "S", "Mg"),
        "Naldrett, A.J. (2004) Magmatic Sulfide Deposits: Geology, Geochemistry and "
        "Exploration. Springer."),
    PathfinderSet(
        "W", "W-Sn skarn and greisen",
        ("W", "Sn", "Mo", "Bi", "Be", "F", "As", "Cu"),
        "Meinert, L.D., Dipple, G.M. & Nicolescu, S. (2005) World skarn deposits. Economic "
        "Geology 100th Anniversary Volume, 299-336."),
    PathfinderSet(
        "Pb-Zn", "sediment-hosted Pb-Zn",
        ("Pb", "Zn", "Ag", "Cd", "Mn", "Ba", "Cu", "Tl"),
        "Leach, D.L. et al. (2005) Sediment-hosted lead-zinc deposits: a global perspective. "
        "Economic Geology 100th Anniversary Volume, 561-607."),
)}


def pathfinder_set(target: str) -> PathfinderSet:
    try:
        return PATHFINDERS[target.lower()]
    except KeyError:
        names = ", ".join(s.target for s in PATHFINDERS.values())
        raise InputError(f"Target {target!r} has no pathfinder set; use one of {names}, or "
                         "choose elements yourself with --elements.") from None


def select_pathfinders(target: str, available: list[str]) -> tuple[list[str], list[str], str]:
    """(elements of the survey to use, set elements the survey lacks, citation)."""
    pset = pathfinder_set(target)
    chosen, missing = [], []
    for element in pset.elements:
        match = next((a for a in ALIASES.get(element, (element,)) if a in available), None)
        if match is None:
            missing.append(element)
        elif match not in chosen:
            chosen.append(match)
    if len(chosen) < 2:
        raise InputError(f"The survey has only {len(chosen)} of the {pset.target} pathfinder "
                         f"elements ({', '.join(pset.elements)}) after cleaning; a multivariate "
                         "model needs at least two: choose elements with --elements.")
    return chosen, missing, pset.citation


def target_element(target: str, available: list[str]) -> str | None:
    """The element that stands for the target itself (Au for Au, Cu for Fe-poly's first)."""
    pset = pathfinder_set(target)
    for element in pset.elements:
        for alias in ALIASES.get(element, (element,)):
            if alias in available:
                return alias
    return None


#: How ``--target`` shapes the features (``--target-elements``):
#: "pathfinders" keeps only the target's pathfinder elements; "suite" keeps every element and
#: weighs them equally (the target then only names the univariate element); "weighted-suite"
#: keeps every element, so the model learns the background from the whole suite, and weighs the
#: score towards the target: a third on the target element, a third shared by its other
#: pathfinders, a third shared by the rest; "auto" is "pathfinders" when the survey has at least
#: half of the target's set, and "weighted-suite" when the set is thin.
TARGET_ELEMENT_POLICIES = ("auto", "pathfinders", "suite", "weighted-suite")


def pathfinder_members(target: str, available: list[str]) -> list[str]:
    """The elements of ``available`` that belong to the target's pathfinder set (by alias)."""
    names = {alias for element in pathfinder_set(target).elements
             for alias in ALIASES.get(element, (element,))}
    return [a for a in available if a in names]


def resolve_target_policy(policy: str, target: str, available: list[str]) -> str:
    """The policy in force: "auto" becomes "pathfinders" when at least half of the target's set
    (and at least two elements) survived cleaning, otherwise "weighted-suite"."""
    if policy != "auto":
        return policy
    size = len(pathfinder_set(target).elements)
    present = len(pathfinder_members(target, available))
    return "pathfinders" if present >= max(2, math.ceil(size / 2)) else "weighted-suite"


def target_feature_weights(policy: str, target: str, features: list[str]) -> list[float] | None:
    """Score weights of ``features`` under a resolved policy (None = all equal).

    "pathfinders": a single-element target weighs as much as all its other pathfinders together
    (it is the commodity itself; they are indirect evidence); multi-element targets (Fe-poly,
    Pb-Zn) keep equal weights. "weighted-suite": thirds as in TARGET_ELEMENT_POLICIES (halves
    for a multi-element target: its set, then the rest); an empty group passes its share on.
    """
    if policy == "suite" or target.lower() not in PATHFINDERS or len(features) < 2:
        return None
    element = target_element(target, features)
    single = element is not None and element.lower() == target.lower()
    members = set(pathfinder_members(target, features))
    if single:
        groups = [[element], [f for f in features if f in members and f != element]]
    else:
        groups = [[f for f in features if f in members]]
    if policy == "weighted-suite":
        groups.append([f for f in features if f not in members])
    elif not single:
        return None
    groups = [g for g in groups if g]
    weights = {f: 1.0 / (len(groups) * len(g)) for g in groups for f in g}
    return [weights.get(f, 0.0) for f in features]


def target_weights(config, feature_names: list[str]) -> list[float] | None:
    """Score weights of the run's features under --target's policy (``target_feature_weights``);
    None without a target, for a target without a pathfinder set, or on ilr coordinates (they
    are not elements). With --elements the user chose the features: "pathfinders" weighting."""
    if not config.target or config.transform == "ilr" or config.target.lower() not in PATHFINDERS:
        return None
    policy = resolve_target_policy(config.target_elements, config.target, list(feature_names))
    if config.elements and policy != "suite":
        policy = "pathfinders"
    return target_feature_weights(policy, config.target, list(feature_names))
