"""Reading Slack files with the bot token: the sign-in redirect must never pass for an image."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.clients.slack import FileFetchError, SlackDelivery
from standins.slack import BOT_TOKEN


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as opened:
        yield opened


def delivery(slack, session, token: str = BOT_TOKEN) -> SlackDelivery:
    return SlackDelivery(AsyncWebClient(token=token, base_url=slack.api_url, session=session), session)


async def test_download_with_the_bot_token(slack, session):
    file = slack.add_file(b"\x89PNG\r\n\x1a\nrest", "a.png", "image/png")
    info = await delivery(slack, session).file_info(file.id)
    assert await delivery(slack, session).download_file(info, max_bytes=1000) == file.data


async def test_redirect_to_the_sign_in_page_names_the_scope(slack, session):
    file = slack.add_file(b"\x89PNG\r\n\x1a\nrest", "a.png", "image/png")
    info = await delivery(slack, session).file_info(file.id)
    with pytest.raises(FileFetchError, match=r"sign-in page.*files:read"):
        await delivery(slack, session, token="xoxb-not-this-one").download_file(info, max_bytes=1000)


async def test_download_stops_at_the_size_cap(slack, session):
    file = slack.add_file(b"\x89PNG\r\n\x1a\n" + b"0" * 5000, "a.png", "image/png")
    info = await delivery(slack, session).file_info(file.id)
    with pytest.raises(FileFetchError, match="larger than"):
        await delivery(slack, session).download_file(info, max_bytes=1000)


async def test_unknown_file_says_so(slack, session):
    with pytest.raises(FileFetchError, match="deleted, or I cannot see it"):
        await delivery(slack, session).file_info("F0NOPE")
