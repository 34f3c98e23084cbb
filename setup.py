"""Build the optional C extension; every other setting is in pyproject.toml.

``optional=True``: where there is no C compiler (or no Python headers) the build prints a
warning and the install still succeeds; wardwatch then runs the NumPy code that the C code
mirrors (``wardwatch.sensor.flows.decode.decode_numpy`` and the pcap reader's record walk).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "wardwatch.sensor._native",
            [
                "src/wardwatch/sensor/_native.c",
                "src/wardwatch/sensor/_sightings.c",
                "src/wardwatch/sensor/_meter.c",
                "src/wardwatch/sensor/_uid.c",
                "src/wardwatch/sensor/_conversations.c",
                "src/wardwatch/sensor/_flowtable.c",
            ],
            depends=[
                "src/wardwatch/sensor/_native.h",
                "src/wardwatch/sensor/_lru.h",
                "src/wardwatch/sensor/_meter.h",
            ],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
