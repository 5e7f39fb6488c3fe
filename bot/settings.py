"""Settings from the environment (and a `.env` file), checked all at once so start-up names every problem."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import psycopg
from cryptography.fernet import Fernet
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from psycopg.conninfo import conninfo_to_dict

from prompts.options import ASPECT_RATIOS, OUTPUT_FORMATS, PRICES, RESOLUTIONS, Options, Prices

T = TypeVar("T")
# Caps that hold with OAuth until the operator sets their own: 500 credits a person a day (about 27 images at 2K)
# and 10,000 a workspace a month (about 550).
OAUTH_USER_DAILY_CAP = 500
OAUTH_WORKSPACE_MONTHLY_CAP = 10_000
WORKSPACE_ID = re.compile(r"[TE][A-Z0-9]{2,}")
D = TypeVar("D")


class SettingsError(Exception):
    """Every problem found in the configuration, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"Banana cannot start: {problems[0]}")
        else:
            super().__init__("Banana cannot start; fix these settings:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Polling:
    """How often to ask kie about a task: every 3 s at first, every 10 s after 12 s, every 20 s after 2 min.

    kie asks for 2-3 s at first and slower later; slowing down at 12 s rather than 30 s keeps a typical one-minute
    task to about ten reads while a quick one is still seen within a few seconds.
    """

    fast_interval: float = 3.0
    fast_until: float = 12.0
    medium_interval: float = 10.0
    medium_until: float = 120.0
    slow_interval: float = 20.0
    timeout: float = 900.0

    def interval(self, elapsed: float) -> float:
        if elapsed < self.fast_until:
            return self.fast_interval
        if elapsed < self.medium_until:
            return self.medium_interval
        return self.slow_interval


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str = field(repr=False)
    kieai_api_key: str = field(repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    # Installs in many workspaces through Slack's OAuth flow (both set); otherwise one workspace, SLACK_BOT_TOKEN's.
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    slack_api_url: str = "https://slack.com/api/"
    kieai_base_url: str = "https://api.kie.ai"
    kieai_upload_url: str = "https://kieai.redpandaai.co"
    public_url: str | None = None  # where kie can reach this app's callback route; callbacks are off without it
    kieai_webhook_hmac_key: str | None = field(default=None, repr=False)
    database_path: Path = Path("data/banana.db")
    # PostgreSQL (postgresql://…), for several replicas; without it the SQLite file at database_path is the store.
    database_url: str | None = field(default=None, repr=False)
    lease_seconds: float = 30.0  # how long a replica holds a task without renewing; another takes it over after
    host: str = "0.0.0.0"
    port: int = 3000
    polling: Polling = Polling()
    progress_interval: float = 3.0
    home_refresh_delay: float = 2.0
    max_result_bytes: int = 50 * 1024 * 1024
    default_aspect_ratio: str = "1:1"
    default_resolution: str = "2K"
    default_output_format: str = "png"
    kie_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0)
    # How long kie takes per resolution before there is history (low, high seconds): third-party figures, as kie
    # publishes none for nano-banana-pro: "typically 30-90 seconds", "30-120 seconds" (docs/reliability.md#polling).
    kie_expected_seconds: tuple[tuple[str, float, float], ...] = (
        ("1K", 30.0, 90.0),
        ("2K", 30.0, 90.0),
        ("4K", 30.0, 120.0),
    )
    # Past slack_sdk's own retries: a card's final edit repeats the last delay until it lands; an upload and a Home
    # refresh stop after the last.
    slack_retry_delays: tuple[float, ...] = (2.0, 5.0, 15.0, 30.0, 60.0)
    callback_poll_interval: float = 60.0  # the safety-net poll while callbacks are on
    kie_creates_per_window: int = 20  # kie accepts 20 new tasks per 10 s per account
    kie_create_window: float = 10.0
    # recordInfo reads, across every task: kie's limit is not published firmly (about 10 a second per API key is
    # reported), so the default stays under it.
    kie_reads_per_second: int = 8
    poll_jitter: float = 0.15  # the first read waits up to this share of the first interval, so tasks are out of step
    slack_updates_per_minute: int = 40  # chat.update is Tier 3 (about 50 a minute per workspace)
    slack_post_interval: float = 1.1  # chat.postMessage allows about one a second per channel; a margin for jitter
    shutdown_grace: float = 10.0
    log_level: str = "INFO"
    prices: Prices = PRICES  # credits per image at each resolution, recorded on each task and shown
    user_daily_credit_cap: int | None = None  # credits one person may spend per UTC day; None: no cap
    workspace_monthly_credit_cap: int | None = None  # credits a workspace may spend per UTC month; None: no cap
    brand_file: Path | None = None  # the brand the prompt studio follows; None: the default in prompts/brand.toml
    # The long side, in pixels, an input image is scaled down to. kie documents no pixel limit, only 30 MB a file;
    # 4096 px is what its largest output (4K) is, so more detail is not used, and larger inputs only cost upload time
    # and memory.
    max_input_side: int = 4096
    # Input images downloaded and decoded at the same time, across every task: a decoded photo takes up to a few
    # hundred MB, so this bounds memory however many remixes start together.
    image_decodes_at_once: int = 2
    # Plain replies (no @mention) in a thread Banana started count as edits too. Off by default: it needs the history
    # scopes, with which Slack sends Banana every message in the channels it is in (see docs/usage.md).
    thread_replies: bool = False
    # The workspaces (team ids T…, or Enterprise Grid ids E…) that may install Banana through OAuth and use it; empty:
    # any workspace may, which start-up says loudly, since every install spends the operator's kie.ai credits.
    allowed_workspaces: frozenset[str] = frozenset()
    # The operator's own workspace: only its admins see the kie.ai account's balance (`/banana usage`). With one
    # workspace (SLACK_BOT_TOKEN) that workspace is the operator's; with OAuth and none set, nobody sees it.
    operator_workspace: str | None = None
    # Fernet keys (newest first) that encrypt what Banana stores of Slack's tokens. Needed with OAuth; old keys stay
    # listed after the newest so rows written with them can still be read (and are re-encrypted when written again).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    # A bearer token for GET /metrics; without it /metrics is not served.
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def defaults(self) -> Options:
        """The options a request gets for whatever it leaves out."""
        return Options(self.default_aspect_ratio, self.default_resolution, self.default_output_format)

    @property
    def oauth(self) -> bool:
        """Installed through OAuth in any number of workspaces, each with its own token."""
        return bool(self.slack_client_id and self.slack_client_secret)

    def may_install(self, team_id: str | None, enterprise_id: str | None = None) -> bool:
        """Whether the operator lets this workspace (or its Enterprise Grid organization) install and use Banana."""
        if not self.allowed_workspaces:
            return True
        return bool({team_id, enterprise_id} & self.allowed_workspaces)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def callbacks(self) -> bool:
        return bool(self.public_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line or a message."""
        values = (
            self.slack_bot_token,
            self.kieai_api_key,
            self.slack_signing_secret,
            self.slack_app_token,
            self.slack_client_secret,
            self.kieai_webhook_hmac_key,
            self.metrics_token,
            database_password(self.database_url),
            *self.encryption_keys,
        )
        return tuple(v for v in values if v)


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Read settings; the process environment wins over `.env`. Raises SettingsError naming every problem."""
    return _Reader(*read_environment(environ, env_file)).settings()


def load_database(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env"), *, encryption_keys: bool = False
) -> Settings:
    """Only what names the database (DATABASE_URL, DATABASE_PATH), and with `encryption_keys` the keys that seal its
    installations (BANANA_ENCRYPTION_KEYS, then required), for tools that need nothing else."""
    values, problems = read_environment(environ, env_file)
    reader = _Reader(values, problems)
    url = reader.database_url("DATABASE_URL")
    keys = reader.fernet_keys("BANANA_ENCRYPTION_KEYS", required=True) if encryption_keys else ()
    if reader.problems:
        raise SettingsError(reader.problems)
    path = Path(values.get("DATABASE_PATH") or Settings.database_path)
    return Settings(slack_bot_token="", kieai_api_key="", database_url=url, database_path=path, encryption_keys=keys)


def read_environment(environ: Mapping[str, str] | None, env_file: Path | None) -> tuple[dict[str, str], list[str]]:
    """`.env`, if there is one, overridden by the process environment (or `environ`); and what `.env` got wrong."""
    values: dict[str, str] = {}
    problems: list[str] = []
    if env_file is not None and env_file.is_file():
        found, problems = _dotenv(env_file)
        values.update(found)
    values.update(os.environ if environ is None else environ)
    return values, problems


def _dotenv(path: Path) -> tuple[dict[str, str], list[str]]:
    """The settings in a `.env` file, and a problem for each line python-dotenv cannot parse (it would only warn and
    skip it, leaving a setting silently unset). Lines are named by number, never shown: one may hold a secret."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as error:
        return {}, [f"{path} cannot be read ({type(error).__name__}): make it a UTF-8 text file of NAME=value lines"]
    bindings = list(parse_stream(io.StringIO(text)))
    problems = [
        f"{path} line {binding.original.line} cannot be read: write it as NAME=value"
        for binding in bindings
        if binding.error
    ]
    readable = "".join(binding.original.string for binding in bindings if not binding.error)
    found = dotenv_values(stream=io.StringIO(readable))
    return {k: v for k, v in found.items() if v is not None}, problems


class _Reader:
    def __init__(self, values: Mapping[str, str], problems: list[str]) -> None:
        self.values = values
        self.problems = list(problems)

    def settings(self) -> Settings:
        app_token = self.token("SLACK_APP_TOKEN", "xapp-", required=False)
        client_id = self.text("SLACK_CLIENT_ID", required=False)
        client_secret = self.text("SLACK_CLIENT_SECRET", required=bool(client_id))
        if client_secret and not client_id:
            self.problems.append(
                "SLACK_CLIENT_SECRET is set without SLACK_CLIENT_ID; set both to install through OAuth"
            )
        oauth = bool(client_id and client_secret)
        if oauth and app_token:
            self.problems.append(
                "SLACK_APP_TOKEN (Socket Mode) cannot go with SLACK_CLIENT_ID: installing through OAuth needs HTTP mode"
            )
        polling = Polling(
            fast_interval=self.number("POLL_INTERVAL_FAST", Polling.fast_interval),
            fast_until=self.number("POLL_FAST_UNTIL", Polling.fast_until),
            medium_interval=self.number("POLL_INTERVAL_MEDIUM", Polling.medium_interval),
            medium_until=self.number("POLL_MEDIUM_UNTIL", Polling.medium_until),
            slow_interval=self.number("POLL_INTERVAL_SLOW", Polling.slow_interval),
            timeout=self.number("POLL_TIMEOUT", Polling.timeout),
        )
        found: dict[str, Any] = {
            # With OAuth each workspace brings its own token; without it, this one is the only one.
            "slack_bot_token": self.token("SLACK_BOT_TOKEN", "xoxb-", required=not oauth) or "",
            "slack_client_id": client_id,
            "slack_client_secret": client_secret,
            "slack_authorize_url": self.url("SLACK_AUTHORIZE_URL", Settings.slack_authorize_url),
            "slack_app_token": app_token,
            "slack_signing_secret": self.signing_secret(app_token, oauth=oauth),
            "kieai_api_key": self.text("KIEAI_API_KEY", required=True),
            "slack_api_url": self.url("SLACK_API_URL", Settings.slack_api_url),
            "kieai_base_url": self.url("KIEAI_BASE_URL", Settings.kieai_base_url),
            "kieai_upload_url": self.url("KIEAI_UPLOAD_URL", Settings.kieai_upload_url),
            "database_path": Path(self.values.get("DATABASE_PATH") or Settings.database_path),
            "database_url": self.database_url("DATABASE_URL"),
            "lease_seconds": self.number("LEASE_SECONDS", Settings.lease_seconds),
            "host": self.values.get("HOST") or Settings.host,
            "port": self.integer("PORT", Settings.port, low=0, high=65535),
            "polling": polling,
            "progress_interval": self.number("PROGRESS_UPDATE_INTERVAL", Settings.progress_interval),
            "home_refresh_delay": self.number("HOME_REFRESH_DELAY", Settings.home_refresh_delay),
            "max_result_bytes": self.integer("MAX_RESULT_MB", 50, low=1, high=1024) * 1024 * 1024,
            "default_aspect_ratio": self.choice("DEFAULT_ASPECT_RATIO", Settings.default_aspect_ratio, ASPECT_RATIOS),
            "default_resolution": self.choice("DEFAULT_RESOLUTION", Settings.default_resolution, RESOLUTIONS),
            "default_output_format": self.choice("DEFAULT_FORMAT", Settings.default_output_format, OUTPUT_FORMATS),
            "kie_retry_delays": self.delays("KIEAI_RETRY_DELAYS", Settings.kie_retry_delays),
            "slack_retry_delays": self.delays("SLACK_RETRY_DELAYS", Settings.slack_retry_delays),
            "kie_expected_seconds": self.ranges("KIEAI_EXPECTED_SECONDS", Settings.kie_expected_seconds),
            "public_url": self.optional_url("PUBLIC_URL"),
            "kieai_webhook_hmac_key": self.text("KIEAI_WEBHOOK_HMAC_KEY", required=False),
            "callback_poll_interval": self.number("CALLBACK_POLL_INTERVAL", Settings.callback_poll_interval),
            "kie_creates_per_window": self.integer(
                "KIEAI_CREATES_PER_WINDOW", Settings.kie_creates_per_window, low=1, high=10_000
            ),
            "kie_create_window": self.number("KIEAI_CREATE_WINDOW", Settings.kie_create_window),
            "kie_reads_per_second": self.integer(
                "KIEAI_READS_PER_SECOND", Settings.kie_reads_per_second, low=1, high=10_000
            ),
            "poll_jitter": self._convert(
                "POLL_JITTER",
                Settings.poll_jitter,
                float,
                "a share from 0 to 0.5, such as 0.15",
                lambda v: 0 <= v <= 0.5,
            ),
            "slack_post_interval": self.number("SLACK_POST_INTERVAL", Settings.slack_post_interval),
            "slack_updates_per_minute": self.integer(
                "SLACK_UPDATES_PER_MINUTE", Settings.slack_updates_per_minute, low=1, high=10_000
            ),
            "shutdown_grace": self.number("SHUTDOWN_GRACE", Settings.shutdown_grace),
            "log_level": self.choice("LOG_LEVEL", Settings.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")),
            "prices": Prices(
                one_k=self.credits("PRICE_1K", Prices.one_k),
                two_k=self.credits("PRICE_2K", Prices.two_k),
                four_k=self.credits("PRICE_4K", Prices.four_k),
                upscale_2k=self.credits("PRICE_UPSCALE_2K", Prices.upscale_2k),
                upscale_4k=self.credits("PRICE_UPSCALE_4K", Prices.upscale_4k),
                upscale_8k=self.credits("PRICE_UPSCALE_8K", Prices.upscale_8k),
            ),
            # Installed through OAuth, any workspace that installs spends the operator's credits: caps are on unless
            # the operator raises them (or turns them off with "none").
            "user_daily_credit_cap": self.cap("USER_DAILY_CREDIT_CAP", OAUTH_USER_DAILY_CAP if oauth else None),
            "workspace_monthly_credit_cap": self.cap(
                "WORKSPACE_MONTHLY_CREDIT_CAP", OAUTH_WORKSPACE_MONTHLY_CAP if oauth else None
            ),
            "allowed_workspaces": self.workspace_ids("ALLOWED_WORKSPACES"),
            "operator_workspace": self.workspace_id("OPERATOR_WORKSPACE"),
            "encryption_keys": self.fernet_keys("BANANA_ENCRYPTION_KEYS", required=oauth),
            "metrics_token": self.text("METRICS_TOKEN", required=False),
            "brand_file": self.file("BRAND_FILE"),
            "max_input_side": self.integer("MAX_INPUT_SIDE", Settings.max_input_side, low=256, high=16_384),
            "image_decodes_at_once": self.integer(
                "IMAGE_DECODES_AT_ONCE", Settings.image_decodes_at_once, low=1, high=64
            ),
            "thread_replies": self.switch("THREAD_REPLIES", Settings.thread_replies),
        }
        if polling.fast_until > polling.medium_until:
            self.problems.append("POLL_FAST_UNTIL must not be larger than POLL_MEDIUM_UNTIL")
        if self.problems:
            raise SettingsError(self.problems)
        return Settings(**found)

    def text(self, name: str, *, required: bool) -> str | None:
        value = self.values.get(name, "").strip()
        if not value and required:
            self.problems.append(f"{name} is missing")
        return value or None

    def signing_secret(self, app_token: str | None, *, oauth: bool) -> str | None:
        """Socket Mode needs no signing secret: Slack's requests arrive over the authenticated socket. Without either,
        one problem names both ways, so nobody is led to think HTTP mode is the only one."""
        value = self.text("SLACK_SIGNING_SECRET", required=False)
        if not value and not app_token:
            self.problems.append(
                "SLACK_SIGNING_SECRET is missing: installing through OAuth needs HTTP mode and its signing secret"
                if oauth
                else "SLACK_SIGNING_SECRET is missing: set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN "
                "(Socket Mode)"
            )
        return value

    def token(self, name: str, prefix: str, *, required: bool) -> str | None:
        value = self.text(name, required=required)
        if value and not value.startswith(prefix):
            # Name the expected shape, never echo the value: it may be a real secret pasted in the wrong place.
            self.problems.append(f"{name} does not look right: Slack issues it starting with '{prefix}'")
        return value

    def url(self, name: str, default: str) -> str:
        value = self.values.get(name, "").strip() or default
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.problems.append(f"{name} must be an http(s) URL, got {value!r}")
        return value

    def optional_url(self, name: str) -> str | None:
        return self.url(name, "").rstrip("/") if self.values.get(name, "").strip() else None

    def _convert(
        self, name: str, default: D, convert: Callable[[str], T], kind: str, check: Callable[[T], bool]
    ) -> T | D:
        raw = self.values.get(name, "").strip()
        if not raw:
            return default
        try:
            value = convert(raw)
        except ValueError:
            self.problems.append(f"{name} must be {kind}, got {raw!r}")
            return default
        if not check(value):
            self.problems.append(f"{name} must be {kind}, got {raw!r}")
            return default
        return value

    def database_url(self, name: str) -> str | None:
        raw = self.values.get(name, "").strip()
        if not raw:
            return None
        if not raw.startswith(("postgresql://", "postgres://")):
            self.problems.append(f"{name} must be a PostgreSQL URL (postgresql://user:password@host:5432/banana)")
            return None
        try:
            conninfo_to_dict(raw)
        except psycopg.Error:  # libpq's reason is not shown: it may quote the password
            self.problems.append(
                f"{name} is not a URL PostgreSQL can read: write it as postgresql://user:password@host:5432/banana, "
                "with spaces and @ : / ? # in the password percent-encoded (%20, %40, …)"
            )
            return None
        return raw

    def switch(self, name: str, default: bool) -> bool:
        return self._convert(name, default, _switch, "true or false", lambda value: True)

    def number(self, name: str, default: float) -> float:
        return self._convert(name, default, float, "a positive number of seconds", lambda v: v > 0)

    def delays(self, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
        def convert(raw: str) -> tuple[float, ...]:
            return tuple(float(part) for part in raw.split(",") if part.strip())

        kind = "comma-separated seconds, such as 1,2,4"
        return self._convert(name, default, convert, kind, lambda v: all(d >= 0 for d in v))

    def ranges(self, name: str, default: tuple[tuple[str, float, float], ...]) -> tuple[tuple[str, float, float], ...]:
        """Seconds per resolution, `1K=30-90,2K=30-90,4K=30-120`; `none` for none."""

        def convert(raw: str) -> tuple[tuple[str, float, float], ...]:
            if raw.casefold() == "none":
                return ()
            found = []
            for part in raw.split(","):
                resolution, _, span = part.partition("=")
                low, _, high = span.partition("-")
                found.append((resolution.strip().upper(), float(low), float(high)))
            return tuple(found)

        def sound(ranges: tuple[tuple[str, float, float], ...]) -> bool:
            named = [resolution for resolution, _, _ in ranges]
            return len(set(named)) == len(named) and all(
                resolution in RESOLUTIONS and 0 <= low < high <= 3600 for resolution, low, high in ranges
            )

        kind = "seconds per resolution, such as 1K=30-90,2K=30-90,4K=30-120 (or none)"
        return self._convert(name, default, convert, kind, sound)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        return self._convert(name, default, int, f"a whole number from {low} to {high}", lambda v: low <= v <= high)

    def credits(self, name: str, default: int) -> int:
        return self.integer(name, default, low=1, high=1_000_000)

    def cap(self, name: str, default: int | None) -> int | None:
        """A credit limit: empty or absent means `default`, `none` means no limit, 0 means nothing may be spent."""
        if self.values.get(name, "").strip().casefold() in ("none", "off", "unlimited"):
            return None
        kind = "a whole number of credits (0 or more), or none for no limit"
        return self._convert(name, default, int, kind, lambda v: v >= 0)

    def workspace_id(self, name: str) -> str | None:
        ids = self.workspace_ids(name)
        if len(ids) > 1:
            self.problems.append(f"{name} names one workspace id, got {len(ids)}")
        return next(iter(ids), None)

    def workspace_ids(self, name: str) -> frozenset[str]:
        """Slack workspace ids (T…) or Enterprise Grid ids (E…), separated by commas or spaces."""
        raw = self.values.get(name, "")
        ids = frozenset(part for part in raw.replace(",", " ").split() if part)
        wrong = sorted(i for i in ids if not WORKSPACE_ID.fullmatch(i))
        if wrong:
            self.problems.append(
                f"{name} must list Slack workspace ids (T…) or Enterprise Grid ids (E…), got {', '.join(wrong)}"
            )
        return ids

    def fernet_keys(self, name: str, *, required: bool) -> tuple[str, ...]:
        """Fernet keys, newest first, separated by commas. Never echoed: they are secrets."""
        keys = tuple(part.strip() for part in self.values.get(name, "").split(",") if part.strip())
        if not keys and required:
            self.problems.append(
                f"{name} is missing: installing through OAuth stores Slack tokens, which Banana encrypts with it. "
                "Make one with `banana-bot new-key`"
            )
        for position, key in enumerate(keys, 1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                self.problems.append(
                    f"{name}: key {position} is not a Fernet key (44 characters of URL-safe base64); "
                    "make one with `banana-bot new-key`"
                )
        return keys

    def file(self, name: str) -> Path | None:
        """An optional file that must exist now; what is in it is checked where it is read."""
        raw = self.values.get(name, "").strip()
        if not raw:
            return None
        path = Path(raw).expanduser()
        if not path.is_file():
            self.problems.append(f"{name} names {raw!r}, which is not a file")
        return path

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        by_folded = {a.casefold(): a for a in allowed}
        return self._convert(
            name,
            default,
            lambda raw: by_folded.get(raw.casefold(), raw),
            f"one of {', '.join(allowed)}",
            allowed.__contains__,
        )


def database_password(url: str | None) -> str | None:
    """The password in a PostgreSQL URL, read as libpq reads it (a `#` or `?` in it included), or None."""
    if not url:
        return None
    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:  # psycopg.ProgrammingError for a URL libpq cannot parse: there is no password to find
        return None
    return str(password) if password else None


def _switch(raw: str) -> bool:
    words = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
    if raw.lower() not in words:
        raise ValueError(raw)
    return words[raw.lower()]
