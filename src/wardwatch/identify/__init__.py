"""Identification: observations -> evidence -> device attributes, each with confidence and provenance.

Knowledge (OUI registry, rules, product families, vendor names, taxonomy) is data under
``knowledge/``; this package only interprets it. Everything here is pure: the same observations
and knowledge give the same evidence, so identification can be re-run over stored observations
whenever the knowledge improves.
"""
