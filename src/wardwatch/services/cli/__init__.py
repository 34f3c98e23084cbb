"""The ``wardwatch`` command line."""
