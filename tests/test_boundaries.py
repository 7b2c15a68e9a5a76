"""No ``dict[str, Any]`` crosses a package boundary (docs/architecture.md, "Typed contracts").

A value that one package of ``bridge`` hands to another is typed: an attrs or dataclass
value, a typed id, a mautrix type. Untyped JSON stays inside the package that reads or
writes it, where it is parsed or built once.

The check reads the source with :mod:`ast`. A *public* name (a module-level function,
class, alias or constant, or a public method or field of a public class) is *untyped* when
its annotation holds ``dict[str, Any]``, ``Mapping[str, Any]`` or ``MutableMapping[str,
Any]``, directly or through a module alias (``JSON = dict[str, Any]``). It *crosses* when a
module of another top-level package imports it (a function, alias or class), or, for a
method or field, imports its class and names the attribute. The few crossings that are
the storage boundary itself are listed in :data:`ALLOWED` (for any user) or
:data:`ALLOWED_TO` (for the packages named there only) with the reason.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import bridge

ROOT = Path(bridge.__file__).parent
UNTYPED = ("dict[str, Any]", "Mapping[str, Any]", "MutableMapping[str, Any]")

# (defining module, name) -> why it may cross. Keep this short: each entry is a place
# where JSON legitimately meets the code that types it.
_WIRE = "wire JSON parsed into rctypes values inside the Rocket.Chat connector"
ALLOWED: dict[tuple[str, str], str] = {
    # The erasure protocol's event contents are wire JSON between homeservers, read and
    # written by the bridge and by the receiver a partner runs: parsing them into
    # Request/Response (and a Response back into content) is the one place they are typed.
    ("bridge.privacy.erasure_protocol", "parse"): "wire JSON -> the protocol's values",
    ("bridge.privacy.erasure_protocol", "content"): "the protocol's values -> wire JSON",
    # RCUser.parse, RCRoom.parse, RCMessage.parse: called by rocketchat.rest, .realtime
    # and .inbox_events on the documents the server sent.
    ("bridge.rctypes.models", "parse"): _WIRE,
    ("bridge.rctypes.events", "parse"): _WIRE,
    # A message's document as the server sent it, stored in the inbox by the connector
    # (rocketchat.inbox_events) so its validator judges what was sent; nothing else reads it.
    ("bridge.rctypes.models", "raw"): "the wire document stored by the Rocket.Chat connector",
}

# ("module:Owner.name", using package) -> why that package may use it. The outbox's stored
# rows are JSON: pipeline.actions types them, and the outbox worker runs what the action
# table holds on them; every other package hands over and receives typed values.
ALLOWED_TO: dict[tuple[str, str], str] = {
    ("bridge.storage.outbox:Action.payload", "pipeline"): "a stored row -> its payload class",
    ("bridge.storage.outbox:NewAction.payload", "pipeline"): "new_action: a value -> its row",
    ("bridge.storage.outbox:Outbox.progress", "pipeline"): "a row's progress note -> its class",
    ("bridge.storage.outbox:Outbox.save_progress", "pipeline"): "a progress note -> its row",
    ("bridge.pipeline.contracts:Executor", "workers"): "the outbox worker runs stored rows",
    ("bridge.pipeline.contracts:OnDone", "workers"): "the worker records a row's result",
}

# The crossings still to be typed, as "module:Owner.name". Each one typed is removed here;
# a crossing not listed fails the test, and so does a listed one that no longer crosses.
NOT_YET_TYPED: set[str] = set()


@dataclass(frozen=True)
class Untyped:
    module: str  # bridge.x.y
    owner: str | None  # the class, for a method or field
    name: str
    line: int

    @property
    def package(self) -> str:
        return _package(self.module)

    def __str__(self) -> str:
        where = f"{self.owner}.{self.name}" if self.owner else self.name
        return f"{self.module}:{self.line} {where}"


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else module  # bridge.app, bridge.ids: their own


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue
        name = ".".join(rel.parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def _untyped_text(node: ast.expr | None, aliases: set[str]) -> bool:
    if node is None:
        return False
    text = ast.unparse(node)
    if any(u in text for u in UNTYPED):
        return True
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {
        n.value.strip("'\"")
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    return bool(names & aliases)


def _signature_untyped(fn: ast.FunctionDef | ast.AsyncFunctionDef, aliases: set[str]) -> bool:
    args = fn.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return _untyped_text(fn.returns, aliases) or any(
        _untyped_text(a.annotation, aliases) for a in every
    )


def _public(name: str) -> bool:
    return not name.startswith("_")


def _aliases(tree: ast.Module) -> set[str]:
    """Module-level names bound to an untyped annotation (``JSON = dict[str, Any]``)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
            if "TypeAlias" not in ast.unparse(node.annotation):
                continue
        else:
            continue
        if isinstance(target, ast.Name) and _untyped_text(value, found):
            found.add(target.id)
    return found


def _untyped_names(name: str, tree: ast.Module) -> list[Untyped]:
    aliases = _aliases(tree)
    found = [Untyped(name, None, a, 0) for a in sorted(aliases) if _public(a)]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _public(node.name) and _signature_untyped(node, aliases):
                found.append(Untyped(name, None, node.name, node.lineno))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _public(node.target.id) and _untyped_text(node.annotation, aliases):
                found.append(Untyped(name, None, node.target.id, node.lineno))
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    public = _public(item.name) or item.name == "__init__"
                    if public and _signature_untyped(item, aliases):
                        found.append(Untyped(name, node.name, item.name, item.lineno))
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    if _public(item.target.id) and _untyped_text(item.annotation, aliases):
                        found.append(Untyped(name, node.name, item.target.id, item.lineno))
    return found


def _imports(tree: ast.Module) -> dict[str, set[str]]:
    """Names this module imports from each ``bridge`` module."""
    found: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bridge"):
            for alias in node.names:
                found[node.module].add(alias.name)
    return found


def _attributes(tree: ast.Module) -> set[str]:
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
        k.arg for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords if k.arg
    }


def crossings(modules: dict[str, ast.Module] | None = None) -> list[tuple[Untyped, str]]:
    modules = _modules() if modules is None else modules
    untyped = [u for name, tree in modules.items() for u in _untyped_names(name, tree)]
    by_module: dict[str, list[Untyped]] = defaultdict(list)
    for u in untyped:
        by_module[u.module].append(u)
    found = []
    for user, tree in modules.items():
        imports = _imports(tree)
        attributes: set[str] | None = None
        for source, names in imports.items():
            for u in by_module.get(source, []):
                if _package(user) == u.package or (u.module, u.name) in ALLOWED:
                    continue
                if (_key(u), _package(user)) in ALLOWED_TO:
                    continue
                if u.owner is None and u.name in names:
                    found.append((u, user))
                elif u.owner is not None and u.owner in names:
                    if attributes is None:
                        attributes = _attributes(tree)
                    if u.name in attributes or u.name == "__init__":
                        found.append((u, user))
    return found


def _key(u: Untyped) -> str:
    return f"{u.module}:{u.owner + '.' if u.owner else ''}{u.name}"


def test_no_untyped_dict_crosses_a_package_boundary() -> None:
    found = crossings()
    new = sorted({f"{u}  (used by {user})" for u, user in found if _key(u) not in NOT_YET_TYPED})
    assert not new, f"{len(new)} untyped crossings:\n" + "\n".join(new)
    gone = sorted(NOT_YET_TYPED - {_key(u) for u, _ in found})
    assert not gone, "typed now, remove from NOT_YET_TYPED:\n" + "\n".join(gone)


def test_the_check_sees_an_untyped_crossing(tmp_path: Path) -> None:
    """The detector itself: a function taking ``dict[str, Any]`` imported by another
    package is found; the same function typed is not."""
    source = "from typing import Any\ndef f(x: dict[str, Any]) -> None: ...\n"
    tree = ast.parse(source)
    assert [u.name for u in _untyped_names("bridge.a.m", tree)] == ["f"]
    typed = ast.parse("def f(x: int) -> None: ...\n")
    assert _untyped_names("bridge.a.m", typed) == []
    alias = ast.parse("from typing import Any\nJ = dict[str, Any]\ndef g() -> J: ...\n")
    assert {u.name for u in _untyped_names("bridge.a.m", alias)} == {"J", "g"}


def test_the_check_sees_a_crossing_by_a_package_it_is_not_allowed_to() -> None:
    """A crossing allowed to one package (the outbox worker running stored rows) is still
    found when another package imports it."""
    defining = ast.parse("from typing import Any\nExecutor = dict[str, Any]\n")
    using = ast.parse("from bridge.pipeline.contracts import Executor\n")
    modules = {
        "bridge.pipeline.contracts": defining,
        "bridge.workers.outbox": using,
        "bridge.bridging.records": using,
    }
    found = [(_key(u), user) for u, user in crossings(modules)]
    assert found == [("bridge.pipeline.contracts:Executor", "bridge.bridging.records")]
