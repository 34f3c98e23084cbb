"""Live capture: ``wardwatch sensor --interface IF`` (issue 4).

Receive-only capture from a mirror port into the store, written as it goes (every
``--flush-seconds``), with an optional rolling pcap ring for forensics. SIGINT and SIGTERM stop
it gracefully: every flow is ended and everything is flushed before it exits.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from wardwatch.gctools import packet_path_gc
from wardwatch.services.cli.common import err, fail, opened_store, out


def register(app: typer.Typer) -> None:
    """Add ``sensor`` to the ``wardwatch`` app."""

    @app.command("sensor")
    def sensor_cmd(
        interface: Annotated[str, typer.Option("--interface", "-i", help="Interface to capture from.")],
        bpf: Annotated[str | None, typer.Option("--bpf", help="tcpdump filter expression.")] = None,
        ring: Annotated[
            Path | None, typer.Option("--ring", help="Directory of the rolling pcap ring.")
        ] = None,
        ring_size: Annotated[float, typer.Option("--ring-size", min=0.01, help="MB per ring file.")] = 64.0,
        ring_files: Annotated[int, typer.Option("--ring-files", min=1, help="Ring files kept.")] = 16,
        ring_seconds: Annotated[
            float, typer.Option("--ring-seconds", min=1.0, help="Capture seconds per ring file.")
        ] = 300.0,
        flush_seconds: Annotated[
            float, typer.Option("--flush-seconds", min=0.2, help="Seconds between store writes.")
        ] = 5.0,
        duration: Annotated[
            float | None, typer.Option("--duration", min=0.1, help="Stop after this many seconds.")
        ] = None,
        output: Annotated[str, typer.Option("--format", help="Summary format: table or json.")] = "table",
    ) -> None:
        """Capture live from an interface (passive: never sends) and keep the inventory current."""
        import time

        from wardwatch.sensor.live import LiveCapture, LiveCaptureError
        from wardwatch.sensor.ring import PcapRing, RingConfig
        from wardwatch.services.discovery import LiveSummary, run_live

        if output not in ("table", "json"):
            raise fail(f"--format must be table or json, not {output!r}")
        stopping: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        try:
            capture = LiveCapture(interface, bpf=bpf)
        except LiveCaptureError as exc:
            raise fail(str(exc)) from None
        pcap_ring = None
        if ring is not None:
            try:
                pcap_ring = PcapRing(
                    RingConfig(
                        directory=ring,
                        max_file_bytes=int(ring_size * 1024 * 1024),
                        max_files=ring_files,
                        max_seconds=ring_seconds,
                    )
                )
            except (OSError, ValueError) as exc:
                capture.close()
                raise fail(f"--ring {ring}: {exc}") from None
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        end = None if duration is None else time.monotonic() + duration

        def stop() -> bool:
            return bool(stopping) or (end is not None and time.monotonic() >= end)

        def progress(s: LiveSummary) -> None:
            err.print(
                f"{s.interface}: {s.packets:,} packets, {s.observations:,} observations, "
                f"{s.devices:,} devices, kernel drops {s.kernel_dropped:,}",
                highlight=False,
            )

        err.print(f"capturing on {interface} (passive){' filter ' + repr(bpf) if bpf else ''}; Ctrl-C stops")
        try:
            with opened_store() as store, packet_path_gc():
                summary = run_live(
                    store,
                    interface=interface,
                    batches=capture.batches(stop),
                    kernel_dropped=lambda: capture.update_kernel_stats()[1],
                    flush_seconds=flush_seconds,
                    ring=pcap_ring,
                    on_flush=progress if err.is_terminal else None,
                )
        finally:
            capture.close()
        # What the sensor itself gave up on (bounded tables): the counterpart of kernel drops.
        evicted = {
            name: summary.sensor.get(f"{name}_evicted", 0)
            for name in ("flows", "streams", "sightings", "conversations")
        }
        if output == "json":
            data = {
                "schema": "wardwatch.sensor/1",
                "interface": summary.interface,
                "packets": summary.packets,
                "bytes": summary.bytes,
                "observations": summary.observations,
                "new_observations": summary.new_observations,
                "flows": summary.flows,
                "flushes": summary.flushes,
                "devices": summary.devices,
                "kernel_dropped": summary.kernel_dropped,
                "sensor_evicted": evicted,
                "decode_errors": summary.sensor.get("decode_errors", {}),
                "ring_files": summary.ring_files,
                "signal": stopping[0] if stopping else None,
            }
            sys.stdout.write(json.dumps(data) + "\n")
        else:
            out.print(
                f"{interface}: {summary.packets:,} packets, {summary.observations:,} observations "
                f"({summary.new_observations:,} new), {summary.flushes} store writes, "
                f"kernel drops {summary.kernel_dropped:,}, sensor evictions "
                + ", ".join(f"{k} {v:,}" for k, v in evicted.items() if isinstance(v, int))
            )
            out.print(f"inventory: {summary.devices:,} devices")
