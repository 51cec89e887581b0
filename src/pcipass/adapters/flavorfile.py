"""Read flavors and images from the JSON operators already have.

Accepted flavor shapes:

* ``openstack flavor show -f json``: ``properties`` is a dict (newer
  clients) or the ``key='value', key2='value2'`` string older clients print
  (values may contain commas, colons and spaces: ``'a1:2, b:1'``);
* the compute API's ``{"flavor": {..., "extra_specs": {...}}}`` and
  ``GET /flavors/{id}/os-extra_specs``'s ``{"extra_specs": {...}}``;
* ``openstack flavor list --long -f json`` (a list; see :func:`read_flavors`).

Images: ``openstack image show -f json`` (``properties`` dict or string), the
Glance API's image (custom properties are top-level keys), or a bare
properties dict. Unknown keys are ignored; a missing name becomes the file
stem. Nothing here raises for bad input: problems name the file and line.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from pcipass.adapters import boundedread
from pcipass.core import config, errors, jsontext

_EXTRA_SPEC_KEYS = ("extra_specs", "os-flavor-extra-specs", "properties")
_GLANCE_FIELDS = frozenset({
    "checksum", "container_format", "created_at", "direct_url", "disk_format", "file", "id",
    "locations", "min_disk", "min_ram", "name", "os_hash_algo", "os_hash_value", "os_hidden",
    "owner", "properties", "protected", "schema", "self", "size", "status", "stores", "tags",
    "updated_at", "virtual_size", "visibility"})
_GLANCE_MARKERS = frozenset({"disk_format", "container_format", "status", "visibility"})


# -- files and JSON ----------------------------------------------------------------------


def _read_json(path: str | Path, what: str) -> tuple[Any, str, errors.Problem | None]:
    """The decoded JSON document and its text, or a Problem (file and line) instead."""
    name = str(path)
    try:
        text = boundedread.read_bounded(path, boundedread.MAX_INPUT_BYTES).decode("utf-8-sig")
    except FileNotFoundError:
        return None, "", errors.Problem("InputFileNotFound", f"{what} file {name} does not exist",
                                        file=name)
    except IsADirectoryError:
        return None, "", errors.Problem("InputFileIsDirectory",
                                        f"{name} is a directory, not a {what} file", file=name)
    except OSError as exc:
        return None, "", errors.Problem("InputFileUnreadable",
                                        f"cannot read {what} file {name}: {exc.strerror or exc}",
                                        file=name)
    except UnicodeDecodeError as exc:
        return None, "", errors.Problem("InputFileDecodeError",
                                        f"{name} is not UTF-8 text (offset {exc.start})", file=name,
                                        hint=f"pass the JSON of 'openstack {what} show -f json'")
    try:
        return jsontext.loads(text), text, None
    except jsontext.JsonTooComplex as exc:
        return None, text, errors.Problem(
            "JsonTooComplex", f"{name} is JSON beyond pcipass's bounds: {exc}", file=name,
            line=_too_complex_line(text),
            hint=f"{what} JSON nests a few levels and holds ordinary numbers; pass the "
                 f"output of 'openstack {what} show -f json'")
    except json.JSONDecodeError as exc:
        hint = f"save the output of 'openstack {what} show -f json'"
        if re.match(r"\s*[A-Za-z_-]+:\s", text):
            hint = f"this looks like YAML or a table: use 'openstack {what} show -f json'"
        return None, text, errors.Problem(
            "InvalidJson", f"{name} is not valid JSON: {exc.msg} (line {exc.lineno} column "
            f"{exc.colno})", file=name, line=exc.lineno, hint=hint)


_BOUND_TOKENS = re.compile(r'\\.|["\[\]{}]|\d+', re.DOTALL)


def _too_complex_line(text: str) -> int | None:
    """Line of the first number or bracket over a bound :func:`jsontext.loads` checks."""
    depth, in_string = 0, False
    for m in _BOUND_TOKENS.finditer(text):
        tok = m.group()
        if tok == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif tok in ("[", "{"):
            depth += 1
        elif tok in ("]", "}"):
            depth -= 1
        elif not tok.isdigit() or len(tok) <= jsontext.MAX_INT_DIGITS:
            continue
        if depth > jsontext.MAX_DEPTH or tok.isdigit():
            return text.count("\n", 0, m.start()) + 1
    return None


_JSON_KEY = re.compile(r'"((?:[^"\\\n]|\\.)*)"\s*+:')


@functools.lru_cache(maxsize=2)
def _key_lines(text: str) -> dict[str, int]:
    """Line of the first ``"key":`` of every key in the JSON text, in one pass."""
    lines: dict[str, int] = {}
    line, last = 1, 0
    for m in _JSON_KEY.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        try:
            key = json.loads(f'"{m.group(1)}"')
        except ValueError:
            continue
        lines.setdefault(key, line)
    return lines


def _key_line(text: str, key: str) -> int | None:
    """Line of the first ``"key":`` in the JSON text (for locating problems).

    One indexed pass per document: a flavor with 100,000 bad values is located
    in linear time, not by one search of the whole text per value.
    """
    found = _key_lines(text).get(key)
    if found is not None:
        return found
    m = re.search(re.escape(key), text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _get(doc: dict[str, Any], key: str) -> Any:
    """``doc[key]`` matching case-insensitively (``flavor list --long`` capitalizes keys)."""
    if key in doc:
        return doc[key]
    lowered = {str(k).lower(): v for k, v in doc.items()}
    return lowered.get(key.lower())


# -- the key='value' string older clients print -------------------------------------------

_KEY_STOP = re.compile(r"[=,'\"]")
_SPACES = re.compile(r"\s*")
_COMMA = re.compile(r"\s*+,\s*")


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``key='value', key2='value2'`` (osc's ``format_dict``) into a dict.

    A value ends at its closing quote when that quote is followed by the
    next ``, key=`` or the end, so values may hold commas, colons and spaces.
    An unquoted value ends before the next ``, key=``. Linear in the text:
    each candidate end is checked once, with scans that never overlap.

    :raises ValueError: naming the offset of the first item that is not ``key=value``.
    """
    out: dict[str, str] = {}
    pos, text = 0, text.strip()
    while pos < len(text):
        eq = text.find("=", pos)
        if eq < 0:
            raise ValueError(f"no '=' after offset {pos}: {text[pos:pos + 40]!r}")
        key = text[pos:eq].strip()
        if not key:
            raise ValueError(f"empty key at offset {pos}")
        value, pos = _value_at(text, eq + 1)
        out[key] = value
        pos = _skip_comma(text, pos)
    return out


def _next_key_at(text: str, comma: int) -> bool:
    """``text[comma]`` is a comma that starts the next ``, key=`` item."""
    stop = _KEY_STOP.search(text, comma + 1)
    return stop is not None and stop.start() > comma + 1 and text[stop.start()] == "="


def _item_ends_at(text: str, pos: int) -> bool:
    """Only spaces, then the end of the text or the next ``, key=``, follow ``pos``."""
    after = _SPACES.match(text, pos)
    end = after.end() if after else pos
    return end == len(text) or (text[end] == "," and _next_key_at(text, end))


def _value_at(text: str, start: int) -> tuple[str, int]:
    quote = text[start:start + 1]
    if quote in ("'", '"'):
        close = text.find(quote, start + 1)
        while close >= 0 and not _item_ends_at(text, close + 1):
            close = text.find(quote, close + 1)
        if close < 0:
            raise ValueError(f"unterminated {quote} value at offset {start}")
        return text[start + 1:close], close + 1
    comma = text.find(",", start)
    while comma >= 0 and not _next_key_at(text, comma):
        comma = text.find(",", comma + 1)
    end = len(text) if comma < 0 else comma
    return text[start:end].strip(), end


def _skip_comma(text: str, pos: int) -> int:
    m = _COMMA.match(text, pos)
    return m.end() if m else pos


# -- flavors -----------------------------------------------------------------------------


def read_flavor(path: str | Path) -> config.Flavor:
    """Read one flavor from a JSON file (see the module docstring for the shapes)."""
    flavors = read_flavors(path)
    if len(flavors) == 1:
        return flavors[0]
    name = str(path)
    return config.Flavor(name=Path(path).stem, file=name, problems=[errors.Problem(
        "InvalidFlavorFile", f"{name} holds {len(flavors)} flavors; expected one", file=name,
        hint="pass one flavor per file, or use the list reader")])


def read_flavors(path: str | Path) -> list[config.Flavor]:
    """Read every flavor in a JSON file (one object, or a list of them)."""
    name, stem = str(path), Path(path).stem
    doc, text, problem = _read_json(path, "flavor")
    if problem is not None:
        return [config.Flavor(name=stem, file=name, problems=[problem])]
    if isinstance(doc, dict) and isinstance(doc.get("flavor"), dict):
        doc = doc["flavor"]
    elif isinstance(doc, dict) and isinstance(doc.get("flavors"), list):
        doc = doc["flavors"]  # the compute API's GET /flavors/detail
    items = doc if isinstance(doc, list) else [doc]
    if not items or not all(isinstance(d, dict) for d in items):
        return [config.Flavor(name=stem, file=name, problems=[errors.Problem(
            "InvalidFlavorFile", f"{name} is JSON but not a flavor object", file=name,
            hint="use 'openstack flavor show -f json'")])]
    strangers = [i for i, d in enumerate(items) if not _looks_like_flavor(d)]
    if strangers:
        return [config.Flavor(name=stem, file=name, problems=[_not_a_flavor(
            items[strangers[0]], name, text, strangers[0] if len(items) > 1 else None)])]
    return [_flavor(d, text, name, stem if len(items) == 1 else f"{stem}[{i}]")
            for i, d in enumerate(items)]


#: The keys of a flavor in every shape read here (one is enough; case-insensitive).
_FLAVOR_KEYS = frozenset({"name", "id", "vcpus", "ram", "disk", *_EXTRA_SPEC_KEYS})


def _looks_like_flavor(doc: dict[str, Any]) -> bool:
    return any(str(k).lower() in _FLAVOR_KEYS for k in doc)


def _not_a_flavor(doc: dict[str, Any], file: str, text: str, index: int | None) -> errors.Problem:
    """JSON with none of a flavor's keys: refused, not read as a flavor that asks nothing."""
    where = "" if index is None else f" (item {index})"
    lists = [k for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
    hint = "use 'openstack flavor show FLAVOR -f json'"
    if lists:
        hint = (f"a list under {str(lists[0])!r} is not read: pass one flavor ('openstack "
                "flavor show -f json') or a list as 'openstack flavor list --long -f json' "
                "prints it")
    keys = ", ".join(sorted(map(str, doc))[:6]) or "no keys"
    return errors.Problem(
        "InvalidFlavorFile", f"{file} is JSON but not a flavor{where}: it has none of name, id, "
        f"vcpus, ram, properties or extra_specs (it has {keys})", file=file,
        line=_key_line(text, str(next(iter(doc)))) if doc else None, hint=hint)


def _flavor(doc: dict[str, Any], text: str, file: str, default_name: str) -> config.Flavor:
    name = _get(doc, "name")
    name = name if isinstance(name, str) and name else default_name
    problems: list[errors.Problem] = []
    specs = _extra_specs(doc, text, file, name, problems)
    ints = {k: _int_field(doc, k, text, file, problems) for k in ("vcpus", "ram", "disk")}
    fid = _get(doc, "id")
    return config.Flavor(name=name, file=file, id=None if fid is None else str(fid),
                         vcpus=ints["vcpus"], ram=ints["ram"], disk=ints["disk"],
                         extra_specs=specs, problems=problems)


def _extra_specs(doc: dict[str, Any], text: str, file: str, flavor: str,
                 problems: list[errors.Problem]) -> dict[str, str]:
    raw = next((_get(doc, k) for k in _EXTRA_SPEC_KEYS if _get(doc, k) is not None), None)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            return parse_properties(raw)
        except ValueError as exc:
            problems.append(errors.Problem(
                "InvalidFlavorProperties", f"cannot read the properties string: {exc}",
                file=file, line=_key_line(text, "properties"), entry=f"flavor {flavor!r}",
                hint="expected key='value', key2='value2' as 'openstack flavor show' prints"))
            return {}
    if not isinstance(raw, dict):
        problems.append(errors.Problem(
            "InvalidFlavorProperties", f"extra specs must be an object, not {type(raw).__name__}",
            file=file, line=_key_line(text, "properties"), entry=f"flavor {flavor!r}"))
        return {}
    return _string_values(raw, text, file, f"flavor {flavor!r}", problems, strict=True)


def _string_values(raw: dict[str, Any], text: str, file: str, entry: str,
                   problems: list[errors.Problem], *, strict: bool) -> dict[str, str]:
    """Keep string values; a non-string is a Problem (always for flavors, for hw_* on images)."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            out[str(key)] = value
        elif strict or str(key).startswith("hw_"):
            problems.append(errors.InvalidExtraSpec(
                value=value, key=key,
                reason=f"Nova stores extra specs and image properties as strings; write "
                       f"{json.dumps(str(value).lower() if isinstance(value, bool) else str(value))}",
            ).to_problem(file=file, line=_key_line(text, str(key)), entry=entry))
    return out


def _int_field(doc: dict[str, Any], key: str, text: str, file: str,
               problems: list[errors.Problem]) -> int | None:
    value = _get(doc, key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= MAX_INT:
            return value
        problems.append(errors.Problem(
            "InvalidFlavorField", f"flavor field {key!r} is {errors.clip(str(value), 40)}, "
            f"more than Nova stores ({MAX_INT})", file=file, line=_key_line(text, key)))
        return None
    problems.append(errors.Problem(
        "InvalidFlavorField",
        f"flavor field {key!r} should be an integer, not {errors.clip(repr(value), 40)}",
        file=file, line=_key_line(text, key),
        hint=f"at most {MAX_INT}" if isinstance(value, str) and value.strip().isdigit() else None))
    return None


MAX_INT = 2**31 - 1
"""Nova's ``db.MAX_INT``: the largest vcpus, ram or disk a flavor can have."""


# -- images ------------------------------------------------------------------------------


def read_image(path: str | Path) -> config.Image:
    """Read an image's properties (``openstack image show -f json``, the API's, or bare)."""
    name, stem = str(path), Path(path).stem
    doc, text, problem = _read_json(path, "image")
    if problem is not None:
        return config.Image(name=stem, file=name, problems=[problem])
    if isinstance(doc, dict) and isinstance(doc.get("image"), dict):
        doc = doc["image"]
    if not isinstance(doc, dict):
        return config.Image(name=stem, file=name, problems=[errors.Problem(
            "InvalidImageFile", f"{name} is JSON but not an image object", file=name,
            hint="use 'openstack image show -f json'")])
    problems: list[errors.Problem] = []
    given = doc.get("name")
    image_name: str = given if isinstance(given, str) and given else stem
    raw = _image_properties(doc, text, name, problems)
    props = _string_values(raw, text, name, f"image {image_name!r}", problems, strict=False)
    return config.Image(name=image_name, file=name, properties=props, problems=problems)


def _image_properties(doc: dict[str, Any], text: str, file: str,
                      problems: list[errors.Problem]) -> dict[str, Any]:
    shown = "properties" in doc or bool(_GLANCE_MARKERS & doc.keys())
    if not shown:
        return doc
    raw: dict[str, Any] = {k: v for k, v in doc.items() if k not in _GLANCE_FIELDS}
    props = doc.get("properties")
    if isinstance(props, str) and props.strip():
        try:
            raw.update(parse_properties(props))
        except ValueError as exc:
            problems.append(errors.Problem(
                "InvalidImageProperties", f"cannot read the properties string: {exc}", file=file,
                line=_key_line(text, "properties")))
    elif isinstance(props, dict):
        raw.update(props)
    return raw
