"""Hypothesis strategies driven by case_store/openapi.yaml: for each operation, HTTP cases with
schema-valid and schema-violating parameters and bodies, with and without the bearer token.

A small JSON-Schema-to-strategy translation (the subset the document uses: $ref, type and type
lists, enum, const, oneOf/anyOf/allOf, properties/required, items, min/max, lengths, pattern,
examples) stands in for schemathesis, which is not installed and whose pins would fight Rasa's.
"""

from __future__ import annotations

import json
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, RefResolver

from bot import refcode

OPENAPI = Path(__file__).resolve().parents[2] / "case_store" / "openapi.yaml"
MAX_TEXT = 60  # generated strings; long and huge values come from the hostile lists below

# Values a careless or hostile client sends where a number or a short token is expected.
HOSTILE_SCALARS = [
    "²", "-1", "0", "-0", "1e3", "1_0", " 5", "5 ", "٣", "١٢", "۷", "0x10", "NaN", "inf", "true", "null",
    "99999999999999999999999", "9" * 5000, "2147483648", "9223372036854775808", "", " ", "%", "%00",
    "'; DROP TABLE requests; --", "../../etc/passwd", "\u202e", "𝟙𝟚", "١٢٣٤٥٦٧٨٩٠", "482 910 3756",
]
HOSTILE_TEXT = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.text(max_size=MAX_TEXT),
    st.text(alphabet=string.digits + "٠١٢٣٤٥٦٧٨٩ -", min_size=1, max_size=14),
)
# Header values the HTTP layer itself lets through (no control characters, no surrogates).
HEADER_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f"), max_size=MAX_TEXT
)
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/xml", None,
]


def load() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


# --- JSON Schema -> strategy ---------------------------------------------------------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def from_schema(doc: dict[str, Any], schema: Any) -> st.SearchStrategy[Any]:
    schema = resolve(doc, schema)
    if not isinstance(schema, dict) or not schema:
        return ANY_JSON
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([from_schema(doc, s) for s in schema[key]])
    if "allOf" in schema:
        return from_schema(doc, _merge_all_of(doc, schema["allOf"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema(doc, {**schema, "type": k}) for k in kind])
    if kind == "string":
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
        elif schema.get("format") == "uri":
            text = st.builds("https://example.org/{}".format, st.text(alphabet=string.ascii_letters, max_size=20))
        else:
            low = schema.get("minLength", 0)
            text = st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", MAX_TEXT), MAX_TEXT)))
        examples = schema.get("examples")
        return st.one_of(st.sampled_from(examples), text) if examples else text
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(doc, schema.get("items", {})), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = [k for k in schema.get("required", []) if k in props]
        optional = {k: from_schema(doc, v) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries({k: from_schema(doc, props[k]) for k in required}, optional=optional)
    return ANY_JSON


def _merge_all_of(doc: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for part in parts:
        part = resolve(doc, part)
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += part.get("required", [])
    return merged


@st.composite
def violating(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid value with one thing wrong: a key dropped, a value of the wrong kind, a key
    nobody asked for, or text that no database takes (NUL, an unpaired surrogate)."""
    value = draw(valid)
    if not isinstance(value, dict) or not value:
        return draw(ANY_JSON)
    value = dict(value)
    key = draw(st.sampled_from(sorted(value)))
    how = draw(st.sampled_from(["drop", "retype", "extra", "nul", "surrogate", "huge"]))
    if how == "drop":
        del value[key]
    elif how == "retype":
        value[key] = draw(ANY_JSON)
    elif how == "extra":
        value[draw(st.text(min_size=1, max_size=12))] = draw(ANY_JSON)
    elif how == "nul":
        value[key] = "a\x00b"
    elif how == "surrogate":
        value[key] = "a\ud800b"
    else:
        value[key] = "x" * draw(st.sampled_from([129, 2001, 8001, 20000]))
    return value


def _deep(n: int, opener: str) -> bytes:
    closer = "]" if opener == "[" else "}"
    if opener == "{":
        return (('{"a":' * n) + "1" + ("}" * n)).encode()
    return (opener * n + closer * n).encode()


RAW_BODIES = st.one_of(
    st.builds(_deep, st.sampled_from([33, 100, 5000, 30000]), st.sampled_from(["[", "{"])),
    st.binary(max_size=64),
    st.sampled_from([b"", b" ", b"null", b"[]", b'"text"', b"42", b"[1, 2]", b"{", b'{"a": }', b"\xff\xfe{}",
                     b'{"a": 1e999999}', b'{"a": "\\ud800"}', b"\xef\xbb\xbf{}", b" " * 70000 + b"{}",
                     b'{"x": "' + b"y" * 70000 + b'"}']),
)


# --- operations and cases ------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str
    parameters: list[dict[str, Any]]
    body_schema: dict[str, Any] | None
    body_required: bool
    responses: dict[int, dict[str, Any] | None]  # status -> JSON schema of the body (or None)
    secured: bool

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def operations(doc: dict[str, Any]) -> list[Operation]:
    ops = []
    for path, item in doc["paths"].items():
        shared = [resolve(doc, p) for p in item.get("parameters", [])]
        for method in ("get", "post", "put", "patch", "delete"):
            if method not in item:
                continue
            op = item[method]
            params = shared + [resolve(doc, p) for p in op.get("parameters", [])]
            body = op.get("requestBody")
            body_schema = body["content"]["application/json"]["schema"] if body else None
            responses: dict[int, dict[str, Any] | None] = {}
            for code, response in op["responses"].items():
                response = resolve(doc, response)
                content = (response.get("content") or {}).get("application/json")
                responses[int(code)] = content.get("schema") if content else None
            secured = op.get("security", doc.get("security")) != []
            ops.append(Operation(method.upper(), path, params, body_schema, bool(body and body.get("required")),
                                 responses, secured))
    return ops


@dataclass
class Case:
    path: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None
    content_type: str | None
    auth: str  # "token", "none", "wrong"
    known: int | None  # index into the references created so far, for {reference}
    notes: list[str] = field(default_factory=list)

    def url(self, op: Operation, known_refs: list[str]) -> str:
        path = op.path
        for name, value in self.path.items():
            if name == "reference" and self.known is not None and known_refs:
                value = known_refs[self.known % len(known_refs)]
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return path


def _valid_reference() -> st.SearchStrategy[str]:
    def make(digits: str) -> str:
        body = str(int(digits[0]) % 9 + 1) + digits[1:]
        return body + str(refcode.damm_digit(body))

    return st.text(alphabet=string.digits, min_size=9, max_size=9).map(make)


def _header_safe(value: str) -> str:
    return "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cs"))


def _param_value(doc: dict[str, Any], param: dict[str, Any]) -> st.SearchStrategy[str]:
    schema = resolve(doc, param.get("schema", {}))
    valid = from_schema(doc, schema).map(lambda v: v if isinstance(v, str) else json.dumps(v))
    if param["name"] == "reference":
        valid = st.one_of(_valid_reference(), valid)
    if param["in"] == "header":
        # Control characters never reach the app: aiohttp's parser answers 400 before it.
        return st.one_of(valid.map(_header_safe), HEADER_TEXT, st.sampled_from(["x" * 300, "٣" * 257, " "]))
    strategy = st.one_of(valid, HOSTILE_TEXT)
    if param["in"] == "path":
        return strategy.filter(lambda v: v not in ("", ".", ".."))
    return strategy


@st.composite
def cases(draw: st.DrawFn, doc: dict[str, Any], op: Operation) -> Case:
    path, query, headers = {}, {}, {}
    for param in op.parameters:
        where = param["in"]
        present = param.get("required") or draw(st.booleans())
        if where == "path":
            path[param["name"]] = draw(_param_value(doc, param))
        elif present and where == "query":
            query[param["name"]] = draw(_param_value(doc, param))
        elif present and where == "header":
            headers[param["name"]] = draw(_param_value(doc, param))
    if draw(st.integers(0, 9)) == 0:  # a parameter nobody documented
        query[draw(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8))] = draw(HOSTILE_TEXT)
    body: bytes | None = None
    content_type = "application/json"
    if op.body_schema is not None or op.method == "POST":
        valid = from_schema(doc, op.body_schema or {})
        kind = draw(st.sampled_from(["valid", "valid", "violating", "any", "raw", "none"]))
        if kind == "valid":
            body = json.dumps(draw(valid)).encode()
        elif kind == "violating":
            body = json.dumps(draw(violating(valid))).encode()
        elif kind == "any":
            body = json.dumps(draw(ANY_JSON)).encode()
        elif kind == "raw":
            body = draw(RAW_BODIES)
            if op.body_schema is None and len(body) > 4096:
                # A handler that reads no body answers first and closes; the client then sees a
                # reset while still sending, which says nothing about the app.
                body = body[:4096]
        if draw(st.integers(0, 4)) == 0:
            content_type = draw(st.sampled_from(CONTENT_TYPES))
    # Hypothesis leans towards the first choices; an explicit 1-in-4 keeps unauthenticated cases common.
    auth = ("token", "none", "wrong", "token")[draw(st.integers(0, 3))] if op.secured else "none"
    known = draw(st.one_of(st.none(), st.integers(0, 50)))
    return Case(path, query, headers, body, content_type, auth, known)


def response_validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, resolver=RefResolver.from_schema(doc))
