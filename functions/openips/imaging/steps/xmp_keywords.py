"""xmpKeywords (spec §5.19, §9.7): the job's keywords merged into the optimized TIFF's XMP ``dc:subject``.

The rest of the source file's XMP packet is kept. ``encode`` drops XMP over
``MAX_METADATA_BLOB_BYTES``, so a merged packet that large is replaced by a minimal one
holding only ``dc:subject`` (the source's other XMP would be dropped anyway), and if even
that is too large the keywords are left out of the file (they stay on the asset record).
"""

from __future__ import annotations

from openips.imaging import vips
from openips.imaging.encode import MAX_METADATA_BLOB_BYTES
from openips.imaging.step_context import StepContext
from openips.imaging.xmp import merge_subject, minimal_packet

XMP_FIELD = "xmp-data"


def xmp_keywords(image: vips.Image, keywords: tuple[str, ...], ctx: StepContext) -> vips.Image:
    """Set ``xmp-data`` to the source XMP with ``keywords`` merged into ``dc:subject``; no keywords, no change."""
    if not keywords:
        return image
    source = image.get(XMP_FIELD) if vips.has_field(image, XMP_FIELD) else None
    merged = merge_subject(source, keywords)
    packet = merged.packet
    if merged.problem:
        ctx.warnings.append(f"xmpKeywords: {merged.problem}; the optimized file gets a new XMP packet "
                            "holding only the keywords")
    if len(packet) > MAX_METADATA_BLOB_BYTES:
        packet = minimal_packet(merged.subject)
        if len(packet) > MAX_METADATA_BLOB_BYTES:
            ctx.warnings.append(f"xmpKeywords: {len(merged.subject)} keywords need {len(packet)} bytes of XMP, "
                                f"over the {MAX_METADATA_BLOB_BYTES}-byte limit; they are stored on the asset "
                                "but not embedded in the optimized file")
            return image
        ctx.warnings.append("xmpKeywords: the file's XMP with the keywords is over "
                            f"{MAX_METADATA_BLOB_BYTES} bytes; the optimized file keeps only dc:subject")
    ctx.notes.append(f"xmpKeywords: {len(keywords)} keyword(s) merged into XMP dc:subject "
                     f"({len(merged.subject)} in all)")
    return vips.with_blob(image, XMP_FIELD, packet)
