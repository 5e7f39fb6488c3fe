"""Where a Slack token may go (bot/clients/slack_hosts.py): Slack's own https hosts and the configured API's
origin, nothing else."""

from __future__ import annotations

import pytest

from bot.clients.slack_hosts import is_remote_file, may_carry_token

SLACK_API = "https://slack.com/api/"
STAND_IN_API = "http://127.0.0.1:8082/api/"


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com/files-pri/T0TEAM001-F0FILE00001/photo.png",
        "https://files.slack.com/files-pri/T0TEAM001-F0FILE00001/download/photo.png",
        "https://files-origin.slack.com/files-pri/T0TEAM001-F0FILE00001/photo.png",
        "https://files-edu.slack.com/files-pri/T1-F1/a.png",
        "https://files.slack-gov.com/files-pri/T1-F1/a.png",  # GovSlack
        "https://slack.com/files-pri/T1-F1/a.png",
        "https://FILES.Slack.COM/files-pri/T1-F1/a.png",  # host names are case-insensitive
        "HTTPS://files.slack.com/a.png",
        "https://files.slack.com:443/a.png",  # the default port, written out
        "https://files.slack.com/files-pri/T1-F1/a@b.png",  # an @ in the path is not user info
        "https://files.slack.com/a.png?x=@evil.example",
    ],
)
def test_slack_file_hosts_over_https_may_carry_the_token(url):
    assert may_carry_token(url, SLACK_API)
    assert may_carry_token(url, STAND_IN_API)


@pytest.mark.parametrize(
    "url",
    [
        "http://files.slack.com/files-pri/T1-F1/a.png",  # plain http: the token would cross the network in clear
        "https://evil.example/files-pri/T1-F1/a.png",
        "https://files.slack.com.evil.example/a.png",
        "https://evilslack.com/a.png",
        "https://slack.com.evil.example/a.png",
        "https://notslack-gov.com/a.png",
        "https://files.slack.com@evil.example/a.png",  # user info: the request goes to evil.example
        "https://files.slack.com:x@evil.example/a.png",
        "https://@files.slack.com/a.png",  # empty user info is refused too
        "https://:@files.slack.com/a.png",
        "https://files.slack.com\\@evil.example/a.png",
        "https://evil.example\\.files.slack.com/a.png",
        "https://files.slack.com:8443/a.png",  # Slack serves files on the default port only
        "https://files.slack.com:0/a.png",
        "https://files.slack.com:99999/a.png",
        "https://files.slack.com./a.png",  # a trailing dot is not how Slack writes its hosts
        "https://files%2eslack.com/a.png",
        "https://files.slack.com%00.evil.example/a.png",
        "https://files.slack.com\t.evil.example/a.png",
        " https://files.slack.com/a.png",
        "https://files.slack.com/a b.png",
        "https://files.slack.com\uff0eevil.example/a.png",  # a full-width dot
        "https://[::1]/a.png",
        "https://[2600:1f18::1]/a.png",
        "https://127.0.0.1/a.png",
        "https://2130706433/a.png",
        "https://evil.example#.slack.com",
        "https://evil.example?.slack.com",
        "https:files.slack.com/a.png",
        "//files.slack.com/a.png",
        "files.slack.com/a.png",
        "ftp://files.slack.com/a.png",
        "wss://wss-primary.slack.com/link",
        "file:///etc/passwd",
        "",
        "not a url",
    ],
)
def test_anything_else_may_not(url):
    assert not may_carry_token(url, SLACK_API)
    assert not may_carry_token(url, STAND_IN_API)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8082/files-pri/T0TEAM001-F0FILE00001/photo.png", True),
        ("http://127.0.0.1:8082/files-pri/T0TEAM001-F0FILE00001/download/photo.png", True),
        ("http://127.0.0.1:8082", True),
        ("http://127.0.0.1:8083/files-pri/T1-F1/a.png", False),  # another port on the same machine
        ("http://127.0.0.1/files-pri/T1-F1/a.png", False),
        ("https://127.0.0.1:8082/files-pri/T1-F1/a.png", False),  # another scheme
        ("http://localhost:8082/files-pri/T1-F1/a.png", False),  # another spelling is another host
        ("http://127.0.0.2:8082/files-pri/T1-F1/a.png", False),
        ("http://127.0.0.1:8082@evil.example/a.png", False),
        ("http://evil.example:8082/a.png", False),
    ],
)
def test_the_configured_api_origin_exactly(url, allowed):
    assert may_carry_token(url, STAND_IN_API) is allowed
    assert not may_carry_token(url, SLACK_API)


def test_an_ipv6_api_origin_matches_exactly():
    api = "http://[::1]:8082/api/"
    assert may_carry_token("http://[::1]:8082/files-pri/T1-F1/a.png", api)
    assert not may_carry_token("http://[::1]:8083/files-pri/T1-F1/a.png", api)
    assert not may_carry_token("http://[::2]:8082/files-pri/T1-F1/a.png", api)


def test_a_broken_api_url_lets_only_slack_through():
    assert may_carry_token("https://files.slack.com/a.png", "not a url")
    assert not may_carry_token("not a url", "not a url")
    assert not may_carry_token("http://127.0.0.1:8082/a.png", "")


@pytest.mark.parametrize(
    ("file", "remote"),
    [
        ({"id": "F1", "mode": "external", "is_external": True, "external_type": "app"}, True),
        ({"id": "F1", "mode": "external"}, True),
        ({"id": "F1", "is_external": True, "mode": "hosted"}, True),
        ({"id": "F1", "mode": "hosted", "is_external": False}, False),
        ({"id": "F1", "file_access": "check_file_info"}, False),  # ids only: files.info will tell
        ({"id": "F1", "is_external": "false"}, False),
    ],
)
def test_remote_files(file, remote):
    assert is_remote_file(file) is remote
