"""AuthorizerFunction: the HTTP API's Lambda authorizer for routes served by functions that hold no
accounts access (AssetImagingFunction parses masters: it must never reach keys or users).

It resolves ``Authorization: Bearer <key>`` to the user and hands the user, or the IPS fault that
refuses the key, to the route's function as the authorizer context. The request is always let
through so that the function answers with the same IPS fault body as every other route
(API Gateway's own 401/403 bodies are not IPS faults); no result is cached, so a revoked key stops
working at once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.models.errors import AuthenticationFault
from openips.observability import logger
from openips.services import auth
from openips.services.deps import get_deps


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        user = auth.authenticate(get_deps().accounts, headers.get("authorization"))
    except AuthenticationFault as fault:
        logger.info("request not authenticated", fault_code=fault.code)
        return {"isAuthorized": True, "context": {"faultCode": fault.code, "faultReason": fault.reason}}
    return {"isAuthorized": True, "context": {
        "userHandle": user.user_handle, "companyHandle": user.company_handle, "email": user.email,
        "role": user.role}}
