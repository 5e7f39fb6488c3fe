"""A workspace's own settings, set by its admins in Slack within the operator's ceilings, and who may set them.

The operator's settings are ceilings and defaults: a workspace's cap may be lower than the operator's, never higher
(a ceiling of `none` lets it set any cap); an unset field means "the operator's". THREAD_REPLIES=true is a
permission (the history scopes are there): a workspace may turn replies off; with it false they stay off everywhere.

Settings are read from the store per request, with a cache of a few seconds: the read is one primary-key row, and a
change saved on another replica is seen everywhere within those seconds (and at once on the replica that saved it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.blocks import settings as form
from bot.clients.kie_keys import KieKeys
from bot.clients.slack import SlackDelivery
from bot.store import TaskStore
from bot.store.base import SettingsChange
from bot.store.kie_keys import NewKey, change_statements
from bot.store.recent import Recent
from prompts.options import ASPECT_RATIOS, OUTPUT_FORMATS, RESOLUTIONS, Options

MAX_CAP = 10_000_000


@dataclass(frozen=True)
class Ceilings:
    """The operator's settings: caps no workspace may raise, defaults, and whether thread replies are allowed."""

    user_daily_cap: int | None
    workspace_monthly_cap: int | None
    defaults: Options
    thread_replies: bool


@dataclass(frozen=True)
class Chosen:
    """What a workspace's admins set; None (or empty) is "the operator's" (for channels: every channel)."""

    user_daily_cap: int | None = None
    workspace_monthly_cap: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    output_format: str | None = None
    thread_replies: bool | None = None
    channels: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Chosen:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("channels", "admins"):
            known[key] = tuple(known.get(key) or ())
        return cls(**known)

    def data(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Effective:
    """The settings in force in one workspace: its own where it set them, the operator's elsewhere."""

    user_daily_cap: int | None
    workspace_monthly_cap: int | None
    defaults: Options
    thread_replies: bool
    channels: tuple[str, ...] = ()
    admins: tuple[str, ...] = field(default=())


def effective(chosen: Chosen, ceilings: Ceilings) -> Effective:
    def capped(own: int | None, ceiling: int | None) -> int | None:
        if own is None:
            return ceiling
        return own if ceiling is None else min(own, ceiling)  # a ceiling lowered later still holds

    d = ceilings.defaults
    return Effective(
        user_daily_cap=capped(chosen.user_daily_cap, ceilings.user_daily_cap),
        workspace_monthly_cap=capped(chosen.workspace_monthly_cap, ceilings.workspace_monthly_cap),
        defaults=Options(
            chosen.aspect_ratio or d.aspect_ratio,
            chosen.resolution or d.resolution,
            chosen.output_format or d.output_format,
        ),
        thread_replies=ceilings.thread_replies and chosen.thread_replies is not False,
        channels=chosen.channels,
        admins=chosen.admins,
    )


def parse_cap(text: str, ceiling: int | None) -> int | None:
    """A cap typed in the form: None when empty (the operator's); ValueError saying what is wrong otherwise."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        cap = int(text)
    except ValueError:
        raise ValueError("Type a whole number of credits, or leave it empty for the operator's limit.") from None
    if cap < 0:
        raise ValueError("A limit cannot be below zero.")
    if ceiling is not None and cap > ceiling:
        raise ValueError(f"The most this workspace may set is {ceiling:,} (the operator's limit).")
    if cap > MAX_CAP:
        raise ValueError(f"The most this field takes is {MAX_CAP:,}.")
    return cap


def parse_choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def read_form(fields: Mapping[str, Any], ceilings: Ceilings) -> tuple[Chosen | None, dict[str, str]]:
    """The settings a submitted form asks for, or the errors to show beside their fields (and nothing to save).

    `fields` by block id: a cap's text, a select's value, a list of ids."""
    errors: dict[str, str] = {}
    caps: dict[str, int | None] = {}
    for block, ceiling in (
        (form.DAILY_CAP, ceilings.user_daily_cap),
        (form.MONTHLY_CAP, ceilings.workspace_monthly_cap),
    ):
        try:
            caps[block] = parse_cap(str(fields.get(block) or ""), ceiling)
        except ValueError as error:
            errors[block] = str(error)
    if errors:
        return None, errors
    replies = fields.get(form.REPLIES)
    return (
        Chosen(
            user_daily_cap=caps[form.DAILY_CAP],
            workspace_monthly_cap=caps[form.MONTHLY_CAP],
            aspect_ratio=parse_choice(fields.get(form.RATIO), ASPECT_RATIOS),
            resolution=parse_choice(fields.get(form.RESOLUTION), RESOLUTIONS),
            output_format=parse_choice(fields.get(form.FORMAT), OUTPUT_FORMATS),
            thread_replies=None if replies not in ("on", "off") else replies == "on",
            channels=tuple(dict.fromkeys(str(c) for c in fields.get(form.CHANNELS) or ())),
            admins=tuple(dict.fromkeys(str(u) for u in fields.get(form.ADMINS) or ())),
        ),
        {},
    )


def changes(before: Chosen, after: Chosen) -> str:
    """What changed, for the log: "daily cap: operator's → 40; channels: all → <#C1>"."""
    names = {
        "user_daily_cap": "daily cap per person",
        "workspace_monthly_cap": "monthly cap",
        "aspect_ratio": "default ratio",
        "resolution": "default resolution",
        "output_format": "default format",
        "thread_replies": "thread replies as edits",
        "channels": "channels",
        "admins": "Banana admins",
    }

    def shown(key: str, value: Any) -> str:
        if key == "channels":
            return ", ".join(f"<#{c}>" for c in value) if value else "all"
        if key == "admins":
            return ", ".join(f"<@{u}>" for u in value) if value else "none"
        if value is None:
            return "operator's"
        if isinstance(value, bool):
            return "on" if value else "off"
        return f"{value:,}" if isinstance(value, int) else str(value)

    parts = [
        f"{label}: {shown(key, getattr(before, key))} → {shown(key, getattr(after, key))}"
        for key, label in names.items()
        if getattr(before, key) != getattr(after, key)
    ]
    return "; ".join(parts)


@dataclass(frozen=True)
class KeyChange:
    """The workspace's own kie.ai key, changed in the form: `new` (checked with kie), or None: the operator's."""

    new: NewKey | None


NO_SEALING = (
    "Banana cannot keep a kie.ai key safely yet: its operator must set BANANA_ENCRYPTION_KEYS first. Nothing was saved."
)


def key_shown(last4: str | None) -> str:
    return "operator's" if last4 is None else f"own key …{last4}"


def channel_note(channels: tuple[str, ...]) -> str:
    """Where Banana works, for someone who asked elsewhere."""
    places = [f"<#{c}>" for c in channels]
    listed = places[0] if len(places) == 1 else ", ".join(places[:-1]) + f" and {places[-1]}"
    return f"Banana works in {listed} in this workspace (and in a DM with Banana). Nothing was started here."


class WorkspaceSettings:
    """Reads (briefly cached) and saves a workspace's settings, and decides who may change them."""

    def __init__(
        self,
        store: TaskStore,
        slack: SlackDelivery,
        ceilings: Ceilings,
        *,
        kie_keys: KieKeys | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._slack = slack
        self.ceilings = ceilings
        self._kie_keys = kie_keys
        self._recent: Recent[Chosen] = Recent(clock=clock)

    async def chosen(self, team_id: str) -> Chosen:
        async def read() -> Chosen:
            return Chosen.from_data(await self._store.workspace_settings(team_id))

        return await self._recent.get(team_id, read)

    async def effective(self, team_id: str) -> Effective:
        return effective(await self.chosen(team_id), self.ceilings)

    async def defaults(self, team_id: str) -> Options:
        return (await self.effective(team_id)).defaults

    async def may_change(self, team_id: str, user_id: str) -> bool:
        """Workspace admins and owners, and the people they named as Banana admins."""
        if user_id in (await self.chosen(team_id)).admins:
            return True
        return await self._slack.team(team_id).is_admin(user_id)

    async def elsewhere(self, team_id: str, channel_id: str | None) -> str | None:
        """The note for someone asking outside the workspace's channels; None where Banana works (a DM always)."""
        if not channel_id or channel_id.startswith("D"):
            return None
        channels = (await self.chosen(team_id)).channels
        if not channels or channel_id in channels:
            return None
        return channel_note(channels)

    async def save(self, team_id: str, user_id: str, chosen: Chosen, key: KeyChange | None = None) -> str:
        """Keep the new settings (and the new kie.ai key, in the same transaction) and record what changed (nothing
        when nothing did); the change, as logged: a key only by its last four characters."""
        before = Chosen.from_data(await self._store.workspace_settings(team_id))
        parts = [changes(before, chosen)]
        if key is not None and self._kie_keys is not None:
            self._kie_keys.changed(team_id)  # compared with the key as stored now, not as cached
            old = await self._kie_keys.current(team_id)
            old_last4, new_last4 = (old.last4 if old else None), (key.new.last4 if key.new else None)
            if (old and old.fingerprint) != (key.new and key.new.fingerprint):
                parts.append(f"kie.ai key: {key_shown(old_last4)} → {key_shown(new_last4)}")
            else:
                key = None
        what = "; ".join(filter(None, parts))
        if what:
            new = key.new if key else None
            also = (lambda now: change_statements(team_id, new, now)) if key else (lambda now: ())
            await self._store.save_workspace_settings(team_id, user_id, chosen.data(), what, also)
            if key is not None and self._kie_keys is not None:
                self._kie_keys.changed(team_id)
        self._recent.put(team_id, chosen)
        return what

    async def read_key(self, team_id: str, text: str) -> tuple[KeyChange | None, str | None]:
        """The key field as typed: no change (empty), back to the operator's ("remove"), or a new key kie accepts;
        or what to say beside the field."""
        text = text.strip()
        if not text:
            return None, None
        if self._kie_keys is None or not self._kie_keys.sealing:
            return None, NO_SEALING
        if text.casefold() == form.REMOVE_KEY:
            return KeyChange(None), None
        if len(text) < 8 or any(c.isspace() for c in text):
            return None, "That is not a kie.ai API key: copy it from kie.ai/api-key. Nothing was saved."
        problem = await self._kie_keys.check(text)
        if problem is not None:
            return None, problem
        return KeyChange(self._kie_keys.seal(text)), None

    async def history(self, team_id: str, limit: int = 5) -> list[SettingsChange]:
        return await self._store.settings_changes(team_id, limit)

    async def form(self, team_id: str) -> dict[str, Any]:
        """The settings modal, as the workspace's settings are now (read afresh) with the last changes."""
        chosen = Chosen.from_data(await self._store.workspace_settings(team_id))
        c = self.ceilings
        keys = self._kie_keys
        own = await keys.current(team_id) if keys else None
        return form.settings_modal(
            form.SettingsForm(
                chosen=chosen.data(),
                operator=c.defaults,
                daily_ceiling=c.user_daily_cap,
                monthly_ceiling=c.workspace_monthly_cap,
                replies_allowed=c.thread_replies,
                changes=[form.Change(h.user_id, h.at, h.change) for h in await self.history(team_id)],
                key_last4=own.last4 if own else None,
                keys_kept=keys is not None and keys.sealing,
            )
        )

    async def submit(self, team_id: str, user_id: str, fields: Mapping[str, Any]) -> dict[str, str] | None:
        """A submitted settings form: errors beside their fields, or None once saved. Who may change the settings is
        checked here again: a forged submission from anyone else changes nothing."""
        if not await self.may_change(team_id, user_id):
            return None
        chosen, errors = read_form(fields, self.ceilings)
        key, key_problem = await self.read_key(team_id, str(fields.get(form.KIE_KEY) or ""))
        if key_problem is not None:
            errors[form.KIE_KEY] = key_problem
        if chosen is None or errors:
            return errors
        await self.save(team_id, user_id, chosen, key)
        return None

    def forget(self, team_id: str) -> None:
        self._recent.forget(team_id)
