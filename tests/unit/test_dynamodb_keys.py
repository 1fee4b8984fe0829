"""Keys are built in ``adapters/dynamodb/keys.py`` only, and its documented key table is the one it builds.

* the table in the module's docstring is what ``key_table.render_key_table()`` makes from the builders;
* no other module of the adapters (nor the services or handlers) spells a key: no ``"J#"``-style
  literal, no fixed sort key (``"JOB"``, ``"INFLIGHT"``…);
* every item the repositories write (a scenario that calls every writer, on moto) matches a row of
  the table, and every row is written by it.
"""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from openips.adapters.dynamodb import key_table, keys
from openips.adapters.dynamodb.accounts import DynamoAccounts
from openips.adapters.dynamodb.factory import JobsTable
from openips.adapters.dynamodb.table import Table
from openips.models.domain import FileClaim, LogType, User
from openips.models.image_presets import ImagePreset
from openips.models.projects import Project
from openips.models.set_presets import SetPreset
from openips_cli.provision import load_template, provision
from tests.unit.repository_contract.builders import T0, asset, company, job, row

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "openips"
KEYS_MODULE = PACKAGE / "adapters" / "dynamodb" / "keys.py"
CHECKED = [PACKAGE / "adapters", PACKAGE / "services", PACKAGE / "handlers"]

# A key's pieces: an upper-case prefix before "#" ("J#", "JN#", "MAIL#"), or after one ("#JOBS", "#F#").
KEY_PIECE = re.compile(r"(^|[^A-Za-z0-9_])[A-Z]{1,12}#|#[A-Z]{2,}")


def _fixed_sort_keys() -> set[str]:
    """The sort keys (and index partitions) that are constants: "COMPANY", "JOB", "INFLIGHT", …"""
    found = {keys.COMPANIES_PARTITION}
    for documented in key_table.KEY_TABLE:
        sk = documented.key()["sk"]
        if "<" not in sk:
            found.add(sk)
    return found


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """The module's string constants (f-string pieces too), docstrings left out."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_the_documented_key_table_is_the_one_the_builders_make():
    rendered = key_table.render_key_table()
    assert rendered in (keys.__doc__ or ""), "regenerate the table in keys.py's docstring:\n" + rendered


def test_no_module_but_keys_spells_a_key():
    fixed = _fixed_sort_keys()
    offenders = []
    for root in CHECKED:
        for path in sorted(root.rglob("*.py")):
            if path == KEYS_MODULE:
                continue
            for line, text in _strings(ast.parse(path.read_text(), str(path))):
                if KEY_PIECE.search(text) or text in fixed:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert offenders == [], "build keys in adapters/dynamodb/keys.py:\n" + "\n".join(offenders)


def test_the_key_check_would_see_a_key_literal():
    caught = [text for _, text in _strings(ast.parse('x = f"J#{h}"\ny = "JOB"\nz = f"C#{c}#JOBS"\nw = "#state"'))
              if KEY_PIECE.search(text) or text in _fixed_sort_keys()]
    assert sorted(caught) == ["#JOBS", "C#", "J#", "JOB"]


@pytest.fixture
def written(aws_credentials) -> dict[str, list[dict]]:
    """Every item a scenario calling every writer leaves in the two tables (moto)."""
    template = load_template()
    tables_only = {"Resources": {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}}
    with mock_aws():
        names = provision(prefix="layout", template=tables_only).names
        _every_writer(JobsTable.on(Table(names["JobsTable"])), DynamoAccounts(Table(names["AccountsTable"])))
        client = boto3.client("dynamodb")
        return {"jobs": client.scan(TableName=names["JobsTable"])["Items"],
                "accounts": client.scan(TableName=names["AccountsTable"])["Items"]}


def _every_writer(r: JobsTable, accounts: DynamoAccounts) -> None:
    r.companies.create(company())
    assert r.jobs.create(job(), [row(LogType.BEGIN_UPLOAD)])
    taken = FileClaim(job_handle="j-one", claim_id="k1", path="a.jpg", lease_until=T0 + timedelta(seconds=60))
    r.claims.claim_file(taken, T0)
    assert r.assets.create(asset(search_words=["red"]))
    r.assets.index_words("c-acme", "a-one", [], ["red"])
    r.claims.complete(taken, {"success": 1}, [row(LogType.UPLOAD_SUCCESS, asset_handle="a-one")], "a-one")
    preset = SetPreset.model_validate({"presetHandle": "p-1", "companyHandle": "c-acme", "created": T0.isoformat(),
                                       "createdBy": "u-1", "name": "sets", "setType": "ImageSet",
                                       "matchPattern": "(?P<base>.+?)_(front|back)"})
    r.presets.create(preset)
    r.presets.record_run("j-one", "p-1#shoe_set", row())
    assert r.image_presets.create(ImagePreset(name="Thumb", modifiers="wid=100", company_handle="c-acme", created=T0,
                                              created_by="u-1"), 10) == "created"
    assert r.projects.create(Project(project_handle="r-1", company_handle="c-acme", name="Sale", created=T0,
                                     created_by="u-1"))
    r.projects.link_assets(["r-1"], "a-one")
    assert r.steps.claim("j-one", "email:Completion", T0, 60) == "new"
    assert r.quotas.take_inflight_slot("c-acme", "h1", T0 + timedelta(seconds=60), 2, T0)
    assert r.quotas.reserve_extraction(taken, "c-acme", "2024-05-01", 1, 1, (10, 10), (10, 10)) is None
    assert r.quotas.reserve_mail("j-one", "email:Completion", "c-acme", "2024-05-01", 5)
    accounts.put_user(User(user_handle="u-1", company_handle="c-acme", email="a@acme.example", role="IpsAdmin"), "h")
    accounts.create_webhook_secret("c-acme", "whsec", T0)


def test_every_item_written_is_a_documented_item_and_every_documented_item_is_written(written):
    patterns = key_table.key_patterns()
    tables = {row.item: row.table for row in key_table.KEY_TABLE}
    matched: set[str] = set()
    for table, items in written.items():
        for item in items:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            found = [name for name, (pk_re, sk_re) in patterns.items()
                     if tables[name] == table and pk_re.fullmatch(pk) and sk_re.fullmatch(sk)]
            assert len(found) == 1, f"{table} item {pk} / {sk} matches rows {found} of keys.py's table"
            matched.update(found)
    assert set(patterns) - matched == set()
