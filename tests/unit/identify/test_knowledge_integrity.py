"""The knowledge files are consistent with the code that reads them.

Every observation rule names a field some dissector documents, sets only known attributes, and
has a unique id and a source; every device type named anywhere is in the taxonomy.
"""

from __future__ import annotations

import re

from wardwatch.identify.knowledge import Knowledge, LazyPattern
from wardwatch.model.device import Attribute
from wardwatch.sensor.dissect.registry import FIELDS

K = Knowledge.bundled()
ATTRIBUTES = {a.value for a in Attribute}


def test_rule_ids_are_unique() -> None:
    ids = [r.id for r in K.rules]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_rules_read_documented_fields_and_set_known_attributes() -> None:
    for rule in K.rules:
        assert rule.field in FIELDS, f"rule {rule.id}: field {rule.field} is not documented by any dissector"
        for attribute, template in rule.set:
            assert attribute in ATTRIBUTES, f"rule {rule.id}: unknown attribute {attribute}"
            assert template, f"rule {rule.id}: empty template for {attribute}"
        assert rule.source.strip(), f"rule {rule.id}: no source"
        assert 0.0 < rule.confidence <= 1.0, f"rule {rule.id}: confidence {rule.confidence}"


def test_every_named_type_is_in_the_taxonomy() -> None:
    named = {f.device_type for f in K.families}
    named |= {t for v in K.vendors for t, _ in v.types}
    named |= {tpl for r in K.rules for a, tpl in r.set if a == "device_type" and "{" not in tpl}
    assert named <= set(K.types), sorted(named - set(K.types))
    categories = {"life-sustaining", "therapeutic", "diagnostic", "clinical support", "non-clinical"}
    assert {t.clinical_category for t in K.types.values()} <= categories


def test_every_rule_pattern_compiles() -> None:
    """Rule patterns are compiled on first use (``LazyPattern``): a bad one must still fail here."""
    for rule in K.rules:
        pattern = rule.pattern
        compiled = pattern.compiled if isinstance(pattern, LazyPattern) else pattern  # re.error if bad
        assert compiled.flags & re.IGNORECASE, rule.id
