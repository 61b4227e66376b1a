"""Supervision (电子监察): rules over the audit log and the registry that raise alerts, alerts as admins
and auditors see them, the auditors' event queries, and the figures Prometheus reads."""
