"""Captures of real protocol software (tests/data/captures, see its README.md) through the sensor.

The expected facts in expected.json were read from the same captures by tshark, an independent
implementation; each must appear as an observation about the right host.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conftest import DATA, observations_of

from wardwatch.model.observation import Observation

CAPTURES = DATA / "captures"
EXPECTED: dict[str, Any] = json.loads((CAPTURES / "expected.json").read_text())


#: expected.json names the NTLM AUTHENTICATE workstation name nb_computer_name; the smb dissector
#: documents it as smb.workstation (nb_computer_name is the server's, from the CHALLENGE).
FIELD_ALIASES = {"smb.nb_computer_name": ("smb.nb_computer_name", "smb.workstation")}
#: tshark shows a DN as "CN=a, O=b"; we keep RFC 4514 (most specific last, no spaces).
DN_FIELDS = {"tls.cert_subject", "tls.cert_issuer"}


def _dn(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(","))


def _matches(obs: Observation, fact: dict[str, Any]) -> bool:
    fields = FIELD_ALIASES.get(fact["field"], (fact["field"],))
    return any(_matches_field(obs, fact, name) for name in fields)


def _matches_field(obs: Observation, fact: dict[str, Any], name: str) -> bool:
    if obs.protocol != fact["protocol"] or name not in obs.fields:
        return False
    if fact.get("mac") and obs.mac != fact["mac"]:
        return False
    if fact.get("ip") and obs.ip not in (fact["ip"], None):
        return False
    seen = obs.fields[name]
    wanted = fact["value"]
    if name in DN_FIELDS:
        return _dn(str(seen)) == _dn(str(wanted))
    if isinstance(wanted, dict):  # TXT records: every key=value pair is present
        wanted = [f"{k}={v}" for k, v in wanted.items()]
    if isinstance(wanted, list) and all(isinstance(w, int) for w in wanted):  # fingerprints: exact order
        return isinstance(seen, tuple) and tuple(seen) == tuple(wanted)
    if isinstance(wanted, list):
        have = {_norm(x) for x in (seen if isinstance(seen, tuple) else (seen,))}
        return all(_norm(w) in have for w in wanted)
    if isinstance(seen, tuple):
        return wanted in seen or str(wanted) in map(str, seen)
    return str(seen) == str(wanted)


def _norm(value: object) -> str:
    """DNS-SD names with or without the .local domain compare equal."""
    text = str(value).rstrip(".")
    return text[: -len(".local")] if text.endswith(".local") else text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_tshark_verified_fact_is_observed(name: str) -> None:
    observations = observations_of(CAPTURES / name)
    missing = [f for f in EXPECTED[name]["facts"] if not any(_matches(o, f) for o in observations)]
    assert not missing, f"{name}: not observed: {missing}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_observation_is_traceable(name: str) -> None:
    out_flows = {o.flow_uid for o in observations_of(CAPTURES / name)}
    assert all(len(uid) == 16 for uid in out_flows)
