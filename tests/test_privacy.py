"""An image made in a private conversation is shown and reused only there: Family shows a person only what they could
already see (their own tasks, and tasks in public channels), and an identical request reuses only an image from the
same conversation or a public channel."""

from __future__ import annotations

import json

import pytest

from bot.blocks import cards, home
from bot.blocks.family import family_view
from bot.services.privacy import public_in_command, public_in_event, public_in_interaction, seen_by, visible_to
from bot.store import SqliteTaskStore
from prompts.options import GenerationRequest, Options
from prompts.tasks import NewTask, Origin, Task, TaskState, new_task
from standins.slack import ADMIN_USER_ID, OTHER_USER_ID, USER_ID
from standins.slack.team import conversation_name
from tests.conftest import BOT_MENTION, CHANNEL_ID, Banana
from tests.test_store import postgres

CREATE = "/api/v1/jobs/createTask"
ART_CHANNEL = "C0ART00001"  # a second public channel Banana is in


# ---------------------------------------------------------------------------------------------- reading payloads


@pytest.mark.parametrize(
    ("channel_id", "name", "public"),
    [
        ("C0GENERAL1", "general", True),
        ("C0SECRET01", "privategroup", False),  # a private channel, as Slack names it in a slash command
        ("D0DIRECT01", "directmessage", False),
        ("C0MPIM0001", "mpdm-ann--bob-1", False),  # a group DM
        ("G0PRIVATE1", "secret", False),  # a private channel or group DM from before conversation ids
        ("D0DIRECT01", None, False),  # a D id is always a DM
        ("C0GENERAL1", None, None),  # nothing said
        ("C0GENERAL1", "", None),
    ],
)
def test_a_slash_command_says_whether_its_channel_is_public(channel_id, name, public):
    command = {"channel_id": channel_id, **({"channel_name": name} if name is not None else {})}
    assert public_in_command(command) is public


def test_an_interaction_says_so_only_for_its_own_channel():
    on_card = {"channel": {"id": "C0GENERAL1", "name": "general"}}
    assert public_in_interaction(on_card, "C0GENERAL1") is True
    assert public_in_interaction({"channel": {"id": "C0SECRET01", "name": "privategroup"}}, "C0SECRET01") is False
    assert public_in_interaction(on_card, "C0OTHER001") is None  # names another conversation
    assert public_in_interaction({"container": {"type": "view"}}, "C0GENERAL1") is None  # the Home tab says nothing
    assert public_in_interaction({"container": {"type": "view"}}, "D0DIRECT01") is False


def test_an_event_says_so_by_its_channel_type():
    assert public_in_event({"channel": "C0GENERAL1", "channel_type": "channel"}) is True
    for kind in ("group", "im", "mpim"):
        assert public_in_event({"channel": "C0GENERAL1", "channel_type": kind}) is False
    assert public_in_event({"channel": "C0GENERAL1"}) is None  # app_mention carries no channel_type
    assert public_in_event({"channel": "D0DIRECT01"}) is False


# ---------------------------------------------------------------------------------------------- where a task is public

REQUEST = GenerationRequest(prompt="a cat", options=Options("1:1", "2K", "png"))


def stored(new: NewTask, task_id: int, **changes: object) -> Task:
    fields = {**new.__dict__, "id": task_id, "state": TaskState.DONE, "created_at": 0.0, "updated_at": 0.0}
    return Task(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_task_is_public_only_where_slack_said_so_or_its_parent_was_in_the_same_channel():
    here = Origin("T1", "C1", "U1")
    public_parent = stored(new_task(REQUEST, Origin("T1", "C1", "U2", public_channel=True)), 1)
    assert public_parent.public_channel is True
    assert new_task(REQUEST, here).public_channel is False  # unknown counts as private
    assert new_task(REQUEST, here, parent=public_parent).public_channel is True  # a button in the Home tab
    elsewhere = Origin("T1", "C2", "U1")
    assert new_task(REQUEST, elsewhere, parent=public_parent).public_channel is False  # a form's other channel
    other_team = Origin("T2", "C1", "U1")
    assert new_task(REQUEST, other_team, parent=public_parent).public_channel is False
    said_private = Origin("T1", "C1", "U1", public_channel=False)  # a channel made private since
    assert new_task(REQUEST, said_private, parent=public_parent).public_channel is False
    private_parent = stored(new_task(REQUEST, here), 2)
    assert new_task(REQUEST, here, parent=private_parent).public_channel is False


# ---------------------------------------------------------------------------------------------- who sees which kin


def kin_task(task_id: int, user: str, *, public: bool, parent: Task | None = None, prompt: str = "") -> Task:
    request = GenerationRequest(
        prompt=prompt or f"prompt {task_id}",
        options=Options("1:1", "2K", "png"),
        parent_task_id=parent.id if parent else None,
        relation="remix" if parent else None,
    )
    new = new_task(request, Origin("T1", "C1" if public else "G1", user, public_channel=public), parent=parent)
    return stored(new, task_id, permalink=f"https://slack.example/archives/x/p{task_id}")


def test_a_person_sees_their_own_tasks_and_those_in_public_channels():
    assert visible_to(kin_task(1, "U1", public=False), "U1")
    assert visible_to(kin_task(1, "U2", public=True), "U1")
    assert not visible_to(kin_task(1, "U2", public=False), "U1")


def test_hidden_kin_vanish_and_what_they_led_to_hangs_under_the_nearest_visible_ancestor():
    root = kin_task(1, "U1", public=True, prompt="the harbour at dawn")
    secret = kin_task(2, "U2", public=False, parent=root, prompt="our unannounced logo")
    deeper = kin_task(3, "U2", public=False, parent=secret, prompt="the logo in red")
    shared = kin_task(4, "U3", public=True, parent=deeper, prompt="a public poster")
    mine = kin_task(5, "U1", public=False, parent=shared, prompt="my own take")
    seen = seen_by([root, secret, deeper, shared, mine], "U1")
    assert [t.id for t in seen] == [1, 4, 5]
    relinked = {t.id: t for t in seen}
    assert relinked[4].parent_task_id == 1 and relinked[4].chain == (("indirect", 1),)
    assert relinked[5].chain == (("remix", 4),)  # cut at the first hidden ancestor
    shown = json.dumps(family_view(4, seen), ensure_ascii=False)
    assert "*3 images*" in shown and "from #1" in shown
    for hidden in ("#2", "#3", "unannounced", "in red", "p2", "p3", "<@U2>"):
        assert hidden not in shown
    # Someone who sees only the public ones: the root and the poster, nothing of the rest.
    assert [t.id for t in seen_by([root, secret, deeper, shared, mine], "U9")] == [1, 4]
    # The owner of the private ones sees them, under their own parents.
    assert [t.id for t in seen_by([root, secret, deeper, shared, mine], "U2")] == [1, 2, 3, 4]


def test_a_visible_task_whose_every_ancestor_is_hidden_stands_alone():
    secret = kin_task(1, "U2", public=False)
    shared = kin_task(2, "U3", public=True, parent=secret)
    (alone,) = seen_by([secret, shared], "U1")
    assert (alone.parent_task_id, alone.relation, alone.chain) == (None, None, ())
    shown = json.dumps(family_view(2, [alone]), ensure_ascii=False)
    assert "#1" not in shown and "*1 image*" in shown


# ---------------------------------------------------------------------------------------------- the store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        opened = await SqliteTaskStore(tmp_path / "banana.db").open()
    else:
        opened = await postgres(request.getfixturevalue("postgres_url")).open()
    yield opened
    await opened.close()


async def finished(store, channel: str, *, public: bool, team: str = "T1") -> Task:
    origin = Origin(team, channel, "U1", public_channel=public)
    task = await store.add(new_task(REQUEST, origin))
    return await store.set_state(task.id, TaskState.DONE, request_key="K", slack_file_id=f"F{task.id}")


async def test_reusable_is_an_image_of_this_conversation_or_of_a_public_channel(store):
    secret = await finished(store, "G1", public=False)
    assert (await store.get(secret.id)).public_channel is False
    assert await store.reusable("T1", "K", "C9") is None  # never outside its conversation
    assert (await store.reusable("T1", "K", "G1")).id == secret.id
    public = await finished(store, "C1", public=True)
    assert (await store.get(public.id)).public_channel is True
    assert (await store.reusable("T1", "K", "C9")).id == public.id
    assert (await store.reusable("T1", "K", "G2")).id == public.id  # a public image may go anywhere
    assert await store.reusable("T2", "K", "C1") is None


async def test_a_row_from_before_counts_as_private(tmp_path):
    store = await SqliteTaskStore(tmp_path / "banana.db").open()
    try:
        task = await finished(store, "C1", public=True)
        with store.db.conn:
            store.db.execute("update tasks set public_channel = null where id = ?", [task.id])
        assert (await store.get(task.id)).public_channel is False
        assert await store.reusable("T1", "K", "C2") is None
    finally:
        await store.close()


# ---------------------------------------------------------------------------------------------- the stand-in


def test_the_stand_in_names_conversations_as_slack_does(slack):
    payload = slack.command_payload("a cat", channel=slack.private_channel)
    assert payload["channel_name"] == "privategroup"
    assert slack.command_payload("a cat", channel=slack.dm_channel)["channel_name"] == "directmessage"
    assert slack.command_payload("a cat")["channel_name"] == "general"
    mpim = slack.add_channel("G0MPIM0001", "mpdm-user--other-1", private=True)
    assert conversation_name(mpim) == "mpdm-user--other-1"
    assert slack.channel_field(slack.private_channel) == {"id": slack.private_channel, "name": "privategroup"}


# ---------------------------------------------------------------------------------------------- the app


def invite_banana(slack) -> str:
    """Banana invited to the stand-in's private channel; returns its id."""
    slack.channels[slack.private_channel].is_member = True
    return slack.private_channel


async def ask(banana: Banana, text: str, *, channel: str, user: str = USER_ID) -> None:
    """`/banana text` typed in `channel`, named as Slack names it (`privategroup` for a private channel)."""
    response = await banana.command(text, channel=channel, user=user, team=banana.slack)
    assert response.status_code == 200


async def newest(banana: Banana, user: str, count: int) -> Task:
    return (await banana.settle(count, user=user))[-1]


def said_in(slack, channel: str) -> str:
    return json.dumps([(m.text, m.blocks) for m in slack.messages if m.channel == channel], ensure_ascii=False)


async def test_a_private_channel_image_is_reused_there_and_never_re_posted_elsewhere(banana, kie, slack):
    private = invite_banana(slack)
    await ask(banana, "a lighthouse at night", channel=private)
    first = await newest(banana, USER_ID, 1)
    assert first.state is TaskState.DONE and first.public_channel is False
    await ask(banana, "a lighthouse at night", channel=private)
    again = await newest(banana, USER_ID, 2)
    assert again.reused_from == first.id and len(kie.requests_to(CREATE)) == 1  # the same conversation may reuse

    await ask(banana, "a lighthouse at night", channel=CHANNEL_ID, user=OTHER_USER_ID)
    public = await newest(banana, OTHER_USER_ID, 1)
    assert public.state is TaskState.DONE and public.public_channel is True
    assert public.reused_from is None and len(kie.requests_to(CREATE)) == 2  # made anew
    assert public.slack_file_id not in (first.slack_file_id, again.slack_file_id)
    shown = said_in(slack, CHANNEL_ID)
    assert f"#{first.id}" not in shown and f"#{again.id}" not in shown and "reused" not in shown


async def test_a_public_image_is_reused_in_another_public_channel_and_in_a_private_one(banana, kie, slack):
    slack.add_channel(ART_CHANNEL, "art")
    private = invite_banana(slack)
    await ask(banana, "a lighthouse at night", channel=CHANNEL_ID)
    first = await newest(banana, USER_ID, 1)
    await ask(banana, "a lighthouse at night", channel=ART_CHANNEL, user=OTHER_USER_ID)
    elsewhere = await newest(banana, OTHER_USER_ID, 1)
    await ask(banana, "a lighthouse at night", channel=private)
    inside = await newest(banana, USER_ID, 2)
    assert elsewhere.reused_from == first.id and inside.reused_from in (first.id, elsewhere.id)
    assert len(kie.requests_to(CREATE)) == 1
    assert f"reused from #{first.id}" in said_in(slack, ART_CHANNEL)


async def open_family(banana: Banana, task: Task, user: str) -> str:
    """`user` presses Family on the task's row in their Home tab; the modal that opens, as text."""
    slack = banana.slack
    opened = len(slack.views_opened)
    await banana.click(home.FAMILY, str(task.id), message_ts="", container="view", user=user)
    await slack.wait_for(lambda: len(slack.views_opened) > opened)
    return json.dumps(slack.views_opened[-1], ensure_ascii=False)


async def test_family_shows_each_person_only_the_kin_they_could_already_see(banana, kie, slack):
    private = invite_banana(slack)
    # In the private channel: an image, and an edit of it asked in its thread.
    await ask(banana, "our unannounced logo", channel=private)
    secret = await newest(banana, USER_ID, 1)
    await banana.say(f"{BOT_MENTION} make it crimson", channel=private, thread_ts=secret.message_ts)
    edit = await newest(banana, USER_ID, 2)
    assert edit.parent_task_id == secret.id and edit.public_channel is False  # the thread's own channel
    # Someone shares the image in #general and remixes it there (a form: Slack does not say the channel is public).
    shared = slack.add_message(CHANNEL_ID, "look", user=OTHER_USER_ID, files=[secret.slack_file_id])
    message = {
        "type": "message",
        "user": OTHER_USER_ID,
        "ts": shared.ts,
        "text": shared.text,
        "files": [slack.file_object(secret.slack_file_id)],
    }
    opened = len(slack.views_opened)
    await banana.message_shortcut(message, channel=CHANNEL_ID, user=OTHER_USER_ID)
    await slack.wait_for(lambda: len(slack.views_opened) > opened)
    await banana.submit(slack.views_opened[-1], user=OTHER_USER_ID, prompt="a launch poster")
    remix = await newest(banana, OTHER_USER_ID, 1)
    assert remix.parent_task_id == secret.id and remix.public_channel is False
    # A third person regenerates the poster from its card in #general: Slack names the channel, a public one.
    await banana.click(cards.REGENERATE, str(remix.id), message_ts=remix.message_ts or "", user=ADMIN_USER_ID)
    poster = await newest(banana, ADMIN_USER_ID, 1)
    assert poster.parent_task_id == remix.id and poster.public_channel is True

    # The third person sees their own poster alone: nothing of the private image, its edit or the remix.
    theirs = await open_family(banana, poster, ADMIN_USER_ID)
    assert f"#{poster.id}" in theirs and "*1 image*" in theirs
    for hidden in (secret, edit, remix):
        assert f"#{hidden.id}" not in theirs and (hidden.permalink or "") not in theirs
    for hidden in ("unannounced", "crimson", f"<@{USER_ID}>", f"<@{OTHER_USER_ID}>"):
        assert hidden not in theirs
    # The remixer sees their remix and the public poster under it, not the private image they remixed.
    remixer = await open_family(banana, remix, OTHER_USER_ID)
    assert f"#{remix.id}" in remixer and f"#{poster.id}" in remixer and "*2 images*" in remixer
    assert f"#{secret.id}" not in remixer and f"#{edit.id}" not in remixer and "unannounced" not in remixer
    # The owner sees all of their own, and the public poster hung under their image; not the private-looking remix.
    owner = await open_family(banana, secret, USER_ID)
    assert all(f"#{t.id}" in owner for t in (secret, edit, poster)) and "*3 images*" in owner
    assert f"#{remix.id}" not in owner and f"from #{secret.id}" in owner and f"<@{OTHER_USER_ID}>" not in owner


async def test_family_of_a_task_the_person_could_not_see_says_only_that_it_is_gone(banana, kie, slack):
    private = invite_banana(slack)
    await ask(banana, "our unannounced logo", channel=private)
    secret = await newest(banana, USER_ID, 1)
    opened = len(slack.views_opened)
    await banana.click(home.FAMILY, str(secret.id), message_ts="", container="view", user=OTHER_USER_ID)
    await slack.wait_for(lambda: len(slack.views_opened) > opened)
    shown = json.dumps(slack.views_opened[-1], ensure_ascii=False)
    assert "no longer exists" in shown and "unannounced" not in shown and f"#{secret.id}" not in shown


async def test_an_edit_and_a_home_button_take_the_word_of_their_parents_channel(banana, kie, slack):
    private = invite_banana(slack)
    for channel in (CHANNEL_ID, private):
        await ask(banana, f"a lighthouse in {channel}", channel=channel)
    public, secret = await banana.settle(2)
    for parent in (public, secret):
        # app_mention carries no channel_type, and a button in the Home tab names no channel
        await banana.say(f"{BOT_MENTION} make it stormy", channel=parent.channel_id, thread_ts=parent.message_ts)
        await banana.click(cards.REDRAW_4K, str(parent.id), message_ts="", container="view")
    made = (await banana.settle(6))[2:]
    assert {(t.relation, t.parent_task_id, t.public_channel) for t in made} == {
        ("edit", public.id, True),
        ("upscale", public.id, True),
        ("edit", secret.id, False),
        ("upscale", secret.id, False),
    }
