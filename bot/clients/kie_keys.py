"""kie.ai clients by key: the operator's, and each workspace's own, over one shared httpx client.

A task spends from the key it was created with (its `kie_key`, a fingerprint), so its reads after a restart, on
another replica or after the admin replaced the key still reach the account that has the task. kie's limits are kept
per key (creates per account, reads per key), so workspaces with keys of their own never wait behind each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.clients.kie import KieAuthError, KieClient, KieError
from bot.clients.limits import CreateQueue
from bot.redaction import remember
from bot.store import TaskStore
from bot.store import kie_keys as stored
from bot.store.recent import Recent
from bot.store.sealed import Sealer, UnknownKey
from prompts.tasks import Task

CHECK_SECONDS = 2.0  # a key's check answers the settings form within Slack's 3 s


@dataclass(frozen=True)
class KieAccount:
    """One kie.ai key: its client (reads paced for this key) and its create line (creates counted per account)."""

    client: KieClient
    creates: CreateQueue


class KeyGone(Exception):
    """The workspace key a task was created with is no longer stored (or can no longer be opened)."""


def fingerprint(api_key: str) -> str:
    """What a task records of its key: enough to find it again, nothing that gives the key away."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def last4(api_key: str) -> str:
    return api_key[-4:]


class KieKeys:
    def __init__(
        self,
        store: TaskStore,
        sealer: Sealer | None,
        operator: KieAccount,
        account: Callable[[str, str], KieAccount],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self.operator = operator
        self._account = account  # (api key, name for its shared limits) -> a new account
        self.check_seconds = CHECK_SECONDS
        self._accounts: dict[tuple[str, str], KieAccount] = {}
        self._current: Recent[stored.StoredKey | None] = Recent(clock=clock)

    @property
    def waiting(self) -> int:
        """Creates waiting for their turn here, on every key."""
        return self.operator.creates.waiting + sum(account.creates.waiting for account in self._accounts.values())

    @property
    def sealing(self) -> bool:
        """Workspace keys can be kept: the operator set BANANA_ENCRYPTION_KEYS."""
        return self._sealer is not None

    async def current(self, team_id: str) -> stored.StoredKey | None:
        """The workspace's own key as stored now (briefly cached); None: it spends from the operator's."""
        return await self._current.get(team_id, lambda: stored.current_key(self._store.database, team_id))

    async def of(self, task: Task) -> KieAccount:
        """The account a task spends from: the key it was created with. KeyGone when that key was removed."""
        if task.kie_key is None:
            return self.operator
        return await self._by_fingerprint(task.team_id, task.kie_key)

    async def balance(self, team_id: str) -> float | None:
        """The balance of the workspace's own key (KieError when kie cannot say); None when it has none."""
        key = await self.current(team_id)
        if key is None:
            return None
        account = await self._by_fingerprint(team_id, key.fingerprint)
        return await account.client.get_credits()

    async def _by_fingerprint(self, team_id: str, fingerprint: str) -> KieAccount:
        known = self._accounts.get((team_id, fingerprint))
        if known is not None:
            return known
        key = await stored.key_by_fingerprint(self._store.database, team_id, fingerprint)
        if key is None or self._sealer is None:
            raise KeyGone()
        try:
            api_key = self._sealer.open(key.sealed)
        except UnknownKey as error:
            raise KeyGone() from error
        remember(api_key)  # never in a log line, from now on
        return self._accounts.setdefault((team_id, fingerprint), self._account(api_key, f":{fingerprint}"))

    async def check(self, api_key: str) -> str | None:
        """Whether kie takes this key, asked with it at kie's credit endpoint (docs.kie.ai/common-api/
        get-account-credits) within `check_seconds`: None, or what to tell the admin."""
        client = self._account(api_key, ":check").client
        remember(api_key)
        try:
            async with asyncio.timeout(self.check_seconds):
                await client.get_credits()
        except TimeoutError:
            return "kie.ai did not answer in time, so the key was not checked. Nothing was saved: try again."
        except KieAuthError:
            return "kie.ai refused this key. Copy it again from kie.ai/api-key. Nothing was saved."
        except KieError as error:
            return f"kie.ai could not check this key: {error.summary} Nothing was saved."
        return None

    def seal(self, api_key: str) -> stored.NewKey:
        if self._sealer is None:
            raise ValueError("no BANANA_ENCRYPTION_KEYS: a workspace key cannot be kept")
        return stored.NewKey(fingerprint(api_key), self._sealer.seal(api_key), last4(api_key))

    def changed(self, team_id: str) -> None:
        """The workspace's key was saved or removed here: new tasks see it at once."""
        self._current.forget(team_id)

    async def done_with(self, task: Task) -> None:
        """A task ended: a replaced key no unfinished task spends from any more is forgotten."""
        if task.kie_key is None:
            return
        current = await self.current(task.team_id)
        if current is None or current.fingerprint != task.kie_key:
            await stored.prune(self._store.database, task.team_id)
            self._accounts.pop((task.team_id, task.kie_key), None)

    def forget(self, team_id: str) -> None:
        self._current.forget(team_id)
        for known in [k for k in self._accounts if k[0] == team_id]:
            del self._accounts[known]
