"""The local sandbox: real homeservers (and, in ``rocketchat/``, the Rocket.Chat simulator).

Homeserver side, used by tests (``tests/fixtures/homeservers.py``) and the demo:

* ``homeservers.HomeserverCluster`` – N federating Synapses; ``cluster_state()`` for the
  demo's state file.
* ``models.Homeserver`` / ``models.MatrixUser`` – value types.
* ``matrix_users`` – shared-secret registration, ``reset_connection``, mautrix clients,
  ``wait_for_event``.
* ``appservice`` – a minimal appservice registration and ghost clients for tests.

Nothing is imported here, so importing the simulator does not pull in the homeserver code.
"""
