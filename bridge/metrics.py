"""Prometheus metrics, defined once so every module increments the same series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

MATRIX_TRANSACTIONS = Counter(
    "bridge_matrix_transactions_total",
    "Appservice transactions received, by outcome (stored, replayed, refused, failed)",
    ["result"],
    registry=REGISTRY,
)
MATRIX_EVENTS_RECEIVED = Counter(
    "bridge_matrix_events_received_total",
    "Matrix events stored in the inbox",
    registry=REGISTRY,
)
INBOX_EVENTS = Gauge(
    "bridge_inbox_events",
    "Inbox events by status",
    ["status"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "bridge_outbox_pending_actions", "Outbox actions not yet done", registry=REGISTRY
)
OUTBOX_FAILED = Gauge(
    "bridge_outbox_failed_actions", "Outbox actions that failed for good", registry=REGISTRY
)
OUTBOX_OLDEST_AGE = Gauge(
    "bridge_outbox_oldest_pending_age_seconds",
    "Age of the oldest pending outbox action (0 when none)",
    registry=REGISTRY,
)
