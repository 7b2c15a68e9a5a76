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
RC_WEBHOOK_CALLS = Counter(
    "bridge_rocketchat_webhook_calls_total",
    "Rocket.Chat outgoing-webhook calls, by outcome (stored, echo, ignored, gone, unusable, "
    "invalid, refused, unavailable)",
    ["outcome"],
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
LEADER = Gauge(
    "bridge_leader",
    "1 while this process leads the job (holds its leader lock; docs/architecture.md), "
    "e.g. job=rocketchat_intake for the Rocket.Chat realtime listener",
    ["job"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "bridge_outbox_pending_actions", "Outbox actions not yet done", registry=REGISTRY
)
OUTBOX_FAILED = Gauge(
    "bridge_outbox_failed_actions",
    "Outbox actions given up (dead letters of every kind, waiting for retry or drop)",
    registry=REGISTRY,
)
OUTBOX_DEAD = Gauge(
    "bridge_outbox_dead_letters",
    "Dead letters by action kind: given up, waiting for an operator's retry or drop",
    ["kind"],
    registry=REGISTRY,
)
OUTBOX_DONE = Counter(
    "bridge_outbox_actions_done_total",
    "Outbox actions this process ran and recorded done, by action kind",
    ["kind"],
    registry=REGISTRY,
)
OUTBOX_DIED = Counter(
    "bridge_outbox_actions_died_total",
    "Outbox actions that became dead letters in this process, by action kind",
    ["kind"],
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE = Gauge(
    "bridge_outbox_oldest_pending_age_seconds",
    "Age of the oldest pending outbox action (0 when none)",
    registry=REGISTRY,
)
BRIDGED_MESSAGES = Gauge(
    "bridge_bridged_messages",
    "Messages bridged, by direction (rocketchat_to_matrix, matrix_to_rocketchat)",
    ["direction"],
    registry=REGISTRY,
)
LEDGER_DISCLOSURES = Gauge(
    "bridge_ledger_disclosures",
    "Items of personal data each recipient received, per the disclosure ledger",
    ["recipient", "kind"],
    registry=REGISTRY,
)
ERASURE_REQUESTS = Gauge(
    "bridge_erasure_requests", "Erasure requests by state", ["state"], registry=REGISTRY
)
ERASURE_RECIPIENT_ACTIONS = Gauge(
    "bridge_erasure_recipient_actions",
    "Per-recipient erasure outcomes still pending, or failed (retrying or not)",
    ["status"],
    registry=REGISTRY,
)
OUTBOX_LAG = Gauge(
    "bridge_outbox_lag_seconds",
    "Age of the oldest outbox action that is due now (0 when the worker is caught up)",
    registry=REGISTRY,
)
PRUNE_LAST_RUN = Gauge(
    "bridge_prune_last_run_timestamp_seconds",
    "Unix time at which each pruning job (processed_queues, request_log, ledger, shred) last "
    "completed; a stale value means data is kept past its retention",
    ["job"],
    registry=REGISTRY,
)
PRUNED_ROWS = Counter(
    "bridge_pruned_rows_total",
    "Rows deleted by each pruning job since the bridge started",
    ["job"],
    registry=REGISTRY,
)
