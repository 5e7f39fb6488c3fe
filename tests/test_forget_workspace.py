"""`banana-bot forget-workspace`: it checks the id's form, never creates a database, says when nothing is stored, shows
what it will delete and asks first (`--yes` for scripts; no terminal and no --yes: it refuses). The counts come from
the store's `workspace_records`, on both backends (banana/cli.py, bot/store)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import sys

import pytest

from banana.cli import forget_workspace, main
from bot.store import PostgresTaskStore, SqliteTaskStore, WorkspaceRecords, installation_stores
from prompts.options import Options
from prompts.tasks import BrandImage
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.test_installations import CLIENT_ID, SMALL, installation
from tests.test_store import NEW

TEAM, OTHER = "T0FORGET1", "T0KEEP001"


class Terminal(io.StringIO):
    """A terminal, where a person types what it holds."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path, monkeypatch):
    """A store holding TEAM's two tasks, saved prompt and installation, and OTHER's task; the CLI's settings name
    its database, and the current folder has no .env."""
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        opened = await SqliteTaskStore(tmp_path / "banana.db").open()
        monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "banana.db"))
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        url = request.getfixturevalue("postgres_url")
        opened = await PostgresTaskStore(url, **SMALL).open()
        monkeypatch.setenv("DATABASE_URL", url)
    for team in (TEAM, TEAM, OTHER):
        await opened.add(dataclasses.replace(NEW, team_id=team))
    await opened.save_prompt(TEAM, "U1", "cats", "a cat", Options("1:1", "2K", "png"))
    installations = installation_stores(opened, CLIENT_ID, (TEST_ENCRYPTION_KEY,))[0]
    await installations.async_save(installation(team_id=TEAM))
    yield opened
    await opened.close()


def typed(monkeypatch, answer: str) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal(answer))


async def test_the_store_counts_what_forgetting_would_delete(store):
    assert await store.workspace_records(TEAM) == WorkspaceRecords(tasks=2, saved_prompts=1, installed=True)
    assert await store.workspace_records(OTHER) == WorkspaceRecords(tasks=1, saved_prompts=0, installed=False)
    assert (await store.workspace_records("T0NOBODY1")).empty


async def test_answering_no_deletes_nothing(store, monkeypatch, capsys):
    typed(monkeypatch, "n\n")
    assert await forget_workspace(TEAM) == 1
    out, err = capsys.readouterr()
    assert f"Stored for workspace {TEAM}: 2 task(s) and their history, 1 saved prompt(s), its installation" in out
    assert "[y/N]" in out and err == "Nothing was deleted.\n"
    assert await store.workspace_records(TEAM) == WorkspaceRecords(tasks=2, saved_prompts=1, installed=True)


async def test_answering_yes_deletes_that_workspace_only(store, monkeypatch, capsys):
    typed(monkeypatch, "y\n")
    assert await forget_workspace(TEAM) == 0
    assert f"Forgot workspace {TEAM}: 2 task(s)" in capsys.readouterr().out
    assert (await store.workspace_records(TEAM)).empty
    assert (await store.workspace_records(OTHER)).tasks == 1


async def test_with_no_terminal_it_asks_for_yes_and_deletes_nothing(store, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped, not typed: not an answer
    assert await forget_workspace(TEAM) == 2
    assert capsys.readouterr().err.startswith("Nothing was deleted: no terminal to ask at; add --yes")
    assert (await store.workspace_records(TEAM)).tasks == 2


async def test_yes_on_the_command_line_deletes_without_asking(store, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exit:  # the command as typed, with its own event loop
        await asyncio.to_thread(main, ["forget-workspace", TEAM, "--yes"])
    assert exit.value.code == 0
    assert (await store.workspace_records(TEAM)).empty


async def test_a_workspace_with_nothing_stored_is_said_so(store, capsys):
    assert await forget_workspace("T0NOBODY1") == 0
    assert capsys.readouterr().out == "Nothing is stored for workspace T0NOBODY1; nothing was deleted.\n"


@pytest.mark.parametrize("wrong", ["hello world", "t0lower", "U0USER0001", "T", ""])
async def test_an_id_that_is_not_a_workspace_id_is_refused_before_the_database(wrong, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "banana.db"))
    assert await forget_workspace(wrong, yes=True) == 2
    assert capsys.readouterr().err.startswith(f"{wrong!r} is not a workspace id: Slack's start with T")
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_database_is_refused_never_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_PATH", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert await forget_workspace(TEAM, yes=True) == 1
    assert capsys.readouterr().err == (
        "No database at data/banana.db: set DATABASE_PATH or DATABASE_URL to Banana's (as the app has them)\n"
    )
    assert list(tmp_path.iterdir()) == []  # no data/ folder, no file


async def test_a_workspace_with_only_a_brand_kit_is_forgotten_images_and_all(store, capsys):
    logo = BrandImage("T0BRAND01", "a1", "logo", 0, "logo.png", "image/png", 8, 8, b"\x89PNG")
    await store.save_workspace_brand("T0BRAND01", "U1", {"name": "Acme"}, [logo], "brand: name Acme")
    assert await forget_workspace("T0BRAND01", yes=True) == 0
    assert "its settings, brand kit and their change log" in capsys.readouterr().out
    assert await store.workspace_brand("T0BRAND01") is None and await store.brand_image("T0BRAND01", "a1") is None
    assert (await store.workspace_records("T0BRAND01")).empty
