"""The WSDL openips serves: written from ``schema.py``, so it describes exactly what is implemented.

``GET /scene7/webservice/IpsApi.wsdl`` is the unversioned namespace; ``IpsApi-<version>.wsdl``
the same operations in ``…/xsd/<version>``. One SOAP 1.1 and one SOAP 1.2 binding, document/
literal, ``SOAPAction`` = the operation name, the ``authHeader`` as a SOAP header, and the three
IPS faults on every operation. The authHeader and the faults are in the unversioned namespace in
every version, as IPS declares them (spec §2, §11.2); the operations in the version's.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from openips.models import errors
from openips.services.ips_soap.schema import (AUTH_HEADER, BASE_NS, FAULTS, OPERATIONS, SIMPLE, TYPES, VERSION, F,
                                              namespace_for)

SERVICE_PATH = "/scene7/services/IpsApiService"


def _type_ref(type_name: str) -> str:
    return SIMPLE.get(type_name) or f"types:{type_name}"


def _element(field: F) -> str:
    occurs = ("" if field.min == 1 else f' minOccurs="{field.min}"') + (' maxOccurs="unbounded"' if field.many else "")
    return f'<xsd:element name="{field.name}" type="{_type_ref(field.type)}"{occurs}/>'


def _sequence(fields: tuple[F, ...]) -> str:
    return "<xsd:sequence>" + "".join(_element(f) for f in fields) + "</xsd:sequence>"


def _schema(ns: str) -> str:
    """The operations' types and elements in ``ns``; in the unversioned namespace also the authHeader and
    the faults, which IPS keeps there whatever the version (spec §2, §11.2): see :func:`_base_schema`."""
    parts = [f'<xsd:schema targetNamespace="{ns}" elementFormDefault="qualified" '
             f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:types="{ns}">']
    parts += [f'<xsd:complexType name="{name}">{_sequence(fields)}</xsd:complexType>'
              for name, fields in TYPES.items() if ns == BASE_NS or name != "Fault"]
    if ns == BASE_NS:
        parts += _base_declarations()
    for name, op in OPERATIONS.items():
        parts.append(f'<xsd:element name="{name}Param"><xsd:complexType>{_sequence(op.param)}'
                     "</xsd:complexType></xsd:element>")
        parts.append(f'<xsd:element name="{name}Return"><xsd:complexType>{_sequence(op.result)}'
                     "</xsd:complexType></xsd:element>")
    parts.append("</xsd:schema>")
    return "".join(parts)


def _base_declarations() -> list[str]:
    parts = ['<xsd:complexType name="AuthHeader"><xsd:all>'
             + "".join(_element(f) for f in AUTH_HEADER) + "</xsd:all></xsd:complexType>",
             '<xsd:element name="authHeader" type="types:AuthHeader"/>']
    return parts + [f'<xsd:element name="{fault}" type="types:Fault"/>' for fault in FAULTS]


def _base_schema() -> str:
    """A versioned WSDL's second schema: the authHeader and the fault elements in the unversioned namespace."""
    return (f'<xsd:schema targetNamespace="{BASE_NS}" elementFormDefault="qualified" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:types="{BASE_NS}">'
            f'<xsd:complexType name="Fault">{_sequence(TYPES["Fault"])}</xsd:complexType>'
            + "".join(_base_declarations()) + "</xsd:schema>")


def _binding(name: str, soap: str) -> str:
    parts = [f'<wsdl:binding name="{name}" type="types:IpsApiPortType">'
             f'<{soap}:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>']
    for op in OPERATIONS:
        parts.append(
            f'<wsdl:operation name="{op}"><{soap}:operation soapAction="{op}" style="document"/>'
            f'<wsdl:input><{soap}:header message="types:authHeader" part="authHeader" use="literal"/>'
            f'<{soap}:body parts="parameters" use="literal"/></wsdl:input>'
            f'<wsdl:output><{soap}:body use="literal"/></wsdl:output>'
            + "".join(f'<wsdl:fault name="{fault}"><{soap}:fault name="{fault}" use="literal"/></wsdl:fault>'
                      for fault in FAULTS)
            + "</wsdl:operation>")
    parts.append("</wsdl:binding>")
    return "".join(parts)


def wsdl(base_url: str, version: str | None) -> bytes:
    """The WSDL (with its XSD) for ``version`` (``2014-04-03``…; None: unversioned), served at ``base_url``.

    An unknown version shape is an ``ipsApiFault`` 30001 (HTTP 404).
    """
    if version is not None and not VERSION.fullmatch(version):
        raise errors.invalid_parameter(f"No WSDL for version {version!r} (versions look like 2014-04-03)", 404)
    ns = namespace_for(version)
    address = quoteattr(base_url.rstrip("/") + SERVICE_PATH)
    messages = ['<wsdl:message name="authHeader"><wsdl:part name="authHeader" element="ips:authHeader"/>'
                "</wsdl:message>"]
    messages += [f'<wsdl:message name="{fault}"><wsdl:part name="fault" element="ips:{fault}"/></wsdl:message>'
                 for fault in FAULTS]
    port_type = ['<wsdl:portType name="IpsApiPortType">']
    for op in OPERATIONS:
        messages.append(f'<wsdl:message name="{op}Request"><wsdl:part name="parameters" element="types:{op}Param"/>'
                        "</wsdl:message>")
        messages.append(f'<wsdl:message name="{op}Response"><wsdl:part name="parameters" '
                        f'element="types:{op}Return"/></wsdl:message>')
        port_type.append(f'<wsdl:operation name="{op}"><wsdl:input message="types:{op}Request"/>'
                         f'<wsdl:output message="types:{op}Response"/>'
                         + "".join(f'<wsdl:fault name="{fault}" message="types:{fault}"/>' for fault in FAULTS)
                         + "</wsdl:operation>")
    port_type.append("</wsdl:portType>")
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<!-- The openips IPS web service: the operations openips implements, nothing more. -->"
        f'<wsdl:definitions name="IpsApi" targetNamespace="{ns}" xmlns:types="{ns}" xmlns:ips="{BASE_NS}" '
        'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
        'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<wsdl:types>{'' if ns == BASE_NS else _base_schema()}{_schema(ns)}</wsdl:types>"
        + "".join(messages) + "".join(port_type)
        + _binding("IpsApiSoapBinding", "soap") + _binding("IpsApiSoap12Binding", "soap12")
        + '<wsdl:service name="IpsApiService">'
        f'<wsdl:port name="IpsApiSoapPort" binding="types:IpsApiSoapBinding"><soap:address location={address}/>'
        "</wsdl:port>"
        f'<wsdl:port name="IpsApiSoap12Port" binding="types:IpsApiSoap12Binding">'
        f"<soap12:address location={address}/></wsdl:port>"
        "</wsdl:service></wsdl:definitions>"
    )
    return document.encode()
