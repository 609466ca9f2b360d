"""fedgroup.activitypub."""
