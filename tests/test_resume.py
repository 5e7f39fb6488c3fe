"""A stored task is the request as it was asked: killed while tasks wait in kie's create queue, the app resumes each
one exactly as asked (`--fresh`, relation and parent, studio origin, inputs, options, thread)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.blocks import cards
from bot.store import SqliteTaskStore
from prompts.options import GenerationRequest, InputFile, Options
from prompts.tasks import Origin, Task, TaskState, new_task
from standins import slack as slack_standin
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_remix import image_bytes, opened_form, post_with_files
from tests.test_studio import open_form, review_step

CREATE = "/api/v1/jobs/createTask"


async def test_a_stored_task_reads_back_as_the_request_and_origin_it_was_asked_with(tmp_path):
    store = await SqliteTaskStore(tmp_path / "banana.db").open()
    try:
        request = GenerationRequest(
            prompt="a poster",
            options=Options("9:16", "4K", "jpg"),
            avoid="text",
            inputs=(InputFile("F1", "photo.heic"), InputFile("F2")),
            parent_task_id=7,
            relation="remix",
            fresh=True,
            source="studio:quote",
        )
        origin = Origin("T1", "C1", "U1", response_url="https://hooks/x", thread_ts="1.5", view_id="V1")
        task = await store.add(new_task(request, origin))
        assert task.request == request and task.origin == origin
        # Once the card is posted at the top of the channel, its own thread is not a thread it was asked from.
        posted = await store.update(task.id, message_ts="2.0", thread_ts="2.0")
        assert posted.origin.thread_ts is None and posted.request == request
    finally:
        await store.close()


async def wait_for_tasks(store: SqliteTaskStore, count: int, ready) -> list[Task]:
    """The app's tasks, read from its database, once there are `count` and each is `ready`."""
    found: list[Task] = []
    try:
        async with asyncio.timeout(15):
            while True:
                found = sorted(await store.for_user(slack_standin.TEAM_ID, USER_ID, limit=100), key=lambda t: t.id)
                if len(found) == count and all(ready(task) for task in found):
                    return found
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"tasks not ready: {[(t.id, t.state.value) for t in found]}") from None


async def test_sigkill_while_tasks_wait_in_the_create_queue_resumes_each_as_asked(start_process, app_env, kie, slack):
    store = await SqliteTaskStore(Path(app_env["DATABASE_PATH"])).open()
    try:
        # One create per ten minutes: the first image is made, everything after it waits in the create queue.
        first = await start_process(KIEAI_CREATES_PER_WINDOW="1", KIEAI_CREATE_WINDOW="600")
        await first.command("a lighthouse")
        (original,) = await wait_for_tasks(store, 1, lambda t: t.state is TaskState.DONE)

        await first.command("a lighthouse --fresh")  # the same words: without --fresh it would reuse the image
        for action in (cards.REGENERATE, cards.REDRAW_4K):
            await first.click(action, str(original.id), message_ts=original.message_ts or "")
        thread = slack.add_message(CHANNEL_ID, "ideas for the poster", user=USER_ID)
        message, _ = post_with_files(slack, (image_bytes("red"), "team.png", "image/png"), thread_ts=thread.ts)
        await first.submit(await opened_form(first, slack, message), prompt="a retro poster", aspect_ratio="9:16")
        quote = await open_form(first, slack, "quote “Less, but better” — Dieter Rams, designer")
        await first.submit(await review_step(first, slack, quote))

        # Each waits its turn with its card posted: stored, checked against the cache, not yet at kie.
        waiting = await wait_for_tasks(store, 6, lambda t: bool(t.message_ts) and (t is original or t.request_key))
        asked = {task.id: (task.request, task.origin) for task in waiting}
        assert len(kie.requests_to(CREATE)) == 1
        await first.kill()

        second = await start_process()
        done = await wait_for_tasks(store, 6, lambda t: t.state.finished)
        assert await second.stop() == 0
    finally:
        await store.close()

    assert all(task.state is TaskState.DONE and task.reused_from is None for task in done)
    assert {task.id: (task.request, task.origin) for task in done} == asked
    fresh, regenerated, upscaled, remixed, quoted = done[1:]
    creates = {c.json["input"]["prompt"]: c.json["input"] for c in kie.requests_to(CREATE)}
    assert len(kie.requests_to(CREATE)) == 6  # every waiting task made anew, none twice, none reused
    assert fresh.request.fresh and fresh.prompt == original.prompt
    assert (regenerated.relation, regenerated.parent_task_id, regenerated.fresh) == ("regenerate", original.id, True)
    assert (upscaled.relation, upscaled.resolution, upscaled.source) == ("upscale", "4K", "button")
    assert remixed.source == "form" and len(remixed.inputs) == 1
    assert creates["a retro poster"]["aspect_ratio"] == "9:16" and len(creates["a retro poster"]["image_input"]) == 1
    assert remixed.message_ts in [m.ts for m in slack.thread(CHANNEL_ID, thread.ts)]  # its card, in its thread
    assert quoted.source == "studio:quote" and quoted.fresh and "Less, but better" in quoted.prompt
    assert len(slack.calls_to("chat.postMessage")) == 6  # one card each, none posted again
