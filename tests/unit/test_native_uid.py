"""The C content uid (``wardwatch.sensor._native.content_uid``) against ``_content_uid``.

``_content_uid`` is the definition (``test_observation_uid.py`` holds it to ``json.dumps``); the C
twin must give the same 24 hex digits for everything it encodes, and None (never a wrong uid, never
an exception) for what it leaves to Python. Generated content covers every Unicode plane (lone
surrogates, escapes, astral chars as surrogate pairs), the whole 64-bit range, nesting, texts
that cross the 128-byte hash blocks and the 512-byte output buffer, and dicts past the insertion
sort and the stack array. Skipped where the extension is not built: the Python path is then the
only one, and ``test_observation_uid.py`` covers it.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model import observation
from wardwatch.model.observation import _content_uid, observation_uid
from wardwatch.sensor.capture import _common

NATIVE = _common._NATIVE
pytestmark = pytest.mark.skipif(
    NATIVE is None, reason="the C extension wardwatch.sensor._native is not built"
)

I64 = st.integers(-(2**63), 2**63 - 1)
# Every code point, surrogates included (json escapes them; they cannot be UTF-8 encoded).
TEXT = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
SCALAR = st.one_of(st.none(), st.booleans(), I64, TEXT)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=5).map(tuple) | st.lists(inner, max_size=5),
    max_leaves=20,
)
FIELDS = st.dictionaries(TEXT, VALUE, max_size=40)


def _c(protocol: Any, mac: Any, ip: Any, fields: Any) -> str | None:
    assert NATIVE is not None
    return NATIVE.content_uid(protocol, mac, ip, fields)


@settings(max_examples=400)
@given(protocol=TEXT, mac=st.none() | TEXT, ip=st.none() | TEXT, fields=FIELDS)
def test_c_uid_equals_the_python_uid(
    protocol: str, mac: str | None, ip: str | None, fields: dict[str, Any]
) -> None:
    assert _c(protocol, mac, ip, fields) == _content_uid(protocol, mac, ip, fields)


@given(
    text=st.text(alphabet=st.characters(codec=None), min_size=100, max_size=3000),
    n=st.integers(0, 80),
)
def test_long_texts_and_many_fields(text: str, n: int) -> None:
    # Texts long enough to fill the 512-byte buffer many times over (an astral char is 12 bytes of
    # escapes); more fields than the insertion sort (12) and the stack array (32) take.
    fields: dict[str, Any] = {f"k{i:03d}{text[: i % 7]}": (text[i:], i) for i in range(n)}
    fields["t"] = text
    assert _c("p", text, None, fields) == _content_uid("p", text, None, fields)


@pytest.mark.parametrize(
    "length", [0, 1, 100, 107, 108, 109, 127, 128, 129, 255, 256, 257, 511, 512, 513, 2000]
)
def test_every_length_around_block_and_buffer_edges(length: int) -> None:
    # '["p",null,null,[]]' plus a field: the hashed text's length walks over the 128-byte block
    # and 512-byte buffer boundaries (the last block is held back and finalised differently).
    fields = {"k": "x" * length}
    assert _c("p", None, None, fields) == _content_uid("p", None, None, fields)
    assert _c("p" * length, None, None, {}) == _content_uid("p" * length, None, None, {})


def test_the_pinned_uid() -> None:
    fields = {"dhcp.hostname": "PUMP-0042", "dhcp.params": (1, 3, 6), "dhcp.rapid_commit": True}
    assert _c("dhcp", "02:00:00:00:00:0a", "10.0.0.10", fields) == "acd85e2dc3344cb770785e04"


class Code(enum.IntEnum):
    A = 1


class Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        1.5,  # float: json's repr rules stay json's
        2**63,  # beyond long long
        -(2**63) - 1,
        Code.A,  # an int subclass: json writes int.__repr__, an IntEnum's repr differs
        Text("x"),
        {"a": 1},
        ("ok", 1.0),  # unsupported deep inside
        [[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]],  # nesting past MAX_DEPTH
    ],
)
def test_what_c_does_not_encode_gives_none_and_python_decides(value: object) -> None:
    fields = {"v": value}
    assert _c("p", None, None, fields) is None
    # observation_uid still gives the definition's uid, through _content_uid
    assert observation_uid("p", None, None, fields) == _content_uid("p", None, None, fields)  # type: ignore[arg-type]


def test_content_json_cannot_encode_keeps_json_error() -> None:
    # bytes: C leaves it to Python, whose error (json's) is what the caller sees, as before
    assert _c("p", None, None, {"v": b"raw"}) is None
    with pytest.raises(TypeError, match="not JSON serializable"):
        observation_uid("p", None, None, {"v": b"raw"})  # type: ignore[dict-item]


def test_unsupported_arguments_give_none() -> None:
    assert _c(Text("p"), None, None, {}) is None
    assert _c("p", 5, None, {}) is None
    assert _c("p", None, b"ip", {}) is None
    assert _c("p", None, None, [("a", 1)]) is None
    assert _c("p", None, None, {1: "a"}) is None

    class Fields(dict[str, Any]):
        pass

    assert _c("p", None, None, Fields(a=1)) is None


def test_a_list_that_contains_itself_gives_none() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert _c("p", None, None, {"v": loop}) is None


def test_wrong_argument_count_raises() -> None:
    assert NATIVE is not None
    with pytest.raises(TypeError, match="4 arguments"):
        NATIVE.content_uid("p", None, None)  # type: ignore[call-arg]


def test_observation_uid_uses_c_unless_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(protocol: str, mac: str | None, ip: str | None, fields: dict[str, Any]) -> str | None:
        calls.append(protocol)
        return _c(protocol, mac, ip, fields)

    monkeypatch.setattr(observation, "_native_uid", spy)
    monkeypatch.setattr(observation, "_native_looked_up", True)
    monkeypatch.setattr(observation, "_uid_memo", {})
    assert observation_uid("a", None, None, {"x": 1}) == _content_uid("a", None, None, {"x": 1})
    assert calls == ["a"]
    monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
    assert observation_uid("b", None, None, {"x": 1}) == _content_uid("b", None, None, {"x": 1})
    assert calls == ["a"]
    monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "0")  # "0" means the C code, as everywhere
    observation_uid("c", None, None, {"x": 1})
    assert calls == ["a", "c"]
