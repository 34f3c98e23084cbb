"""CMMS (clinical engineering) asset lists: import from CSV/XLSX and reconciliation with the network."""
