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


__all__ = ["run", "__version__"]
