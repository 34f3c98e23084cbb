"""Use cases (discover a capture, rebuild the inventory, look devices up). CLI, API and web are thin
edges over these; nothing else wires adapters together."""
