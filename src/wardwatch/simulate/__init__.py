"""Hospital network traffic simulator: writes a reproducible pcap of medical and IT devices plus ground truth.

``simulate(SimConfig(devices=60, seed=7), "hospital.pcap.gz")`` writes the capture; ``truth_json(result)``
describes every device in it (MAC, IPs, IEEE OUI vendor, kind, and what its traffic reveals).
"""

from wardwatch.simulate.generator import (
    SimConfig,
    SimDevice,
    SimResult,
    scale_for_packets_per_device,
    simulate,
    truth_json,
)

__all__ = ["SimConfig", "SimDevice", "SimResult", "scale_for_packets_per_device", "simulate", "truth_json"]
