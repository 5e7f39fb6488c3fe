"""A local stand-in for the Slack Web API, served by aiohttp.

The app talks to it exactly as it would talk to Slack: through ``SLACK_API_URL=<base_url>/api/`` and through the
URLs the stand-in hands out (upload_url, url_private, response_url). Errors follow Slack's protocol: HTTP 200 with
``{"ok": false, "error": ...}``, HTTP 429 with ``Retry-After`` when rate limited, 302 to an HTML login page for file
downloads without a usable token.

What slack_sdk 3.47 actually sends (the parsing in ``server`` is shaped by it):
- ``chat.*`` (except delete), ``views.*``: JSON body, token only in ``Authorization: Bearer``.
- ``auth.test``, ``conversations.join``, ``chat.delete``, ``files.getUploadURLExternal``,
  ``files.completeUploadExternal``: POST with every argument in the *query string* and an empty body;
  ``files`` is a JSON string there.
- ``files.delete``: POST with ``file`` in the query string and an empty body.
- ``conversations.info``, ``files.info``, ``users.info``: GET with query string (booleans such as
  ``include_locale`` arrive as ``1``/``0``; ``None`` arguments are left out).
- the upload step of ``files_upload_v2``: a raw ``application/octet-stream`` POST to upload_url with no token.
- ``AsyncWebhookClient`` (Bolt's ``respond()``): a JSON POST to response_url.
- ``apps.connections.open`` (Socket Mode): POST, the *app-level* token (``xapp-...``) as Bearer, empty body.
- ``oauth.v2.access``: a form POST, no token, the client id and secret as HTTP Basic auth.

Socket Mode (``socket_mode``): ``apps.connections.open`` hands out a single-use websocket URL; ``socket_send()``
pushes an envelope and waits for the app's ack, which must come within 3 s.

Events API (``events``): posts, edits and deletions become ``app_mention`` and ``message`` events as the app's
subscriptions (``bot_events``, manifest.yml's) and scopes allow, delivered beside the call that caused them: over
Socket Mode while the app is connected, else signed JSON POSTs to ``deliver_events_to(url, secret)``, with Slack's
3 s deadline and retries (``event_retry_delays``). ``post_as_user()``, ``edit_as_user()`` and ``events_delivered()``
wait for them; ``event_callbacks`` and ``event_attempts`` record them.

Several workspaces (``team``, ``server``): the stand-in is the default workspace (``TEAM_ID``, ``BOT_TOKEN``: all a
single-workspace test needs), and ``add_workspace()`` adds others, each a ``Team`` with its own ids
(``core.workspace_ids``), people, conversations, files, bot user, tokens, rate-limit counters and faults. A call acts
in the workspace its token belongs to; another workspace's ids do not exist for it (channel_not_found,
file_not_found...). The Events API, Socket Mode and the signing secret are the app's, shared by all workspaces; each
event names its workspace (``team_id``, ``authorizations``). ``Team.command_payload()`` and
``interaction_payload()`` build what Slack sends the app from a workspace.

Installs (``oauth``): the OAuth v2 flow (``/oauth/v2/authorize``, ``authorize_url``; oauth.v2.access), token
rotation (``token_rotation_enabled``; ``expire_tokens()``), ``uninstall()`` and auth.revoke with tokens_revoked and
app_uninstalled, and org-wide installs of Enterprise Grid workspaces.

What it holds the app to, with the page each rule comes from beside the code: tokens only in the Authorization
header or a POST body; JSON bodies only for methods that take them; each method's scope (``missing_scope``); the
installed scopes are manifest.yml's; channel membership and visibility; rate tiers with ``Retry-After`` (opt-in, see
``limits``); Block Kit and message limits; trigger ids (3 s, once) and response URLs (5 uses, 30 minutes); ts
arguments as strings. docs/testing.md lists where it is still kinder than Slack.

Modules, one per API family, each importing only ``core`` and the ones listed before it:
- ``core``: ids and tokens, the workspace (users, channels, messages, files) and what the app did, errors.
- ``blocks``: Block Kit checks shared by messages and views.
- ``limits``: 429 with Retry-After, injected errors and 5xx, chat.update/chat.postMessage tiers.
- ``files``: files_upload_v2's steps, files.info/list/delete, remote files (files.remote.add/share), url_private
  downloads.
- ``users``, ``conversations``: users.info; conversations.join/info/open.
- ``chat``: chat.postMessage/update/delete/postEphemeral/getPermalink and response_url.
- ``views``: views.open/push/update/publish and trigger ids.
- ``socket_mode``: apps.connections.open and the websocket.
- ``events``: the Events API: app_mention, message (file_share, message_changed, message_deleted), app_home_opened,
  tokens_revoked, app_uninstalled; HTTP or Socket Mode delivery, signatures, retries.
- ``team``: ``Team``, a workspace with its own families, limits and the helpers to act in it.
- ``driver``: ``SlackDriver``, a person toward the app (commands, shortcuts, buttons, forms, events), signed over
  HTTP or over Socket Mode, in this process or from another one.
- ``oauth``: the authorize page, oauth.v2.access, refreshes, revocation and uninstalling.
- ``server``: ``SlackStandIn`` (routes, ``/api/<method>`` dispatch, auth.test/auth.revoke, the workspaces,
  ``/standin/...``) and ``main``.

Run ``python -m standins.slack --port 8082`` for manual trials.
"""

from .blocks import BLOCK_TYPES, MAX_MESSAGE_BLOCKS, MAX_MESSAGE_TEXT, SLACK_FILE_IMAGE_TYPES
from .chat import RESPONSE_URL_MAX_USES, RESPONSE_URL_TTL
from .core import (
    ADMIN_USER_ID,
    APP_ID,
    APP_TOKEN,
    BOT_ID,
    BOT_NAME,
    BOT_TOKEN,
    BOT_USER_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    CODE_TTL,
    DEFAULT_BOT_EVENTS,
    DEFAULT_SCOPES,
    EVENT_ACK_DEADLINE,
    EVENT_RETRY_DELAYS,
    OTHER_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    TOKEN_EXPIRES_IN,
    USER_ID,
    AppBot,
    Call,
    Channel,
    Message,
    MessageChange,
    SlackError,
    SlackFile,
    SlackUser,
    Token,
    Workspace,
    workspace_ids,
)
from .events import MESSAGE_SUBSCRIPTIONS, VERIFICATION_TOKEN, EventAttempt, channel_type, sign
from .files import FILETYPES, MAX_ALT_TXT, MAX_UPLOAD_BYTES
from .limits import METHOD_TIERS, TIER_PER_MINUTE
from .oauth import AUTHORIZE_PATH, BOT_SCOPES, USER_SCOPES
from .server import (
    APP_TOKEN_METHODS,
    EDIT_MESSAGE_PATH,
    EVENTS_PATH,
    JSON_ARGS,
    JSON_METHODS,
    LOGIN_PAGE,
    MESSAGES_PATH,
    METHOD_SCOPES,
    OAUTH_METHODS,
    RESPONSE_URLS_PATH,
    STATS_PATH,
    TRIGGER_IDS_PATH,
    SlackStandIn,
    main,
)
from .socket_mode import ACK_DEADLINE, SOCKET_CLOSE_TIMEOUT
from .team import Team
from .users import TZ_LABELS
from .views import MAX_VIEW_BLOCKS, MAX_VIEW_BYTES

__all__ = [
    "ACK_DEADLINE",
    "ADMIN_USER_ID",
    "APP_ID",
    "APP_TOKEN",
    "APP_TOKEN_METHODS",
    "AUTHORIZE_PATH",
    "BLOCK_TYPES",
    "BOT_ID",
    "BOT_NAME",
    "BOT_SCOPES",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CODE_TTL",
    "DEFAULT_BOT_EVENTS",
    "DEFAULT_SCOPES",
    "EDIT_MESSAGE_PATH",
    "EVENTS_PATH",
    "EVENT_ACK_DEADLINE",
    "EVENT_RETRY_DELAYS",
    "FILETYPES",
    "JSON_ARGS",
    "JSON_METHODS",
    "LOGIN_PAGE",
    "MAX_ALT_TXT",
    "MAX_MESSAGE_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_UPLOAD_BYTES",
    "MAX_VIEW_BLOCKS",
    "MAX_VIEW_BYTES",
    "MESSAGES_PATH",
    "MESSAGE_SUBSCRIPTIONS",
    "METHOD_SCOPES",
    "METHOD_TIERS",
    "OAUTH_METHODS",
    "OTHER_USER_ID",
    "RESPONSE_URLS_PATH",
    "RESPONSE_URL_MAX_USES",
    "RESPONSE_URL_TTL",
    "SLACK_FILE_IMAGE_TYPES",
    "SOCKET_CLOSE_TIMEOUT",
    "STATS_PATH",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "TEAM_NAME",
    "TIER_PER_MINUTE",
    "TOKEN_EXPIRES_IN",
    "TRIGGER_IDS_PATH",
    "TZ_LABELS",
    "USER_ID",
    "USER_SCOPES",
    "VERIFICATION_TOKEN",
    "AppBot",
    "Call",
    "Channel",
    "EventAttempt",
    "Message",
    "MessageChange",
    "SlackError",
    "SlackFile",
    "SlackStandIn",
    "SlackUser",
    "Team",
    "Token",
    "Workspace",
    "channel_type",
    "main",
    "sign",
    "workspace_ids",
]
