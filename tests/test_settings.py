from pathlib import Path

import pytest

from bot.settings import Polling, SettingsError, load_settings

REQUIRED = {"SLACK_BOT_TOKEN": "xoxb-1-secret", "SLACK_SIGNING_SECRET": "signing-secret", "KIEAI_API_KEY": "kie-secret"}


def load(**env: str):
    return load_settings({**REQUIRED, **env}, env_file=None)


def test_defaults():
    settings = load()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.kieai_base_url == "https://api.kie.ai"
    assert settings.kieai_upload_url == "https://kieai.redpandaai.co"
    assert settings.port == 3000
    assert settings.database_path == Path("data/banana.db")
    assert not settings.socket_mode


def test_every_problem_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings({"PORT": "http", "SLACK_API_URL": "slack.com", "POLL_TIMEOUT": "-1"}, env_file=None)
    problems = "\n".join(caught.value.problems)
    for name in ("SLACK_BOT_TOKEN is missing", "SLACK_SIGNING_SECRET is missing", "KIEAI_API_KEY is missing"):
        assert name in problems
    assert "PORT must be a whole number" in problems
    assert "SLACK_API_URL must be an http(s) URL" in problems
    assert "POLL_TIMEOUT must be a positive number" in problems
    assert len(caught.value.problems) == 6


def test_secrets_never_appear_in_errors_or_repr():
    with pytest.raises(SettingsError) as caught:
        load(SLACK_BOT_TOKEN="xoxp-user-token-secret", SLACK_APP_TOKEN="wrong-app-secret")
    assert "xoxp-user-token-secret" not in str(caught.value)
    assert "wrong-app-secret" not in str(caught.value)
    assert "SLACK_BOT_TOKEN does not look right" in str(caught.value)
    text = repr(load())
    for secret in REQUIRED.values():
        assert secret not in text


def test_socket_mode_needs_no_signing_secret():
    settings = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "KIEAI_API_KEY": "k"}, env_file=None
    )
    assert settings.socket_mode


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=s\nKIEAI_API_KEY=k\nPORT=4000\n")
    settings = load_settings({"PORT": "5000"}, env_file=env_file)
    assert settings.slack_bot_token == "xoxb-from-file"
    assert settings.port == 5000


def test_choices_are_case_insensitive_and_checked():
    assert load(DEFAULT_RESOLUTION="4k").default_resolution == "4K"
    with pytest.raises(SettingsError, match="DEFAULT_ASPECT_RATIO must be one of"):
        load(DEFAULT_ASPECT_RATIO="7:5")


def test_polling_follows_kie_guidance():
    polling = Polling()
    assert 2 <= polling.interval(0) <= 3
    assert 5 <= polling.interval(45) <= 10
    assert 15 <= polling.interval(200) <= 30
    assert 600 <= polling.timeout <= 900


def test_polling_is_configurable():
    settings = load(POLL_INTERVAL_FAST="0.01", POLL_TIMEOUT="0.5", KIEAI_RETRY_DELAYS="0,0.01")
    assert settings.polling.interval(0) == 0.01
    assert settings.polling.timeout == 0.5
    assert settings.kie_retry_delays == (0.0, 0.01)


OAUTH = {"SLACK_CLIENT_ID": "123.456", "SLACK_CLIENT_SECRET": "client-secret", "SLACK_BOT_TOKEN": ""}
KEY = "gTZQ7Ws3qXxFLTKxfP0HqvU5o1k3rOMq3xU8Vy3y1qE="


def test_oauth_needs_an_encryption_key_and_names_the_command_that_makes_one():
    with pytest.raises(SettingsError, match=r"BANANA_ENCRYPTION_KEYS is missing.*banana-bot new-key"):
        load(**OAUTH)
    with pytest.raises(SettingsError, match="key 2 is not a Fernet key") as caught:
        load(**OAUTH, BANANA_ENCRYPTION_KEYS=f"{KEY},not-a-key-secret")
    assert "not-a-key-secret" not in str(caught.value)
    assert load(**OAUTH, BANANA_ENCRYPTION_KEYS=f" {KEY} ").encryption_keys == (KEY,)
    assert load().encryption_keys == ()  # one workspace: its token lives in the environment, nothing to encrypt


def test_oauth_caps_are_on_until_the_operator_changes_them():
    from bot.settings import OAUTH_USER_DAILY_CAP, OAUTH_WORKSPACE_MONTHLY_CAP

    oauth = load(**OAUTH, BANANA_ENCRYPTION_KEYS=KEY)
    assert oauth.user_daily_credit_cap == OAUTH_USER_DAILY_CAP
    assert oauth.workspace_monthly_credit_cap == OAUTH_WORKSPACE_MONTHLY_CAP
    raised = load(
        **OAUTH, BANANA_ENCRYPTION_KEYS=KEY, USER_DAILY_CREDIT_CAP="2000", WORKSPACE_MONTHLY_CREDIT_CAP="none"
    )
    assert raised.user_daily_credit_cap == 2000 and raised.workspace_monthly_credit_cap is None
    single = load()
    assert single.user_daily_credit_cap is None and single.workspace_monthly_credit_cap is None


def test_allowed_workspaces_take_team_and_enterprise_ids():
    settings = load(ALLOWED_WORKSPACES="T0AAA1, E0BBB2 T0CCC3")
    assert settings.allowed_workspaces == {"T0AAA1", "E0BBB2", "T0CCC3"}
    assert settings.may_install("T0AAA1") and settings.may_install("T0ZZZ9", "E0BBB2")
    assert not settings.may_install("T0ZZZ9") and not settings.may_install(None)
    assert load().may_install("T0ANY")  # no list: any workspace
    with pytest.raises(SettingsError, match=r"ALLOWED_WORKSPACES must list Slack workspace ids.*north-podcast"):
        load(ALLOWED_WORKSPACES="T0AAA1,north-podcast")
    with pytest.raises(SettingsError, match="OPERATOR_WORKSPACE names one workspace id"):
        load(OPERATOR_WORKSPACE="T0AAA1 T0BBB2")


def test_the_database_password_is_found_as_libpq_reads_it():
    for password in ("p#ss", "p?ss", "pa:ss"):
        settings = load(DATABASE_URL=f"postgresql://banana:{password}@db-host:5432/banana")
        assert password in settings.secrets
    encoded = load(DATABASE_URL="postgresql://banana:p%40ss%2Fword@db-host/banana")
    assert "p@ss/word" in encoded.secrets


def test_without_signing_secret_or_app_token_one_problem_names_both_ways():
    with pytest.raises(SettingsError) as caught:
        load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "KIEAI_API_KEY": "k"}, env_file=None)
    assert caught.value.problems == [
        "SLACK_SIGNING_SECRET is missing: set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)"
    ]
    assert str(caught.value) == f"Banana cannot start: {caught.value.problems[0]}"  # one problem, one line


def test_dotenv_lines_that_cannot_be_read_are_problems_named_by_number(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        'SLACK_BOT_TOKEN=xoxb-1\nKIEAI_API_KEY "kie-secret-value"\nSLACK_SIGNING_SECRET="s\nPORT=4000\nEXTRA=${PORT}0\n'
    )
    with pytest.raises(SettingsError) as caught:
        load_settings({}, env_file=env_file)
    assert [p for p in caught.value.problems if p.startswith(str(env_file))] == [
        f"{env_file} line 2 cannot be read: write it as NAME=value",
        f"{env_file} line 3 cannot be read: write it as NAME=value",
    ]
    assert "kie-secret-value" not in str(caught.value)
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-1\nnot a setting\nPORT=4000\nMAX_RESULT_MB=${PORT}\n")
    with pytest.raises(SettingsError, match=r"MAX_RESULT_MB must be .*, got '4000'"):  # the rest read, and expanded
        load_settings(REQUIRED, env_file=env_file)
    env_file.write_bytes(b"PORT=\xff\n")
    with pytest.raises(SettingsError, match=r"\.env cannot be read \(UnicodeDecodeError\): make it a UTF-8 text"):
        load_settings(REQUIRED, env_file=env_file)


def test_a_database_url_libpq_cannot_read_is_a_problem_that_does_not_show_it():
    with pytest.raises(SettingsError) as caught:
        load(DATABASE_URL="postgresql://banana:my secret@db/banana")
    assert caught.value.problems == [
        "DATABASE_URL is not a URL PostgreSQL can read: write it as postgresql://user:password@host:5432/banana, "
        "with spaces and @ : / ? # in the password percent-encoded (%20, %40, …)"
    ]
    assert load(DATABASE_URL="postgresql://banana:my%20secret@db/banana").database_url


def test_kies_expected_seconds_per_resolution():
    assert load().kie_expected_seconds == (("1K", 30, 90), ("2K", 30, 90), ("4K", 30, 120))
    assert load(KIEAI_EXPECTED_SECONDS="2k=40-70, 4K=60-150").kie_expected_seconds == (("2K", 40, 70), ("4K", 60, 150))
    assert load(KIEAI_EXPECTED_SECONDS="none").kie_expected_seconds == ()
    for wrong in ("2K=70-40", "8K=30-90", "2K=30", "2K=30-90,2K=40-80", "2K=-5-90", "fast"):
        with pytest.raises(SettingsError) as caught:
            load(KIEAI_EXPECTED_SECONDS=wrong)
        assert "KIEAI_EXPECTED_SECONDS must be seconds per resolution, such as 1K=30-90" in str(caught.value), wrong


def test_slack_retry_delays():
    assert load().slack_retry_delays == (2, 5, 15, 30, 60)
    assert load(SLACK_RETRY_DELAYS="1,3").slack_retry_delays == (1, 3)
    with pytest.raises(SettingsError, match="SLACK_RETRY_DELAYS must be comma-separated seconds"):
        load(SLACK_RETRY_DELAYS="soon")
