"""A CloudFront distribution in moto for the tests that check what a change invalidates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest

from openips.services.deps import reset_caches


@contextmanager
def distribution(monkeypatch: pytest.MonkeyPatch, reference: str) -> Iterator[str]:
    """A distribution's ID, named to the functions (CDN_DISTRIBUTION_ID) while the block runs."""
    created = boto3.client("cloudfront").create_distribution(DistributionConfig={
        "CallerReference": reference, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "api", "DomainName": "api.example.com", "CustomOriginConfig": {
            "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "api", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})["Distribution"]["Id"]
    monkeypatch.setenv("CDN_DISTRIBUTION_ID", created)
    reset_caches()
    try:
        yield created
    finally:
        monkeypatch.delenv("CDN_DISTRIBUTION_ID")
        reset_caches()


def invalidations(distribution_id: str) -> list[list[str]]:
    """The paths of each invalidation asked of the distribution."""
    cloudfront = boto3.client("cloudfront")
    listed = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", [])
    return [cloudfront.get_invalidation(DistributionId=distribution_id, Id=item["Id"])
            ["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] for item in listed]
