"""``{{SECRET.name}}`` and ``{{secrets.name}}`` references in strings and JSON documents
(docs/storage-contract.md, "References")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Sequence, Union

from .errors import InvalidReference, ReaderError
from .names import secret_name_problem
from .values import REDACTED, Secret

PREFIXES = ("SECRET.", "secrets.")


@dataclass(frozen=True)
class Reference:
    start: int  # offset of its "{{"
    end: int  # offset just past its "}}"
    name: str


def parse(text: str, org_id: str, where: str = "") -> List[Reference]:
    """Every reference of ``text``, in order. ``{{``, optional spaces, a prefix, the name up to
    the next ``}}`` (trailing spaces stripped). Any other ``{{...}}`` is left alone."""
    references = []
    start = text.find("{{")
    while start != -1:
        at = start + 2
        while text.startswith(" ", at):
            at += 1
        prefix = next((p for p in PREFIXES if text.startswith(p, at)), None)
        if prefix is None:
            start = text.find("{{", start + 1)
            continue
        close = text.find("}}", at + len(prefix))
        if close == -1:
            raise InvalidReference(
                f"the reference at character {start}{where} has no closing '}}}}'",
                position=start,
                org_id=org_id,
            )
        name = text[at + len(prefix) : close].rstrip(" ")
        problem = secret_name_problem(name)
        if problem is not None:
            raise InvalidReference(
                f"the reference at character {start}{where} does not name a valid secret ({problem})",
                position=start,
                org_id=org_id,
            )
        references.append(Reference(start, close + 2, name))
        start = text.find("{{", close + 2)
    return references


def substitute(text: str, references: Sequence[Reference], secrets: Mapping[str, Secret]) -> str:
    """One pass: a value holding a reference is inserted as it is."""
    parts = []
    at = 0
    for reference in references:
        parts.append(text[at : reference.start])
        parts.append(secrets[reference.name].value.reveal())
        at = reference.end
    parts.append(text[at:])
    return "".join(parts)


GetMany = Callable[[List[str]], Dict[str, Union[Secret, ReaderError]]]


def _read_all(references: Sequence[Reference], get_many: GetMany) -> Dict[str, Secret]:
    """One batch for every name referenced; the first failing reference's error, else all."""
    names = list(dict.fromkeys(reference.name for reference in references))
    if not names:
        return {}
    results = get_many(names)
    for reference in references:
        result = results[reference.name]
        if isinstance(result, ReaderError):
            raise result
    return {name: result for name, result in results.items() if isinstance(result, Secret)}


def resolve_text(text: str, org_id: str, get_many: GetMany) -> str:
    if not isinstance(text, str):
        raise TypeError("resolve() takes a str")
    references = parse(text, org_id)
    return substitute(text, references, _read_all(references, get_many))


class ResolvedDocument:
    """A JSON document with its references replaced; ``reveal()`` returns it."""

    __slots__ = ("_document",)

    def __init__(self, document: Any) -> None:
        self._document = document

    def reveal(self) -> Any:
        return self._document

    def __repr__(self) -> str:
        return f"ResolvedDocument('{REDACTED}')"

    __str__ = __repr__


def resolve_document(document: Any, org_id: str, get_many: GetMany) -> ResolvedDocument:
    """Every string of the document (values and list items at any depth, not keys), with one
    batch for all of them. Reading order, which decides whose error is raised, is the Rust
    reader's: lists in order, objects by key in code-point order; the result keeps the
    document's own key order."""
    strings: List[str] = []
    _collect(document, strings)
    parsed: List[List[Reference]] = []
    for index, text in enumerate(strings):
        parsed.append(parse(text, org_id, f" of the document's string {index + 1}"))
    secrets = _read_all([reference for references in parsed for reference in references], get_many)
    resolved = iter(substitute(text, refs, secrets) for text, refs in zip(strings, parsed))
    return ResolvedDocument(_rebuild(document, resolved))


def _collect(node: Any, strings: List[str]) -> None:
    if isinstance(node, str):
        strings.append(node)
    elif isinstance(node, Mapping):
        for key in _reading_order(node):
            _collect(node[key], strings)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _collect(value, strings)


def _rebuild(node: Any, resolved: Iterator[str]) -> Any:
    """The document again, in the same order as _collect, each string taken from resolved."""
    if isinstance(node, str):
        return next(resolved)
    if isinstance(node, Mapping):
        rebuilt = {key: _rebuild(node[key], resolved) for key in _reading_order(node)}
        return {key: rebuilt[key] for key in node}
    if isinstance(node, list):
        return [_rebuild(value, resolved) for value in node]
    if isinstance(node, tuple):
        return tuple(_rebuild(value, resolved) for value in node)
    return node


def _reading_order(node: Mapping[Any, Any]) -> List[Any]:
    """An object's keys in code-point order (serde_json's order, which the Rust reader reads)."""
    return sorted(node, key=str)
