"""The OpenStack Placement API over HTTP (requests): reads, and the few writes ``placement sync`` makes.

* **Microversions.** :meth:`PlacementClient.negotiate` reads the root document (which needs
  no token) and uses the highest version both sides know, :data:`WANTED` at most; below
  :data:`MINIMUM` (nested providers, 1.14) it refuses. Every call then sends
  ``OpenStack-API-Version: placement <version>``.
* **Auth.** A Keystone token goes in ``X-Auth-Token``. Without one the client speaks to a
  Placement run with ``[api] auth_strategy = noauth2``, which wants the header present and
  makes any value an admin: :data:`NOAUTH_TOKEN` is sent.
* **Generations.** A write that Placement refuses with ``placement.concurrent_update`` (409:
  someone changed the provider since it was read) is retried after a fresh read of the
  provider, at most ``retries`` times, then :class:`PlacementConflict`.
* **Timeouts everywhere.** Every request has a connect and a read timeout; an answer is
  read up to :data:`MAX_ANSWER` bytes.

Errors are :class:`PlacementUnreachable` (nothing answered) and :class:`PlacementApiError`
(an answer pcipass cannot use), with Placement's own error text where it gave one. A token
never appears in a message.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import requests

from pcipass.core import errors

MINIMUM = (1, 14)
WANTED = (1, 39)
NOAUTH_TOKEN = "admin"
MAX_ANSWER = 64 * 1024 * 1024
CONFLICT = "placement.concurrent_update"


class PlacementUnreachable(errors.InputError):
    """Nothing answered at the Placement URL (refused, timed out, not HTTP)."""


class PlacementApiError(errors.InputError):
    """Placement answered, but not with something pcipass can use (``status``: the HTTP status)."""

    @property
    def status(self) -> int | None:
        value = self.kwargs.get("status")
        return value if isinstance(value, int) else None


class PlacementConflict(PlacementApiError):
    """A provider kept changing under a write: the retries ran out."""


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where Placement is and how to talk to it.

    :ivar verify: TLS verification (True, False, or a CA bundle path).
    :ivar timeout: seconds for connecting and for each read.
    """

    url: str
    token: str | None = None
    verify: bool | str = True
    timeout: float = 30.0
    source: str = ""

    @property
    def shown(self) -> str:
        return self.source or self.url


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class PlacementClient:
    """One Placement endpoint. Not thread-safe (one requests session)."""

    def __init__(self, endpoint: Endpoint, *, retries: int = 4,
                 session: requests.Session | None = None,
                 wanted: tuple[int, int] = WANTED) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self.wanted = wanted
        self.session = session or requests.Session()
        self.version = "1.0"

    # -- plumbing ---------------------------------------------------------------------------

    def negotiate(self) -> str:
        """Pick the microversion: min(server's max, ``wanted``); refuse below MINIMUM."""
        root = self.call("GET", "/", versioned=False).body
        try:
            entry = root["versions"][0]
            low = _version(entry["min_version"])
            high = _version(entry["max_version"])
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise PlacementApiError(f"{self.endpoint.shown}: the root document is not Placement's "
                                    f"version list ({type(exc).__name__})",
                                    hint="check the URL: it must be Placement's, not Keystone's") from None
        chosen = min(high, self.wanted)
        if chosen < MINIMUM or chosen < low:
            raise PlacementApiError(
                f"{self.endpoint.shown}: Placement supports microversions {entry['min_version']} to "
                f"{entry['max_version']}; pcipass needs {MINIMUM[0]}.{MINIMUM[1]} (nested providers)",
                hint="upgrade Placement (Queens or later)")
        self.version = f"{chosen[0]}.{chosen[1]}"
        return self.version

    def call(self, method: str, path: str, body: Any = None, *, versioned: bool = True,
             ok: tuple[int, ...] = (200, 201, 204)) -> Answer:
        """One request; the decoded answer. Any status outside ``ok`` raises."""
        headers = {"Accept": "application/json",
                   "X-Auth-Token": self.endpoint.token or NOAUTH_TOKEN}
        if versioned:
            headers["OpenStack-API-Version"] = f"placement {self.version}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        url = self.endpoint.url.rstrip("/") + path
        try:
            resp = self.session.request(method, url, data=data, headers=headers, stream=True,
                                        timeout=(self.endpoint.timeout, self.endpoint.timeout),
                                        verify=self.endpoint.verify, allow_redirects=False)
            raw = _read(resp)
        except requests.Timeout:
            raise PlacementUnreachable(
                f"{self.endpoint.shown}: no answer to {method} {path} within "
                f"{self.endpoint.timeout:g} s", hint="check that Placement runs and is reachable "
                "from here, or raise --timeout") from None
        except (requests.ConnectionError, requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema) as exc:
            raise PlacementUnreachable(
                f"{self.endpoint.shown}: cannot reach Placement: {errors.clip(_reason(exc), 300)}",
                hint="check the URL (http://HOST:PORT of the Placement API) and that it runs") from None
        decoded = _decode(raw, resp.headers.get("Content-Type", ""))
        if resp.status_code not in ok:
            raise self._error(method, path, resp.status_code, decoded, raw)
        return Answer(resp.status_code, decoded)

    def _error(self, method: str, path: str, status: int, decoded: Any, raw: bytes) -> PlacementApiError:
        detail, code = _placement_error(decoded, raw)
        cls = PlacementConflict if code == CONFLICT else PlacementApiError
        hint = {401: "give a valid token (--token or OS_TOKEN), or use --os-cloud",
                403: "the credentials need the admin role on Placement"}.get(status)
        return cls(f"{self.endpoint.shown}: {method} {path} answered {status}: {detail}",
                   hint=hint, entry=code, status=status)

    def get(self, path: str) -> Any:
        return self.call("GET", path).body

    # -- reads ------------------------------------------------------------------------------

    def providers(self) -> list[dict[str, Any]]:
        return list(_field(self.get("/resource_providers"), "resource_providers", list))

    def provider(self, uuid: str) -> dict[str, Any] | None:
        try:
            return dict(self.get(f"/resource_providers/{uuid}"))
        except PlacementApiError as exc:
            if exc.status == 404:
                return None
            raise

    def inventories(self, uuid: str) -> dict[str, Any]:
        return dict(_field(self.get(f"/resource_providers/{uuid}/inventories"), "inventories", dict))

    def traits(self, uuid: str) -> list[str]:
        return list(_field(self.get(f"/resource_providers/{uuid}/traits"), "traits", list))

    def usages(self, uuid: str) -> dict[str, int]:
        return dict(_field(self.get(f"/resource_providers/{uuid}/usages"), "usages", dict))

    def provider_allocations(self, uuid: str) -> dict[str, Any]:
        return dict(_field(self.get(f"/resource_providers/{uuid}/allocations"), "allocations", dict))

    # -- writes -----------------------------------------------------------------------------

    def create_provider(self, name: str, parent: str | None = None) -> dict[str, Any]:
        """POST a provider (Placement picks its UUID); its record."""
        body: dict[str, Any] = {"name": name}
        if parent is not None:
            body["parent_provider_uuid"] = parent
        created = self.call("POST", "/resource_providers", body).body
        if isinstance(created, dict) and "uuid" in created:
            return created
        found = [p for p in self.providers() if p.get("name") == name]
        if not found:
            raise PlacementApiError(f"{self.endpoint.shown}: provider {name!r} was created but "
                                    "cannot be found")
        return dict(found[0])

    def delete_provider(self, uuid: str) -> None:
        self.call("DELETE", f"/resource_providers/{uuid}", ok=(204, 404))

    def ensure_trait(self, name: str) -> None:
        self.call("PUT", f"/traits/{name}", ok=(201, 204))

    def ensure_resource_class(self, name: str) -> None:
        self.call("PUT", f"/resource_classes/{name}", ok=(201, 204))

    def update_with_generation(self, uuid: str, what: str,
                               make: Callable[[Mapping[str, Any]], Any]) -> Any:
        """PUT ``/resource_providers/<uuid>/<what>`` with the body ``make(current)`` builds.

        ``current`` is a fresh GET of the same resource (with its
        ``resource_provider_generation``); on a generation conflict it is read again and
        ``make`` asked again, at most ``retries`` times.
        """
        path = f"/resource_providers/{uuid}/{what}"
        for _ in range(self.retries + 1):
            current = self.get(path)
            if not isinstance(current, dict) or "resource_provider_generation" not in current:
                raise PlacementApiError(f"{self.endpoint.shown}: GET {path} has no "
                                        "resource_provider_generation")
            body = dict(make(current))
            body["resource_provider_generation"] = current["resource_provider_generation"]
            try:
                return self.call("PUT", path, body).body
            except PlacementConflict:
                continue
        raise PlacementConflict(
            f"{self.endpoint.shown}: provider {uuid} changed under each of {self.retries + 1} "
            f"writes of its {what}", hint="something else writes this provider; run again later",
            entry=CONFLICT)


def _version(text: Any) -> tuple[int, int]:
    major, minor = str(text).split(".")
    return int(major), int(minor)


def _read(resp: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in resp.iter_content(65536):
        size += len(chunk)
        if size > MAX_ANSWER:
            resp.close()
            raise PlacementApiError(f"{resp.url}: the answer is larger than {MAX_ANSWER} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None if "json" not in content_type else raw.decode("utf-8", "replace")


def _placement_error(decoded: Any, raw: bytes) -> tuple[str, str | None]:
    """Placement's error text and code from its ``{"errors": [{...}]}`` body."""
    if isinstance(decoded, dict) and isinstance(decoded.get("errors"), list) and decoded["errors"]:
        first = decoded["errors"][0]
        if isinstance(first, dict):
            detail = str(first.get("detail") or first.get("title") or "")
            code = first.get("code")
            return errors.clip(" ".join(detail.split()), 500), code if isinstance(code, str) else None
    text = raw.decode("utf-8", "replace").strip()
    return (errors.clip(" ".join(text.split()), 300) if text else "(empty answer)"), None


def _field(doc: Any, key: str, kind: type) -> Any:
    if not isinstance(doc, dict) or not isinstance(doc.get(key), kind):
        raise PlacementApiError(f"Placement's answer has no {key!r} {kind.__name__}")
    return doc[key]


def _reason(exc: Exception) -> str:
    """The innermost reason (connection refused, name not known), without the URL's noise."""
    text = str(exc)
    for marker in ("Errno", "NameResolutionError", "Failed to resolve"):
        at = text.find(marker)
        if at >= 0:
            return text[at:].rstrip(")'\"")
    return text
