"""Rocket.Chat markdown ⇄ Matrix HTML, both directions through a sanitiser.

Remote users and Rocket.Chat users alike can send anything, so every HTML string the
bridge emits goes through ``nh3`` restricted to the tags, attributes and URL schemes the
Matrix client-server spec suggests for ``formatted_body`` ("m.room.message msgtypes").
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote

import nh3

# Client-server spec, "m.room.message msgtypes": the tags and attributes clients should
# allow. ``style``, ``on*`` handlers and ``javascript:`` links are never among them.
MATRIX_TAGS = frozenset(
    "font del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s strike "
    "code hr br div table thead tbody tr th td caption pre span img details summary".split()
)
MATRIX_ATTRIBUTES = {
    "font": {"data-mx-bg-color", "data-mx-color", "color"},
    "span": {"data-mx-bg-color", "data-mx-color", "data-mx-spoiler"},
    "a": {"name", "target", "href"},
    "img": {"width", "height", "alt", "title", "src"},
    "ol": {"start"},
    "code": {"class"},
}
SAFE_SCHEMES = frozenset({"http", "https", "ftp", "mailto", "magnet"})
# Images only from the homeserver's own media repository (the spec: "mxc" for img src).
_IMG_SCHEMES = frozenset({"mxc"})

MATRIX_TO = "https://matrix.to/#/"


# Rich-reply fallbacks (spec "Rich replies"): kept through sanitising Matrix input only so
# the converter can drop them whole; never emitted by the bridge.
_REPLY_FALLBACK = "mx-reply"


def sanitize_html(fragment: str, *, keep_reply_fallback: bool = False) -> str:
    """Keep only what the Matrix spec allows; drop scripts, handlers and unsafe links."""
    return nh3.clean(
        fragment,
        tags=set(MATRIX_TAGS) | ({_REPLY_FALLBACK} if keep_reply_fallback else set()),
        attributes={k: set(v) for k, v in MATRIX_ATTRIBUTES.items()},
        url_schemes=set(SAFE_SCHEMES | _IMG_SCHEMES),
        link_rel=None,
        strip_comments=True,
        attribute_filter=_filter_attribute,
    )


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.startswith("mxc://"):
        return None
    if tag == "code" and attribute == "class" and not re.fullmatch(r"language-[\w+-]+", value):
        return None
    if attribute in {"data-mx-color", "data-mx-bg-color", "color"} and not re.fullmatch(
        r"#[0-9a-fA-F]{6}", value
    ):
        return None
    return value


# --- Rocket.Chat → Matrix ----------------------------------------------------------------


@dataclass(frozen=True)
class MentionTarget:
    """Who an ``@username`` in Rocket.Chat text points at on the Matrix side."""

    user_id: str
    display_name: str


@dataclass(frozen=True)
class MatrixText:
    body: str
    formatted_body: str | None
    mentioned_user_ids: tuple[str, ...] = field(default=())


_CODE_BLOCK = re.compile(r"```(?:[\w+-]*\n)?(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_SLACK_LINK = re.compile(r"&lt;([a-z][a-z0-9+.-]*:[^|\s]+?)\|([^&\n]+?)&gt;")
_BARE_URL = re.compile(r"(?<![\"'=>])\b(https?://[^\s<]+[^\s<.,;:!?)\]'\"])")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]+)")

MentionLookup = Callable[[str], MentionTarget | None]


def rc_to_matrix(text: str, lookup: MentionLookup) -> MatrixText:
    """Rocket.Chat markdown → a plain ``body`` and a sanitised ``formatted_body``.

    ``formatted_body`` is None when the text has no formatting, links or mentions, so
    plain messages stay plain on Matrix.
    """
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"\x00{len(stash) - 1}\x00"

    escaped = html.escape(text.replace("\x00", ""), quote=True)
    # Code first, so nothing inside it is read as markup.
    escaped = _CODE_BLOCK.sub(lambda m: keep(f"<pre><code>{m.group(1)}</code></pre>"), escaped)
    escaped = _INLINE_CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), escaped)
    escaped = _MD_LINK.sub(lambda m: keep(_link(m.group(2), m.group(1))), escaped)
    escaped = _SLACK_LINK.sub(lambda m: keep(_link(m.group(1), m.group(2))), escaped)
    escaped = _BARE_URL.sub(lambda m: keep(_link(m.group(1), m.group(1))), escaped)
    mentioned: list[str] = []
    plain_body = text

    def mention(m: re.Match[str]) -> str:
        nonlocal plain_body
        target = lookup(m.group(1))
        if target is None:
            return m.group(0)
        if target.user_id not in mentioned:
            mentioned.append(target.user_id)
        plain_body = plain_body.replace(f"@{m.group(1)}", target.display_name)
        name = html.escape(target.display_name)
        return keep(f'<a href="{MATRIX_TO}{html.escape(target.user_id)}">{name}</a>')

    escaped = _MENTION.sub(mention, escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    escaped = _ITALIC.sub(r"<em>\1</em>", escaped)
    escaped = _STRIKE.sub(r"<del>\1</del>", escaped)
    escaped = _quotes(escaped)
    # Line breaks become <br> before code is put back: inside <pre> they stay newlines.
    escaped = escaped.replace("\n", "<br>")
    formatted = re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], escaped)
    if formatted == html.escape(text, quote=True).replace("\n", "<br>"):
        return MatrixText(plain_body, None, tuple(mentioned))
    return MatrixText(plain_body, sanitize_html(formatted), tuple(mentioned))


def _link(url: str, label: str) -> str:
    raw = html.unescape(url)
    scheme = raw.split(":", 1)[0].lower() if ":" in raw else ""
    if scheme not in SAFE_SCHEMES:
        return label  # an unsafe link keeps its text and loses the link
    return f'<a href="{html.escape(raw, quote=True)}">{label}</a>'


def _quotes(escaped: str) -> str:
    lines = escaped.split("\n")
    out: list[str] = []
    quoted: list[str] = []
    for line in lines:
        if line.startswith("&gt; ") or line == "&gt;":
            quoted.append(line[5:])
            continue
        if quoted:
            out.append("<blockquote>" + "\n".join(quoted) + "</blockquote>")
            quoted = []
        out.append(line)
    if quoted:
        out.append("<blockquote>" + "\n".join(quoted) + "</blockquote>")
    return "\n".join(out)


# --- Matrix → Rocket.Chat ----------------------------------------------------------------

UserLookup = Callable[[str], str | None]
"""Matrix user id → the Rocket.Chat username that stands for it, if any."""


def strip_reply_fallback(body: str) -> str:
    """A reply's plain ``body`` without the quote of the message it answers.

    Clients put the replied-to message, as lines starting with ``>``, then a blank line,
    at the head of a reply's body (Matrix spec, client-server API, "Rich replies",
    fallbacks). That is someone else's text, maybe of a person who opted out or was
    erased: it is not the replier's to send on.
    """
    lines = body.split("\n")
    quoted = 0
    while quoted < len(lines) and lines[quoted].startswith(">"):
        quoted += 1
    if quoted == 0:
        return body
    if quoted < len(lines) and lines[quoted] == "":
        quoted += 1
    return "\n".join(lines[quoted:])


# What a mention of someone whose name must not cross (they opted out) becomes.
UNNAMED = "someone"


def matrix_to_rc(
    body: str,
    formatted_body: str | None,
    lookup: UserLookup,
    unnamed: frozenset[str] = frozenset(),
) -> str:
    """A Matrix message → Rocket.Chat markdown; the HTML is sanitised before it is read.

    A mention (pill) of a user in ``unnamed`` becomes :data:`UNNAMED`: its label is the
    person's display name, which the client filled in, not words of the sender's.
    """
    if not formatted_body:
        return body
    converter = _HtmlToMarkdown(lookup, unnamed)
    converter.feed(sanitize_html(formatted_body, keep_reply_fallback=True))
    converter.close()
    return converter.result().strip("\n") or body


_INLINE_MARK = {"b": "*", "strong": "*", "i": "_", "em": "_", "del": "~", "s": "~", "strike": "~"}


class _HtmlToMarkdown(HTMLParser):
    def __init__(self, lookup: UserLookup, unnamed: frozenset[str] = frozenset()) -> None:
        super().__init__(convert_charrefs=True)
        self._lookup = lookup
        self._unnamed = unnamed
        self._out: list[str] = []
        self._links: list[tuple[str, int]] = []  # (href, position in _out)
        self._in_pre = 0
        self._quote = 0
        self._skip = 0  # inside <mx-reply>, stripped (spec: rich replies fallback)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == _REPLY_FALLBACK:
            self._skip += 1
        elif self._skip:
            return  # nothing inside the fallback counts, markup included
        elif tag in _INLINE_MARK:
            self._out.append(_INLINE_MARK[tag])
        elif tag == "code" and not self._in_pre:
            self._out.append("`")
        elif tag == "pre":
            self._in_pre += 1
            self._out.append("\n```\n")
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self._out)))
        elif tag in ("br",):
            self._out.append("\n")
        elif tag == "blockquote":
            self._quote += 1
            self._out.append("\n")
        elif tag == "li":
            self._out.append("\n- ")
        elif tag in ("p", "div", "ul", "ol") or re.fullmatch(r"h[1-6]", tag):
            self._out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == _REPLY_FALLBACK:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag in _INLINE_MARK:
            self._out.append(_INLINE_MARK[tag])
        elif tag == "code" and not self._in_pre:
            self._out.append("`")
        elif tag == "pre":
            self._in_pre = max(0, self._in_pre - 1)
            self._out.append("\n```\n")
        elif tag == "a" and self._links:
            self._close_link()
        elif tag == "blockquote":
            self._quote = max(0, self._quote - 1)
            self._out.append("\n")
        elif tag in ("p", "div") or re.fullmatch(r"h[1-6]", tag):
            self._out.append("\n")

    def _close_link(self) -> None:
        href, start = self._links.pop()
        label = "".join(self._out[start:])
        del self._out[start:]
        if href.startswith(MATRIX_TO):
            target = unquote(href[len(MATRIX_TO) :]).split("?", 1)[0]
            if target in self._unnamed:
                self._out.append(UNNAMED)
                return
            username = self._lookup(target) if target.startswith("@") else None
            self._out.append(f"@{username}" if username else label)
        elif href and href != label:
            self._out.append(f"[{label}]({href})")
        else:
            self._out.append(label or href)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._quote and not self._in_pre:
            data = data.replace("\n", "\n> ")
            if not self._out or self._out[-1].endswith("\n"):
                data = "> " + data
        self._out.append(data)

    def result(self) -> str:
        return re.sub(r"\n{3,}", "\n\n", "".join(self._out))
