"""A reference receiver of erasure requests (docs/erasure-receiver.md)."""
