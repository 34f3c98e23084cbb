"""The fast identification engine concludes exactly what the plain algorithm does.

``engine.identify`` memoises rule results per field value, reads observations through a plan per
field-name set, resolves only the attribute that new evidence touches, and ``Knowledge.family_for``
narrows the product families to search with literal "needles" taken from their patterns. This
module keeps the plain algorithm (the engine as it was before those changes, unmemoised) as a
reference and compares every piece of evidence, every resolved attribute and their order, on the
observations of every golden capture, with and without overrides, with cold and warm caches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from wardwatch.identify.engine import DESCRIPTIVE_FIELDS, Identification, identify
from wardwatch.identify.knowledge import Family, Knowledge
from wardwatch.identify.oui import OuiRegistry, is_locally_administered
from wardwatch.model.device import OVERRIDE_RULE, Attribute, Evidence, Override, ResolvedAttribute
from wardwatch.store.ports import StoredObservation

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
OUI = OuiRegistry.bundled()

# --------------------------------------------------------------------------- the plain algorithm

_SPACES = re.compile(r"\s+")


def _clean(value: str) -> str:
    return _SPACES.sub(" ", value).strip().strip("\"'")[:128]


def _norm(value: str) -> str:
    return _clean(value).casefold()


def _texts(value: object) -> Iterable[str]:
    if isinstance(value, tuple | list):
        for item in value:
            yield str(item)
    elif value is not None and value != "":
        yield str(value)


def _family_for(k: Knowledge, text: str) -> Family | None:
    if k.any_family is not None and k.any_family.search(text) is None:
        return None
    return next((f for f in k.families if f.pattern.search(text)), None)


def _vendor(k: Knowledge, raw: str) -> str:
    text = " ".join(raw.split())
    for vendor in k.vendors:
        if vendor.pattern.search(text):
            return vendor.name
    return k._canonical_vendor(raw)  # the legal-suffix part, unchanged


def _observation_evidence(obs: StoredObservation, k: Knowledge) -> list[Evidence]:
    found: list[Evidence] = []
    for name, value in obs.fields.items():
        for rule in k.rules:
            if rule.field != name:
                continue
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
                        result = _vendor(k, result)
                    found.append(
                        Evidence(
                            Attribute(attribute),
                            result,
                            rule.confidence,
                            rule.id,
                            obs.uid,
                            obs.first_ns,
                            obs.last_ns,
                            f"{rule.field}={_clean(text)!r} ({rule.source})",
                        )
                    )
    build = obs.fields.get("smb.os_build")
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", build) if isinstance(build, str) else None
    if match is not None:
        major, minor, number = (int(g) for g in match.groups())
        names = {(6, 1): "7", (6, 2): "8", (6, 3): "8.1", (5, 1): "XP", (6, 0): "Vista"}
        version = (
            ("11" if number >= 22000 else "10") if (major, minor) == (10, 0) else names.get((major, minor))
        )
        if version is not None:
            detail = f"smb.os_build={build!r} (MS-NLMP VERSION; Windows 11 = build 22000+)"
            for attribute, value in (
                (Attribute.OS, "Windows"),
                (Attribute.OS_VERSION, f"{version} (build {number})"),
            ):
                found.append(
                    Evidence(
                        attribute, value, 0.8, "smb.os_build", obs.uid, obs.first_ns, obs.last_ns, detail
                    )
                )
    return found


def _family_evidence(
    evidence: Sequence[Evidence], observations: Sequence[StoredObservation], k: Knowledge
) -> list[Evidence]:
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
        family = _family_for(k, text)
        if family is None:
            continue
        key = (family.pattern.pattern, origin, uid or "")
        if key in seen:
            continue
        seen.add(key)
        detail = f"{origin}: {_clean(text)!r} matches product family /{family.pattern.pattern}/ (models.json)"
        found.append(
            Evidence(
                Attribute.DEVICE_TYPE, family.device_type, confidence, "family", uid, first, last, detail
            )
        )
        if family.vendor:
            found.append(Evidence(Attribute.VENDOR, family.vendor, 0.6, "family", uid, first, last, detail))
    return found


def _resolve(evidence: Iterable[Evidence]) -> dict[str, ResolvedAttribute]:
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
                combined = 1.0
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
            Attribute(attribute), members[0].value, best[0], chosen_by, tuple(members), conflicts
        )
    return resolved


def reference_identify(
    observations: Sequence[StoredObservation],
    *,
    mac: str | None,
    first_ns: int,
    last_ns: int,
    knowledge: Knowledge,
    oui: OuiRegistry,
    overrides: Sequence[Override] = (),
) -> Identification:
    """``engine.identify`` before the fast path: every rule tried, three full resolutions."""
    k = knowledge
    evidence: list[Evidence] = []
    for o in overrides:
        if o.active:
            when = dt.datetime.fromtimestamp(o.created_ns / 1e9, dt.UTC).isoformat(timespec="seconds")
            why = f": {o.reason}" if o.reason else ""
            detail = f"set by {o.author} at {when}{why}"
            evidence.append(
                Evidence(o.attribute, o.value, 1.0, OVERRIDE_RULE, None, o.created_ns, o.created_ns, detail)
            )
    match = oui.lookup(mac) if mac and not is_locally_administered(mac) else None
    if match is not None:
        detail = f"IEEE {match.registry} {match.prefix}: {match.organization}"
        confidence = 0.5 if match.registry == "MA-L" else 0.55
        evidence.append(
            Evidence(
                Attribute.VENDOR,
                _vendor(k, match.organization),
                confidence,
                "oui",
                None,
                first_ns,
                last_ns,
                detail,
            )
        )
    for obs in observations:
        evidence.extend(_observation_evidence(obs, k))
    evidence.extend(_family_evidence(evidence, observations, k))
    attributes = _resolve(evidence)
    vendor = attributes.get(Attribute.VENDOR)
    entry = next((v for v in k.vendors if vendor is not None and v.name == vendor.value), None)
    if vendor is not None and entry is not None:
        for device_type, prior in entry.types:
            detail = f"{vendor.value}'s networked products are mostly {device_type} (vendors.json)"
            evidence.append(
                Evidence(
                    Attribute.DEVICE_TYPE,
                    device_type,
                    round(prior * vendor.confidence, 3),
                    "vendor-prior",
                    None,
                    first_ns,
                    last_ns,
                    detail,
                )
            )
    attributes = _resolve(evidence)
    chosen = attributes.get(Attribute.DEVICE_TYPE)
    info = k.types.get(chosen.value) if chosen else None
    if chosen is not None and info is not None:
        detail = f"{info.label} is {info.clinical_category} (taxonomy.json)"
        evidence.append(
            Evidence(
                Attribute.CLINICAL_CATEGORY,
                info.clinical_category,
                chosen.confidence,
                "taxonomy",
                None,
                first_ns,
                last_ns,
                detail,
            )
        )
        attributes = _resolve(evidence)
    return Identification(evidence=tuple(evidence), attributes=attributes)


# --------------------------------------------------------------------------- inputs


def golden_devices() -> list[tuple[str | None, list[StoredObservation]]]:
    """The observations of every golden capture, by subject MAC (or IP), with made-up times that
    tie now and then (the recency rule) and differ otherwise."""
    devices: dict[tuple[str, str | None], list[StoredObservation]] = {}
    for path in sorted(GOLDEN.glob("*.golden.json")):
        for i, o in enumerate(json.loads(path.read_text())["observations"]):
            first = 1_700_000_000_000_000_000 + (i % 7) * 1_000_000_000
            stored = StoredObservation(
                uid=o["uid"],
                protocol=o["protocol"],
                mac=o["mac"],
                ip=o["ip"],
                fields={k: tuple(v) if isinstance(v, list) else v for k, v in o["fields"].items()},
                first_ns=first,
                last_ns=first + (i % 3) * 5_000_000_000,
                first_flow_uid=o["first_flow_uid"],
                last_flow_uid=o["first_flow_uid"],
                count=o["count"],
            )
            devices.setdefault((path.name, o["mac"] or o["ip"]), []).append(stored)
    return [(subject if subject and ":" in subject else None, obs) for (_, subject), obs in devices.items()]


def overrides_for(i: int, key: str) -> list[Override]:
    """Now and then a person's value, including a device type (so the category follows it)."""
    choices: list[list[Override]] = [
        [],
        [Override(key, Attribute.DEVICE_TYPE, "infusion_pump", "nurse", 1_700_000_000_000_000_000, "label")],
        [Override(key, Attribute.VENDOR, "Acme", "tech", 1_700_000_100_000_000_000)],
        [Override(key, Attribute.HOSTNAME, "bed-12", "tech", 1_700_000_200_000_000_000, active=False)],
        [Override(key, Attribute.MODEL, "IntelliVue MX450", "biomed", 1_700_000_300_000_000_000)],
    ]
    return choices[i % len(choices)]


def assert_same(fast: Identification, reference: Identification) -> None:
    assert fast.evidence == reference.evidence
    # The dicts must also list the attributes in the same order (callers store them in order).
    assert list(fast.attributes.items()) == list(reference.attributes.items())


# --------------------------------------------------------------------------- tests


def fresh_knowledge() -> Knowledge:
    """The bundled knowledge with empty memos, so the first pass also checks the cold path."""
    k = Knowledge.bundled()
    return Knowledge(rules=k.rules, families=k.families, vendors=k.vendors, types=k.types, version=k.version)


def test_every_golden_device_is_identified_exactly_as_by_the_plain_algorithm() -> None:
    knowledge = fresh_knowledge()
    devices = golden_devices()
    assert len(devices) > 100
    compared = 0
    for _pass in ("cold", "warm"):  # the second pass answers from the memos
        for i, (mac, observations) in enumerate(devices):
            args: dict[str, Any] = {
                "mac": mac,
                "first_ns": min(o.first_ns for o in observations),
                "last_ns": max(o.last_ns for o in observations),
                "knowledge": knowledge,
                "oui": OUI,
                "overrides": overrides_for(i, f"mac:{mac}"),
            }
            assert_same(identify(observations, **args), reference_identify(observations, **args))
            compared += 1
    assert compared == 2 * len(devices)
    assert knowledge.rule_cache and knowledge.family_cache  # the memos were used


def test_field_values_that_compare_equal_but_read_differently_stay_apart() -> None:
    # True == 1 as dict keys, but the rules read "True" and "1": the memo must not mix them.
    knowledge = fresh_knowledge()
    name = next(n for n, rules in knowledge.by_field.items() if len(rules) > 100)  # bacnet.vendor_id
    values: list[object] = [1, True, "1", (1,), (True,), ("1",), None, "", 0, False, (), (1, 2), "True"]
    for t, value in enumerate(values * 2):
        obs = [
            StoredObservation(f"u{t}", "bacnet", "00:11:22:33:44:55", None, {name: value}, t, t, "f", "f")  # type: ignore[dict-item]
        ]
        args: dict[str, Any] = {"mac": None, "first_ns": t, "last_ns": t, "knowledge": knowledge, "oui": OUI}
        assert_same(identify(obs, **args), reference_identify(obs, **args))


def brute_family(k: Knowledge, text: str) -> int:
    family = _family_for(k, text)
    return -1 if family is None else k.families.index(family)


def family_texts(k: Knowledge) -> list[str]:
    """Texts near every family: its needles in other cases and surroundings, cut short, and
    non-ASCII look-alikes (Kelvin sign, long s) that IGNORECASE also matches."""
    texts = [t for _, obs in golden_devices() for o in obs for v in o.fields.values() for t in _texts(v)]
    for family in k.families:
        for branch in family.pattern.pattern.split("|"):
            literal = re.sub(r"\\[bdsw]|[\\()?*+\[\]{}^$.]", "", branch)
            texts += [
                literal,
                literal.upper(),
                f"Model {literal.title()} v2",
                f"x{literal}9",
                literal[:-1],
                literal[1:],
                literal.replace("k", "\u212a").replace("s", "\u017f"),
                f"{literal} 4950",
            ]
    return texts


def test_family_needles_find_the_first_matching_family_like_a_full_search() -> None:
    k = fresh_knowledge()
    assert k.family_needles is not None  # the bundled patterns allow the shortcut
    texts = family_texts(k)
    assert any(not t.isascii() for t in texts)
    found: set[int] = set()
    for text in texts:
        expected = brute_family(k, text)
        assert k._first_family(text) == expected, text
        found.add(expected)
    assert len(found) > 0.8 * len(k.families)  # the texts do reach (nearly) every family


def test_family_needles_are_not_used_when_the_alternation_could_answer_differently() -> None:
    bundled = Knowledge.bundled()

    def with_families(*patterns: re.Pattern[str]) -> Knowledge:
        families = tuple(Family(p, None, "server") for p in patterns)
        return dataclasses.replace(bundled, families=families, any_family=None)

    assert with_families(re.compile(r"ab(c)\1", re.IGNORECASE)).family_needles is None  # back-reference
    assert with_families(re.compile(r"(?>x(y)\1)", re.IGNORECASE)).family_needles is None  # in a group
    assert with_families(re.compile(r"a.b", re.IGNORECASE | re.DOTALL)).family_needles is None  # other flags
    plain = with_families(re.compile(r"\bfoo-?bar\b", re.IGNORECASE), re.compile(r"x*", re.IGNORECASE))
    assert plain.family_needles is not None and plain.family_needles.unfiltered == (1,)  # x* needs nothing
    for text in ("FOO-BAR", "foobar", "xfoobar", "", "foo bar", "\u212a"):
        assert plain._first_family(text) == brute_family(plain, text)


@pytest.mark.parametrize("text", ["Servo-i", "SERVO-U ventilator", "Maquet servo-air", "puritan BENNETT 980"])
def test_family_lookup_is_case_insensitive(text: str) -> None:
    family = fresh_knowledge().family_for(text)
    assert family is not None and family.device_type == "ventilator"
