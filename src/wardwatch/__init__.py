"""wardwatch: passive discovery, identification and risk management for connected medical devices."""

__version__ = "0.1.0"
