"""``--os-cloud NAME``: the Placement endpoint and token as the openstack CLI finds them (openstacksdk).

The cloud comes from ``clouds.yaml`` (``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``,
``~/.config/openstack/``, ``/etc/openstack/``), with Keystone auth, region, interface and
TLS settings as openstacksdk applies them. The endpoint is ``placement_endpoint_override``
when set, else the service catalog's ``placement`` entry. With ``auth_type: none`` no token
is asked for (Placement then has to run with ``noauth2``). openstacksdk is only resolved
here; the requests themselves go through :mod:`pcipass.adapters.placementapi`.
"""

from __future__ import annotations

import warnings
from typing import Any

from pcipass.adapters import placementapi
from pcipass.core import errors


class OsCloudInvalid(errors.InputError):
    """The named cloud cannot be used: unknown, misconfigured, or its auth failed."""


def endpoint(cloud: str, *, timeout: float = 30.0) -> placementapi.Endpoint:
    """The Placement endpoint of ``cloud`` from clouds.yaml.

    :raises OsCloudInvalid: openstacksdk missing, the cloud unknown, no Placement endpoint, or
        Keystone refused the credentials.
    """
    # NOTE: openstacksdk is optional (the openstack extra) and costs ~180 ms to import: only
    # --os-cloud loads it.
    try:
        import keystoneauth1.exceptions
        import keystoneauth1.noauth
        import openstack
        import openstack.exceptions
    except ImportError:
        raise OsCloudInvalid("--os-cloud needs openstacksdk, which is not installed",
                             hint="pip install 'pcipass[openstack]', or give --placement-url") from None
    try:
        with warnings.catch_warnings():
            # openstacksdk's notes on its own future (RemovedInSDK60Warning and the like) are
            # not the operator's business here.
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            conn = openstack.connect(cloud=cloud)
        url = conn.config.get_endpoint("placement")
        session = conn.session
        auth = session.auth
        if not url:
            url = session.get_endpoint(service_type="placement",
                                       interface=conn.config.get_interface("placement"),
                                       region_name=conn.config.get_region_name("placement") or None)
        token = None if auth is None or isinstance(auth, keystoneauth1.noauth.NoAuth) \
            else session.get_token()
    except (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException) as exc:
        raise OsCloudInvalid(f"cloud {cloud!r}: {errors.clip(' '.join(str(exc).split()), 400)}",
                             hint="check clouds.yaml (OS_CLIENT_CONFIG_FILE) and the cloud's "
                                  "credentials; `openstack --os-cloud NAME token issue` tells") from None
    if not url:
        raise OsCloudInvalid(f"cloud {cloud!r} has no Placement endpoint in its catalog",
                             hint="set placement_endpoint_override in clouds.yaml, or give "
                                  "--placement-url")
    return placementapi.Endpoint(str(url), token=token, verify=_verify(session.verify),
                                 timeout=_timeout(conn.config.config.get("api_timeout"), timeout),
                                 source=f"cloud:{cloud} ({url})")


def _verify(value: Any) -> bool | str:
    return value if isinstance(value, (bool, str)) else True


def _timeout(value: Any, default: float) -> float:
    try:
        return float(value) if value else default
    except (TypeError, ValueError):
        return default
