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

Speed (a rebuild identifies every device): what the rules of a field conclude from a value is
memoised per distinct value, observations are read through a plan per set of field names, and
evidence added after the first resolution re-resolves only its attribute. The outcome is that of
the plain algorithm, which tests/unit/identify/test_engine_fastpath.py keeps as a reference.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from wardwatch.identify.knowledge import CACHE_LIMIT, Knowledge, Rule
from wardwatch.identify.oui import OuiRegistry, is_locally_administered
from wardwatch.model._build import builder
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

_ATTRIBUTES: dict[str, Attribute] = {a.value: a for a in Attribute}

MAX_VALUE = 128
_SPACES = re.compile(r"\s+")

#: What the rules of a field conclude from one value, before it is tied to an observation:
#: (attribute, value, confidence, rule id, detail).
_Hit = tuple[Attribute, str, float, str, str]

#: Evidence from an observation rule, one per hit (about 115 k in a rebuild of the bench's
#: hospital capture): the same object as ``Evidence(...)``, without a frozen dataclass's __init__.
_new_evidence = builder(Evidence)


@dataclass(frozen=True, slots=True)
class Identification:
    """The outcome for one device: every piece of evidence and the resolved attributes."""

    evidence: tuple[Evidence, ...]
    attributes: dict[str, ResolvedAttribute]


# Memoised: the same values (vendors, models, hostnames) recur across evidence and devices.
@lru_cache(maxsize=65_536)
def _clean(value: str) -> str:
    return _SPACES.sub(" ", value).strip().strip("\"'")[:MAX_VALUE]


@lru_cache(maxsize=65_536)
def _norm(value: str) -> str:
    return _clean(value).casefold()


def _texts(value: object) -> Iterable[str]:
    if isinstance(value, tuple | list):
        for item in value:
            yield str(item)
    elif value is not None and value != "":
        yield str(value)


def _text_tuple(value: object) -> tuple[str, ...]:
    """``tuple(_texts(value))`` without a generator (this runs for every field value a rule reads)."""
    if isinstance(value, tuple | list):
        return tuple([str(item) for item in value])
    if value is None or value == "":
        return ()
    return (str(value),)


def observation_evidence(obs: StoredObservation, knowledge: Knowledge) -> list[Evidence]:
    """Phase 1: the rules of rules.json applied to one stored observation."""
    found: list[Evidence] = []
    _add_observation_evidence(obs, knowledge, found)
    return found


def _add_observation_evidence(
    obs: StoredObservation, knowledge: Knowledge, found: list[Evidence]
) -> tuple[str, ...]:
    """:func:`observation_evidence`, appended to ``found`` (no list per observation); returns the
    descriptive fields the observation has, for phase 2a."""
    # Values as ``object``: they are whatever JSON the store holds. Typed as FieldValue, the
    # mypyc build (ADR 013) would check each read and raise on anything else (a null).
    fields: Mapping[str, object] = obs.fields
    rule_fields, descriptive, windows = _plan(fields, knowledge)
    for name, rules in rule_fields:
        hits = _field_hits(name, fields[name], rules, knowledge)
        if hits:
            uid, first_ns, last_ns = obs.uid, obs.first_ns, obs.last_ns
            for attribute, result, confidence, rule_id, detail in hits:
                found.append(
                    _new_evidence(attribute, result, confidence, rule_id, uid, first_ns, last_ns, detail)
                )
    if windows:
        found.extend(_windows_build(obs))
    return descriptive


#: How the engine reads an observation with a given set of field names: the fields rules read
#: (in the observation's order) with their rules, the descriptive fields present (in
#: :data:`DESCRIPTIVE_FIELDS` order), and whether ``smb.os_build`` is there.
_Plan = tuple[tuple[tuple[str, tuple[Rule, ...]], ...], tuple[str, ...], bool]


def _plan(fields: Mapping[str, object], knowledge: Knowledge) -> _Plan:
    """The :data:`_Plan` of ``fields``, memoised by their names in order: a dissector always emits
    the same few field sets, so this replaces a rule lookup per field and a check of every
    descriptive field per observation with one dict lookup."""
    shape = tuple(fields)
    plans = knowledge.field_plans
    plan: _Plan | None = plans.get(shape)
    if plan is None:
        by_field = knowledge.by_field
        plan = (
            tuple((name, by_field[name]) for name in shape if by_field.get(name)),
            tuple(name for name in DESCRIPTIVE_FIELDS if name in fields),
            "smb.os_build" in fields,
        )
        if len(plans) < CACHE_LIMIT:
            plans[shape] = plan
    return plan


def _field_hits(name: str, value: object, rules: tuple[Rule, ...], knowledge: Knowledge) -> tuple[_Hit, ...]:
    """What ``rules`` (those of field ``name``) conclude from ``value``, memoised in ``knowledge``.

    The result depends only on the field, the texts of the value and the knowledge, so it is
    computed once per distinct value. The key holds the texts, not the value, for non-strings:
    ``True``, ``1`` and ``1.0`` are equal as dict keys but read as "True", "1" and "1.0".
    """
    texts: tuple[str, ...] | None = None
    if type(value) is str:
        key: tuple[str, object] = (name, value)
    else:
        texts = _text_tuple(value)
        key = (name, texts)
    cache = knowledge.rule_cache
    hits: tuple[_Hit, ...] | None = cache.get(key)
    if hits is None:
        hits = _rule_hits(rules, _text_tuple(value) if texts is None else texts, knowledge)
        if len(cache) < CACHE_LIMIT:
            cache[key] = hits
    return hits


def _rule_hits(rules: tuple[Rule, ...], texts: tuple[str, ...], knowledge: Knowledge) -> tuple[_Hit, ...]:
    """Every rule against every text, in that order (the order of the evidence)."""
    found: list[_Hit] = []
    for rule in knowledge.candidate_rules(rules, texts):
        for text in texts:
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
                detail = f"{rule.field}={_clean(text)!r} ({rule.source})"
                found.append((Attribute(attribute), result, rule.confidence, rule.id, detail))
    return tuple(found)


def _windows_build(obs: StoredObservation) -> list[Evidence]:
    """smb.os_build "10.0.NNNNN": Windows 11 from build 22000 on (Microsoft release information)."""
    fields: Mapping[str, object] = obs.fields  # any JSON (see _add_observation_evidence)
    build = fields.get("smb.os_build")
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
    described = [(obs, names) for obs in observations if (names := _plan(obs.fields, knowledge)[1])]
    return _family_evidence(evidence, described, knowledge)


def _family_evidence(
    evidence: Sequence[Evidence],
    described: Sequence[tuple[StoredObservation, tuple[str, ...]]],
    knowledge: Knowledge,
) -> list[Evidence]:
    """:func:`family_evidence` given the observations with descriptive fields, and their names."""
    found: list[Evidence] = []
    seen: set[tuple[str, str, str]] = set()
    family_for = knowledge.family_for
    for text, confidence, uid, first, last, origin in _family_sources(evidence, described):
        family = family_for(text)
        if family is None:
            continue
        pattern = family.pattern.pattern
        key = (pattern, origin, uid or "")
        if key in seen:
            continue
        seen.add(key)
        detail = _family_detail(origin, text, pattern)
        found.append(
            Evidence(
                Attribute.DEVICE_TYPE, family.device_type, confidence, "family", uid, first, last, detail
            )
        )
        if family.vendor:
            found.append(Evidence(Attribute.VENDOR, family.vendor, 0.6, "family", uid, first, last, detail))
    return found


@lru_cache(maxsize=65_536)  # a third of all evidence is a family match, mostly of recurring texts
def _family_detail(origin: str, text: str, pattern: str) -> str:
    return f"{origin}: {_clean(text)!r} matches product family /{pattern}/ (models.json)"


def _family_sources(
    evidence: Sequence[Evidence], described: Sequence[tuple[StoredObservation, tuple[str, ...]]]
) -> Iterable[tuple[str, float, str | None, int, int, str]]:
    """Texts that may name a product family: model evidence, then descriptive fields per observation
    in :data:`DESCRIPTIVE_FIELDS` order (the order decides which duplicate ``family_evidence`` keeps)."""
    for item in evidence:
        if item.attribute in (Attribute.MODEL, Attribute.MODEL_NUMBER):
            yield (item.value, 0.8, item.observation_uid, item.first_ns, item.last_ns, item.rule)
    for obs, names in described:
        fields: Mapping[str, object] = obs.fields  # any JSON (see _add_observation_evidence)
        for name in names:
            value = fields[name]
            if type(value) is str:  # the common case, without a generator per field
                if value != "":
                    yield (value, 0.65, obs.uid, obs.first_ns, obs.last_ns, name)
                continue
            for text in _texts(value):
                yield (text, 0.65, obs.uid, obs.first_ns, obs.last_ns, name)


def resolve(evidence: Iterable[Evidence]) -> dict[str, ResolvedAttribute]:
    """Apply the conflict rule (module docstring) to every attribute."""
    return {attribute: _resolve_one(attribute, items) for attribute, items in _by_attribute(evidence).items()}


def _by_attribute(evidence: Iterable[Evidence]) -> dict[str, list[Evidence]]:
    """Evidence grouped by attribute name, attributes in order of first appearance."""
    by_attribute: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_attribute.setdefault(str(item.attribute), []).append(item)
    return by_attribute


def _resolve_one(attribute: str, items: Sequence[Evidence]) -> ResolvedAttribute:
    """The conflict rule for one attribute's evidence (in the order it was found).

    Written for speed (it runs for every attribute of every device), with the arithmetic of the
    rule kept step by step, so the floating-point results are those of the plain formulation.
    """
    if len(items) == 1:
        return _resolve_single(attribute, items[0])
    groups: dict[str, list[Evidence]] = {}
    for item in items:
        norm = _norm(item.value)
        group = groups.get(norm)
        if group is None:
            groups[norm] = [item]
        else:
            group.append(item)
    scored: list[tuple[float, int, str, list[Evidence], dict[str, float]]] = []
    for key, members in groups.items():
        per_rule: dict[str, float] = {}
        latest = members[0].last_ns
        for member in members:
            rule, confidence = member.rule, member.confidence
            old = per_rule.get(rule, 0.0)
            per_rule[rule] = confidence if confidence > old else old  # max(old, confidence)
            if member.last_ns > latest:
                latest = member.last_ns
        remaining = 1.0
        for confidence in per_rule.values():
            remaining *= 1.0 - confidence
        combined = min(0.99, 1.0 - remaining)
        if OVERRIDE_RULE in per_rule:
            combined = 1.0  # a person said so: above anything observation can reach (0.99)
        scored.append((round(combined, 6), latest, key, members, per_rule))
    if len(scored) > 1:
        scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    best = scored[0]
    if best[0] == 1.0 and OVERRIDE_RULE in best[4]:
        chosen_by = OVERRIDE_RULE
    elif len(scored) == 1:
        chosen_by = "only"
    elif scored[1][0] == best[0]:
        chosen_by = "recency"
    elif len(best[4]) > 1:
        chosen_by = "agreement"
    else:
        chosen_by = "confidence"
    members = best[3]
    if len(members) > 1:
        members = sorted(members, key=lambda m: (m.rule != OVERRIDE_RULE, -m.confidence, -m.last_ns))
    conflicts = tuple([m for s in scored[1:] for m in s[3]]) if len(scored) > 1 else ()
    return ResolvedAttribute(
        _ATTRIBUTES.get(attribute) or Attribute(attribute),
        members[0].value,
        best[0],
        chosen_by,
        tuple(members),
        conflicts,
    )


def _resolve_single(attribute: str, item: Evidence) -> ResolvedAttribute:
    """:func:`_resolve_one` for a single piece of evidence (a third of all attributes)."""
    confidence = item.confidence
    remaining = 1.0
    remaining *= 1.0 - (confidence if confidence > 0.0 else 0.0)  # max(0.0, confidence)
    combined = min(0.99, 1.0 - remaining)
    override = item.rule == OVERRIDE_RULE
    if override:
        combined = 1.0
    return ResolvedAttribute(
        _ATTRIBUTES.get(attribute) or Attribute(attribute),
        item.value,
        round(combined, 6),
        OVERRIDE_RULE if override else "only",
        (item,),
        (),
    )


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
    described: list[tuple[StoredObservation, tuple[str, ...]]] = []
    for obs in observations:
        names = _add_observation_evidence(obs, knowledge, evidence)
        if names:
            described.append((obs, names))
    evidence.extend(_family_evidence(evidence, described, knowledge))
    by_attribute = _by_attribute(evidence)
    attributes = {name: _resolve_one(name, items) for name, items in by_attribute.items()}

    def add(attribute: Attribute, items: list[Evidence]) -> None:
        # Phase 2b/2c evidence is all for one attribute, so only that attribute is resolved again:
        # the same outcome as resolving everything, and (as then) an attribute seen for the first
        # time comes last.
        if not items:
            return
        evidence.extend(items)
        name = str(attribute)
        group = by_attribute.setdefault(name, [])
        group.extend(items)
        attributes[name] = _resolve_one(name, group)

    vendor = attributes.get(Attribute.VENDOR)
    entry = knowledge.vendor(vendor.value) if vendor else None
    if vendor is not None and entry is not None:
        add(
            Attribute.DEVICE_TYPE,
            [
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
                for device_type, prior in entry.types
            ],
        )
    chosen_type = attributes.get(Attribute.DEVICE_TYPE)
    info = knowledge.types.get(chosen_type.value) if chosen_type else None
    if chosen_type is not None and info is not None:
        add(
            Attribute.CLINICAL_CATEGORY,
            [
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
            ],
        )
    return Identification(evidence=tuple(evidence), attributes=attributes)
