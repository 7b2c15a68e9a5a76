"""``!bridge`` and ``!privacy`` commands: parsing, authorization and handlers, one code
path for both sides (docs/architecture.md)."""
