"""What the pipeline's stages agree on: the contracts of handlers and executors, and the
names of queues and idempotency keys. Below ``bridging`` and ``privacy``, above ``storage``
(docs/architecture.md, "Layers and packages")."""
