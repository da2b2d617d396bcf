"""How the workers reach the Exchange: the credentials (never in the task graph), one
:class:`jhe.Client` per worker process, and one request budget for the whole cluster.

The task graph holds a :class:`Connection`: the URL, the client's settings, the name of
the budget and an opaque id for the credentials. The credentials themselves travel in a
worker plugin (:class:`CredentialsPlugin`), which the scheduler hands to every worker,
including one started after a crash; or, with ``credentials="environment"``, each worker
reads its own ``JHE_TOKEN`` / ``JHE_CLIENT_ID`` and ``JHE_CLIENT_SECRET``.
"""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import WorkerPlugin

if TYPE_CHECKING:
    from jhe._client import Client

# The secrets of a Credentials, as the Client takes them.
SECRET_FIELDS = ("token", "client_id", "client_secret", "client_key")
FROM_ENVIRONMENT = "environment"


class Credentials:
    """How workers sign in: an access token, or a client-credentials key (``client_key``,
    or ``client_id`` and ``client_secret``), which each worker renews by itself.

    Its repr names what is set, never a value, and it cannot be pickled: it reaches the
    workers through the cluster's worker plugin, never inside a task. A refresh token is
    not accepted: each use of one returns the next, so several workers cannot share it.

    >>> jhe.dask.Credentials(token=os.environ["JHE_TOKEN"])  # doctest: +SKIP
    jhe.dask.Credentials(token=***)
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        client_key: str | None = None,
    ) -> None:
        self._secrets = {"token": token, "client_id": client_id, "client_secret": client_secret, "client_key": client_key}

    @classmethod
    def from_environment(cls) -> Credentials:
        """This process's ``JHE_TOKEN``, else ``JHE_CLIENT_ID`` and ``JHE_CLIENT_SECRET``, as
        :class:`jhe.Client` reads them."""
        token = os.environ.get("JHE_TOKEN") or None
        if token is not None:
            return cls(token)
        return cls(client_id=os.environ.get("JHE_CLIENT_ID") or None, client_secret=os.environ.get("JHE_CLIENT_SECRET") or None)

    def as_options(self) -> dict[str, str]:
        """The keyword arguments of :class:`jhe.Client` they make."""
        return {name: value for name, value in self._secrets.items() if value is not None}

    def __repr__(self) -> str:
        named = ", ".join(f"{name}=***" for name, value in self._secrets.items() if value is not None)
        return f"jhe.dask.Credentials({named})"

    def __reduce__(self) -> Any:
        raise TypeError("jhe.dask.Credentials are not pickled: they reach the workers through the cluster's worker plugin")


# Each credentials' id, per distinct secrets: the same secrets register one plugin.
_IDS: dict[tuple[str | None, ...], str] = {}
# What this process knows: credentials by id (set here, or by the plugin on a worker).
_KNOWN: dict[str, dict[str, str]] = {}
_LOCK = threading.Lock()


def register(credentials: Credentials) -> str:
    """The id of `credentials`, known to this process and, when a distributed client is
    running, to every worker of its cluster (now and later)."""
    options = credentials.as_options()
    key = tuple(options.get(name) for name in SECRET_FIELDS)
    with _LOCK:
        credentials_id = _IDS.setdefault(key, uuid.uuid4().hex)
        _KNOWN[credentials_id] = options
    cluster = _distributed_client()
    if cluster is not None:
        cluster.register_plugin(CredentialsPlugin(credentials_id, options), name=f"jhe-credentials-{credentials_id}")
    return credentials_id


def _distributed_client() -> Any | None:
    """The running ``distributed.Client``, if there is one."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


class CredentialsPlugin(WorkerPlugin):
    """Gives each worker the credentials of one id (a ``distributed`` worker plugin: the
    scheduler keeps it and runs ``setup`` on every worker that joins)."""

    def __init__(self, credentials_id: str, options: dict[str, str]) -> None:
        self.credentials_id = credentials_id
        self.options = options

    def setup(self, worker: Any) -> None:
        with _LOCK:
            _KNOWN[self.credentials_id] = dict(self.options)

    def __repr__(self) -> str:
        return f"jhe.dask.CredentialsPlugin({self.credentials_id})"


@dataclass(frozen=True)
class Connection:
    """What a task needs to reach the Exchange, without any secret: the URL, the id of
    the credentials (or ``"environment"``), the client's settings, and the budget: at most
    ``leases`` fetches at once in the whole cluster, each with ``per_fetch`` pages in flight
    (and the count a fetch asks beside them)."""

    url: str
    credentials_id: str
    options: tuple[tuple[str, Any], ...]
    budget_name: str
    leases: int
    per_fetch: int

    def client_options(self) -> dict[str, Any]:
        settings = dict(self.options)
        # A fixed number of requests in flight: the budget counts on it.
        settings.update(concurrency=self.per_fetch, max_concurrency=self.per_fetch)
        if self.credentials_id == FROM_ENVIRONMENT:
            return settings
        with _LOCK:
            known = _KNOWN.get(self.credentials_id)
        if known is None:
            from jhe._jhe import ConfigurationError

            raise ConfigurationError(
                "this worker has no credentials for the Exchange: start the distributed Client before "
                'calling jhe.dask (its plugin brings them), or pass credentials="environment" with '
                "JHE_TOKEN or JHE_CLIENT_ID/JHE_CLIENT_SECRET set on the workers"
            )
        return {**settings, **known}


# One client per connection and process: its pool and token are reused by every task.
_CLIENTS: dict[Connection, Client] = {}
_BUDGETS: dict[str, Any] = {}


def client_for(connection: Connection) -> Client:
    """This process's client for `connection`; made once, its server generation asked
    once (so no fetch of it asks two requests at a time where one was counted)."""
    with _LOCK:
        client = _CLIENTS.get(connection)
    if client is not None:
        return client
    from jhe._client import Client

    client = Client(connection.url, **connection.client_options())
    client._native.generation_of_server()
    with _LOCK:
        return _CLIENTS.setdefault(connection, client)


def budget(connection: Connection) -> AbstractContextManager[Any]:
    """The cluster's budget: a context manager that holds one of its ``leases`` (one fetch)
    while entered, from any thread. A ``distributed.Semaphore`` when called on a worker
    (from the task's own thread: a thread the task starts is not known as the worker's), a
    semaphore of this process elsewhere."""
    return _semaphore(connection)


def _semaphore(connection: Connection) -> Any:
    on_worker = _on_worker()
    key = f"{connection.budget_name}:{'worker' if on_worker else 'local'}"
    with _LOCK:
        semaphore = _BUDGETS.get(key)
        if semaphore is None:
            if on_worker:
                from distributed import Semaphore

                semaphore = Semaphore(max_leases=connection.leases, name=connection.budget_name)
            else:
                semaphore = threading.BoundedSemaphore(connection.leases)
            _BUDGETS[key] = semaphore
    return semaphore


def _on_worker() -> bool:
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


def budget_name(url: str, concurrency: int, per_fetch: int) -> str:
    """The budget shared by every read of one Exchange with the same ``concurrency`` and
    the same share per fetch (a semaphore's number of leases is fixed when it is made)."""
    return f"jhe-budget-{uuid.uuid5(uuid.NAMESPACE_URL, url).hex}-{concurrency}-{per_fetch}"
