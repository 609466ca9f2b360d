"""fedgroup.storage."""
