"""User-facing errors.

Anything a user can cause (a bad file, a missing column, an unparseable CRS) is raised as
:class:`InputError` with one sentence that names the file / column / row and says what to do.
The CLI prints that sentence and exits with status 2; everything else is a bug and keeps its
traceback.
"""


class InputError(ValueError):
    """A problem with the user's input or options, explained in one sentence.

    A ValueError, as scikit-learn raises for bad data or parameters, so code written for
    scikit-learn estimators catches the detectors' errors too."""

    exit_code = 2
