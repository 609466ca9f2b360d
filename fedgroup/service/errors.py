"""Errors the service layer raises for callers to show: one clear sentence each."""

from __future__ import annotations


class ServiceError(Exception):
    """A group operation could not be done; the message is meant for the person asking."""


class NotFound(ServiceError):
    """The named group, member or actor does not exist."""


class AlreadyExists(ServiceError):
    """Something with that name exists already."""


class InvalidValue(ServiceError):
    """A value given to an operation is not acceptable."""


class Reserved(ServiceError):
    """A name is held back (a deleted group's) and cannot be taken now."""
