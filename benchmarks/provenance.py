"""Which data chose which default: the record that makes a benchmark number in-sample or not.

A default chosen by looking at a dataset's AUC is in-sample on that dataset. Each entry names the
default, how it was chosen, and the datasets whose AUC was looked at when choosing it. Entries
chosen leave-one-dataset-out (``benchmarks/select_defaults.py``) are out of sample on every
dataset whose leave-one-out choice is the package default (the script checks that and writes it
to ``select_defaults.json``). ``run_benchmarks.py`` reads this to mark each default-VAE row.
"""

from __future__ import annotations

ALL_DATASETS = ("sed1", "soil1", "rock2", "li4", "xinjiang_au", "off-structure", "joint", "mixed",
                "point-source", "demo")

DEFAULTS = (
    {"default": "score enrich-elbo, target elements auto, spatial context (8 samples / 3 x 3 "
                "cells)",
     "how": "benchmarks/select_defaults.py (commits 2d7c5db and 8e93f63): 4 policies x 8 scores x "
            "with/without context, maximin gap to the best simple baseline, leave one dataset out",
     "looked_at": ALL_DATASETS, "leave_one_out": True},
    {"default": "VAE 24-12-3, beta 1, Adam 1e-3, up to 200 epochs with early stopping",
     "how": "the paper (Luo, Xiong & Zuo 2020); beta 0.5, latent 2 and 100 epochs were scored "
            "on sed1 in the issue-3 study (benchmarks/STUDY.md)",
     "looked_at": ("sed1",), "leave_one_out": False},
    {"default": "the Au pathfinder set (Au As Sb Bi W Ag Cu)",
     "how": "the literature (Eilu & Groves 2001; Boyle 1979); a broader set was scored on sed1 "
            "and xinjiang_au in the issue-3 study",
     "looked_at": ("sed1", "xinjiang_au"), "leave_one_out": False},
    {"default": "transform auto: clr on 10 or more elements, log10 on fewer",
     "how": "a clr's reference must stand for the rock (theory); log10 and clr were scored on "
            "sed1, soil1, rock2 and xinjiang_au in the issue-3 study",
     "looked_at": ("sed1", "soil1", "rock2", "xinjiang_au"), "leave_one_out": False},
    {"default": "no levelling by survey",
     "how": "levelling by WAMEX_A_NO was scored on sed1 in the issue-3 study",
     "looked_at": ("sed1",), "leave_one_out": False},
)


def in_sample_defaults(dataset: str) -> list[str]:
    """The defaults whose choice looked at ``dataset``'s AUC (and were not left-one-out)."""
    return [d["default"] for d in DEFAULTS
            if dataset in d["looked_at"] and not d["leave_one_out"]]


def sample_status(dataset: str) -> str:
    """"out of sample", or "in-sample: <the defaults that looked at it>"."""
    looked = in_sample_defaults(dataset)
    return "out of sample" if not looked else "in-sample: " + "; ".join(looked)
