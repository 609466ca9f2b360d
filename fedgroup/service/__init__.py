"""fedgroup.service."""
