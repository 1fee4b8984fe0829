"""Every format openips ingests, in the order they are asked whether a file is theirs.

The first format that recognises the file ingests it. The order settles the few files more
than one format would claim: an archive is an archive whatever it holds; an InDesign file is
not read for ``%PDF-``; past archives and documents, a file named ``.icc`` must be a profile and
one named ``.eps`` PostScript. Raster images come last and recognise every file, so each file
has exactly one format.
"""

from __future__ import annotations

from openips.services.ingest import (
    icc_profiles,
    illustrator_options,
    in_design_options,
    media_options,
    pdf_options,
    photoshop_options,
    post_script_options,
    raster_images,
    un_compress_options,
)
from openips.services.ingest.format import Format
from openips.services.ingest.sniff import Sniff

FORMATS: tuple[Format, ...] = (
    media_options.FORMAT,  # in ProcessFileFunction, routed away before the claim (``hands_over``)
    un_compress_options.FORMAT,
    in_design_options.FORMAT,
    illustrator_options.FORMAT,
    pdf_options.FORMAT,
    icc_profiles.FORMAT,
    photoshop_options.FORMAT,
    post_script_options.FORMAT,
    raster_images.FORMAT,
)


def hands_over(sniff: Sniff) -> bool:
    """Whether ProcessFileFunction must send the file, unclaimed, to MediaFunction (it has no PyAV)."""
    return any(f.media_function and f.recognises(sniff) for f in FORMATS)


def format_for(sniff: Sniff, *, media_function: bool) -> Format:
    """The format that ingests the file: in MediaFunction the one it serves (only videos are routed
    there); elsewhere the first that recognises it among those that need no PyAV."""
    if media_function:
        return next(f for f in FORMATS if f.media_function)
    return next(f for f in FORMATS if not f.media_function and f.recognises(sniff))
