"""IPS wire compatibility for the web service (issue 15): SOAP, POX and the WSDL, as plain functions.

* ``handle_soap(deps, body, content_type, soap_action, basic_auth, base_url)`` → ``(status, content_type, body)``
  for ``/scene7/services/IpsApiService`` (SOAP 1.1 with SOAPAction, and 1.2, document/literal);
* ``handle_pox(deps, body, content_type, basic_auth, base_url)`` for ``/scene7/api/IpsApiService``;
* ``wsdl(base_url, version)`` for ``GET /scene7/webservice/IpsApi.wsdl`` and ``IpsApi-<version>.wsdl``.

The entry points live in ``service`` and ``wsdl``; the package itself imports nothing, so its modules
import one another through it without a cycle. Modules: ``schema`` (types and operations as data),
``codec`` (elements ↔ dicts), ``operations`` (each operation → the services), ``wsdl``, ``service``.
XML is parsed only by ``services/ips_wire/safe_xml``.
"""
