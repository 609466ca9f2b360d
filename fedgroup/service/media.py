"""Group icons and header images: read a local file and make sure it is an image we serve.

The media type is sniffed from the first bytes, never taken from the file name, because we
serve these bytes to every remote server with that type; an SVG or HTML file renamed to
`.png` must not get through.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedgroup.service.errors import InvalidValue

#: Media types we accept, which every fediverse server we know displays.
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def sniff_image_media_type(data: bytes) -> str | None:
    """The media type the magic bytes announce, or None for anything we do not serve."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image(data: bytes, *, max_bytes: int | None = None, label: str = "image") -> str:
    """Validate image bytes from any source (file, upload); return the sniffed media type."""
    if not data:
        raise InvalidValue(f"{label} is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise InvalidValue(f"{label} is {len(data)} bytes, larger than the {max_bytes}-byte limit")
    media_type = sniff_image_media_type(data)
    if media_type is None:
        raise InvalidValue(f"{label} is not a PNG, JPEG, GIF or WebP image")
    return media_type


def load_image_file(path: str | os.PathLike[str], *, max_bytes: int) -> tuple[bytes, str]:
    """Read a local PNG/JPEG/GIF/WebP no larger than `max_bytes`: (bytes, media type)."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if not file.is_file():
            raise InvalidValue(f"{file} is not a regular file")
        if size > max_bytes:
            raise InvalidValue(f"{file} is {size} bytes, larger than the {max_bytes}-byte limit")
        with file.open("rb") as handle:
            # Read one byte past the cap: the file may have grown since stat().
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InvalidValue(f"{file}: no such file") from None
    except PermissionError:
        raise InvalidValue(f"{file}: permission denied") from None
    except IsADirectoryError:
        raise InvalidValue(f"{file} is not a regular file") from None
    except OSError as exc:
        raise InvalidValue(f"{file}: cannot read ({exc.strerror or exc})") from None
    return data, check_image(data, max_bytes=max_bytes, label=str(file))
