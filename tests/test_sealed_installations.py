"""Slack's tokens at rest: sealed with BANANA_ENCRYPTION_KEYS, no superseded copy kept, the key rotated, rows from
before encryption sealed on first use, the SQLite file for its owner only, and the CLI's new-key and reencrypt
(bot/store/sealed.py, installations.py, sqlite.py, banana/cli.py)."""

import json
import os
import re
import sqlite3
import stat
from pathlib import Path

import httpx
import psycopg
import pytest

from banana.cli import main, reencrypt
from bot.store import (
    PostgresTaskStore,
    SqliteTaskStore,
    UnknownKey,
    bot_for,
    installation_stores,
    reencrypt_installations,
)
from bot.store.database import run
from bot.store.installations import (
    _BOT_FIELDS,
    _INSTALLATION_FIELDS,
    _values,
)
from bot.store.postgres import migrate
from bot.store.sealed import Sealer
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.test_installations import (
    CLIENT_ID,
    INSTALLED_AT,
    SMALL,
    SlackOAuth,
    expiring,
    installation,
    rotator,
    rows,
)
from tests.test_workspaces import install, with_oauth

A, B = TEST_ENCRYPTION_KEY, "Xq0mO2v3tYJ8bZk1c9RrW4eN6uPpL5sDgHfKjA7yQ0E="
C = "Jm3wZ8pQ1vT6yB0nR4kX9cL2sD7fH5gA8eU1iO3jW6Y="  # neither of them
CHANGE_KEY = "insert into workspace_kie_keys (team_id, fingerprint, sealed, last4, added_at) values (?, ?, ?, ?, ?)"
TOKENS = ("xoxe.xoxb-1", "xoxe-1-bot", "xoxe.xoxp-1", "xoxe-1-user", "https://hooks.slack.com/services/T1/B1/x")
# A token as Slack shapes it. "xox" alone can turn up by chance in base64 ciphertext; with its dash or dot it cannot
# (a dot is not base64url), or once in billions.
TOKEN_SHAPED = re.compile(r"xox[a-z]?[-.]|xoxe\.")


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request, tmp_path):
    """(how to open a task store on one database, that database's settings for the CLI)."""
    if request.param == "sqlite":
        path = tmp_path / "banana.db"
        return (lambda: SqliteTaskStore(path).open()), {"DATABASE_PATH": str(path), "DATABASE_URL": ""}
    url = request.getfixturevalue("postgres_url")
    return (lambda: PostgresTaskStore(url, **SMALL).open()), {"DATABASE_URL": url}


@pytest.fixture
async def store(backend):
    opened = await backend[0]()
    yield opened
    await opened.close()


def stores(store, *keys):
    return installation_stores(store, CLIENT_ID, keys)[0]


async def dump(store, *keys) -> str:
    """Every row of every table, as text, with each sealed value also opened with `keys`."""
    if isinstance(store, PostgresTaskStore):
        query = "select table_name as name from information_schema.tables where table_schema = current_schema()"
    else:
        query = "select name from sqlite_master where type = 'table'"
    sealer = Sealer(keys)
    text = []
    for table in [row["name"] for row in await rows(store, query)]:
        for row in await rows(store, f"select * from {table}"):
            text.append(json.dumps(row, default=str))
            text += [sealer.open(value) for value in row.values() if isinstance(value, str) and value[:4] == "gAAA"]
    return "\n".join(text)


# The sealer


def test_a_text_is_sealed_with_the_newest_key_and_opened_with_any_listed_one():
    old = Sealer([A]).seal("with A")
    both = Sealer([B, A])
    new = both.seal("with B")
    assert "with" not in new and new != both.seal("with B")  # Fernet's IV: never the same twice
    assert (both.open(old), both.open(new)) == ("with A", "with B")
    assert Sealer([B]).open(new) == "with B"
    with pytest.raises(UnknownKey):
        Sealer([A]).open(new)


def test_a_value_no_listed_key_opens_gives_a_clear_error():
    sealed = Sealer([A]).seal("secret")
    with pytest.raises(UnknownKey, match="encrypted with a key not in BANANA_ENCRYPTION_KEYS"):
        Sealer([B]).open(sealed)
    altered = sealed[:20] + ("B" if sealed[20] != "B" else "C") + sealed[21:]
    for wrong in (altered, "not a token", "é"):
        with pytest.raises(UnknownKey):
            Sealer([A]).open(wrong)
    with pytest.raises(ValueError, match="BANANA_ENCRYPTION_KEYS"):
        Sealer([])


# What the database holds


async def test_a_stored_installation_holds_no_token_readable_from_the_database(store):
    await stores(store, A).async_save(installation())
    raw = await rows(store, "select data from installed_bots union all select data from installations")
    assert len(raw) == 2
    for row in raw:
        assert not TOKEN_SHAPED.search(row["data"]) and not any(token in row["data"] for token in TOKENS)
        assert row["data"].startswith("gAAAAA")  # a Fernet token (version 0x80)
    (kept,) = await rows(store, "select data from installations")
    opened = json.loads(Sealer([A]).open(kept["data"]))
    # the installation keeps no copy of the bot's tokens: the bot row holds the only one
    assert opened["user_token"] == "xoxe.xoxp-1" and "bot_token" not in opened and "bot_refresh_token" not in opened
    found = await stores(store, A).async_find_installation(enterprise_id="E1", team_id="T1", user_id="U1")
    assert found is not None and (found.bot_token, found.bot_refresh_token) == ("xoxe.xoxb-1", "xoxe-1-bot")


async def test_after_a_rotation_the_old_token_and_refresh_token_are_nowhere(store):
    installations = stores(store, A)
    await installations.async_save(expiring())
    bot = await bot_for(
        store, installations, enterprise_id="E1", team_id="T1", rotator=rotator(SlackOAuth("xoxe-1-bot"))
    )
    assert bot is not None and bot.bot_token == "xoxe.xoxb-new-1"
    everything = await dump(store, A)
    assert "xoxe.xoxb-new-1" in everything and "xoxe-refresh-1" in everything  # the dump does see tokens
    assert "xoxe.xoxb-1" not in everything and "xoxe-1-bot" not in everything
    found = await installations.async_find_installation(enterprise_id="E1", team_id="T1", user_id="U1")
    assert found is not None and (found.bot_token, found.user_token) == ("xoxe.xoxb-new-1", "xoxe.xoxp-1")


async def test_a_key_rotation_old_rows_read_rewritten_with_the_new_key_then_the_old_key_dropped(store):
    await stores(store, A).async_save(installation())
    await stores(store, A).async_save(installation(team_id="T2", bot_token="xoxb-t2"))
    rotating = stores(store, B, A)
    bot = await rotating.async_find_bot(enterprise_id="E1", team_id="T1")
    assert bot is not None and bot.bot_token == "xoxe.xoxb-1"  # sealed with A, read with "B,A"
    with pytest.raises(UnknownKey, match="BANANA_ENCRYPTION_KEYS"):
        await stores(store, B).async_find_bot(enterprise_id="E1", team_id="T1")

    await rotating.async_save(installation(installed_at=bot.installed_at + 1))  # written again: sealed with B
    assert await stores(store, B).async_find_bot(enterprise_id="E1", team_id="T1") is not None
    with pytest.raises(UnknownKey):
        await stores(store, B).async_find_bot(enterprise_id="E1", team_id="T2")

    assert await reencrypt_installations(store, (B, A)) == 4  # T1's bot and installation, T2's
    for team, token in (("T1", "xoxe.xoxb-1"), ("T2", "xoxb-t2")):
        found = await stores(store, B).async_find_installation(enterprise_id="E1", team_id=team, user_id="U1")
        assert found is not None and (found.bot_token, found.user_token) == (token, "xoxe.xoxp-1")
    with pytest.raises(UnknownKey):
        await stores(store, A).async_find_bot(enterprise_id="E1", team_id="T2")


async def execute(store, query, args):
    await run(store.database, [(query, args)])


def plain(thing, names) -> str:
    """A row's data as Banana kept it before encryption: the object as JSON."""
    return json.dumps(_values(thing, names))


async def keep_plain_rows(store) -> None:
    """An installation and its bot as they were kept before encryption (the installation with its own copy of the
    bot's tokens)."""
    saved = installation()
    await execute(
        store,
        "insert into installed_bots (client_id, enterprise_id, team_id, is_enterprise_install, installed_at, data)"
        " values (?, 'E1', 'T1', false, ?, ?)",
        [CLIENT_ID, INSTALLED_AT, plain(saved.to_bot(), _BOT_FIELDS)],
    )
    await execute(
        store,
        "insert into installations (client_id, enterprise_id, team_id, user_id, is_enterprise_install, installed_at,"
        " data) values (?, 'E1', 'T1', 'U1', false, ?, ?)",
        [CLIENT_ID, INSTALLED_AT, plain(saved, _INSTALLATION_FIELDS)],
    )


async def test_rows_kept_in_plain_json_before_encryption_are_read_then_sealed(store, tmp_path):
    await rows(store, "select 1")  # SQLite's installation tables are made on first use
    await keep_plain_rows(store)
    installations = stores(store, A)
    found = await installations.async_find_installation(enterprise_id="E1", team_id="T1", user_id="U1")
    assert found is not None and (found.bot_token, found.user_token) == ("xoxe.xoxb-1", "xoxe.xoxp-1")
    for row in await rows(store, "select data from installed_bots union all select data from installations"):
        assert not TOKEN_SHAPED.search(row["data"])
    (kept,) = await rows(store, "select data from installations")
    assert "bot_token" not in json.loads(Sealer([A]).open(kept["data"]))
    if isinstance(store, SqliteTaskStore):  # nor in the file's free pages, nor its WAL
        files = [tmp_path / name for name in ("banana.db", "banana.db-wal")]
        assert not any(TOKEN_SHAPED.search(f.read_bytes().decode("latin-1")) for f in files if f.exists())


async def test_an_older_postgres_schema_keeps_its_installations_and_they_are_sealed(postgres_url):
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        assert await migrate(conn, up_to=4) == [1, 2, 3, 4]
        saved = installation()
        await conn.execute(
            "insert into installed_bots values (%s, 'E1', 'T1', false, %s, %s::jsonb)",
            [CLIENT_ID, INSTALLED_AT, plain(saved.to_bot(), _BOT_FIELDS)],
        )
        await conn.execute(
            "insert into installations values (%s, 'E1', 'T1', 'U1', false, %s, %s::jsonb)",
            [CLIENT_ID, INSTALLED_AT, plain(saved, _INSTALLATION_FIELDS)],
        )
        await conn.commit()
    store = await PostgresTaskStore(postgres_url, **SMALL).open()
    try:
        bot = await stores(store, A).async_find_bot(enterprise_id="E1", team_id="T1")
        assert bot is not None and bot.bot_token == "xoxe.xoxb-1" and bot.custom_values == {"plan": "pro", "seats": 12}
        for row in await rows(store, "select data from installed_bots union all select data from installations"):
            assert row["data"].startswith("gAAAAA")
    finally:
        await store.close()


# The SQLite file


@pytest.fixture
def permissive_umask():
    """A umask that hides nothing, as a careless service manager may leave."""
    before = os.umask(0o000)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_sqlite_file_and_the_folders_made_for_it_are_for_the_owner_only(tmp_path, permissive_umask):
    path = tmp_path / "data" / "deeper" / "banana.db"
    store = await SqliteTaskStore(path).open()
    try:
        await stores(store, A).async_save(installation())  # the WAL files exist while it is open
        assert {name: mode(path.parent / name) for name in os.listdir(path.parent)} == {
            "banana.db": 0o600,
            "banana.db-wal": 0o600,
            "banana.db-shm": 0o600,
        }
        assert (mode(tmp_path / "data"), mode(path.parent)) == (0o700, 0o700)
    finally:
        await store.close()


async def test_an_older_world_readable_sqlite_file_and_its_wal_files_are_tightened(tmp_path, permissive_umask):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    path = folder / "banana.db"
    older = sqlite3.connect(path)  # as Banana made it before, left open so its WAL files are there too
    older.execute("pragma journal_mode=wal")
    older.execute("create table t (x)")
    older.commit()
    assert {mode(folder / name) for name in os.listdir(folder)} == {0o644}
    try:
        store = await SqliteTaskStore(path).open()
        await store.close()
        assert {name: mode(folder / name) for name in os.listdir(folder)} == {
            "banana.db": 0o600,
            "banana.db-wal": 0o600,
            "banana.db-shm": 0o600,
        }
        assert mode(folder) == 0o755  # a folder Banana did not make is the operator's
    finally:
        older.close()


# The command


def test_new_key_prints_a_fresh_fernet_key_and_how_to_use_it(capsys):
    printed = []
    for _ in range(2):
        with pytest.raises(SystemExit) as exit:
            main(["new-key"])
        assert exit.value.code == 0
        out, err = capsys.readouterr()
        printed.append(out.strip())
        assert "BANANA_ENCRYPTION_KEYS" in err
    assert printed[0] != printed[1]
    assert Sealer(printed).open(Sealer([printed[0]]).seal("works")) == "works"


async def test_reencrypt_rewrites_every_installation_with_the_newest_key(backend, store, monkeypatch, capsys, tmp_path):
    await stores(store, A).async_save(installation())
    await installation_stores(store, "9999.8888", [A])[0].async_save(installation(bot_token="xoxb-other-app"))
    monkeypatch.chdir(tmp_path)  # no .env there: the settings are the environment's
    for name, value in backend[1].items():
        monkeypatch.setenv(name, value)

    monkeypatch.setenv("BANANA_ENCRYPTION_KEYS", B)
    assert await reencrypt() == 1  # a key that opens nothing: nothing changed
    assert "encrypted with a key not in BANANA_ENCRYPTION_KEYS" in capsys.readouterr().err
    assert await stores(store, A).async_find_bot(enterprise_id="E1", team_id="T1") is not None

    monkeypatch.setenv("BANANA_ENCRYPTION_KEYS", f"{B},{A}")
    assert await reencrypt() == 0
    assert capsys.readouterr().out.startswith("Re-encrypted 4 installation row(s)")
    for client_id, token in ((CLIENT_ID, "xoxe.xoxb-1"), ("9999.8888", "xoxb-other-app")):
        bot = await installation_stores(store, client_id, [B])[0].async_find_bot(enterprise_id="E1", team_id="T1")
        assert bot is not None and bot.bot_token == token

    # a workspace kie.ai key sealed with a key the operator dropped: the installations are done, and it says so
    await run(store.database, [(CHANGE_KEY, ["T1", "f" * 16, Sealer([C]).seal("kie-key-0000"), "0000", 0.0])])
    assert await reencrypt() == 1
    assert capsys.readouterr().err.startswith("Re-encrypted 4 installation row(s), but no kie.ai key:")

    monkeypatch.delenv("BANANA_ENCRYPTION_KEYS")
    assert await reencrypt() == 2
    assert "BANANA_ENCRYPTION_KEYS is missing" in capsys.readouterr().err


# Through the real OAuth flow


async def test_an_install_through_oauth_leaves_no_token_in_the_database_file(start_banana, slack, app_env):
    slack.token_rotation_enabled = True  # refresh tokens too
    banana = await with_oauth(start_banana, slack)
    team = slack.add_workspace(name="North Podcast")
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await install(banana, team, browser)
    assert page.status_code == 200 and team.installed and team.bot_token.startswith("xoxe.xoxb-"), page.text
    path = Path(app_env["DATABASE_PATH"])
    written = b"".join(p.read_bytes() for p in (path, path.with_name(f"{path.name}-wal")) if p.exists())
    assert not TOKEN_SHAPED.search(written.decode("latin-1")) and team.bot_token.encode() not in written
    assert mode(path) == 0o600
