"""Which shape of announcement each member's software understands.

FEP-1b12 software (Lemmy, Mbin, PieFed, NodeBB…) reads `Announce{<the member's activity>}`.
Microblogging software (Mastodon, Pleroma/Akkoma, Misskey, GoToSocial…) does not understand
`Announce{Create}`; it shows an `Announce` of a fetchable public status as a boost. Unknown
software gets the boost: it is what any ActivityPub server can display.
"""

from __future__ import annotations

from enum import StrEnum


class Shape(StrEnum):
    WRAPPED = "wrapped"  # Announce{Create{…}}, FEP-1b12
    BOOST = "boost"  # Announce{object id}


FEP_1B12_SOFTWARE = frozenset(
    {"lemmy", "mbin", "kbin", "piefed", "nodebb", "lotide", "discourse", "fedigroups"}
)


def shape_for(software: str | None) -> Shape:
    return Shape.WRAPPED if (software or "").lower() in FEP_1B12_SOFTWARE else Shape.BOOST
