"""CloudFront: forget an asset's cached renditions once it changed (docs/delivery.md "Caching").

The distribution in front of ``GET /is/image/{company}/{asset}`` caches each rendition under its
path and query; a re-upload (new pixels, maybe a new publish state) must not wait out the max-age.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from openips.observability import logger

ROUTE = "/is/image"


def rendition_paths(company_segments: Iterable[str], asset_name: str) -> list[str]:
    """The invalidation paths of an asset's renditions: one per way of naming its company (handle,
    name), each ending in ``*`` so every query (every rendition) of the path goes."""
    # Percent-encoded as clients send them; "*" inside a name is encoded too, so only the last one is a wildcard.
    name = quote(asset_name, safe="")
    return sorted({f"{ROUTE}/{quote(company, safe='')}/{name}*" for company in company_segments if company})


class CloudFrontCdn:
    def __init__(self, distribution_id: str) -> None:
        self.distribution_id = distribution_id

    def invalidate(self, paths: list[str], reference: str) -> bool:
        """Ask CloudFront to drop ``paths``; ``reference`` makes a retried call the same invalidation.

        False when CloudFront refused (logged): the asset is stored either way, and what the
        edges hold expires with its max-age.
        """
        # boto3 loads with the first client, not with the services (docs/performance.md).
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            boto3.client("cloudfront").create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference})
        except (ClientError, BotoCoreError) as exc:
            logger.warning("CloudFront invalidation failed", distribution=self.distribution_id, paths=paths,
                           error=str(exc))
            return False
        return True


class NoCdn:
    """No distribution configured (the local stack, tests): nothing is cached in front, nothing to drop."""

    def invalidate(self, paths: list[str], reference: str) -> bool:
        return True


def get_cdn(distribution_id: str) -> CloudFrontCdn | NoCdn:
    return CloudFrontCdn(distribution_id) if distribution_id else NoCdn()
