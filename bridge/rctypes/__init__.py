"""Rocket.Chat's data as typed values: messages, users, rooms, the events the connector
hands to the core, and the shape of its file links. What ``mautrix.types`` is for Matrix:
the connector (``bridge.rocketchat``) parses into these, the core (``bridge.bridging``)
reads them, and neither imports the other for them. Ids are in ``bridge.ids``."""
