"""fedgroup.activitypub.handlers."""
