"""Evidence from observations, and the documented rule that resolves conflicting evidence.

Phase 1 reads each observation through the rules of ``rules.json`` and the MAC through the IEEE
registry. Phase 2 reads the model and descriptive strings through the product families of
``models.json``, then adds the maker's device-type priors (``vendors.json``) and the clinical
category of the chosen type (``taxonomy.json``).

Conflict rule (docs/adr/003-identification.md): evidence for the same attribute is grouped by
normalised value; within a group each rule counts once, with its highest confidence; a group's
confidence is ``1 - prod(1 - c)`` over its rules (independent sources that agree reinforce each
other); the group with the highest confidence wins, ties go to the most recently seen, then to
the alphabetically first value so the result is deterministic. A value a person set (an
:class:`~wardwatch.model.device.Override`) beats all observed evidence: it is chosen with
confidence 1.0 and ``chosen_by = "override"``, and the observed values stay visible as conflicts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry, is_locally_administered
from wardwatch.model.device import OVERRIDE_RULE, Attribute, Evidence, Override, ResolvedAttribute
from wardwatch.store.ports import StoredObservation

#: Fields whose text often names a product family (checked against models.json).
DESCRIPTIVE_FIELDS: tuple[str, ...] = (
    "upnp.model_description",
    "upnp.friendly_name",
    "upnp.model_name",
    "snmp.sys_descr",
    "snmp.hr_device_descr",
    "cdp.platform",
    "lldp.system_description",
    "lldp.med_model",
    "ssdp.server",
    "http.server",
    "http.user_agent",
    "http.auth_realm",
    "http.title",
    "mdns.txt",
    "mdns.instances",
    "dhcp.vendor_class",
    "smb.comment",
)

MAX_VALUE = 128
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Identification:
    """The outcome for one device: every piece of evidence and the resolved attributes."""

    evidence: tuple[Evidence, ...]
    attributes: dict[str, ResolvedAttribute]


def _clean(value: str) -> str:
    return _SPACES.sub(" ", value).strip().strip("\"'")[:MAX_VALUE]


def _norm(value: str) -> str:
    return _clean(value).casefold()


def _texts(value: object) -> Iterable[str]:
    if isinstance(value, tuple | list):
        for item in value:
            yield str(item)
    elif value is not None and value != "":
        yield str(value)


def observation_evidence(obs: StoredObservation, knowledge: Knowledge) -> list[Evidence]:
    """Phase 1: the rules of rules.json applied to one stored observation."""
    found: list[Evidence] = []
    for name, value in obs.fields.items():
        for rule in knowledge.rules_for(name):
            for text in _texts(value):
                match = rule.pattern.search(text)
                if match is None:
                    continue
                groups = [match.group(0), *(g or "" for g in match.groups())]
                for attribute, template in rule.set:
                    result = _clean(template.format(*groups))
                    if not result:
                        continue
                    if attribute == Attribute.VENDOR:
                        result = knowledge.canonical_vendor(result)
                    found.append(
                        Evidence(
                            attribute=Attribute(attribute),
                            value=result,
                            confidence=rule.confidence,
                            rule=rule.id,
                            observation_uid=obs.uid,
                            first_ns=obs.first_ns,
                            last_ns=obs.last_ns,
                            detail=f"{rule.field}={_clean(text)!r} ({rule.source})",
                        )
                    )
    found.extend(_windows_build(obs))
    return found


def _windows_build(obs: StoredObservation) -> list[Evidence]:
    """smb.os_build "10.0.NNNNN": Windows 11 from build 22000 on (Microsoft release information)."""
    build = obs.fields.get("smb.os_build")
    if not isinstance(build, str):
        return []
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", build)
    if match is None:
        return []
    major, minor, number = (int(g) for g in match.groups())
    names = {(6, 1): "7", (6, 2): "8", (6, 3): "8.1", (5, 1): "XP", (6, 0): "Vista"}
    version = ("11" if number >= 22000 else "10") if (major, minor) == (10, 0) else names.get((major, minor))
    if version is None:
        return []
    common = {
        "observation_uid": obs.uid,
        "first_ns": obs.first_ns,
        "last_ns": obs.last_ns,
        "detail": f"smb.os_build={build!r} (MS-NLMP VERSION; Windows 11 = build 22000+)",
    }
    return [
        Evidence(attribute=Attribute.OS, value="Windows", confidence=0.8, rule="smb.os_build", **common),  # type: ignore[arg-type]
        Evidence(
            attribute=Attribute.OS_VERSION,
            value=f"{version} (build {number})",
            confidence=0.8,
            rule="smb.os_build",
            **common,  # type: ignore[arg-type]
        ),
    ]


def oui_evidence(
    mac: str, first_ns: int, last_ns: int, oui: OuiRegistry, knowledge: Knowledge
) -> list[Evidence]:
    """The vendor the IEEE registry gives for a MAC (the NIC's maker: often, not always, the device's)."""
    if is_locally_administered(mac):
        return []
    match = oui.lookup(mac)
    if match is None:
        return []
    # A longer (MA-M/MA-S/IAB) assignment is usually bought by the device maker itself.
    confidence = 0.5 if match.registry == "MA-L" else 0.55
    return [
        Evidence(
            attribute=Attribute.VENDOR,
            value=knowledge.canonical_vendor(match.organization),
            confidence=confidence,
            rule="oui",
            observation_uid=None,
            first_ns=first_ns,
            last_ns=last_ns,
            detail=f"IEEE {match.registry} {match.prefix}: {match.organization}",
        )
    ]


def family_evidence(
    evidence: Sequence[Evidence], observations: Sequence[StoredObservation], knowledge: Knowledge
) -> list[Evidence]:
    """Phase 2a: product families recognised in model evidence and descriptive fields."""
    found: list[Evidence] = []
    sources: list[tuple[str, float, str | None, int, int, str]] = []
    for item in evidence:
        if item.attribute in (Attribute.MODEL, Attribute.MODEL_NUMBER):
            sources.append((item.value, 0.8, item.observation_uid, item.first_ns, item.last_ns, item.rule))
    for obs in observations:
        for name in DESCRIPTIVE_FIELDS:
            for text in _texts(obs.fields.get(name)):
                sources.append((text, 0.65, obs.uid, obs.first_ns, obs.last_ns, name))
    seen: set[tuple[str, str, str]] = set()
    for text, confidence, uid, first, last, origin in sources:
        family = knowledge.family_for(text)
        if family is not None:
            key = (family.pattern.pattern, origin, uid or "")
            if key in seen:
                continue
            seen.add(key)
            detail = (
                f"{origin}: {_clean(text)!r} matches product family /{family.pattern.pattern}/ (models.json)"
            )
            found.append(
                Evidence(
                    attribute=Attribute.DEVICE_TYPE,
                    value=family.device_type,
                    confidence=confidence,
                    rule="family",
                    observation_uid=uid,
                    first_ns=first,
                    last_ns=last,
                    detail=detail,
                )
            )
            if family.vendor:
                found.append(
                    Evidence(
                        attribute=Attribute.VENDOR,
                        value=family.vendor,
                        confidence=0.6,
                        rule="family",
                        observation_uid=uid,
                        first_ns=first,
                        last_ns=last,
                        detail=detail,
                    )
                )
    return found


def resolve(evidence: Iterable[Evidence]) -> dict[str, ResolvedAttribute]:
    """Apply the conflict rule (module docstring) to every attribute."""
    by_attribute: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_attribute.setdefault(str(item.attribute), []).append(item)
    resolved: dict[str, ResolvedAttribute] = {}
    for attribute, items in by_attribute.items():
        groups: dict[str, list[Evidence]] = {}
        for item in items:
            groups.setdefault(_norm(item.value), []).append(item)
        scored = []
        for key, members in groups.items():
            per_rule: dict[str, float] = {}
            for member in members:
                per_rule[member.rule] = max(per_rule.get(member.rule, 0.0), member.confidence)
            remaining = 1.0
            for confidence in per_rule.values():
                remaining *= 1.0 - confidence
            combined = min(0.99, 1.0 - remaining)
            if OVERRIDE_RULE in per_rule:
                combined = 1.0  # a person said so: above anything observation can reach (0.99)
            latest = max(m.last_ns for m in members)
            scored.append((round(combined, 6), latest, key, members, len(per_rule)))
        scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
        best = scored[0]
        if best[0] == 1.0 and any(m.rule == OVERRIDE_RULE for m in best[3]):
            chosen_by = OVERRIDE_RULE
        elif len(scored) == 1:
            chosen_by = "only"
        elif scored[1][0] == best[0]:
            chosen_by = "recency"
        elif best[4] > 1:
            chosen_by = "agreement"
        else:
            chosen_by = "confidence"
        members = sorted(best[3], key=lambda m: (m.rule != OVERRIDE_RULE, -m.confidence, -m.last_ns))
        conflicts = tuple(m for s in scored[1:] for m in s[3])
        resolved[attribute] = ResolvedAttribute(
            attribute=Attribute(attribute),
            value=members[0].value,
            confidence=best[0],
            chosen_by=chosen_by,
            evidence=tuple(members),
            conflicts=conflicts,
        )
    return resolved


def override_evidence(override: Override) -> Evidence:
    """An override as evidence: confidence 1.0, rule ``override``, who/when/why in the detail."""
    when = _iso(override.created_ns)
    why = f": {override.reason}" if override.reason else ""
    return Evidence(
        attribute=override.attribute,
        value=override.value,
        confidence=1.0,
        rule=OVERRIDE_RULE,
        observation_uid=None,
        first_ns=override.created_ns,
        last_ns=override.created_ns,
        detail=f"set by {override.author} at {when}{why}",
    )


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="seconds")


def identify(
    observations: Sequence[StoredObservation],
    *,
    mac: str | None,
    first_ns: int,
    last_ns: int,
    knowledge: Knowledge,
    oui: OuiRegistry,
    overrides: Sequence[Override] = (),
) -> Identification:
    """All evidence about one device and its resolved attributes (``overrides``: its active ones)."""
    evidence: list[Evidence] = [override_evidence(o) for o in overrides if o.active]
    if mac:
        evidence.extend(oui_evidence(mac, first_ns, last_ns, oui, knowledge))
    for obs in observations:
        evidence.extend(observation_evidence(obs, knowledge))
    evidence.extend(family_evidence(evidence, observations, knowledge))
    attributes = resolve(evidence)
    vendor = attributes.get(Attribute.VENDOR)
    entry = knowledge.vendor(vendor.value) if vendor else None
    if vendor is not None and entry is not None:
        for device_type, prior in entry.types:
            evidence.append(
                Evidence(
                    attribute=Attribute.DEVICE_TYPE,
                    value=device_type,
                    confidence=round(prior * vendor.confidence, 3),
                    rule="vendor-prior",
                    observation_uid=None,
                    first_ns=first_ns,
                    last_ns=last_ns,
                    detail=f"{vendor.value}'s networked products are mostly {device_type} (vendors.json)",
                )
            )
    attributes = resolve(evidence)
    chosen_type = attributes.get(Attribute.DEVICE_TYPE)
    info = knowledge.types.get(chosen_type.value) if chosen_type else None
    if chosen_type is not None and info is not None:
        evidence.append(
            Evidence(
                attribute=Attribute.CLINICAL_CATEGORY,
                value=info.clinical_category,
                confidence=chosen_type.confidence,
                rule="taxonomy",
                observation_uid=None,
                first_ns=first_ns,
                last_ns=last_ns,
                detail=f"{info.label} is {info.clinical_category} (taxonomy.json)",
            )
        )
        attributes = resolve(evidence)
    return Identification(evidence=tuple(evidence), attributes=attributes)
