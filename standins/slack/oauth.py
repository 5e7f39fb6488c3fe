"""Installing the app: the OAuth v2 flow, token rotation, revocation and uninstalling.

What each step follows:
- ``GET /oauth/v2/authorize`` (https://api.slack.com/authentication/oauth-v2, steps 1-2) plays the person who
  approves the install in the browser. It checks ``client_id`` (an unknown one gets an HTML error page, HTTP 400),
  that ``scope``/``user_scope`` name known scopes (https://api.slack.com/scopes) and that a ``redirect_uri``, if
  given, is one of the app's Redirect URLs or below one; then it redirects (302) to that URI (or the first Redirect
  URL) with ``code`` and ``state``, or with ``error=access_denied`` when the test set ``decline_next_install``.
  Who approves: ``next_installer = (team_id, user_id)`` if the test set it (used once), else the workspace in the
  ``team`` parameter (Slack's own, which Bolt's ``AuthorizeUrlGenerator.generate(state, team=...)`` adds), else the
  default workspace; the person is the workspace's ``user_id`` unless ``next_installer`` names one. A ``team`` that
  is an enterprise id (``E...``) installs the app org-wide (https://api.slack.com/enterprise/apps), which needs
  ``org_deploy_enabled`` (manifest.yml's settings.org_deploy_enabled).
- ``oauth.v2.access`` (https://api.slack.com/methods/oauth.v2.access): client credentials by HTTP Basic auth (what
  slack_sdk sends) or ``client_id``/``client_secret`` fields; errors invalid_client_id, bad_client_secret,
  invalid_code (unknown, used, or older than ``code_ttl``, 10 minutes), bad_redirect_uri ("must match the
  originally submitted URI (if one was sent)"), invalid_grant_type, invalid_refresh_token,
  cannot_install_an_org_installed_app. The answer has the page's shape (team/enterprise, authed_user,
  is_enterprise_install; ``team: null`` for an org-wide install, https://api.slack.com/enterprise/apps/reference).
  Bot scopes add up over installs: the token holds what it had and what the new install asked for.
- Token rotation (https://api.slack.com/authentication/rotation), off by default as in manifest.yml
  (settings.token_rotation_enabled): installs then hand out ``xoxe.xoxb-`` access tokens that expire after
  ``token_expires_in`` (43200 s) and a ``xoxe-1-`` refresh token; ``grant_type=refresh_token`` gives a new pair and
  the refresh token is then spent (invalid_refresh_token the second time: two replicas refreshing at once, one of
  them loses; ``spend_refresh_tokens`` makes that happen on purpose). oauth.v2.access's page names the refusal
  ``invalid_refresh_token``. An expired token answers ``token_expired``. The token the stand-in starts with
  (``BOT_TOKEN``) never expires: Slack leaves tokens issued before rotation was turned on alone.
- Uninstalling (``uninstall``) or ``auth.revoke`` (https://api.slack.com/methods/auth.revoke) revokes tokens and
  sends ``tokens_revoked`` and, once none is left, ``app_uninstalled`` (``events.EventsAPI.installation_events``).
  A revoked token then answers ``account_inactive`` while the app stays uninstalled, ``invalid_auth`` after a new
  install (bolt-python#1029).

Simplified: no consent screen, sign-in or cookies (the test says who approves); reinstalling without rotation
returns the same bot token; user tokens (``user_scope``) are issued and identify their person (auth.test,
auth.revoke) but the Web API methods here take bot tokens only (not_allowed_token_type); the old access token keeps
working after a refresh until it expires; the error pages are HTTP 400 with the reason in ``data-error``.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from .core import APP_ID, DEFAULT_SCOPES, SlackError, Token, as_str
from .events import EventsAPI
from .team import Team

AUTHORIZE_PATH = "/oauth/v2/authorize"

# Bot scopes Slack knows (https://api.slack.com/scopes, "bot" token type). A scope outside them is refused at the
# authorize step, as Slack refuses to show a consent screen for it.
BOT_SCOPES = frozenset(
    {
        "app_mentions:read",
        "assistant:write",
        "bookmarks:read",
        "bookmarks:write",
        "calls:read",
        "calls:write",
        "canvases:read",
        "canvases:write",
        "channels:history",
        "channels:join",
        "channels:manage",
        "channels:read",
        "channels:write.invites",
        "channels:write.topic",
        "chat:write",
        "chat:write.customize",
        "chat:write.public",
        "commands",
        "conversations.connect:manage",
        "conversations.connect:read",
        "conversations.connect:write",
        "dnd:read",
        "emoji:read",
        "files:read",
        "files:write",
        "groups:history",
        "groups:read",
        "groups:write",
        "groups:write.invites",
        "groups:write.topic",
        "im:history",
        "im:read",
        "im:write",
        "im:write.topic",
        "incoming-webhook",
        "links.embed:write",
        "links:read",
        "links:write",
        "lists:read",
        "lists:write",
        "metadata.message:read",
        "mpim:history",
        "mpim:read",
        "mpim:write",
        "mpim:write.topic",
        "pins:read",
        "pins:write",
        "reactions:read",
        "reactions:write",
        "reminders:read",
        "reminders:write",
        "remote_files:read",
        "remote_files:share",
        "remote_files:write",
        "team.billing:read",
        "team.preferences:read",
        "team:read",
        "triggers:read",
        "triggers:write",
        "usergroups:read",
        "usergroups:write",
        "users.profile:read",
        "users:read",
        "users:read.email",
        "users:write",
        "workflow.steps:execute",
    }
)
# User scopes: most bot scopes, and those only a person's token can have (Sign in with Slack's identity.*, search).
USER_SCOPES = (BOT_SCOPES - {"commands", "incoming-webhook", "chat:write.public", "chat:write.customize"}) | {
    "identity.basic",
    "identity.email",
    "identity.avatar",
    "identity.team",
    "search:read",
    "stars:read",
    "stars:write",
    "dnd:write",
    "users.profile:write",
    "channels:write",
    "reminders:write",
}


class App(Protocol):
    """The app's OAuth settings, as ``server.SlackStandIn`` holds them (tests set them there)."""

    base_url: str
    client_id: str
    client_secret: str
    redirect_urls: list[str]
    token_rotation_enabled: bool
    token_expires_in: int
    code_ttl: float
    org_deploy_enabled: bool
    next_installer: tuple[str, str] | None
    decline_next_install: bool


@dataclass
class _Code:
    value: str
    target: str  # the workspace's team id, or the enterprise id for an org-wide install
    org: bool
    user_id: str
    bot_scopes: tuple[str, ...]
    user_scopes: tuple[str, ...]
    redirect_uri: str | None  # as sent to the authorize step (None: not sent)
    redirected_to: str  # where the person was sent back to
    created: float  # time.monotonic()
    used: bool = False


@dataclass
class _Refresh:
    value: str
    token: Token  # the access token it was issued with: kind, workspace (or enterprise), person, scopes
    used: bool = False


def split_scopes(raw: str | None) -> tuple[str, ...]:
    """A scope argument: comma-separated (Slack's and Bolt's), spaces tolerated."""
    return tuple(s for s in (part.strip() for part in (raw or "").replace(" ", ",").split(",")) if s)


def merged(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *then)))


def error_page(reason: str, detail: str) -> web.Response:
    """What the browser shows instead of the consent screen (HTTP 400 here; the reason is in the page)."""
    body = (
        "<!DOCTYPE html><html><head><title>Slack: installation problem</title></head><body>"
        f'<h1 data-error="{html.escape(reason)}">{html.escape(reason)}</h1><p>{html.escape(detail)}</p></body></html>'
    )
    return web.Response(status=400, text=body, content_type="text/html")


class OAuth:
    def __init__(self, app: App, teams: dict[str, Team], events: EventsAPI) -> None:
        self.app = app
        self.teams = teams  # every workspace of the stand-in, by team id (the server adds to it)
        self.events = events
        self._codes: dict[str, _Code] = {}
        self._refresh_tokens: dict[str, _Refresh] = {}
        # Every request to the authorize page: {"query", "status", "location" or "error"}, for tests to read.
        self.authorize_requests: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ who is who

    def members(self, enterprise_id: str) -> list[Team]:
        return [team for team in self.teams.values() if team.enterprise_id == enterprise_id]

    def holders(self, value: str) -> list[Team]:
        """The workspaces a token was issued in (several for an org-wide install's)."""
        return [team for team in self.teams.values() if value in team.tokens]

    def targets(self, target: str) -> tuple[list[Team], bool]:
        """The workspaces an install into ``target`` covers, and whether it is org-wide."""
        if target in self.teams:
            return [self.teams[target]], False
        members = self.members(target)
        if not members:
            raise KeyError(f"no workspace or enterprise {target!r}; known: {sorted(self.teams)}")
        return members, True

    # ------------------------------------------------------------------ GET /oauth/v2/authorize

    async def handle_authorize(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        record: dict[str, Any] = {"query": query, "at": time.monotonic()}
        self.authorize_requests.append(record)
        response = self._authorize(query)
        record["status"] = response.status
        if isinstance(response, web.HTTPFound):
            record["location"] = response.location
            raise response
        record["error"] = response.text
        return response

    def _authorize(self, query: dict[str, str]) -> web.Response:
        app = self.app
        if query.get("client_id") != app.client_id:
            return error_page("invalid_client_id", f"No app has the client id {query.get('client_id')!r}.")
        bot_scopes, user_scopes = split_scopes(query.get("scope")), split_scopes(query.get("user_scope"))
        if not bot_scopes and not user_scopes:
            return error_page("no_scopes", "The request asks for no scope (scope and user_scope are empty).")
        unknown = [s for s in bot_scopes if s not in BOT_SCOPES] + [s for s in user_scopes if s not in USER_SCOPES]
        if unknown:
            return error_page("invalid_scope", f"Unknown scopes: {', '.join(unknown)}.")
        redirect_uri = query.get("redirect_uri") or None
        if redirect_uri is not None and not self.redirect_allowed(redirect_uri):
            return error_page("bad_redirect_uri", f"{redirect_uri} is not among the app's Redirect URLs.")
        if redirect_uri is None and not app.redirect_urls:
            return error_page("bad_redirect_uri", "The app has no Redirect URL (set SlackStandIn.redirect_urls).")
        back_to = redirect_uri or app.redirect_urls[0]

        installer, app.next_installer = app.next_installer, None
        target = installer[0] if installer else query.get("team") or next(iter(self.teams))
        try:
            teams, org = self.targets(target)
        except KeyError as missing:
            return error_page("team_not_found", str(missing))
        if org and not app.org_deploy_enabled:
            return error_page("org_install_not_enabled", "The app is not enabled for org-wide installs.")
        user_id = installer[1] if installer else teams[0].user_id
        if not any(user_id in team.users for team in teams):
            return error_page("user_not_found", f"{user_id} is not in {target}.")

        state = query.get("state")
        if app.decline_next_install:
            # https://api.slack.com/authentication/oauth-v2 : "error=access_denied" when the person cancels.
            app.decline_next_install = False
            return web.HTTPFound(with_query(back_to, {"error": "access_denied", "state": state}))
        code = f"{teams[0].number}{secrets.randbelow(10**9):09d}.{teams[0].next_seq()}.{secrets.token_hex(32)}"
        self._codes[code] = _Code(
            value=code,
            target=target,
            org=org,
            user_id=user_id,
            bot_scopes=bot_scopes,
            user_scopes=user_scopes,
            redirect_uri=redirect_uri,
            redirected_to=back_to,
            created=time.monotonic(),
        )
        return web.HTTPFound(with_query(back_to, {"code": code, "state": state}))

    def redirect_allowed(self, uri: str) -> bool:
        """One of the app's Redirect URLs, or a path below one on the same scheme, host and port."""
        asked = urlsplit(uri)
        for allowed in self.app.redirect_urls:
            if uri == allowed:
                return True
            base = urlsplit(allowed)
            prefix = base.path.rstrip("/") + "/"
            if (asked.scheme, asked.netloc) == (base.scheme, base.netloc) and asked.path.startswith(prefix):
                return True
        return False

    # ------------------------------------------------------------------ oauth.v2.access

    def access(self, args: dict[str, Any], authorization: str | None) -> tuple[list[Team], dict[str, Any]]:
        """oauth.v2.access: the workspaces it concerns (for the record of calls) and the body's keys besides "ok".
        Raises SlackError with the documented errors."""
        client_id, client_secret = as_str(args.get("client_id")), as_str(args.get("client_secret"))
        basic = basic_credentials(authorization)
        if basic is not None:
            client_id, client_secret = basic
        if client_id != self.app.client_id:
            raise SlackError("invalid_client_id")
        if client_secret != self.app.client_secret:
            raise SlackError("bad_client_secret")
        grant_type = as_str(args.get("grant_type")) or "authorization_code"
        if grant_type == "refresh_token":
            return self._refresh(as_str(args.get("refresh_token")))
        if grant_type != "authorization_code":
            raise SlackError("invalid_grant_type")
        code = self._codes.get(as_str(args.get("code")) or "")
        if code is None or code.used or time.monotonic() - code.created > self.app.code_ttl:
            raise SlackError("invalid_code")
        teams, _ = self.targets(code.target)
        given = as_str(args.get("redirect_uri")) or None
        if code.redirect_uri is not None and given != code.redirect_uri:
            raise SlackError("bad_redirect_uri")
        if code.redirect_uri is None and given is not None and given != code.redirected_to:
            raise SlackError("bad_redirect_uri")
        code.used = True
        body = self.install(code.target, user_id=code.user_id, scopes=code.bot_scopes, user_scopes=code.user_scopes)
        return teams, body

    # ------------------------------------------------------------------ installs

    def install(
        self,
        target: str,
        *,
        user_id: str | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        user_scopes: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Install the app into a workspace (or, given an enterprise id, org-wide) as ``user_id`` approving
        ``scopes`` (and ``user_scopes``); returns oauth.v2.access's answer without "ok"."""
        teams, org = self.targets(target)
        first = teams[0]
        if (
            not org
            and first.enterprise_id is not None
            and any(t.org_installed for t in self.members(first.enterprise_id))
        ):
            raise SlackError("cannot_install_an_org_installed_app")
        user_id = user_id or first.user_id
        rotating = self.app.token_rotation_enabled
        body: dict[str, Any] = {}
        refresh: _Refresh | None = None
        if scopes:
            current = first.tokens.get(first.bot_token) if first.installed and first.bot_token else None
            if current is not None and not rotating and not current.revoked and current.enterprise_install == org:
                token = current  # Slack hands a reinstall the bot token the workspace already has
            else:
                token = self._mint("bot", target, first.bot_user_id, (), org)
                if rotating:
                    refresh = self._refresh_token(token)
            for team in teams:
                team.scopes = merged(team.scopes if team.installed else (), scopes)
                team.tokens[token.value] = token
                team.bot_token = token.value
            body = {
                "access_token": token.value,
                "token_type": "bot",
                "scope": ",".join(first.scopes),
                "bot_user_id": first.bot_user_id,
            }
        body["app_id"] = APP_ID
        if refresh is not None:
            body["expires_in"] = self.app.token_expires_in
            body["refresh_token"] = refresh.value
        for team in teams:
            team.installed = True
            team.org_installed = org
            team.installer_user_id = user_id
        body["team"] = None if org else {"id": first.team_id, "name": first.team_name}
        body["enterprise"] = (
            {"id": first.enterprise_id, "name": first.enterprise_name or ""} if first.enterprise_id else None
        )
        authed_user: dict[str, Any] = {"id": user_id}
        if user_scopes:
            user_token = self._mint("user", target, user_id, user_scopes, org)
            for team in teams:
                team.tokens[user_token.value] = user_token
                team.user_tokens[user_id] = user_token.value
            authed_user.update(scope=",".join(user_scopes), access_token=user_token.value, token_type="user")
            if rotating:
                authed_user.update(
                    expires_in=self.app.token_expires_in, refresh_token=self._refresh_token(user_token).value
                )
        body["authed_user"] = authed_user
        body["is_enterprise_install"] = org
        return body

    def _mint(self, kind: str, target: str, user_id: str, scopes: tuple[str, ...], org: bool) -> Token:
        teams, _ = self.targets(target)
        prefix = "xoxb" if kind == "bot" else "xoxp"
        if self.app.token_rotation_enabled:
            value = f"xoxe.{prefix}-1-{secrets.token_urlsafe(36)}"
            expires_at: float | None = time.time() + self.app.token_expires_in
        else:
            value = f"{prefix}-{teams[0].number}-{teams[0].next_seq()}-{secrets.token_hex(12)}"
            expires_at = None
        return Token(value, kind, target, user_id, scopes, expires_at=expires_at, enterprise_install=org)

    def _refresh_token(self, token: Token) -> _Refresh:
        refresh = _Refresh(f"xoxe-1-{secrets.token_urlsafe(48)}", token)
        self._refresh_tokens[refresh.value] = refresh
        return refresh

    def _refresh(self, value: str | None) -> tuple[list[Team], dict[str, Any]]:
        """grant_type=refresh_token: a new access token and a new refresh token; the old refresh token is spent.
        The old access token keeps working until it expires."""
        refresh = self._refresh_tokens.get(value or "")
        if refresh is None:
            raise SlackError("invalid_refresh_token")
        old = refresh.token
        teams = self.holders(old.value)
        if refresh.used or old.revoked or not teams:
            for team in teams:
                team.refused_refreshes += 1
            raise SlackError("invalid_refresh_token")
        refresh.used = True
        token = self._mint(old.kind, old.team_id, old.user_id, old.scopes, old.enterprise_install)
        # A token minted while rotation is on expires; one refreshed after a test turned rotation off still should.
        if token.expires_at is None:
            token.expires_at = time.time() + self.app.token_expires_in
        new_refresh = self._refresh_token(token)
        for team in teams:
            team.tokens[token.value] = token
            if old.kind == "bot":
                team.bot_token = token.value
            else:
                team.user_tokens[old.user_id] = token.value
            team.refreshes += 1
        first = teams[0]
        body: dict[str, Any] = {
            "app_id": APP_ID,
            "scope": ",".join(first.scopes if old.kind == "bot" else old.scopes),
            "token_type": "bot" if old.kind == "bot" else "user",
            "access_token": token.value,
        }
        body["bot_user_id" if old.kind == "bot" else "user_id"] = old.user_id
        body.update(
            refresh_token=new_refresh.value,
            expires_in=max(0, round(token.expires_at - time.time())),
            team=None if old.enterprise_install else {"id": first.team_id, "name": first.team_name},
            enterprise={"id": first.enterprise_id, "name": first.enterprise_name or ""}
            if first.enterprise_id
            else None,
            is_enterprise_install=old.enterprise_install,
        )
        return teams, body

    # ------------------------------------------------------------------ the clock, revocation, uninstalling

    def spend_refresh_tokens(self, target: str) -> int:
        """The workspace's (or org's) refresh tokens are used up elsewhere, as when another process refreshed and its
        answer was lost: the next refresh with any of them answers invalid_refresh_token
        (https://docs.slack.dev/authentication/using-token-rotation: each refresh token works once). Returns how
        many there were."""
        teams, _ = self.targets(target)
        held = {value for team in teams for value in team.tokens}
        spent = [r for r in self._refresh_tokens.values() if r.token.value in held and not r.used]
        for refresh in spent:
            refresh.used = True
        return len(spent)

    def expire_tokens(self, target: str) -> int:
        """Make the expiring (rotated) access tokens of a workspace (or an org) expire now; returns how many did."""
        teams, _ = self.targets(target)
        expired = 0
        past = time.time() - 1
        for token in {t.value: t for team in teams for t in team.tokens.values()}.values():
            if token.expires_at is not None and not token.revoked and not token.expired():
                token.expires_at = past
                expired += 1
        return expired

    def revoke(self, value: str, *, test: bool = False) -> bool:
        """auth.revoke for ``value`` (https://api.slack.com/methods/auth.revoke): the answer's ``revoked`` says
        whether the token was revoked, which ``test=1`` never does ("the specified token will not actually be
        revoked"). The token goes with the others of its bot or person (those a refresh replaced) and their refresh
        tokens; tokens_revoked goes out, and app_uninstalled too when it was the installation's last token
        (https://api.slack.com/events/app_uninstalled: "An app is not uninstalled until its final user and bot tokens
        are revoked"; auth.revoke's own page says revoking a bot token does not uninstall the app, and the stand-in
        follows the events' page, which is what an app can observe)."""
        teams = self.holders(value)
        if test or not teams:
            return False
        first = teams[0]
        token = first.tokens[value]
        gone = {t.value for t in first.tokens.values() if (t.kind, t.user_id) == (token.kind, token.user_id)}
        self._revoke(teams, gone)
        for team in teams:
            if team.bot_token in gone:
                team.bot_token = ""
            team.user_tokens = {u: t for u, t in team.user_tokens.items() if t not in gone}
        left = any(not t.revoked for t in first.tokens.values())
        if not left:
            self._uninstalled(teams)
        bots = [token.user_id] if token.kind == "bot" else []
        people = [token.user_id] if token.kind == "user" else []
        self.events.installation_events(first, bot_users=bots, users=people, uninstalled=not left)
        if not left:
            for team in teams:
                team.org_installed = False
        return True

    def _revoke(self, teams: list[Team], values: set[str]) -> tuple[list[str], list[str]]:
        """Revoke these tokens and their refresh tokens; returns the bot users and the people who had one."""
        bots: set[str] = set()
        people: set[str] = set()
        for value in values:
            for team in teams:
                token = team.tokens.get(value)
                if token is not None and not token.revoked:
                    token.revoked = True
                    (bots if token.kind == "bot" else people).add(token.user_id)
        for refresh in self._refresh_tokens.values():
            if refresh.token.value in values:
                refresh.used = True
        return sorted(bots), sorted(people)

    def uninstall(self, target: str) -> None:
        """The app is removed from a workspace (or, given an enterprise id, from the org): every token is revoked,
        and tokens_revoked and app_uninstalled go out (to the app, if it subscribes to them)."""
        teams, org = self.targets(target)
        if org:
            teams = [t for t in teams if t.org_installed] or teams
        if not any(team.installed for team in teams):
            return  # nothing to remove
        bots, people = self._revoke(teams, {value for team in teams for value in team.tokens})
        self._uninstalled(teams)
        self.events.installation_events(teams[0], bot_users=bots, users=people, uninstalled=True)
        for team in teams:
            team.org_installed = False

    def _uninstalled(self, teams: list[Team]) -> None:
        # org_installed stays until the events are on their way: they name the install that ended.
        for team in teams:
            team.installed = False
            team.scopes = ()
            team.bot_token = ""
            team.user_tokens = {}


def with_query(url: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """HTTP Basic ``client_id:client_secret``, as slack_sdk sends them for oauth.v2.access
    (``AsyncBaseClient.api_call(auth=...)``, and the method page's advice)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret
