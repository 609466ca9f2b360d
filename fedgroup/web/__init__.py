"""fedgroup.web."""
