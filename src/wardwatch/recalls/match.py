"""Recalls -> devices: by maker, product code, model/catalog number, and down to the unit.

A *unit* is what we know of one physical device: the discovered device's attributes, completed by
its CMMS asset row when reconciliation paired them (the CMMS is where lot numbers and UDIs usually
come from). Each value keeps its source, so each piece of evidence says where it came from.

The level (see :class:`~wardwatch.model.recall.MatchLevel`):

* the maker must match (recalling firm <-> vendor, through ``firm-aliases.json``), or the UDI-DI;
* model or catalog number listed in the recall (or the unit's model named in its description)
  and the recall limited to some lots/serials: ``affected`` if the unit's lot/serial is listed,
  ``not_affected`` if it is known and not listed, ``possible`` if it is unknown ("model matches,
  lot unknown" is *not* affected);
* model matches and the recall lists no lots or serials: every unit of the model is ``affected``;
* same maker and FDA product code but no model established: ``product_line``.

``confidence`` is the sum of the weights of the evidence that supports the level (each item listed
with its weight; a listed-lot match supports "affected", a known lot not in the list supports
"not_affected"), capped at 0.99: it says how sure the identification behind the level is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from wardwatch.model.device import Device
from wardwatch.model.recall import (
    Asset,
    IdentifierKind,
    MatchEvidence,
    MatchLevel,
    Recall,
    RecallMatch,
)
from wardwatch.recalls.extract import extract, in_range, normalize, valid_gtin14

WEIGHTS = {
    "firm": 0.2,
    "product_code": 0.1,
    "product_code_by_type": 0.05,
    "model": 0.4,
    "model_partial": 0.25,
    "udi": 0.5,
    "unit": 0.3,
}

_LEGAL = frozenset(
    [
        "inc",
        "incorporated",
        "llc",
        "lp",
        "llp",
        "ltd",
        "limited",
        "corp",
        "corporation",
        "co",
        "company",
        "gmbh",
        "ag",
        "sa",
        "sarl",
        "plc",
        "bv",
        "nv",
        "the",
    ]
)


def normalize_firm(name: str) -> str:
    """Lower case, punctuation to spaces, legal suffixes dropped: "B. Braun Medical, Inc." -> "b braun medical"."""
    words = re.sub(r"[^0-9a-z]+", " ", name.lower()).split()
    return " ".join(w for w in words if w not in _LEGAL)


@dataclass(frozen=True, slots=True)
class _Group:
    vendor: str
    names: frozenset[str]
    source: str


@cache
def _groups() -> tuple[_Group, ...]:
    data = json.loads(resources.files("wardwatch.recalls").joinpath("firm-aliases.json").read_text())
    return tuple(
        _Group(
            vendor=entry["vendor"],
            names=frozenset(normalize_firm(n) for n in [entry["vendor"], *entry["firms"]]),
            source=entry["source"],
        )
        for entry in data["vendors"]
    )


@cache
def _codes_by_type() -> dict[str, dict[str, str]]:
    data = json.loads(resources.files("wardwatch.recalls").joinpath("product-codes.json").read_text())
    return {k: dict(v) for k, v in data["device_types"].items()}


def _name_matches(name: str, member: str) -> bool:
    return bool(member) and (name == member or name.startswith(member + " "))


@cache
def same_maker(vendor: str, firm: str) -> str | None:
    """Why ``vendor`` (a device's maker) and ``firm`` (a recalling firm) are the same company, or None."""
    v, f = normalize_firm(vendor), normalize_firm(firm)
    if not v or not f:
        return None
    if _name_matches(f, v) or _name_matches(v, f):
        return f"{firm!r} is {vendor!r} (same name)"
    for g in _groups():
        if any(_name_matches(v, n) for n in g.names) and any(_name_matches(f, n) for n in g.names):
            return f"{firm!r} is {g.vendor} (firm-aliases.json: {g.source})"
    return None


def product_codes_for_type(device_type: str) -> dict[str, str]:
    """FDA product codes (code -> name) a wardwatch device type can have."""
    return _codes_by_type().get(device_type, {})


@dataclass(frozen=True, slots=True)
class Unit:
    """What is known of one device: attribute -> (value, source)."""

    device_id: int | None
    asset_tag: str | None
    values: dict[str, tuple[str, str]] = field(default_factory=dict)

    def get(self, name: str) -> tuple[str, str] | None:
        """(value, source) of an attribute, or None."""
        return self.values.get(name)


_DEVICE_ATTRS = ("vendor", "model", "model_number", "serial", "device_type")
_ASSET_ATTRS = {
    "manufacturer": "vendor",
    "model": "model",
    "serial": "serial",
    "lot": "lot",
    "udi": "udi",
    "product_code": "product_code",
    "device_type": "device_type",
}


def unit_of(device: Device | None, asset: Asset | None = None) -> Unit:
    """A unit from a discovered device, its CMMS asset, or both. The network's values come first for
    what the network observes (serial, model); the CMMS adds what it alone knows (lot, UDI, code)."""
    values: dict[str, tuple[str, str]] = {}
    if device is not None:
        for name in _DEVICE_ATTRS:
            value = device.value(name)
            if value:
                values[name] = (value, f"device {device.id}: {name}")
    if asset is not None:
        where = f"asset {asset.tag} ({asset.source})" if asset.source else f"asset {asset.tag}"
        for attr, name in _ASSET_ATTRS.items():
            value = getattr(asset, attr)
            if value:
                key = name if name not in values else f"asset_{name}"
                values[key] = (value, f"{where}: {attr}")
    return Unit(
        device_id=device.id if device else None, asset_tag=asset.tag if asset else None, values=values
    )


def _udi_dis(text: str) -> set[str]:
    """UDI-DIs in a UDI as a CMMS writes it: a bare GTIN-14, a GS1 string, or HIBCC."""
    found = {i.value for i in extract(text, "udi") if i.kind in (IdentifierKind.UDI_DI, IdentifierKind.HIBCC)}
    bare = re.sub(r"\D", "", text)
    if not found and len(bare) == 14 and valid_gtin14(bare):
        found.add(bare)
    m = re.match(r"^\(?01\)?(\d{14})", text.strip())
    if m and valid_gtin14(m.group(1)):
        found.add(m.group(1))
    return found


def _values(unit: Unit, *names: str) -> list[tuple[str, str]]:
    return [v for n in names for v in ([unit.values[n]] if n in unit.values else [])]


def match(recall: Recall, unit: Unit) -> RecallMatch | None:
    """Apply one recall to one unit: a match with its level and evidence, or None when the recall
    does not concern this maker's product at all."""
    evidence: list[MatchEvidence] = []
    # --- UDI-DI: identifies labeler and model version at once ---
    recall_udis = {
        i.value for i in recall.identifiers if i.kind in (IdentifierKind.UDI_DI, IdentifierKind.HIBCC)
    }
    udi_match = False
    for value, source in _values(unit, "udi"):
        dis = _udi_dis(value)
        hit = dis & recall_udis
        if hit:
            udi_match = True
            evidence.append(MatchEvidence("udi", "match", value, sorted(hit)[0], source, WEIGHTS["udi"]))
        elif recall_udis and dis:
            evidence.append(
                MatchEvidence("udi", "mismatch", value, ", ".join(sorted(recall_udis)), source, 0.0)
            )
    # --- maker ---
    firm_reason = None
    for value, source in _values(unit, "vendor", "asset_vendor"):
        firm_reason = same_maker(value, recall.recalling_firm)
        if firm_reason:
            evidence.append(
                MatchEvidence(
                    "firm", "match", value, recall.recalling_firm, source, WEIGHTS["firm"], firm_reason
                )
            )
            break
    if firm_reason is None and not udi_match:
        return None
    # --- product code ---
    code_match = False
    if recall.product_code:
        codes = _values(unit, "product_code")
        if codes:
            for value, source in codes:
                same = value.strip().upper() == recall.product_code.upper()
                code_match = code_match or same
                evidence.append(
                    MatchEvidence(
                        "product_code",
                        "match" if same else "mismatch",
                        value,
                        recall.product_code,
                        source,
                        WEIGHTS["product_code"] if same else 0.0,
                    )
                )
        else:
            for value, source in _values(unit, "device_type", "asset_device_type"):
                names = product_codes_for_type(value)
                if recall.product_code in names:
                    code_match = True
                    evidence.append(
                        MatchEvidence(
                            "product_code",
                            "match",
                            value,
                            recall.product_code,
                            source,
                            WEIGHTS["product_code_by_type"],
                            f"device type {value} includes {recall.product_code} "
                            f"({names[recall.product_code]})",
                        )
                    )
                    break
    # --- model / catalog number ---
    model_ids = [i for i in recall.identifiers if i.kind in (IdentifierKind.MODEL, IdentifierKind.CATALOG)]
    model_match = udi_match
    model_values = _values(unit, "model_number", "model", "asset_model")
    for value, source in model_values:
        nv = normalize(value)
        if not nv:
            continue
        exact = next((i for i in model_ids if normalize(i.value) == nv), None)
        if exact is not None:
            model_match = True
            evidence.append(
                MatchEvidence(
                    exact.kind.value,
                    "match",
                    value,
                    exact.value,
                    source,
                    WEIGHTS["model"],
                    f"recall text: {exact.context!r}",
                )
            )
            break
    else:
        text = normalize(f"{recall.product_description} {recall.device_name or ''}")
        for value, source in model_values:
            nv = normalize(value)
            partial = next(
                (i for i in model_ids if len(normalize(i.value)) >= 4 and normalize(i.value) in nv), None
            )
            if partial is not None:
                model_match = True
                evidence.append(
                    MatchEvidence(
                        partial.kind.value,
                        "match",
                        value,
                        partial.value,
                        source,
                        WEIGHTS["model_partial"],
                        f"the recall's {partial.kind.value} {partial.value!r} is part of the device's model",
                    )
                )
                break
            if len(nv) >= 5 and nv in text:
                model_match = True
                evidence.append(
                    MatchEvidence(
                        "model",
                        "match",
                        value,
                        None,
                        source,
                        WEIGHTS["model_partial"],
                        "the device's model is named in the recall's product description",
                    )
                )
                break
    if not model_match:
        if model_ids:
            known = ", ".join(v for v, _ in model_values) or "unknown"
            evidence.append(
                MatchEvidence(
                    "model",
                    "mismatch" if model_values else "unknown",
                    known if model_values else None,
                    ", ".join(i.value for i in model_ids),
                    model_values[0][1] if model_values else "-",
                    0.0,
                )
            )
        # A listed serial of the right maker is this unit when its model is unknown; when its model
        # is known and different, serials of two product lines may collide: check it by hand.
        serial_hit = _unit_hits(recall, unit, IdentifierKind.SERIAL)
        if serial_hit is not None and serial_hit.outcome == "match":
            evidence.append(serial_hit)
            contradicted = bool(model_values and model_ids)
            return _result(
                recall, unit, MatchLevel.POSSIBLE if contradicted else MatchLevel.AFFECTED, evidence
            )
        if code_match and not (model_values and model_ids):
            return _result(recall, unit, MatchLevel.PRODUCT_LINE, evidence)
        return None
    # --- down to the unit ---
    scope = [k for k in (IdentifierKind.SERIAL, IdentifierKind.LOT) if recall.of_kind(k)]
    if not scope:
        evidence.append(
            MatchEvidence(
                "unit",
                "match",
                None,
                None,
                "recall",
                0.0,
                "the recall lists no lot or serial numbers: every unit of the model is affected",
            )
        )
        return _result(recall, unit, MatchLevel.AFFECTED, evidence)
    unknown: list[IdentifierKind] = []
    for kind in scope:
        unit_hit = _unit_hits(recall, unit, kind)
        if unit_hit is None:
            unknown.append(kind)
            listed = recall.of_kind(kind)
            evidence.append(
                MatchEvidence(
                    kind.value,
                    "unknown",
                    None,
                    ", ".join(i.value for i in listed[:5]) + (" ..." if len(listed) > 5 else ""),
                    "-",
                    0.0,
                    f"model matches, {kind.value} unknown",
                )
            )
        else:
            evidence.append(unit_hit)
            if unit_hit.outcome == "match":
                return _result(recall, unit, MatchLevel.AFFECTED, evidence)
    level = MatchLevel.POSSIBLE if unknown else MatchLevel.NOT_AFFECTED
    return _result(recall, unit, level, evidence)


def _unit_hits(recall: Recall, unit: Unit, kind: IdentifierKind) -> MatchEvidence | None:
    """Evidence about the unit's serial or lot against the recall's list; None when the unit's is unknown."""
    listed = recall.of_kind(kind)
    name = "serial" if kind is IdentifierKind.SERIAL else "lot"
    values = _values(unit, name, f"asset_{name}")
    if not values or not listed:
        return None
    for value, source in values:
        nv = normalize(value)
        for ident in listed:
            if ident.low is not None and ident.high is not None:
                hit = in_range(value, ident.low, ident.high)
            else:
                hit = normalize(ident.value) == nv
            if hit:
                return MatchEvidence(
                    name,
                    "match",
                    value,
                    ident.value,
                    source,
                    WEIGHTS["unit"],
                    f"recall text: {ident.context!r}",
                )
    shown = ", ".join(i.value for i in listed[:5]) + (" ..." if len(listed) > 5 else "")
    return MatchEvidence(
        name,
        "mismatch",
        values[0][0],
        shown,
        values[0][1],
        WEIGHTS["unit"],
        f"{name} {values[0][0]} is not among the {len(listed)} listed",
    )


def _result(recall: Recall, unit: Unit, level: MatchLevel, evidence: list[MatchEvidence]) -> RecallMatch:
    # Only evidence that supports the level carries weight (a unit mismatch supports
    # "not_affected"; a model mismatch or an unknown supports nothing).
    confidence = min(0.99, round(sum(e.weight for e in evidence), 2))
    return RecallMatch(
        recall_uid=recall.uid,
        device_id=unit.device_id,
        asset_tag=unit.asset_tag,
        level=level,
        confidence=confidence,
        evidence=tuple(evidence),
    )


class _Index:
    """Units indexed by what a recall can name, so a recall is only evaluated against units it can
    concern (a hospital imports tens of thousands of recalls; a maker has thousands of units)."""

    def __init__(self, units: Sequence[Unit]) -> None:
        self.by_vendor: dict[str, list[int]] = {}
        self.by_model: dict[str, list[int]] = {}
        self.by_unit_id: dict[str, list[int]] = {}  # serials and lots
        self.by_udi: dict[str, list[int]] = {}
        self.vendors: list[frozenset[str]] = []
        for index, unit in enumerate(units):
            names = frozenset(value for value, _ in _values(unit, "vendor", "asset_vendor"))
            self.vendors.append(names)
            for value in names:
                self.by_vendor.setdefault(value, []).append(index)
            for value, _ in _values(unit, "model_number", "model", "asset_model"):
                self.by_model.setdefault(normalize(value), []).append(index)
            for value, _ in _values(unit, "serial", "asset_serial", "lot", "asset_lot"):
                self.by_unit_id.setdefault(normalize(value), []).append(index)
            for value, _ in _values(unit, "udi"):
                for di in _udi_dis(value):
                    self.by_udi.setdefault(di, []).append(index)

    def candidates(self, recall: Recall, *, product_line: bool) -> set[int]:
        """Units that can match ``recall`` at any level (``product_line``: also those that can only
        match by maker and product code)."""
        vendors = {v for v in self.by_vendor if same_maker(v, recall.recalling_firm)}
        found: set[int] = set()
        for ident in recall.identifiers:
            if ident.kind in (IdentifierKind.UDI_DI, IdentifierKind.HIBCC):
                found.update(self.by_udi.get(ident.value, ()))
        if product_line:
            for vendor in vendors:
                found.update(self.by_vendor[vendor])
            return found

        def of_maker(indexes: Iterable[int]) -> Iterator[int]:
            return (i for i in indexes if not self.vendors[i].isdisjoint(vendors))

        ids = [
            normalize(i.value)
            for i in recall.identifiers
            if i.kind in (IdentifierKind.MODEL, IdentifierKind.CATALOG)
        ]
        text = normalize(f"{recall.product_description} {recall.device_name or ''}")
        for model, indexes in self.by_model.items():
            if (
                model in ids
                or any(len(i) >= 4 and i in model for i in ids)
                or (len(model) >= 5 and model in text)
            ):
                found.update(of_maker(indexes))
        for ident in recall.identifiers:
            if not ident.kind.is_unit:
                continue
            if ident.low is not None and ident.high is not None:
                for value, indexes in self.by_unit_id.items():
                    if in_range(value, ident.low, ident.high):
                        found.update(of_maker(indexes))
            else:
                found.update(of_maker(self.by_unit_id.get(normalize(ident.value), ())))
        return found


def match_all(
    recalls: Iterable[Recall], units: Iterable[Unit], *, product_line: bool = True
) -> list[RecallMatch]:
    """Every (recall, unit) pair that concerns the same maker's product. Without ``product_line``,
    pairs that could only be product-line matches are not evaluated (the same result as filtering
    them out afterwards, much faster)."""
    unit_list = list(units)
    index = _Index(unit_list)
    matches: list[RecallMatch] = []
    for recall in recalls:
        for i in sorted(index.candidates(recall, product_line=product_line)):
            m = match(recall, unit_list[i])
            if m is not None and (product_line or m.level is not MatchLevel.PRODUCT_LINE):
                matches.append(m)
    return matches


def match_json(m: RecallMatch) -> dict[str, Any]:
    """A match as JSON, with its evidence."""
    return {
        "recall": m.recall_uid,
        "device_id": m.device_id,
        "asset_tag": m.asset_tag,
        "level": m.level.value,
        "confidence": m.confidence,
        "evidence": [
            {
                "criterion": e.criterion,
                "outcome": e.outcome,
                "device_value": e.device_value,
                "recall_value": e.recall_value,
                "source": e.source,
                "weight": e.weight,
                "detail": e.detail,
            }
            for e in m.evidence
        ],
    }
