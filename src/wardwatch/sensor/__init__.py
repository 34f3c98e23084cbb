"""The sensor: packets in, policy-neutral observations and flow records out.

``capture`` reads packets in batches, ``flows`` decodes headers for a whole batch at once and
meters bidirectional flows, ``dissect`` reads identity-bearing payloads into observations. The
sensor never touches the database, advisories or risk, and never sends a packet.
"""
