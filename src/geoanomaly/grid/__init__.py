"""Grid stage (optional): scattered point scores to a raster, for the map of a point survey."""

from geoanomaly.grid.interpolate import cell_centres, idw_grid

__all__ = ["cell_centres", "idw_grid"]
