"""fedgroup: an ActivityPub server that hosts community groups for the fediverse."""

__version__ = "0.1.0"
