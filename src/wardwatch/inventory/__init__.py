"""Inventory: merges what was seen into devices, with address history and resolved identity."""
