"""The one bridge from the store (issue-5 findings, devices, conversations) to the scoring inputs.

Builds :class:`~wardwatch.risk.score.FindingFacts` and :class:`~wardwatch.risk.score.DeviceContext`
from what is stored, in bulk (one pass per table for the whole fleet) so a recompute after a feed
update stays fast. Nothing here scores; nothing here writes.

Which service a vulnerability is in is rarely a structured field in NVD or CSAF records, so it is
read from the advisory's title and description with a small keyword table
(:data:`SERVICE_KEYWORDS`); the words that matched are kept as the evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, select, type_coerce

from wardwatch.model.device import Attribute, Device
from wardwatch.model.flow import Conversation
from wardwatch.risk.exposure import AttackGraph, Exposure, exposure_of
from wardwatch.risk.score import DeviceContext, FindingFacts, PublishedCvss, ServiceRef
from wardwatch.store import schema_vuln as v
from wardwatch.triage.decisions import current_analysis, model_key

#: Words in an advisory -> the service(s) it is in. Order matters only for display.
SERVICE_KEYWORDS: tuple[tuple[str, tuple[ServiceRef, ...]], ...] = (
    (r"\bSMB(v1|v2|v3)?\b|\bSamba\b|EternalBlue|\bCIFS\b", (ServiceRef("tcp", 445, "smb"),)),
    (r"\bRDP\b|Remote Desktop", (ServiceRef("tcp", 3389, "rdp"),)),
    (r"\bDICOM\b", (ServiceRef("tcp", 104, "dicom"), ServiceRef("tcp", 11112, "dicom"))),
    (r"\bHL7\b", (ServiceRef("tcp", 2575, "hl7"),)),
    (r"\bTelnet\b", (ServiceRef("tcp", 23, "telnet"),)),
    (r"\bSSH\b|OpenSSH", (ServiceRef("tcp", 22, "ssh"),)),
    (r"\bFTP\b", (ServiceRef("tcp", 21, "ftp"),)),
    (r"\bSNMP\b", (ServiceRef("udp", 161, "snmp"),)),
    (r"\bVNC\b", (ServiceRef("tcp", 5900, "vnc"),)),
    (r"\bModbus\b", (ServiceRef("tcp", 502, "modbus"),)),
    (r"\bBACnet\b", (ServiceRef("udp", 47808, "bacnet"),)),
    (r"\bMQTT\b", (ServiceRef("tcp", 1883, "mqtt"),)),
    (
        r"web (server|interface|application)|\bHTTP\b|\bHTTPS\b",
        (ServiceRef("tcp", 80, "http"), ServiceRef("tcp", 443, "https")),
    ),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), s) for p, s in SERVICE_KEYWORDS)

PHI_PROTOCOLS = ("hl7", "dicom", "fhir")
_PHI_PORTS = {("tcp", 2575): "hl7", ("tcp", 104): "dicom", ("tcp", 11112): "dicom", ("tcp", 4242): "dicom"}
_CLEARED_STATES = {"not_affected", "false_positive", "resolved"}


def services_in_text(text: str) -> tuple[tuple[ServiceRef, ...], str]:
    """Services an advisory text names, and the words that said so."""
    found: list[ServiceRef] = []
    words: list[str] = []
    for pattern, services in _COMPILED:
        m = pattern.search(text)
        if m:
            words.append(m.group(0))
            found.extend(s for s in services if s not in found)
    return tuple(found), ", ".join(f"'{w}'" for w in words)


def fixed_version_in(evidence: Any) -> str | None:
    """The first ``versionEndExcluding`` in a finding's evidence: the version that fixed it."""
    if isinstance(evidence, dict):
        value = evidence.get("versionEndExcluding")
        if isinstance(value, str) and value:
            return value
        for item in evidence.values():
            found = fixed_version_in(item)
            if found:
                return found
    elif isinstance(evidence, list):
        for item in evidence:
            found = fixed_version_in(item)
            if found:
                return found
    return None


@dataclass(frozen=True, slots=True)
class _AdvisoryInfo:
    version: str | None
    vector: str | None
    score: float | None
    text: str
    remediations: tuple[str, ...]
    fixed: tuple[str, ...]


def _advisory_info(conn: Connection, ids: Iterable[str], with_data: bool) -> dict[str, _AdvisoryInfo]:
    a = v.advisory
    cols = [a.c.id, a.c.cvss_version, a.c.cvss_vector, a.c.cvss_score, a.c.title, a.c.description]
    if with_data:
        cols.append(a.c.data)
    out: dict[str, _AdvisoryInfo] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), 500):
        for r in conn.execute(select(*cols).where(a.c.id.in_(wanted[i : i + 500]))):
            remediations: list[str] = []
            fixed: list[str] = []
            if with_data and isinstance(r.data, dict):
                for vuln in r.data.get("vulnerabilities") or ():
                    remediations.extend(x for x in vuln.get("remediations") or () if isinstance(x, str))
                    fixed_ids = set((vuln.get("status") or {}).get("fixed") or ())
                    for p in r.data.get("products") or ():
                        if p.get("product_id") in fixed_ids:
                            fixed.append(f"{p.get('name')}".strip())
            out[r.id] = _AdvisoryInfo(
                r.cvss_version,
                r.cvss_vector,
                r.cvss_score,
                f"{r.title}\n{r.description}",
                tuple(dict.fromkeys(remediations)),
                tuple(dict.fromkeys(fixed)),
            )
    return out


def load_facts(
    conn: Connection, devices: Sequence[Device], *, with_remediations: bool = False
) -> dict[int, list[FindingFacts]]:
    """Active findings of these devices as :class:`FindingFacts`, by device id.

    One finding per (device, vulnerability) (the most confident matcher's); findings a person or a
    VEX document marked not affected, false positive or resolved are left out.
    """
    by_id = {d.id: d for d in devices if d.id is not None}
    f, kev, epss, ssvc = v.finding, v.kev, v.epss, v.ssvc
    q = (
        select(
            f.c.id,
            f.c.device_id,
            f.c.vulnerability,
            f.c.advisory_id,
            f.c.confidence,
            # As text: parsed only when it can hold a fixed version (JSON decoding 600,000 rows is slow).
            type_coerce(f.c.evidence, Text).label("evidence"),
            kev.c.cve.label("kev"),
            kev.c.ransomware,
            epss.c.epss,
            epss.c.percentile,
            ssvc.c.exploitation,
            ssvc.c.automatable,
            ssvc.c.technical_impact,
        )
        .select_from(f)
        .outerjoin(kev, kev.c.cve == f.c.vulnerability)
        .outerjoin(epss, epss.c.cve == f.c.vulnerability)
        .outerjoin(ssvc, ssvc.c.cve == f.c.vulnerability)
        .where(f.c.active)
    )
    rows: dict[tuple[int, str], Any] = {}
    ids = sorted(by_id)
    # A fleet batch (consecutive ids) is one range query on the (device_id, ...) index; a few
    # scattered devices are looked up by id.
    if len(ids) > 500:
        queries = [q.where(f.c.device_id.between(ids[0], ids[-1]))]
    else:
        queries = [q.where(f.c.device_id.in_(ids))] if ids else []
    for qq in queries:
        for r in conn.execute(qq):
            # Rows unpack like tuples: (id, device_id, vulnerability, advisory_id, confidence, evidence, kev,
            # ransomware, epss, percentile, exploitation, automatable, technical_impact).
            if r[1] not in by_id:
                continue
            key = (int(r[1]), r[2])
            old = rows.get(key)
            if old is None or r[4] > old[4]:
                rows[key] = r
    history: dict[str, list[dict[str, Any]]] = {}
    for a in conn.execute(select(v.analysis).order_by(v.analysis.c.created_ns, v.analysis.c.id)):
        history.setdefault(a.vulnerability, []).append(dict(a._mapping))
    info = _advisory_info(
        conn,
        {r.advisory_id for r in rows.values()} | {r.vulnerability for r in rows.values()},
        with_remediations,
    )
    services_cache: dict[str, tuple[tuple[ServiceRef, ...], str]] = {}
    # Per (vulnerability, advisory): what the advisories say, computed once for the whole fleet.
    per_advisory: dict[tuple[str, str], tuple[Any, ...]] = {}
    mkeys: dict[int, str] = {}
    out: dict[int, list[FindingFacts]] = {}
    for (device_id, vuln), r in sorted(rows.items()):
        fid, _, _, advisory_id, _, evidence, kev, ransomware, epss, pct, expl, auto, tech = r
        if vuln in history:
            if device_id not in mkeys:
                dev = by_id[device_id]
                mkeys[device_id] = model_key(dev.value(Attribute.VENDOR), dev.value(Attribute.MODEL))
            cur = current_analysis(history[vuln], device_id, mkeys[device_id])
            if cur is not None and cur["state"] in _CLEARED_STATES:
                continue
        pa = per_advisory.get((vuln, advisory_id))
        if pa is None:
            cvss: list[PublishedCvss] = []
            texts: list[str] = []
            remediations: tuple[str, ...] = ()
            fixed_products: tuple[str, ...] = ()
            for aid in dict.fromkeys((vuln, advisory_id)):
                ai = info.get(aid)
                if ai is None:
                    continue
                if ai.vector and ai.version:
                    cvss.append(PublishedCvss(ai.version, ai.vector, float(ai.score or 0.0)))
                texts.append(ai.text)
                remediations += ai.remediations
                fixed_products += ai.fixed
            text = "\n".join(texts)
            if text not in services_cache:
                services_cache[text] = services_in_text(text)
            services, words = services_cache[text]
            pa = per_advisory[(vuln, advisory_id)] = (
                tuple(cvss),
                tuple(dict.fromkeys(remediations)),
                fixed_products[0] if fixed_products else None,
                services,
                f"advisory text says {words}" if words else "",
            )
        cvss_t, remediations_t, fixed_product, services, service_evidence = pa
        if isinstance(evidence, str):
            evidence = json.loads(evidence) if "versionEndExcluding" in evidence else None
        fixed = (fixed_version_in(evidence) if evidence else None) or fixed_product
        out.setdefault(device_id, []).append(
            FindingFacts(
                vulnerability=vuln,
                cvss=cvss_t,
                kev=kev is not None,
                kev_ransomware=(ransomware or "").lower() == "known",
                epss=epss,
                epss_percentile=pct,
                ssvc_exploitation=expl,
                ssvc_automatable=auto,
                ssvc_technical_impact=tech,
                fixed_version=fixed,
                remediations=remediations_t,
                services=services,
                service_evidence=service_evidence,
                finding_id=int(fid),
                advisory_id=advisory_id,
            )
        )
    return out


def load_devices(conn: Connection) -> list[Device]:
    """Every device with the resolved attributes scoring reads and its IPs, in two whole-table reads.

    The fleet recompute's bulk path (``list_devices`` pages and joins per page, which is right for
    the UI but slow for 100,000 devices). Evidence is not loaded, as with ``list_devices``.
    """
    from wardwatch.model.device import DeviceIP, ResolvedAttribute
    from wardwatch.store import schema as s

    ips: dict[int, list[DeviceIP]] = {}
    for r in conn.execute(select(s.device_ip)):
        ips.setdefault(int(r.device_id), []).append(DeviceIP(r.ip, r.first_ns, r.last_ns, r.source))
    d = s.device
    # The resolved values scoring reads are denormalised onto the device row: one read, no join.
    names = (
        Attribute.VENDOR,
        Attribute.MODEL,
        Attribute.HOSTNAME,
        Attribute.DEVICE_TYPE,
        Attribute.CLINICAL_CATEGORY,
    )
    cols = [
        d.c.id,
        d.c.key,
        d.c.mac,
        d.c.first_ns,
        d.c.last_ns,
        d.c.mac_randomized,
        *(d.c[a.value] for a in names),
    ]
    out: list[Device] = []
    for r in conn.execute(select(*cols).order_by(d.c.id)):
        attrs = {
            a.value: ResolvedAttribute(a, value, 1.0, "stored", ())
            for a, value in zip(names, r[6:], strict=True)
            if value is not None
        }
        out.append(
            Device(
                id=int(r[0]),
                key=r[1],
                mac=r[2],
                first_ns=r[3],
                last_ns=r[4],
                mac_randomized=bool(r[5]),
                attributes=attrs,
                ips=tuple(sorted(ips.get(int(r[0]), []), key=lambda i: -i.last_ns)),
            )
        )
    return out


def device_label(device: Device) -> str:
    """A short human name: hostname or vendor model, then the first IP."""
    name = device.value(Attribute.HOSTNAME) or " ".join(
        x for x in (device.value(Attribute.VENDOR), device.value(Attribute.MODEL)) if x
    )
    ip = device.ips[0].ip if device.ips else device.mac or device.key
    return f"{name} ({ip})" if name else str(ip)


def build_context(
    device: Device,
    exposure: Exposure,
    path: tuple[str, ...],
    phi_evidence: Sequence[str],
    rubric_metrics: dict[str, str] | None = None,
) -> DeviceContext:
    """The scoring context of one device from its exposure, attack path and PHI evidence."""
    return DeviceContext(
        device_id=device.id,
        label=device_label(device),
        device_type=device.value(Attribute.DEVICE_TYPE),
        clinical_category=device.value(Attribute.CLINICAL_CATEGORY),
        handles_phi=bool(phi_evidence),
        phi_evidence=tuple(phi_evidence),
        services=exposure.services,
        peers=len(exposure.peers),
        internet_peers=exposure.internet_peers,
        subnets=exposure.subnets,
        attack_path=path,
        dependents=exposure.dependents,
        rubric_metrics=dict(rubric_metrics or {}),
    )


def phi_by_address(observations: Iterable[Any]) -> dict[str, set[str]]:
    """MAC or IP -> the PHI protocols seen from it (protocol names only, never the content)."""
    out: dict[str, set[str]] = {}
    for o in observations:
        if o.protocol in PHI_PROTOCOLS:
            for addr in (o.mac, o.ip):
                if addr:
                    out.setdefault(addr, set()).add(o.protocol)
    return out


def phi_evidence_of(device: Device, phi: dict[str, set[str]], exposure: Exposure) -> list[str]:
    """Why we think the device handles PHI: protocols it spoke, PHI ports it serves."""
    protocols: set[str] = set()
    for addr in [device.mac, *(i.ip for i in device.ips)]:
        if addr:
            protocols |= phi.get(addr, set())
    evidence = [f"{p.upper()} traffic observed" for p in sorted(protocols)]
    for s in exposure.services:
        name = _PHI_PORTS.get(s.key)
        if name and name not in protocols:
            evidence.append(f"serves {s.transport}/{s.port} ({name} port)")
    for transport, port in exposure.uses:
        name = _PHI_PORTS.get((transport, port))
        if name and name not in protocols:
            evidence.append(f"connects to {transport}/{port} ({name} port)")
    return evidence


def conversations_by_ip(conversations: Iterable[Conversation]) -> dict[str, list[Conversation]]:
    """Index conversations by each side's IP (for per-device exposure in a fleet pass)."""
    out: dict[str, list[Conversation]] = {}
    for c in conversations:
        for ip in {c.client_ip, c.server_ip}:
            if ip:
                out.setdefault(ip, []).append(c)
    return out


def fleet_contexts(
    devices: Sequence[Device],
    conversations: Sequence[Conversation],
    observations: Iterable[Any],
    rubrics: dict[tuple[str, str], dict[str, str]] | None = None,
) -> dict[int, DeviceContext]:
    """Every device's context from one pass over conversations and observations."""
    graph = AttackGraph(conversations)
    by_ip = conversations_by_ip(conversations)
    phi = phi_by_address(observations)
    out: dict[int, DeviceContext] = {}
    for d in devices:
        if d.id is None:
            continue
        ips = [i.ip for i in d.ips]
        convs: dict[int, Conversation] = {}
        for ip in ips:
            for c in by_ip.get(ip, ()):
                convs[id(c)] = c
        exp = exposure_of(ips, convs.values())
        key = ((d.value(Attribute.VENDOR) or "").lower(), (d.value(Attribute.MODEL) or "").lower())
        out[d.id] = build_context(
            d, exp, graph.path_to(ips), phi_evidence_of(d, phi, exp), (rubrics or {}).get(key)
        )
    return out
