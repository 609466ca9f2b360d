"""fedgroup.cli."""
