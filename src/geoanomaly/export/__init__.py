"""Export stage: atomic output staging, file writers (CSV, GeoTIFF, GeoPackage, JSON, YAML),
figures (PNG bytes) and the self-contained HTML report.

Submodules import their heavy libraries (rasterio, geopandas, matplotlib) inside functions, so
importing this package is cheap.
"""

from geoanomaly.export.atomic import OutputStaging, atomic_write_text

__all__ = ["OutputStaging", "atomic_write_text"]
