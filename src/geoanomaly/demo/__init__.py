"""Demo data: a seeded synthetic regional stream-sediment survey with known deposits.

Used for the quick-start, for end-to-end tests of the whole flow, and for showing what the
methods can and cannot find when the truth is known. Nothing here is real data.
"""

from geoanomaly.demo.synthetic import (
    DETECTION_LIMITS,
    ELEMENTS,
    LITHOLOGIES,
    UNITS,
    DemoPaths,
    SyntheticSurvey,
    make_synthetic_survey,
    write_demo_inputs,
)

__all__ = [
    "DETECTION_LIMITS",
    "ELEMENTS",
    "LITHOLOGIES",
    "UNITS",
    "DemoPaths",
    "SyntheticSurvey",
    "make_synthetic_survey",
    "write_demo_inputs",
]
