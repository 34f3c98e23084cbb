"""Outbound integrations (issue 7): SIEM events as RFC 5424 syslog or CEF, HMAC-signed webhooks,
and an inventory export for CMMS/CMDB import.

Formatting is pure (``events``, ``syslog``, ``cef``, ``cmdb``); sending (``transport``) is kept
apart so formats are tested byte for byte without a network. Nothing here ever contacts a device:
events go only to the collectors an operator configures.
"""
