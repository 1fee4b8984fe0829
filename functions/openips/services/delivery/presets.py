"""Image presets: the company resource (``/v1/image-presets``), and the map delivery expands ``$name$`` from.

Company admins write them, every role reads them (as set presets). A preset's modifier string is
parsed when it is stored, against the company's other presets and a 1000×1000 stand-in master, so
a syntax error or an unknown ``$name$`` is refused then, not on every request; a preset that names
one deleted later fails at delivery with the error that names it (docs/delivery.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from openips.models import errors
from openips.models.domain import User, utcnow
from openips.models.image_presets import CreateImagePresetRequest, ImagePreset
from openips.services import auth
from openips.services.deps import Deps
from openips.services.delivery.modifiers import MAX_SIDE, Limits, ModifierError, parse_modifiers

WRITE_ROLES = auth.ADMIN_ROLES
STAND_IN_SIDE = 1000  # the master a preset is checked against: its size is unknown until delivery


def presets_for(deps: Deps, company_handle: str) -> Mapping[str, str]:
    """The company's presets as ``parse_modifiers`` takes them: name (as stored) → modifier string."""
    return {preset.name: preset.modifiers for preset in deps.image_presets.list_for_company(company_handle)}


def create_preset(deps: Deps, user: User, request: CreateImagePresetRequest) -> ImagePreset:
    auth.require_role(user, WRITE_ROLES, "createImagePreset")
    company = auth.company_scope(user, request.company_handle)
    if deps.companies.get(company) is None:
        raise errors.unknown_handle("company", company)
    settings = deps.settings
    if len(request.modifiers) > settings.max_image_preset_length:
        raise errors.invalid_parameter(f"modifiers: {len(request.modifiers)} characters; at most "
                                       f"{settings.max_image_preset_length}")
    try:
        # Pixels are not limited here: they depend on the master, and delivery checks them per request.
        parse_modifiers(request.modifiers, presets_for(deps, company), STAND_IN_SIDE, STAND_IN_SIDE,
                        limits=Limits(max_pixels=MAX_SIDE * MAX_SIDE, max_modifiers=settings.delivery_max_modifiers,
                                      max_length=settings.delivery_max_query_length))
    except ModifierError as exc:
        raise errors.invalid_parameter(f"modifiers: {exc.message}") from exc
    preset = ImagePreset(name=request.name, modifiers=request.modifiers, company_handle=company, created=utcnow(),
                         created_by=user.user_handle)
    outcome = deps.image_presets.create(preset, settings.max_image_presets_per_company)
    if outcome == "exists":
        raise errors.invalid_parameter(f"Company {company} already has an image preset named {request.name} "
                                       "(names are case-insensitive)", 409)
    if outcome == "full":
        raise errors.invalid_parameter(f"Company {company} has {settings.max_image_presets_per_company} image "
                                       "presets, the most it may keep: delete one first", 409)
    return preset


def list_presets(deps: Deps, user: User, company: str | None) -> list[ImagePreset]:
    auth.require_role(user, auth.READ_ROLES, "getImagePresets")
    return deps.image_presets.list_for_company(auth.company_scope(user, company))


def get_preset(deps: Deps, user: User, name: str, company: str | None) -> ImagePreset:
    auth.require_role(user, auth.READ_ROLES, "getImagePreset")
    return _found(deps, auth.company_scope(user, company), name)


def delete_preset(deps: Deps, user: User, name: str, company: str | None) -> None:
    """Delete a preset. Delivery URLs (and presets) that name it are refused from then on."""
    auth.require_role(user, WRITE_ROLES, "deleteImagePreset")
    scope = auth.company_scope(user, company)
    if not deps.image_presets.delete(scope, name):
        raise _unknown(scope, name)


def _found(deps: Deps, company: str, name: str) -> ImagePreset:
    preset = deps.image_presets.get(company, name)
    if preset is None:
        raise _unknown(company, name)
    return preset


def _unknown(company: str, name: str) -> errors.IpsApiFault:
    return errors.IpsApiFault(errors.INVALID_PARAMETER, f"Company {company} has no image preset named {name}",
                              http_status=404)
