"""Clean stage: lab codes, sentinels, zeros, duplicates and gaps become reported numbers > 0."""

from .cleaning import BELOW_DETECTION_RULES, CleaningOptions, CleaningReport, clean
from .values import ParsedColumn, parse_values

__all__ = ["BELOW_DETECTION_RULES", "CleaningOptions", "CleaningReport", "ParsedColumn", "clean",
           "parse_values"]
