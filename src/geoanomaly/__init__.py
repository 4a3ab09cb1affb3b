"""geoanomaly: multivariate geochemical anomaly detection with honest validation."""

__version__ = "0.1.0"


def run(*args, **options):
    """Run the whole flow (read, clean, transform, detect, threshold, validate, export).

    ``geoanomaly.run(sources=["samples.csv"], deposits="deposits.csv", out="results")`` takes the
    same options as ``geoanomaly run`` (see ``geoanomaly.config.RunConfig``) and returns a
    ``RunResult`` with the scores, classes, metrics and output paths.
    """
    from .pipeline import run as _run

    if args and "sources" not in options and not hasattr(args[0], "sources"):
        options["sources"] = list(args)
        args = ()
    return _run(*args, **options)


def run_study(*args, grid=None, seeds: int = 3, select_by: str = "label-free", jobs: int = 1,
          **options):
    """The paper's parameter experiments, label-free (``geoanomaly study``).

    ``geoanomaly.run_study(sources=["samples.csv"], out="study", target="Au")`` fits the grid of VAE
    configurations (``geoanomaly.study.StudyGrid``), writes study.csv, study.html and
    chosen.yaml, and returns a ``StudyResult``; options as for :func:`run`.
    """
    from .config import make_config
    from .study import run_study as _run_study

    if args and "sources" not in options:
        options["sources"] = list(args)
    return _run_study(make_config(**options), grid=grid, seeds=seeds, select_by=select_by,
                     jobs=jobs)


__all__ = ["run", "run_study", "__version__"]
