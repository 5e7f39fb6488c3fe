"""Slack installations and OAuth states, in Banana's own database, behind slack_sdk's interfaces.

`installation_stores(store, client_id, keys)` gives the `AsyncInstallationStore` and `AsyncOAuthStateStore` Bolt's
OAuth flow needs (`AsyncOAuthSettings(installation_store=…, state_store=…)`), on the task store's own database: one
SQL text for both backends, run through the store's `database` (database.py); the tables are schema.py's. `bot_for`
finds a workspace's bot and refreshes its token when it is about to expire, one refresh per workspace at a time
across replicas.

Rows: one bot per workspace (`installed_bots`, the latest install's, its token kept fresh by rotation) and one
installation per installer (`installations`), each keyed by client_id, enterprise_id and team_id ('' for none), the
whole object kept as JSON, so every field round-trips, custom values included. A save never replaces a newer install
with an older one. Finds follow slack_sdk's SQLAlchemy store (the latest install; an org-wide install found with
is_enterprise_install), and also: a team of an enterprise falls back to the enterprise's org-wide install, and a team
given without its enterprise (what a task records) finds that team's own install. OAuth states (`oauth_states`) are
single-use and expire.

Tokens at rest: `data` is that JSON sealed with Fernet (sealed.py) under the newest of BANANA_ENCRYPTION_KEYS, so no
token, refresh token or webhook URL is ever written in clear. An installation row keeps no bot token or refresh token
of its own: the workspace's bot row holds the only copy (find_installation takes them from it), so after a rotation the
superseded pair exists nowhere. Rows from before encryption (plain JSON) are still read; each store seals them, and
drops an installation's copy of the bot's tokens, on its first use.

Rotating the key: put a new key (`banana-bot new-key`) first in BANANA_ENCRYPTION_KEYS and keep the old one after it,
on every replica; rows are read with either and sealed with the new one whenever saved. Then run `banana-bot
reencrypt` (it rewrites every row with the new key) and drop the old key. A row whose key is no longer listed raises
UnknownKey, naming BANANA_ENCRYPTION_KEYS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.store.base import TaskStore
from bot.store.database import Row, Statement, run
from bot.store.sealed import Sealer, UnknownKey

log = logging.getLogger("banana.store.installations")

Rows = list[Row]

_BOT_FIELDS = (
    "app_id",
    "enterprise_id",
    "enterprise_name",
    "team_id",
    "team_name",
    "bot_token",
    "bot_id",
    "bot_user_id",
    "bot_scopes",
    "bot_refresh_token",
    "bot_token_expires_at",
    "is_enterprise_install",
    "installed_at",
)
_INSTALLATION_FIELDS = (
    *_BOT_FIELDS,
    "enterprise_url",
    "user_id",
    "user_token",
    "user_scopes",
    "user_refresh_token",
    "user_token_expires_at",
    "incoming_webhook_url",
    "incoming_webhook_channel",
    "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url",
    "token_type",
)
# What find_installation takes from the workspace's bot, as slack_sdk's SQLAlchemy store does.
_BOT_OVERLAY = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")
# What an installation row never keeps: the bot row holds the only copy, which rotation replaces.
_BOT_SECRETS = ("bot_token", "bot_refresh_token", "bot_token_expires_at")
# Each table's key columns, for rewriting its rows one by one.
_KEYS = {
    "installed_bots": ("client_id", "enterprise_id", "team_id"),
    "installations": ("client_id", "enterprise_id", "team_id", "user_id"),
}


def _values(thing: Bot | Installation, names: Sequence[str]) -> dict[str, Any]:
    """The object's fields as they are (scopes as lists, times as seconds) and its custom values."""
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(thing, name)
        values[name] = list(value) if name.endswith("_scopes") and value is not None else value
    return {**values, "custom_values": thing.custom_values}


def _without_bot_secrets(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name not in _BOT_SECRETS}


def _sealed(values: dict[str, Any], sealer: Sealer) -> str:
    return sealer.seal(json.dumps(values))


def _opened(data: str, sealer: Sealer) -> dict[str, Any]:
    """A data column as read: sealed, or plain JSON from before encryption (a Fernet token never starts with `{`)."""
    return dict(json.loads(data if data.startswith("{") else sealer.open(data)))


def _key(value: str | None) -> str:
    return value or ""


def _seconds(value: float | datetime) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class InstallationStore(AsyncInstallationStore):
    """Installations in the task store's database (`?` marks a parameter; the same SQL on both backends)."""

    def __init__(self, store: TaskStore, client_id: str, sealer: Sealer, *, logger: logging.Logger = log) -> None:
        self.client_id = client_id
        self._store = store
        self._sealer = sealer
        self._logger = logger
        self._upgraded = False
        self._upgrading = asyncio.Lock()

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def _transaction(self, statements: Sequence[Statement]) -> list[Rows]:
        """Run the statements in one transaction, once rows from before encryption have been sealed (the first use
        does it); each one's rows (empty for those that return none)."""
        if not self._upgraded:
            async with self._upgrading:
                if not self._upgraded:
                    sealed = await _reseal(self._store, self._sealer, plain_only=True)
                    if sealed:
                        log.info("encrypted %d stored installation row(s) kept in plain text before", sealed)
                    self._upgraded = True
        return await run(self._store.database, statements)

    async def async_save(self, installation: Installation) -> None:
        """Keep the installation (one per installer in a workspace) and, when it has a bot token, the workspace's bot,
        in one transaction. An older installation never replaces a newer one."""
        statements: list[Statement] = [
            (
                "insert into installations (client_id, enterprise_id, team_id, user_id, is_enterprise_install,"
                " installed_at, data) values (?, ?, ?, ?, ?, ?, ?)"
                " on conflict (client_id, enterprise_id, team_id, user_id) do update set"
                " is_enterprise_install = excluded.is_enterprise_install, installed_at = excluded.installed_at,"
                " data = excluded.data where installations.installed_at < excluded.installed_at + 0.001",
                [
                    self.client_id,
                    _key(installation.enterprise_id),
                    _key(installation.team_id),
                    _key(installation.user_id),
                    bool(installation.is_enterprise_install),
                    _seconds(installation.installed_at),
                    _sealed(_without_bot_secrets(_values(installation, _INSTALLATION_FIELDS)), self._sealer),
                ],
            )
        ]
        if installation.bot_token is not None:
            statements.append(self._bot_upsert(installation.to_bot()))
        await self._transaction(statements)

    async def async_save_bot(self, bot: Bot) -> None:
        """Keep the workspace's bot, replacing the one there unless that one was installed later. A bot without a
        token (an installation with user scopes only) leaves the workspace's bot as it is."""
        if bot.bot_token is None:
            return
        await self._transaction([self._bot_upsert(bot)])

    def _bot_upsert(self, bot: Bot) -> Statement:
        # "Not installed later" allows a millisecond: slack_sdk copies a bot (as token rotation does) through a
        # datetime, which may move installed_at by a microsecond.
        return (
            "insert into installed_bots (client_id, enterprise_id, team_id, is_enterprise_install, installed_at, data)"
            " values (?, ?, ?, ?, ?, ?) on conflict (client_id, enterprise_id, team_id) do update set"
            " is_enterprise_install = excluded.is_enterprise_install, installed_at = excluded.installed_at,"
            " data = excluded.data where installed_bots.installed_at < excluded.installed_at + 0.001",
            [
                self.client_id,
                _key(bot.enterprise_id),
                _key(bot.team_id),
                bool(bot.is_enterprise_install),
                _seconds(bot.installed_at),
                _sealed(_values(bot, _BOT_FIELDS), self._sealer),
            ],
        )

    def _where(
        self, table: str, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> tuple[str, list[Any], str]:
        """Which rows a find looks at, best first: the workspace's own, then (for a team of an enterprise) the
        enterprise's org-wide install. An org-wide install is also found by its enterprise with no team, or with
        is_enterprise_install, as slack_sdk's SQLAlchemy store finds it.

        A team without its enterprise (what a background job knows from a task) finds that team's own install,
        within an enterprise or not: Slack's team ids are unique. (Not an org-wide install: that needs the
        enterprise.)"""
        if is_enterprise_install or team_id is None:
            team_id = None
        if enterprise_id is None and team_id is not None:
            where = f"{table}.client_id = ? and {table}.team_id = ?"
            return where, [self.client_id, team_id], f"({table}.enterprise_id = '') desc, {table}.installed_at desc"
        teams = [_key(team_id), "" if enterprise_id else _key(team_id)]
        where = f"{table}.client_id = ? and {table}.enterprise_id = ? and {table}.team_id in (?, ?)"
        order = f"({table}.team_id = '') asc, {table}.installed_at desc"
        return where, [self.client_id, _key(enterprise_id), *teams], order

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        where, args, order = self._where("installed_bots", enterprise_id, team_id, is_enterprise_install)
        (rows,) = await self._transaction(
            [(f"select data from installed_bots where {where} order by {order} limit 1", args)]
        )
        return Bot(**_opened(rows[0]["data"], self._sealer)) if rows else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The installer's installation (with `user_id`), else the workspace's latest. Its bot fields are the
        workspace's bot's, which token rotation keeps fresh."""
        where, args, order = self._where("installations", enterprise_id, team_id, is_enterprise_install)
        if user_id is not None:
            where, args = f"{where} and installations.user_id = ?", [*args, user_id]
        query = (
            "select installations.data as installation, installed_bots.data as bot from installations"
            " left join installed_bots on installed_bots.client_id = installations.client_id"
            " and installed_bots.enterprise_id = installations.enterprise_id"
            " and installed_bots.team_id = installations.team_id"
            f" where {where} order by {order} limit 1"
        )
        (rows,) = await self._transaction([(query, args)])
        if not rows:
            return None
        values = _opened(rows[0]["installation"], self._sealer)
        if rows[0]["bot"] is not None:
            bot = _opened(rows[0]["bot"], self._sealer)
            values |= {name: bot[name] for name in _BOT_OVERLAY}
        return Installation(**values)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._transaction([self._delete("installed_bots", enterprise_id, team_id)])

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._transaction([self._delete("installations", enterprise_id, team_id, user_id)])

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the workspace (or org) entirely, in one transaction: what app_uninstalled and tokens_revoked call."""
        await self._transaction(
            [
                self._delete("installed_bots", enterprise_id, team_id),
                self._delete("installations", enterprise_id, team_id),
            ]
        )

    def _delete(
        self, table: str, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> Statement:
        where = "client_id = ? and enterprise_id = ? and team_id = ?"
        args: list[Any] = [self.client_id, _key(enterprise_id), _key(team_id)]
        if user_id is not None:
            where, args = f"{where} and user_id = ?", [*args, user_id]
        return f"delete from {table} where {where}", args


class OAuthStateStore(AsyncOAuthStateStore):
    """States for Slack's OAuth redirect: random, valid for `expiration_seconds`, consumed once. Expired states are
    pruned whenever one is issued. Expiry is timed by the database's clock, so every replica agrees on it."""

    def __init__(
        self, store: TaskStore, client_id: str, *, expiration_seconds: float = 600, logger: logging.Logger = log
    ) -> None:
        self.client_id = client_id
        self.expiration_seconds = expiration_seconds
        self._store = store
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await run(
            self._store.database,
            [
                ("delete from oauth_states where expire_at <= epoch_now()", []),
                (
                    "insert into oauth_states (state, client_id, expire_at) values (?, ?, epoch_now() + ?)",
                    [state, self.client_id, self.expiration_seconds],
                ),
            ],
        )
        return state

    async def async_consume(self, state: str) -> bool:
        """True once for a state issued here and not expired: one DELETE … RETURNING, so of two replicas consuming
        the same state at once, exactly one gets it."""
        (rows,) = await run(
            self._store.database,
            [
                (
                    "delete from oauth_states where state = ? and client_id = ? and expire_at > epoch_now()"
                    " returning state",
                    [state, self.client_id],
                )
            ],
        )
        return len(rows) == 1


def installation_stores(
    store: TaskStore, client_id: str, keys: Sequence[str], *, state_expiration_seconds: float = 600
) -> tuple[AsyncInstallationStore, AsyncOAuthStateStore]:
    """The installation store and the OAuth state store for the app `client_id`, on `store`'s database; `keys`
    (BANANA_ENCRYPTION_KEYS, newest first) seal what it stores."""
    return (
        InstallationStore(store, client_id, Sealer(keys)),
        OAuthStateStore(store, client_id, expiration_seconds=state_expiration_seconds),
    )


@dataclass(frozen=True)
class StoredBot:
    """A workspace's bot as stored, for a check (`banana-bot doctor`): its ids, and its scopes, or None when none of
    the keys opens the row."""

    team_id: str
    enterprise_id: str
    scopes: tuple[str, ...] | None


async def stored_bots(store: TaskStore, client_id: str, keys: Sequence[str]) -> list[StoredBot]:
    """Every workspace's bot stored for the app `client_id`, opened with `keys` (BANANA_ENCRYPTION_KEYS). Reads only:
    a row in plain JSON (from before encryption) is read as it is and left for the app to seal."""
    sealer = Sealer(keys)
    query = "select team_id, enterprise_id, data from installed_bots where client_id = ? order by team_id"
    (rows,) = await run(store.database, [(query, [client_id])])
    found: list[StoredBot] = []
    for row in rows:
        try:
            scopes: tuple[str, ...] | None = tuple(_opened(row["data"], sealer).get("bot_scopes") or ())
        except UnknownKey:
            scopes = None
        found.append(StoredBot(row["team_id"], row["enterprise_id"], scopes))
    return found


async def reencrypt_installations(store: TaskStore, keys: Sequence[str]) -> int:
    """Rewrite every stored installation and bot, of every app, sealed with the newest of `keys` (what `banana-bot
    reencrypt` runs after a key rotation); how many rows. UnknownKey when a row's key is not among `keys`."""
    return await _reseal(store, Sealer(keys), plain_only=False)


async def _reseal(store: TaskStore, sealer: Sealer, *, plain_only: bool) -> int:
    """Seal again, with the newest key, every installation and bot row (`plain_only`: those still in plain JSON), and
    drop an installation's copy of the bot's tokens; how many rows. The rewrites are one transaction, and a row saved
    since it was read is left as that save wrote it. Then the database is compacted, so what the rows held before is
    not left in its free space either."""
    reads: list[Statement] = [
        (f"select {', '.join(keys)}, data from {table}" + (" where substr(data, 1, 1) = '{'" if plain_only else ""), [])
        for table, keys in _KEYS.items()
    ]
    writes: list[Statement] = []
    for (table, keys), rows in zip(_KEYS.items(), await run(store.database, reads), strict=True):
        for row in rows:
            values = _opened(row["data"], sealer)
            if table == "installations":
                values = _without_bot_secrets(values)
            where = " and ".join(f"{key} = ?" for key in keys)
            writes.append(
                (
                    f"update {table} set data = ? where {where} and data = ? returning 1 as rewritten",
                    [_sealed(values, sealer), *(row[key] for key in keys), row["data"]],
                )
            )
    if not writes:
        return 0
    rewritten = sum(len(rows) for rows in await run(store.database, writes))
    # Compacted, so what the rows held before is not left in free pages (SQLite) or dead tuples (PostgreSQL).
    await store.database.compact(list(_KEYS))
    return rewritten


def _expiring(bot: Bot, minutes_before_expiry: int) -> bool:
    return (
        bot.bot_refresh_token is not None
        and bot.bot_token_expires_at is not None
        and bot.bot_token_expires_at <= time.time() + minutes_before_expiry * 60
    )


async def bot_for(
    store: TaskStore,
    installation_store: AsyncInstallationStore,
    *,
    enterprise_id: str | None,
    team_id: str | None,
    is_enterprise_install: bool | None = False,
    rotator: AsyncTokenRotator,
    minutes_before_expiry: int = 120,
) -> Bot | None:
    """The workspace's bot (None when Banana is not installed there), its token refreshed first when rotation is on
    and it expires within `minutes_before_expiry` minutes.

    One refresh per workspace at a time, across replicas: Slack's refresh tokens are single-use, so the refresh runs
    under `store.exclusive("token-rotation:…")`, and inside it the bot is read again: another caller may have
    refreshed it while this one waited, and then its new token is used as it is. A refresh Slack refuses raises
    slack_sdk's SlackTokenRotationError (the stored bot is left as it was)."""

    async def find() -> Bot | None:
        return await installation_store.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )

    bot = await find()
    if bot is None or not _expiring(bot, minutes_before_expiry):
        return bot
    # The bot's own keys: every team served by one org-wide install shares its lock.
    async with store.exclusive(f"token-rotation:{bot.enterprise_id or '-'}:{bot.team_id or '-'}"):
        bot = await find()
        if bot is None or not _expiring(bot, minutes_before_expiry):
            return bot
        refreshed = await rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=minutes_before_expiry)
        if refreshed is None:
            return bot
        await installation_store.async_save_bot(refreshed)
        log.debug("refreshed the bot token of %s/%s", bot.enterprise_id or "-", bot.team_id or "-")
        return refreshed
