"""MDS2 forms (ANSI/NEMA HN 1-2019 "Manufacturer Disclosure Statement for Medical Device Security").

Three layouts are read, all keyed by the form's question IDs (``DOC-1``, ``MPII-1``, ``AUTH-1`` ...):

* the manufacturer's ``.xlsx`` (openpyxl): every sheet is scanned for rows whose first non-empty
  cell is a question ID; the answer is the first later cell that reads Yes, No, N/A or See Note,
  the note the next non-empty text after it (DOC questions take the first later cell as the value);
* JSON: ``{"DOC-1": "Acme", "MPII-1": "Yes", "AUTH-1": {"answer": "No", "note": "..."}}`` or the
  same object under ``"answers"``;
* CSV with a header ``id,answer[,note]``.

The form's section codes (MPII management of personal data, ALOF automatic logoff, AUDT audit,
AUTH authorization, CSUP security product upgrades, DIDT de-identification, DTBK backup, EMRG
emergency access, IGAU integrity and authenticity, MLDP malware protection, NAUT node
authentication, CONN connectivity, PAUT person authentication, PLOK physical locks, RDMP third-party
roadmap, SBOM, SAHD hardening, SGUD security guidance, STCF storage confidentiality, TXCF
transmission confidentiality, TXIG transmission integrity, RMOT remote service) are those of
HN 1-2019. :data:`RISK_QUESTIONS` lists the few we use, with our paraphrase (not the form's text)
and what a risky answer means for placement. Only :class:`Mds2Error` escapes :func:`read_mds2`.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ID_RE = re.compile(r"^[A-Z]{3,4}-\d+(\.\d+)*$")
ANSWERS = {"yes": "Yes", "no": "No", "n/a": "N/A", "na": "N/A", "see note": "See Note"}
SECTIONS = frozenset(
    {"DOC", "MPII", "ALOF", "AUDT", "AUTH", "CSUP", "DIDT", "DTBK", "EMRG", "IGAU", "MLDP", "NAUT"}
    | {"CONN", "PAUT", "PLOK", "RDMP", "SBOM", "SAHD", "SGUD", "STCF", "TXCF", "TXIG", "RMOT", "OTHR"}
)


class Mds2Error(ValueError):
    """A form that cannot be read: names the file and the record (row or key)."""

    def __init__(self, path: str, record: str, message: str) -> None:
        super().__init__(f"{path}: {record}: {message}")


@dataclass(frozen=True, slots=True)
class RiskQuestion:
    """A question whose answer changes what we recommend. ``risky`` is the answer that is a gap."""

    id: str
    text: str
    risky: str
    recommendation: str


RISK_QUESTIONS: tuple[RiskQuestion, ...] = (
    RiskQuestion(
        "MPII-1",
        "Can the device display, transmit, store or modify personal data (ePHI)?",
        "Yes",
        "handles ePHI: place it where only the clinical systems that need the data reach it",
    ),
    RiskQuestion(
        "ALOF-1",
        "Can the device force re-authentication after a set idle time?",
        "No",
        "no automatic logoff: keep it in a physically controlled area",
    ),
    RiskQuestion(
        "AUTH-1",
        "Does the device prevent access by unauthorized users (login or other)?",
        "No",
        "no access control: allow only the listed peers to reach its services",
    ),
    RiskQuestion(
        "CSUP-1",
        "Does the device contain software that may need security updates?",
        "Yes",
        "needs security updates: agree a patch process and window with the manufacturer",
    ),
    RiskQuestion(
        "MLDP-2",
        "Does the device support anti-malware software (or an equivalent)?",
        "No",
        "no anti-malware: segment it and allow-list its traffic",
    ),
    RiskQuestion(
        "NAUT-1",
        "Does the device authenticate the nodes it communicates with?",
        "No",
        "no node authentication: restrict peers by address and port",
    ),
    RiskQuestion(
        "RMOT-1",
        "Does the device allow remote service connections?",
        "Yes",
        "remote service: allow it only through the hospital's vendor-access gateway",
    ),
    RiskQuestion(
        "SBOM-1",
        "Is a software bill of materials available for the device?",
        "No",
        "no SBOM: ask for one before purchase (predicted findings will be incomplete)",
    ),
    RiskQuestion(
        "STCF-1",
        "Can the device encrypt data at rest?",
        "No",
        "no encryption at rest: require media sanitisation at end of life",
    ),
    RiskQuestion(
        "TXCF-2",
        "Is personal data encrypted when transmitted?",
        "No",
        "cleartext transmission: keep its PHI traffic inside one segment",
    ),
)
RISK_BY_ID = {q.id: q for q in RISK_QUESTIONS}


@dataclass(frozen=True, slots=True)
class Mds2Form:
    """A parsed form: the identity (DOC questions) and every answer with its note."""

    path: str
    manufacturer: str
    model: str
    answers: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def answer(self, qid: str) -> str | None:
        """The normalised answer (Yes/No/N/A/See Note, or the text of a DOC question)."""
        return self.answers.get(qid)

    def gaps(self) -> list[RiskQuestion]:
        """Risk questions answered the risky way."""
        return [q for q in RISK_QUESTIONS if self.answers.get(q.id) == q.risky]

    @property
    def handles_phi(self) -> bool:
        """MPII-1 answered Yes."""
        return self.answers.get("MPII-1") == "Yes"


def _norm(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _answer(path: str, qid: str, value: str, record: str | None = None) -> str:
    if qid.startswith("DOC-"):
        return value
    norm = ANSWERS.get(value.strip().lower())
    if norm is None:
        raise Mds2Error(path, record or qid, f"answer {value!r} is not Yes, No, N/A or See Note")
    return norm


def _check_id(path: str, record: str, qid: str) -> None:
    if not ID_RE.match(qid) or qid.split("-")[0] not in SECTIONS:
        raise Mds2Error(path, record, f"{qid!r} is not an HN 1-2019 question ID")


def _form(path: str, answers: dict[str, str], notes: dict[str, str]) -> Mds2Form:
    if not answers:
        raise Mds2Error(path, "form", "no question IDs found")
    return Mds2Form(
        path, answers.get("DOC-1", ""), answers.get("DOC-3", answers.get("DOC-2", "")), answers, notes
    )


def parse_json(text: str, path: str = "<json>") -> Mds2Form:
    """The JSON layout."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise Mds2Error(path, "document", f"not JSON: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("answers"), dict):
        data = data["answers"]
    if not isinstance(data, dict):
        raise Mds2Error(path, "document", "expected an object of question ID -> answer")
    answers: dict[str, str] = {}
    notes: dict[str, str] = {}
    for qid, value in data.items():
        _check_id(path, str(qid), str(qid))
        if isinstance(value, dict):
            raw, note = value.get("answer"), value.get("note", "")
        else:
            raw, note = value, ""
        if not isinstance(raw, str) or not isinstance(note, str):
            raise Mds2Error(path, qid, "answer and note must be text")
        answers[qid] = _answer(path, qid, _norm(raw))
        if note:
            notes[qid] = _norm(note)
    return _form(path, answers, notes)


def parse_csv(text: str, path: str = "<csv>") -> Mds2Form:
    """The CSV layout (header ``id,answer[,note]``)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise Mds2Error(path, "line 1", "empty file") from None
    except csv.Error as e:
        raise Mds2Error(path, "line 1", str(e)) from None
    if header[:2] != ["id", "answer"]:
        raise Mds2Error(path, "line 1", "header must start with id,answer")
    answers: dict[str, str] = {}
    notes: dict[str, str] = {}
    try:
        for n, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) < 2:
                raise Mds2Error(path, f"line {n}", "needs an id and an answer")
            qid = row[0].strip()
            _check_id(path, f"line {n}", qid)
            answers[qid] = _answer(path, qid, _norm(row[1]), f"line {n} ({qid})")
            if len(row) > 2 and row[2].strip():
                notes[qid] = _norm(row[2])
    except csv.Error as e:
        raise Mds2Error(path, f"line {reader.line_num}", str(e)) from None
    return _form(path, answers, notes)


def parse_xlsx(path: str) -> Mds2Form:
    """The manufacturer's workbook (any sheet; rows that start with a question ID)."""
    try:
        # Imported by name: openpyxl has no type stubs (the same choice as wardwatch.assets.cmms).
        openpyxl: Any = importlib.import_module("openpyxl")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a bad file; the user needs one line
        raise Mds2Error(path, "workbook", f"cannot open: {type(e).__name__}: {e}") from None
    answers: dict[str, str] = {}
    notes: dict[str, str] = {}
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells = [_norm(c) for c in row if _norm(c)]
                if not cells or not ID_RE.match(cells[0]) or cells[0].split("-")[0] not in SECTIONS:
                    continue
                qid, rest = cells[0], cells[1:]
                if qid.startswith("DOC-"):
                    if len(rest) >= 2:
                        answers[qid] = rest[1]  # question text, then the value
                    continue
                for i, cell in enumerate(rest):
                    if cell.lower() in ANSWERS:
                        answers[qid] = ANSWERS[cell.lower()]
                        if i + 1 < len(rest):
                            notes[qid] = rest[i + 1]
                        break
    finally:
        wb.close()
    return _form(path, answers, notes)


def read_mds2(path: str | Path) -> Mds2Form:
    """Read a form by its extension (.xlsx, .json, .csv)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".xlsx":
        return parse_xlsx(str(p))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise Mds2Error(str(p), "file", f"cannot read: {e}") from None
    if suffix == ".json":
        return parse_json(text, str(p))
    if suffix == ".csv":
        return parse_csv(text, str(p))
    raise Mds2Error(str(p), "file", "MDS2 forms are read from .xlsx, .json or .csv")
