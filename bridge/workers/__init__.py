"""Background loops that drain the durable tables: the inbox and the outbox."""
