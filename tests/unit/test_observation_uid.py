"""The observation uid is stable: the canonical JSON its hash covers is exactly ``json.dumps``'s.

Stores keep one row per uid, so a uid that changed between versions would duplicate every fact
of an existing store. ``_content_uid`` encodes with a prebuilt encoder (cheaper than ``dumps``
building one per call); here it is held to the definition, and one uid is pinned.
"""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from wardwatch.model.observation import Observation, _content_uid, observation_uid

VALUE = st.one_of(
    st.text(max_size=8),
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.tuples(st.text(max_size=3)),
    st.lists(st.integers(0, 300), max_size=4).map(tuple),
)


def _definition(protocol: str, mac: str | None, ip: str | None, fields: dict[str, object]) -> str:
    canon = json.dumps(
        [protocol, mac, ip, sorted((k, list(v) if isinstance(v, tuple) else v) for k, v in fields.items())],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.blake2b(canon.encode(), digest_size=12).hexdigest()


@given(
    protocol=st.text(max_size=6),
    mac=st.none() | st.text(max_size=17),
    ip=st.none() | st.text(max_size=15),
    fields=st.dictionaries(st.text(max_size=12), VALUE, max_size=5),
)
def test_uid_is_the_hash_of_the_canonical_json(
    protocol: str, mac: str | None, ip: str | None, fields: dict[str, object]
) -> None:
    assert _content_uid(protocol, mac, ip, fields) == _definition(protocol, mac, ip, fields)  # type: ignore[arg-type]
    assert observation_uid(protocol, mac, ip, fields) == _definition(protocol, mac, ip, fields)  # type: ignore[arg-type]


def test_a_known_uid_does_not_change() -> None:
    o = Observation(
        ts_ns=1,
        flow_uid="f",
        protocol="dhcp",
        mac="02:00:00:00:00:0a",
        ip="10.0.0.10",
        fields={"dhcp.hostname": "PUMP-0042", "dhcp.params": (1, 3, 6), "dhcp.rapid_commit": True},
    )
    assert o.uid == _definition(o.protocol, o.mac, o.ip, o.fields)  # type: ignore[arg-type]
    assert o.uid == "acd85e2dc3344cb770785e04"  # computed by the code before this change
