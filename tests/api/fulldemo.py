"""The full demo store for the web tests: what ``make demo`` builds (tools/demo.sh), in process."""

from __future__ import annotations

from pathlib import Path

from wardwatch.services import recalls, risk, vulns
from wardwatch.services.discovery import discover
from wardwatch.store.sql import SqlStore, open_store

DEMO = Path(__file__).parents[2] / "src" / "wardwatch" / "demo"


def build_full_demo(path: Path) -> None:
    """Into a new SQLite file at ``path``: the demo capture discovered, the CMMS list imported,
    the openFDA recall samples imported (raising recall alerts), the vulnerability feeds imported
    and matched, and every device's risk scored."""
    store = open_store(f"sqlite:///{path}")
    try:
        load_full_demo(store)
    finally:
        store.close()


def load_full_demo(store: SqlStore) -> None:
    """The same into an open (empty) store, SQLite or PostgreSQL."""
    discover(store, [str(DEMO / "hospital-demo.pcap.gz")])
    recalls.import_assets(store, paths=[DEMO / "cmms.csv"])
    recalls.import_recalls(store, paths=sorted((DEMO / "recalls").glob("*.json")))
    recalls.refresh_recall_alerts(store)
    vulns.import_feeds(store, paths=[str(DEMO / "feeds")])
    vulns.match_all(store)
    risk.recompute(store)
