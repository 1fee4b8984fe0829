"""Projects on DynamoDB: the project, its company-unique name and its asset links (``ports.ProjectRepository``)."""

from __future__ import annotations

from collections.abc import Iterator

from boto3.dynamodb.conditions import Key

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.assets import DynamoAssets, iter_linked_assets
from openips.adapters.dynamodb.keys import OWNER_INDEX
from openips.adapters.dynamodb.table import Table, TransactionCancelled
from openips.adapters.paging import Position
from openips.models.domain import Asset
from openips.models.projects import Project

NEW = "attribute_not_exists(pk)"


class DynamoProjects:
    def __init__(self, table: Table, assets: DynamoAssets) -> None:
        self.table = table
        self.assets = assets  # a project lists its assets, and deleting it edits them

    def create(self, project: Project) -> bool:
        """Create the project; False if the company already has a project of that name."""
        guard = {**keys.project_name_guard_key(project.company_handle, project.name),
                 "project_handle": project.project_handle}
        item = {**keys.project_key(project.project_handle), **project.model_dump(mode="json"),
                **keys.project_index(project)}
        try:
            self.table.transact([self.table.put_op(new, NEW) for new in (guard, item)])
            return True
        except TransactionCancelled:
            return False

    def get(self, project_handle: str) -> Project | None:
        item = self.table.get(keys.project_key(project_handle), consistent=True)
        return Project.model_validate(item) if item else None

    def list_for_company(self, company_handle: str) -> list[Project]:
        items = self.table.query(IndexName=OWNER_INDEX,
                                 KeyConditionExpression=Key("gsi1pk").eq(keys.company_projects_partition(company_handle)))
        return [Project.model_validate(item) for item in items]

    def link_assets(self, project_handles: list[str], asset_handle: str) -> None:
        """Project → asset links (idempotent puts), so a project lists its assets with a Query."""
        self.table.write_batch(puts=[{**keys.project_asset_link_key(handle, asset_handle), "asset_handle": asset_handle}
                                     for handle in project_handles])

    def asset_handles(self, project_handle: str) -> list[str]:
        shape = keys.assets_of_project(project_handle)
        links = self.table.query(KeyConditionExpression=Key("pk").eq(shape.fixed["pk"])
                                 & Key("sk").begins_with(shape.prefixed["sk"]))
        return [link["asset_handle"] for link in links]

    def iter_assets(self, project_handle: str, after: str | None,
                    chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """The project's assets, from the page token ``after`` on, ``chunk`` links at a time."""
        return iter_linked_assets(self.table, self.assets, keys.assets_of_project(project_handle), after, chunk)

    def delete(self, project: Project) -> None:
        """Remove the project, its name guard and its links; its assets stop naming it."""
        for asset_handle in self.asset_handles(project.project_handle):
            asset = self.assets.get(asset_handle)
            if asset is not None and project.project_handle in asset.project_handles:
                kept = [h for h in asset.project_handles if h != project.project_handle]
                self.table.update(keys.asset_key(asset_handle), "SET project_handles = :kept",
                                  ExpressionAttributeValues={":kept": kept})
            self.table.delete(keys.project_asset_link_key(project.project_handle, asset_handle))
        self.table.transact([
            self.table.delete_op(keys.project_key(project.project_handle)),
            self.table.delete_op(keys.project_name_guard_key(project.company_handle, project.name)),
        ])
