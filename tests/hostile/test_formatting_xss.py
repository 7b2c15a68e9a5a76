"""Nothing executable survives formatting, in either direction.

Every payload of ``xss_corpus.txt`` goes through Matrix HTML → Rocket.Chat markdown and
Rocket.Chat markdown → Matrix HTML. Matrix output is parsed and checked tag by tag
against the spec's allow-list; Rocket.Chat output must hold no link with an unsafe scheme
that the sender did not type as plain text, and no HTML tag the input held as a tag.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.bridging.formatting import (
    MATRIX_ATTRIBUTES,
    MATRIX_TAGS,
    SAFE_SCHEMES,
    MentionTarget,
    matrix_to_rc,
    rc_to_matrix,
    sanitize_html,
)

CORPUS = [
    line
    for line in (Path(__file__).parent / "xss_corpus.txt").read_text().splitlines()
    if line and not line.startswith("#")
]
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_DANGEROUS_TAG = re.compile(
    r"<\s*/?\s*(script|iframe|object|embed|svg|math|style|img|meta|link|base|form|input|body|"
    r"video|source|noscript|a|xss)\b",
    re.IGNORECASE,
)
_MD_LINK = re.compile(r"\]\(\s*([^)\s]*)")
_SLACK_LINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^|>]*)\|")


def scheme_of(url: str) -> str | None:
    """The scheme a browser would see: entities decoded, whitespace and controls dropped."""
    match = _SCHEME.match(_URL_NOISE.sub("", html.unescape(url)))
    return match.group(1).lower() if match else None


class AllowListChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MATRIX_TAGS:
            self.problems.append(f"tag <{tag}> is not in the Matrix allow-list")
        allowed = MATRIX_ATTRIBUTES.get(tag, set())
        for name, raw in attrs:
            value = raw or ""
            if name.startswith("on") or name == "style" or name not in allowed:
                self.problems.append(f"attribute {name} on <{tag}>")
            if name == "href" and (scheme_of(value) or "https") not in SAFE_SCHEMES:
                self.problems.append(f"href with scheme {scheme_of(value)}: {value!r}")
            if name == "src" and not value.startswith("mxc://"):
                self.problems.append(f"img src not mxc: {value!r}")

    handle_startendtag = handle_starttag


def matrix_html_problems(fragment: str) -> list[str]:
    checker = AllowListChecker()
    checker.feed(fragment)
    checker.close()
    return checker.problems


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(fragment: str) -> str:
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.parts)


def rc_markdown_problems(output: str, typed_text: str) -> list[str]:
    """Unsafe links the bridge made, and tags that were tags (not typed text) in the input."""
    problems = []
    for target in _MD_LINK.findall(output) + _SLACK_LINK.findall(output):
        scheme = scheme_of(target)
        if scheme is not None and scheme not in SAFE_SCHEMES and target not in typed_text:
            problems.append(f"link with scheme {scheme}: {target!r}")
    for tag in _DANGEROUS_TAG.findall(output):
        if not re.search(r"<\s*/?\s*" + tag, typed_text, re.IGNORECASE):
            problems.append(f"tag {tag} made it into Rocket.Chat text")
    return problems


def _no_mentions(_: str) -> None:
    return None


def _alice(username: str) -> MentionTarget | None:
    # A mention target whose display name is itself hostile.
    if username == "alice":
        return MentionTarget("@alice:hs.example", '"><img src=x onerror=alert(1)>')
    return None


@pytest.mark.parametrize("payload", CORPUS)
def test_matrix_html_to_rocketchat_keeps_nothing_executable(payload: str) -> None:
    output = matrix_to_rc("fallback body", payload, lambda user_id: "alice")
    assert rc_markdown_problems(output, text_of(sanitize_html(payload))) == []


@pytest.mark.parametrize("payload", CORPUS)
def test_rocketchat_markdown_to_matrix_html_keeps_nothing_executable(payload: str) -> None:
    converted = rc_to_matrix(payload, _alice)
    if converted.formatted_body is not None:
        assert matrix_html_problems(converted.formatted_body) == []
    # The plain body is text: Matrix clients never render it as HTML.
    assert converted.body is not None


@pytest.mark.parametrize("payload", CORPUS)
def test_sanitiser_output_passes_the_matrix_allow_list(payload: str) -> None:
    assert matrix_html_problems(sanitize_html(payload)) == []


# Regression examples for bugs found here, kept explicit.
def test_reply_fallback_is_not_relayed_to_rocketchat() -> None:
    # <mx-reply> was stripped by the sanitiser before the converter could drop its
    # content, so the quoted fallback (attacker-chosen, any sender) reached Rocket.Chat.
    formatted = (
        "<mx-reply><blockquote><a href='https://x'>In reply to</a> forged</blockquote>"
        "</mx-reply>answer"
    )
    assert matrix_to_rc("> forged\n\nanswer", formatted, _no_mentions) == "answer"


corpus_pieces = st.lists(st.sampled_from(CORPUS) | st.text(max_size=20), max_size=4).map("".join)


@given(payload=corpus_pieces)
def test_combined_payloads_stay_safe_both_ways(payload: str) -> None:
    assert matrix_html_problems(sanitize_html(payload)) == []
    converted = rc_to_matrix(payload, _alice)
    if converted.formatted_body is not None:
        assert matrix_html_problems(converted.formatted_body) == []
    output = matrix_to_rc("fallback", payload, lambda user_id: "alice")
    assert rc_markdown_problems(output, text_of(sanitize_html(payload))) == []


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('<a href="jav&#x09;ascript:alert(1)">x</a>', "href with scheme javascript"),
        ('<b onclick="x">x</b>', "attribute onclick"),
        ('<p style="x">x</p>', "attribute style"),
        ('<img src="https://x/y.png">', "img src not mxc"),
        ("<script>x</script>", "tag <script>"),
    ],
)
def test_the_allow_list_checker_catches_what_it_must(fragment: str, expected: str) -> None:
    assert any(expected in problem for problem in matrix_html_problems(fragment))


def test_the_rocketchat_checker_catches_bridge_made_links() -> None:
    assert rc_markdown_problems("[x](javascript:alert(1))", "x") != []
    assert rc_markdown_problems("<vbscript:x|label>", "label") != []
    assert rc_markdown_problems("<img src=x>", "") != []
