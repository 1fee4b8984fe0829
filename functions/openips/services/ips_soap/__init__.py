"""IPS wire compatibility for the web service (issue 15): SOAP, POX and the WSDL, as plain functions.

* ``handle_soap(deps, body, content_type, soap_action, basic_auth, base_url)`` → ``(status, content_type, body)``
  for ``/scene7/services/IpsApiService`` (SOAP 1.1 with SOAPAction, and 1.2, document/literal);
* ``handle_pox(deps, body, content_type, basic_auth, base_url)`` for ``/scene7/api/IpsApiService``;
* ``wsdl(base_url, version)`` for ``GET /scene7/webservice/IpsApi.wsdl`` and ``IpsApi-<version>.wsdl``.

Modules: ``safe_xml`` (the only parser), ``schema`` (types and operations as data), ``codec``
(elements ↔ dicts), ``operations`` (each operation → the services), ``wsdl``, ``service``.
"""

from openips.services.ips_soap.service import handle_pox, handle_soap
from openips.services.ips_soap.wsdl import wsdl

__all__ = ["handle_pox", "handle_soap", "wsdl"]
