"""Reader of openFDA device recall and device enforcement files.

Accepts what the API returns (``{"meta": ..., "results": [...]}``) and the bulk downloads
(``device-recall-0001-of-0001.json.zip``: the same envelope inside a zip; ``.json.gz`` too), read
as a stream (:func:`wardwatch.feeds.base.iter_json`), one record at a time. Each
record is recognised by its fields: ``product_res_number``/``res_event_number``/``recall_status``
are the recall endpoint, ``recall_number``/``event_id``/``status`` the enforcement endpoint. Both
describe the same recalled product under the same recall number (Z-nnnn-yyyy), so records merge
on it (see :func:`merge`).

Errors: :class:`FeedError`, one line naming the file and the record (index) or character offset.
The whole file is read and checked before anything is returned, so a bad file stores nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from wardwatch.feeds.base import JsonStreamError, iter_json
from wardwatch.model.recall import Identifier, Recall, RecallSource, RecallStatus
from wardwatch.recalls.extract import extract


class FeedError(Exception):
    """A file that is not a readable openFDA recall/enforcement file (the message is one line)."""


@dataclass(frozen=True, slots=True)
class FeedFile:
    """The recalls of one file and the envelope's metadata."""

    path: str
    recalls: tuple[Recall, ...]
    last_updated: str | None
    license: str | None


_STATUS = {
    "open, classified": RecallStatus.OPEN,
    "open": RecallStatus.OPEN,
    "ongoing": RecallStatus.OPEN,
    "pending": RecallStatus.PENDING,
    "not yet classified": RecallStatus.PENDING,
    "completed": RecallStatus.COMPLETED,
    "terminated": RecallStatus.TERMINATED,
}


def parse_status(text: str | None) -> RecallStatus:
    """openFDA's status words to :class:`RecallStatus` (unknown words stay ``unknown``)."""
    if not text:
        return RecallStatus.UNKNOWN
    return _STATUS.get(" ".join(text.lower().split()), RecallStatus.UNKNOWN)


def parse_date(text: Any) -> str | None:
    """``2019-05-17`` or ``20190517`` to ISO ``2019-05-17``; anything else to None."""
    if not isinstance(text, str):
        return None
    t = text.strip()
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", t)
    if not m:
        return None
    year, month, day = m.groups()
    if not ("01" <= month <= "12" and "01" <= day <= "31"):
        return None
    return f"{year}-{month}-{day}"


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    raise ValueError(f"field {key!r} should be text, not {type(value).__name__}")


def _texts(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = record.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError(f"field {key!r} should be a list of text")


def source_of(record: Mapping[str, Any]) -> RecallSource:
    """Which endpoint a record comes from, by its fields."""
    if any(k in record for k in ("product_res_number", "res_event_number", "recall_status", "cfres_id")):
        return RecallSource.RECALL
    if any(k in record for k in ("recall_number", "event_id", "status", "classification", "report_date")):
        return RecallSource.ENFORCEMENT
    raise ValueError(
        "neither a device recall nor a device enforcement record (no recall number, event or status)"
    )


def parse_record(record: Any) -> Recall:
    """One openFDA record to a :class:`Recall`. Raises ValueError saying what is wrong."""
    if not isinstance(record, dict):
        raise ValueError(f"a record should be an object, not {type(record).__name__}")
    source = source_of(record)
    openfda = record.get("openfda") or {}
    if not isinstance(openfda, dict):
        raise ValueError("field 'openfda' should be an object")
    if source is RecallSource.RECALL:
        number = _text(record, "product_res_number")
        event_id = _text(record, "res_event_number")
        status_text = _text(record, "recall_status") or ""
        initiated = parse_date(record.get("event_date_initiated"))
        posted = parse_date(record.get("event_date_posted"))
        terminated = parse_date(record.get("event_date_terminated"))
    else:
        number = _text(record, "recall_number")
        event_id = _text(record, "event_id")
        status_text = _text(record, "status") or ""
        initiated = parse_date(record.get("recall_initiation_date"))
        posted = parse_date(record.get("report_date"))
        terminated = parse_date(record.get("termination_date"))
    # Some records (and openFDA's documentation examples) carry no firm: kept, matched only by UDI.
    firm = _text(record, "recalling_firm") or ""
    description = _text(record, "product_description") or ""
    code_info = " ".join(x for x in (_text(record, "code_info"), _text(record, "more_code_info")) if x)
    if number:
        uid = number
    elif event_id:
        # Enforcement records before recall numbers were published: one event has several
        # products, told apart by what is recalled.
        digest = hashlib.sha256(f"{description}\x00{code_info}".encode()).hexdigest()[:12]
        uid = f"event:{event_id}:{digest}"
    else:
        raise ValueError("no recall number and no event id")
    product_code = _text(record, "product_code")
    if product_code in ("N/A", ""):
        product_code = None
    device_name = openfda.get("device_name")
    return Recall(
        uid=uid,
        number=number,
        event_id=event_id,
        sources=(source,),
        recalling_firm=firm,
        product_code=product_code,
        k_numbers=_texts(record, "k_numbers"),
        pma_numbers=_texts(record, "pma_numbers"),
        classification=_text(record, "classification"),
        status=parse_status(status_text),
        status_text=status_text,
        initiated=initiated,
        posted=posted,
        terminated=terminated,
        reason=_text(record, "reason_for_recall") or "",
        root_cause=_text(record, "root_cause_description"),
        product_description=description,
        code_info=code_info,
        identifiers=_unique(extract(code_info, "code_info") + extract(description, "product_description")),
        device_name=device_name if isinstance(device_name, str) else None,
    )


def _unique(identifiers: tuple[Identifier, ...]) -> tuple[Identifier, ...]:
    """The first of each (kind, value): code_info, read first, is the more precise source."""
    seen: dict[tuple[str, str], Identifier] = {}
    for ident in identifiers:
        seen.setdefault((ident.kind.value, ident.value), ident)
    return tuple(seen.values())


def merge(old: Recall, new: Recall) -> Recall:
    """The same recall seen again (another endpoint, or a later file).

    A later record from the recall endpoint, or any record when the recall endpoint has not been
    seen, wins where it says something (status updates apply). An enforcement record only fills
    what the recall endpoint left empty (e.g. the class): the two endpoints word the same facts
    differently, and letting each overwrite the other would make re-imports flip-flop."""
    fills_gaps = RecallSource.RECALL in old.sources and RecallSource.RECALL not in new.sources

    def pick(a: Any, b: Any) -> Any:
        if fills_gaps:
            return a if a not in (None, "", ()) else b
        return b if b not in (None, "", ()) else a

    sources = tuple(s for s in RecallSource if s in old.sources or s in new.sources)
    identifiers = pick(old.identifiers, new.identifiers)
    status_counts = new.status is not RecallStatus.UNKNOWN and not (
        fills_gaps and old.status is not RecallStatus.UNKNOWN
    )
    status, status_text = (new.status, new.status_text) if status_counts else (old.status, old.status_text)
    return replace(
        old,
        number=pick(old.number, new.number),
        event_id=pick(old.event_id, new.event_id),
        sources=sources,
        recalling_firm=pick(old.recalling_firm, new.recalling_firm),
        product_code=pick(old.product_code, new.product_code),
        k_numbers=pick(old.k_numbers, new.k_numbers),
        pma_numbers=pick(old.pma_numbers, new.pma_numbers),
        classification=pick(old.classification, new.classification),
        status=status,
        status_text=status_text,
        initiated=pick(old.initiated, new.initiated),
        posted=pick(old.posted, new.posted),
        terminated=pick(old.terminated, new.terminated),
        reason=pick(old.reason, new.reason),
        root_cause=pick(old.root_cause, new.root_cause),
        product_description=pick(old.product_description, new.product_description),
        code_info=pick(old.code_info, new.code_info),
        identifiers=identifiers,
        device_name=pick(old.device_name, new.device_name),
    )


def _open(path: Path, stack: contextlib.ExitStack) -> IO[str]:
    """The file as text: a bulk zip's one JSON member, a gzip stream, or the plain file."""
    name = path.name.lower()
    raw: Any  # ZipExtFile, GzipFile or a file: all binary streams
    if name.endswith(".zip"):
        zf = stack.enter_context(zipfile.ZipFile(path))
        members = [m for m in zf.infolist() if m.filename.lower().endswith(".json")]
        if len(members) != 1:
            raise FeedError(f"{path}: expected one .json file in the zip, found {len(members)}")
        raw = stack.enter_context(zf.open(members[0]))
    elif name.endswith(".gz"):
        raw = stack.enter_context(gzip.open(path, "rb"))  # noqa: SIM115 (closed by the stack)
    else:
        raw = stack.enter_context(path.open("rb"))
    return stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8-sig"))


def parse_stream(fp: IO[str], name: str) -> FeedFile:
    """Parse an openFDA document from a text stream, one record at a time (a bulk file is hundreds
    of MB of JSON; only the records' normalised form is kept). ``name`` is used in errors."""
    by_uid: dict[str, Recall] = {}
    meta: Any = {}
    seen_results = False
    try:
        for entry in iter_json(fp, frozenset({"results"})):
            if entry.key == "meta":
                meta = entry.value
                continue
            if entry.key != "results":
                continue
            seen_results = True
            if entry.item:
                index, records = entry.index, [entry.value]
            elif isinstance(entry.value, dict):
                # A single-record response, as some documentation examples are.
                index, records = 0, [entry.value]
            else:
                raise FeedError(f"{name}: 'results' should be a list of records")
            for record in records:
                try:
                    recall = parse_record(record)
                except ValueError as exc:
                    raise FeedError(f"{name}: record {index}: {exc}") from None
                by_uid[recall.uid] = merge(by_uid[recall.uid], recall) if recall.uid in by_uid else recall
    except JsonStreamError as exc:
        raise FeedError(f"{name}: not JSON at {exc}") from None
    except UnicodeDecodeError as exc:
        raise FeedError(f"{name}: not UTF-8 JSON: byte {exc.start} of a read block: {exc.reason}") from None
    except (zlib.error, EOFError, zipfile.BadZipFile) as exc:
        raise FeedError(f"{name}: cannot read: {type(exc).__name__}: {exc}") from None
    except OSError as exc:
        raise FeedError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not seen_results:
        raise FeedError(f"{name}: not an openFDA file (expected an object with a 'results' list)")
    if not isinstance(meta, dict):
        meta = {}
    last_updated = meta.get("last_updated")
    license_url = meta.get("license")
    return FeedFile(
        path=name,
        recalls=tuple(by_uid.values()),
        last_updated=last_updated if isinstance(last_updated, str) else None,
        license=license_url if isinstance(license_url, str) else None,
    )


def parse_bytes(data: bytes, name: str) -> FeedFile:
    """Parse an openFDA file's content (already decompressed). ``name`` is used in errors."""
    return parse_stream(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig"), name)


def read_file(path: str | Path) -> FeedFile:
    """Read one openFDA file (``.json``, ``.json.gz`` or a bulk ``.zip``), streaming its records."""
    p = Path(path)
    try:
        with contextlib.ExitStack() as stack:
            return parse_stream(_open(p, stack), str(p))
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise FeedError(f"{p}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def read_files(paths: Sequence[str | Path]) -> list[FeedFile]:
    """Read several files (each one all or nothing)."""
    return [read_file(p) for p in paths]
