"""``Knowledge.candidate_rules``: the exact-digits prefilter never changes what the rules conclude.

The 1,445 BACnet vendor-id rules are each one ``^digits$`` pattern; a value is tried only against
the rules whose digits it is (with at most a final newline, which ``$`` accepts), every other rule
always. These tests hold the prefiltered hits equal to trying every rule, in the same order.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.identify.engine import _rule_hits
from wardwatch.identify.knowledge import Knowledge, LazyPattern, Rule

K = Knowledge.bundled()


def every_rule(rules: tuple[Rule, ...], texts: tuple[str, ...]) -> list[tuple[str, str]]:
    """(rule id, text) of every match, trying every rule on every text: the plain definition."""
    return [(r.id, t) for r in rules for t in texts if r.pattern.search(t) is not None]


def candidates(rules: tuple[Rule, ...], texts: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (r.id, t) for r in K.candidate_rules(rules, texts) for t in texts if r.pattern.search(t) is not None
    ]


DIGITS = st.integers(min_value=0, max_value=2000).map(str)
TEXT = st.one_of(
    DIGITS,
    DIGITS.map(lambda d: d + "\n"),
    DIGITS.map(lambda d: d + "\n\n"),
    DIGITS.map(lambda d: " " + d),
    DIGITS.map(lambda d: "0" + d),
    st.text(alphabet="0123456789\n xX٣", max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=3).map(tuple))
def test_vendor_id_prefilter_finds_what_every_rule_finds(texts: tuple[str, ...]) -> None:
    rules = K.rules_for("bacnet.vendor_id")
    assert len(rules) > 1000
    assert candidates(rules, texts) == every_rule(rules, texts)


def test_known_vendor_ids_and_near_misses() -> None:
    rules = K.rules_for("bacnet.vendor_id")
    for texts in [("5",), ("5\n",), ("5\n\n",), ("05",), ("5", "7"), ("",), ("x",)]:
        assert candidates(rules, texts) == every_rule(rules, texts), texts
    assert candidates(rules, ("5",)) == [("bacnet.vendor_id.5", "5")]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["^12$", "^(.+)$", "^1\\d$", "12", "^7$", "^12$"]), min_size=1, max_size=6), TEXT
)
def test_mixed_rules_keep_their_order(patterns: list[str], text: str) -> None:
    """Exact-digits rules among others: the candidates keep file order and lose no match."""
    rules = tuple(
        Rule(
            id=f"r{i}",
            field="f",
            pattern=LazyPattern(p),
            set=(("vendor", "{0}"),),
            confidence=0.5,
            source="t",
        )
        for i, p in enumerate(patterns)
    )
    assert candidates(rules, (text,)) == every_rule(rules, (text,))
    assert _rule_hits(rules, (text,), K) == tuple(
        hit for rule in rules for hit in _rule_hits((rule,), (text,), K)
    )
