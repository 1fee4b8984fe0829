"""Schema-driven fuzzing of the HTTP API against its own OpenAPI document (schemathesis).

The document is the one the API publishes (``GET /v1/openapi.json``). Every operation in it
gets its examples, boundary ("coverage") cases and random positive and negative inputs, sent
in-process through a WSGI adapter (``openips_cli.wsgi``) to the real handlers (``ApiFunction``,
and ``AssetImagingFunction`` for its route) on the moto stack. The checks:

* no 5xx, ever;
* every non-2xx answer is a JSON fault body matching the document's ``Fault`` schema;
* every 2xx answer matches the documented response schema, status code and content type;
* schema-invalid input is rejected, schema-valid input accepted (see ``SEMANTIC_RULES``);
* no operation answers without a valid key (schemathesis probes each one without a key and
  with a wrong one, and sends cases that lack or mangle ``Authorization``).

Each case is sent with a company admin's key, the IpsAdmin key, a garbage key or no key, and
its path parameters are half the time replaced by handles that exist (a finished job with an
asset, an open job, the company), so that the code behind authentication and lookups runs too.
Both choices derive from the case itself and generation is derandomized: a run is reproducible.
All operations share one stack, provisioned once for the module.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import json
import re
import textwrap
from collections.abc import Iterator

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis import Case, CheckContext, Response

from openips.handlers.http import PUBLIC_ROUTES
from openips.services.openapi import FAULT_SCHEMA, QUERY_PARAMETERS, ROUTES
from openips_cli.wsgi import api_wsgi_app
from tests.integration.conftest import Stack, module_stack

MAX_EXAMPLES = 20  # random (fuzzing) cases per operation; examples and coverage cases come on top

# Operations whose schema-valid input may still break a rule that JSON Schema cannot state, and
# so be answered 400 (every other operation must accept whatever its document allows).
SEMANTIC_RULES = {
    "findAssets": "one of jobHandle, folder or name is needed; nextToken must be one the same query answered",
    "getJobLogs": "nextToken must be one the same query answered",
    "openUploadJob": "a metadata update gives exactly one kind of value; profile handles must exist",
    "setCompanySettings": "a profile handle must name an IccProfile asset of the company",
    "createSetPreset": "matchPattern must be a regular expression with a named group 'base'",
    "createImagePreset": "modifiers must be Image Serving modifiers, name stored presets and be at most "
                         "MAX_IMAGE_PRESET_LENGTH characters long",
    "getAutoCropRect": "type=Transparent needs an image with an alpha channel",
    # The document states it as a pattern, but one too large for the fuzzer's generator to honour.
    "createCompany": "a name has no control or invisible format characters (models.text)",
    "createProject": "a name has no control or invisible format characters (models.text)",
}

CONFIG = schemathesis.Config.from_dict({
    "seed": 20261128,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "operations": [{"include-operation-id": operation, "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]}}} for operation in SEMANTIC_RULES],
})

# The document as the API publishes it; every request (and every probe a check sends) in-process.
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", api_wsgi_app(), config=CONFIG)

FAULT_VALIDATOR = jsonschema_rs.Draft202012Validator(FAULT_SCHEMA)

# Filled by the ``world`` fixture: keys and handles that exist.
WORLD: dict = {}


def _digest(case: Case) -> bytes:
    """Stable bytes of the case's content: drives the choice of key and of handles."""
    return hashlib.sha256(repr((case.method, case.path, case.path_parameters, case.query,
                                case.body)).encode()).digest()


def _pick(digest: bytes, index: int, choices: list | tuple):
    return choices[digest[index] % len(choices)]


KEYS = ("@company-admin", "@company-admin", "@company-admin", "@ips-admin", "", "oips_not-a-real-key")


@schema.auth(refresh_interval=None)
class ApiKeys:
    """Bearer keys: mostly a company admin's, sometimes the IpsAdmin's, a garbage one or none.

    Schemathesis applies them to every case except those that test a missing or invalid
    ``Authorization`` itself. Coverage cases are built at collection, before the stack exists:
    ``@…`` stands for a real key until the case is sent.
    """

    def get(self, case: Case, ctx: schemathesis.AuthContext) -> str:
        return _pick(_digest(case), 0, KEYS)

    def set(self, case: Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if data:
            case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.check
def fault_body(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Any answer that is not 2xx is ``{"fault": {type, code, reason}}`` as JSON."""
    if 200 <= response.status_code < 300:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"fault with content type {content_type!r}"
    try:
        body = json.loads(response.content or b"")
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} with a body that is not JSON: {response.content[:200]!r}") \
            from exc
    problems = [e.message for e in FAULT_VALIDATOR.iter_errors(body)]
    assert not problems, f"{response.status_code} body is not a Fault ({problems}): {body}"
    return True


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[Stack]:
    """The ``stack`` fixture's stack, once for every operation (per operation it would double the runtime)."""
    with module_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def world(fuzz_stack: Stack) -> dict:
    """Handles that exist: a finished job with an asset, an open job, the company."""
    stack = fuzz_stack
    seeded = stack.open_job("fuzz-seed").body
    stack.post_file(seeded["upload"], "fuzz/red.jpg", _jpeg())
    done = seeded["jobHandle"]
    assert stack.call("POST", f"/v1/upload-jobs/{done}/end").status == 202
    stack.drain()
    asset = stack.call("GET", "/v1/assets", query={"jobHandle": done}).body["assetArray"][0]["assetHandle"]
    opened = stack.open_job("fuzz-open").body["jobHandle"]
    WORLD.update({
        "Bearer @company-admin": f"Bearer {stack.key}",
        "Bearer @ips-admin": f"Bearer {stack.admin_key}",
        "jobHandle": [done, opened],
        "assetHandle": [asset],
        "companyHandle": [stack.company],
    })
    return WORLD


@schema.parametrize()
@settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: Case, world: dict) -> None:
    digest = _digest(case)
    for i, name in enumerate(sorted(case.path_parameters or {})):
        if name in world and digest[1 + i] % 2:  # half the time, a handle that exists
            case.path_parameters[name] = _pick(digest, 8 + i, world[name])
    for name, value in (case.headers or {}).items():
        # Only the "Bearer @…" stand-ins; a generated header that happens to equal a handle name stays as it is.
        if name.lower() == "authorization" and isinstance(world.get(value), str):
            case.headers[name] = world[value]
    case.call_and_validate(additional_checks=[fault_body])


# ---- the document lists every route and every query parameter the handlers read ----------------


def _served_routes() -> dict[tuple[str, str], set[str]]:
    """(METHOD, path with {}) → the query parameter names its handler reads, for every API route."""
    from openips.handlers import api, imaging_api

    served = {}
    for app in (api.app, imaging_api.app):
        for route in app.served_routes:
            tree = ast.parse(textwrap.dedent(inspect.getsource(route.func)))
            names = {node.args[-1].value for node in ast.walk(tree)
                     if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("_query", "query")
                     and node.args and isinstance(node.args[-1], ast.Constant)}
            served[(route.method, re.sub(r"<[^>]+>", "{}", route.path))] = names
    return served


def test_the_document_declares_every_route_and_query_parameter_the_handlers_read():
    documented = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path)): operation
                  for method, path, operation, *_ in ROUTES}
    served = _served_routes()
    # The public routes (the document itself, the upload page and its files) are not API operations.
    public = {(method, re.sub(r"<[^>]+>", "{}", path)) for method, path in PUBLIC_ROUTES}
    undocumented = set(served) - set(documented) - public
    assert not undocumented, f"routes missing from openapi.ROUTES: {sorted(undocumented)}"
    for route, operation in documented.items():
        declared = {p["name"] for p in QUERY_PARAMETERS.get(operation, ())}
        assert served.get(route, set()) == declared, (
            f"{operation}: handler reads {sorted(served.get(route, set()))}, the document declares {sorted(declared)}")
