"""The vocabulary of the disclosure ledger: data categories, origin sides, recipient kinds.

The integer values are stored in the database; never renumber them.
"""

from __future__ import annotations

import enum


class Category(enum.IntFlag):
    """What kind of personal data an item carries (GDPR Art. 15(1)(b) "categories")."""

    MESSAGE_TEXT = 1
    EDIT = 2
    MEDIA = 4
    FILE_NAME = 8
    DISPLAY_NAME = 16
    AVATAR = 32
    REACTION = 64
    MENTION = 128

    @property
    def labels(self) -> tuple[str, ...]:
        """Lower-case names of the set flags, in value order (the JSON/CSV spelling)."""
        return tuple(c.label for c in Category if c in self)

    @property
    def label(self) -> str:
        assert self.name is not None, "label of a combination: use labels"
        return self.name.lower()

    @classmethod
    def singles(cls) -> tuple[Category, ...]:
        return tuple(cls)


PROFILE = Category.DISPLAY_NAME | Category.AVATAR


class Origin(enum.IntEnum):
    """The side an item was first written on; the other side holds the bridged copy."""

    ROCKETCHAT = 1
    MATRIX = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class RecipientKind(enum.IntEnum):
    """Who holds a copy. The erasure engine acts on local copies itself and can only ask
    remote ones (GDPR Art. 17(2): "inform controllers which are processing the data")."""

    REMOTE_HOMESERVER = 0
    LOCAL_HOMESERVER = 1
    ROCKETCHAT = 2

    @property
    def label(self) -> str:
        return {0: "remote", 1: "local", 2: "rocketchat"}[self.value]
