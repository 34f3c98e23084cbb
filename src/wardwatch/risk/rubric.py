"""The MITRE "Rubric for Applying CVSS to Medical Devices" as a question flow, answered per device model.

Source: M. P. Chase and S. M. Christey Coley, *Rubric for Applying CVSS to Medical Devices*, The
MITRE Corporation, 2019 (qualified by FDA as a Medical Device Development Tool, October 2020),
https://www.mitre.org/publications/technical-papers/rubric-for-applying-cvss-to-medical-devices .

The question ids are the rubric's extended-vector element names as public rubric calculators use
them (``XAVN`` ... ``XAO``). The question texts below are short paraphrases, not the rubric's
wording; the full decision-flow diagrams and medical examples are in the source and should be read
before answering. How we use the answers:

* the attack-vector, complexity, privilege, interaction and scope questions give the model's
  medical-context base metrics (AV/AC/PR/UI/S), shown beside the published vector;
* the confidentiality/integrity/availability questions are asked for each kind of data or
  function the device has (PHI, diagnosis/monitoring, therapy, clinical workflow, system secrets,
  other); the highest answer per column gives C/I/A, and the same columns become the CVSS
  environmental requirements CR/IR/AR that :func:`wardwatch.risk.score.score` applies to every
  finding of the model (a device where therapy integrity is High gets IR:H).

Only :class:`RubricError` escapes :func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SOURCE = (
    "MITRE, Rubric for Applying CVSS to Medical Devices (2019; FDA MDDT qualified 2020), "
    "https://www.mitre.org/publications/technical-papers/rubric-for-applying-cvss-to-medical-devices"
)


class RubricError(ValueError):
    """An answer that is not one of its question's choices, or an unknown question id."""


@dataclass(frozen=True, slots=True)
class Question:
    """One rubric question: its id, the metric it informs, a paraphrase and the allowed answers."""

    id: str
    metric: str
    text: str
    choices: tuple[str, ...]


_YN = ("yes", "no")
_HLN = ("H", "L", "N")

QUESTIONS: tuple[Question, ...] = (
    # Attack vector: asked in order; the first "yes" decides.
    Question("XAVN", "AV", "Can it be exploited over a routed network (hospital LAN, VPN, internet)?", _YN),
    Question(
        "XAVT", "AV", "Over a non-routed connection to the same network segment or a tethered link?", _YN
    ),
    Question("XAVW", "AV", "Over short-range wireless (Bluetooth, NFC, RF telemetry)?", _YN),
    Question("XAVR", "AV", "Only through a local interface (console, keyboard, local login, USB data)?", _YN),
    Question("XAVP", "AV", "Only by physically touching or opening the device?", _YN),
    Question("XAVPA", "AV", "Physical case: is the device in a publicly accessible area?", _YN),
    Question("XACL", "AC", "Does exploitation need conditions outside the attacker's control?", _YN),
    Question("XPRL", "PR", "Must the attacker be logged in or authenticated to exploit it?", _YN),
    Question(
        "XPRZ",
        "PR",
        "Are the credentials needed hard-coded, default or shared (zero effective privilege)?",
        _YN,
    ),
    Question("XPRS", "PR", "Are administrator/service-level privileges needed?", _YN),
    Question("XUI", "UI", "Must a clinician or patient take an action for the exploit to work?", _YN),
    Question(
        "XS",
        "S",
        "Can the exploit affect components beyond the vulnerable one (other devices, the EHR)?",
        _YN,
    ),
    # Impact per kind of data or function: H, L or N each.
    Question("XCP", "C", "PHI/PII: confidentiality impact?", _HLN),
    Question(
        "XCPM",
        "C",
        "PHI/PII: does the disclosure concern many patients (High) or one (Low)?",
        ("many", "one"),
    ),
    Question("XIP", "I", "PHI/PII: integrity impact?", _HLN),
    Question("XAP", "A", "PHI/PII: availability impact?", _HLN),
    Question("XCD", "C", "Diagnosis or monitoring data/function: confidentiality impact?", _HLN),
    Question(
        "XID", "I", "Diagnosis or monitoring: integrity impact (wrong values could mislead care)?", _HLN
    ),
    Question("XAD", "A", "Diagnosis or monitoring: availability impact (loss of monitoring)?", _HLN),
    Question("XCT", "C", "Delivery of therapy: confidentiality impact?", _HLN),
    Question("XIT", "I", "Delivery of therapy: integrity impact (wrong dose or setting)?", _HLN),
    Question("XAT", "A", "Delivery of therapy: availability impact (therapy interrupted)?", _HLN),
    Question("XCW", "C", "Clinical workflow: confidentiality impact?", _HLN),
    Question("XIW", "I", "Clinical workflow: integrity impact?", _HLN),
    Question("XAW", "A", "Clinical workflow: availability impact?", _HLN),
    Question("XCS", "C", "System secrets (passwords, keys): confidentiality impact?", _HLN),
    Question("XIS", "I", "System secrets: integrity impact?", _HLN),
    Question("XAS", "A", "System secrets: availability impact?", _HLN),
    Question("XCO", "C", "Other critical or sensitive data/function: confidentiality impact?", _HLN),
    Question("XIO", "I", "Other critical or sensitive data/function: integrity impact?", _HLN),
    Question("XAO", "A", "Other critical or sensitive data/function: availability impact?", _HLN),
)
BY_ID = {q.id: q for q in QUESTIONS}
_ORDER = {"H": 2, "L": 1, "N": 0}


@dataclass(frozen=True, slots=True)
class RubricResult:
    """What a set of answers gives: base metrics, environmental requirements, and why."""

    base: dict[str, str]
    environmental: dict[str, str]
    reasons: tuple[str, ...]

    @property
    def vector(self) -> str:
        """The medical-context base vector (v3.0, as the rubric uses)."""
        keys = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")
        return "CVSS:3.0/" + "/".join(f"{k}:{self.base[k]}" for k in keys)


def _yes(answers: Mapping[str, str], qid: str) -> bool:
    return answers.get(qid) == "yes"


def evaluate(answers: Mapping[str, str]) -> RubricResult:
    """Walk the flow. Unanswered questions take the cautious branch (the worse case) and say so."""
    for qid, value in answers.items():
        q = BY_ID.get(qid)
        if q is None:
            raise RubricError(f"unknown rubric question {qid!r}")
        if value not in q.choices:
            raise RubricError(f"answer {value!r} to {qid} is not one of {', '.join(q.choices)}")
    why: list[str] = []
    # Attack vector: first yes wins; nothing answered -> N (worst case).
    av = "N"
    for qid, metric in (("XAVN", "N"), ("XAVT", "A"), ("XAVW", "A"), ("XAVR", "L"), ("XAVP", "P")):
        if _yes(answers, qid):
            av = metric
            why.append(f"AV:{metric} ({qid} yes)")
            break
    else:
        why.append("AV:N (no attack-vector question answered yes: worst case)")
    ac = "H" if _yes(answers, "XACL") else "L"
    if _yes(answers, "XPRL") and not _yes(answers, "XPRZ"):
        pr = "H" if _yes(answers, "XPRS") else "L"
    else:
        pr = "N"
    ui = "R" if _yes(answers, "XUI") else "N"
    scope = "C" if _yes(answers, "XS") else "U"
    why.append(f"AC:{ac} PR:{pr} UI:{ui} S:{scope}")
    columns: dict[str, str] = {}
    for metric in ("C", "I", "A"):
        best, best_q = "N", ""
        for q in QUESTIONS:
            if q.metric != metric or q.choices != _HLN:
                continue
            value = answers.get(q.id, "N")
            if q.id == "XCP" and value == "H" and answers.get("XCPM") == "one":
                value = "L"  # one patient's record: Low, per the rubric's PHI guidance
            if _ORDER[value] > _ORDER[best]:
                best, best_q = value, q.id
        columns[metric] = best
        why.append(f"{metric}:{best}" + (f" (from {best_q})" if best_q else " (no impact answered)"))
    req = {"H": "H", "L": "M", "N": "L"}
    environmental = {f"{m}R": req[columns[m]] for m in ("C", "I", "A")}
    base = {"AV": av, "AC": ac, "PR": pr, "UI": ui, "S": scope, **columns}
    return RubricResult(base, environmental, tuple(why))
