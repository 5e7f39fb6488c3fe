"""Upscale ×2 / ×4: the delivered image itself goes to kie's topaz/image-upscale, and the same picture comes back
larger, in the same thread, as its own numbered task."""

from __future__ import annotations

import asyncio
import io
import json
import random

import httpx
import pytest
from PIL import Image

from bot.blocks import cards
from bot.clients.images import fit_for_upscale
from bot.clients.inputs import InputImage
from bot.clients.kie import KieTask, Phase, request_body
from bot.jobs.job import request_key
from bot.services.callbacks import BadCallback, claimed_cost
from prompts.options import (
    PRICES,
    TOPAZ_UPSCALE,
    InputFile,
    Options,
    drawn_longest_side,
    upscale_price_key,
    upscale_refusal,
)
from prompts.tasks import Task, TaskState
from standins import slack as slack_standin
from standins.kie import API_KEY, Outcome
from tests.conftest import BOT_MENTION, CHANNEL_ID, USER_ID
from tests.test_blocks import make_task
from tests.test_budget import load
from tests.test_home import open_home
from tests.test_privacy import invite_banana

CREATE = "/api/v1/jobs/createTask"
UPLOAD = "/api/file-stream-upload"
OTHER_USER_ID = "U0OTHER001"


async def made(banana, prompt: str = "a red fox in the snow") -> Task:
    await banana.command(prompt)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    return task


def creates_of(kie, model: str) -> list[dict]:
    return [r.json for r in kie.requests_to(CREATE) if r.json and r.json.get("model") == model]


def uploaded(kie, url: str) -> bytes:
    return kie.uploads[url]


async def tasks_of(banana, user: str = USER_ID) -> list[Task]:
    return sorted(await banana.services.store.for_user(slack_standin.TEAM_ID, user, limit=100), key=lambda t: t.id)


async def answer(slack, says: str) -> str:
    await slack.wait_for(lambda: any(says in json.dumps(r, ensure_ascii=False) for r in slack.responses))
    return next(r["text"] for r in slack.responses if says in json.dumps(r, ensure_ascii=False))


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def last_card(slack, task: Task) -> str:
    updates = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == task.message_ts]
    return json.dumps(updates[-1].args.get("blocks"), ensure_ascii=False)


# ------------------------------------------------------------------------------------------------ scenarios


async def test_upscale_x4_sends_the_delivered_bytes_and_the_same_picture_comes_back_four_times_larger(
    banana, kie, slack
):
    original = await made(banana)
    await banana.click(cards.UPSCALE_X4, str(original.id), message_ts=original.message_ts or "")
    _, upscaled = await banana.settle(2)

    (create,) = creates_of(kie, TOPAZ_UPSCALE)
    assert create["input"]["upscale_factor"] == "4" and set(create["input"]) == {"image_url", "upscale_factor"}
    sent = uploaded(kie, create["input"]["image_url"])
    delivered = slack.files[original.slack_file_id or ""].data
    assert sent == delivered  # the image as delivered, byte for byte

    assert upscaled.state is TaskState.DONE and upscaled.model == TOPAZ_UPSCALE
    assert (upscaled.parent_task_id, upscaled.relation, upscaled.upscale_factor) == (original.id, "upscale_x4", 4)
    before, after = pixels(delivered), pixels(slack.files[upscaled.slack_file_id or ""].data)
    assert after.size == (before.width * 4, before.height * 4)
    assert after.resize(before.size, Image.Resampling.NEAREST).getpixel((2, 2)) == before.getpixel((2, 2))
    assert (upscaled.width, upscaled.height) == after.size

    result = slack.files[upscaled.slack_file_id or ""]
    assert result.thread_ts == original.message_ts  # the same thread
    caption = result.initial_comment or ""
    assert f"#{upscaled.id}" in caption and f"upscale ×4 of #{original.id}" in caption
    assert "≈10 credits" in caption and upscaled.credits == PRICES["upscale 2K"]  # the upscaler's price, estimated
    assert "input image" not in caption
    assert f"upscale ×4 of #{original.id}" in last_card(slack, upscaled)
    home = json.dumps(await open_home(banana, slack), ensure_ascii=False)
    assert f"#{upscaled.id}" in home and f"upscale ×4 of #{original.id}" in home


async def test_the_caps_count_an_upscale_at_the_upscalers_price(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="27")  # the first image's ≈18, then ≈10 would pass it
    original = await made(banana)
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    said = await answer(slack, "daily limit")
    assert "an upscale to 2K costs ≈10." in said and "Nothing was started" in said
    assert len(await tasks_of(banana)) == 1 and creates_of(kie, TOPAZ_UPSCALE) == []


async def test_a_result_kie_reports_without_a_state_is_delivered(banana, kie, slack):
    original = await made(banana)
    kie.plan(Outcome(state_missing=True))
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, upscaled = await banana.settle(2)
    assert upscaled.state is TaskState.DONE and upscaled.upscale_factor == 2


async def test_an_image_too_large_for_x4_is_offered_x2_saying_why_and_a_forged_x4_is_refused(banana, kie, slack):
    kie.result_long_side = 5008  # ×4 would pass kie's 20,000 px
    original = await made(banana)
    card = last_card(slack, original)
    assert cards.UPSCALE_X2 in card and cards.UPSCALE_X4 not in card
    assert "Upscale ×2 (×4 too large)" in card and "20,032 px" in card and "20,000 px" in card

    await banana.click(cards.UPSCALE_X4, str(original.id), message_ts=original.message_ts or "")
    said = await answer(slack, "20,000 px")
    assert "×4 would make it 20,032 px" in said and said.endswith("Upscale ×2 fits.")
    assert len(await tasks_of(banana)) == 1 and creates_of(kie, TOPAZ_UPSCALE) == []


async def test_a_result_deleted_in_slack_gets_a_short_note_and_nothing_is_created(banana, kie, slack):
    original = await made(banana)
    slack.files[original.slack_file_id or ""].deleted = True
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    said = await answer(slack, "deleted in Slack")
    assert said == "That image was deleted in Slack, so it cannot be upscaled. Regenerate makes it anew."
    assert len(await tasks_of(banana)) == 1 and creates_of(kie, TOPAZ_UPSCALE) == []
    assert kie.requests_to(UPLOAD) == []


@pytest.mark.parametrize("refusal", ["create", "task"])
async def test_kie_refusing_the_upscale_says_kies_reason_and_charges_nothing(banana, kie, slack, refusal):
    original = await made(banana)
    if refusal == "create":
        kie.fail_next(CREATE, 422, "image_url resolution is not supported")
    else:
        kie.plan(Outcome(kind="fail", fail_code="400", fail_msg="image_url resolution is not supported"))
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, upscaled = await banana.settle(2)
    assert upscaled.state is TaskState.FAILED and upscaled.credits == 0
    assert "image_url resolution is not supported" in (upscaled.error_message or "")
    assert "Nothing was charged" in (upscaled.error_message or "") and "prompt" not in (upscaled.error_message or "")
    assert "image_url resolution is not supported" in last_card(slack, upscaled)


async def test_pressing_upscale_twice_makes_one_task(banana, kie, slack):
    original = await made(banana)
    kie.plan(Outcome(generate_seconds=0.3))
    press = banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    again = banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    await asyncio.gather(press, again)
    said = await answer(slack, "already")
    tasks = await banana.settle(2)
    assert len(tasks) == 2 and len(creates_of(kie, TOPAZ_UPSCALE)) == 1
    assert f"that is #{tasks[1].id}" in said


async def test_an_input_over_10_mb_is_re_encoded_without_loss_to_fit(banana, kie, slack):
    kie.result_padding = bytes(11 * 1024 * 1024)  # the delivered PNG is 11 MB (bytes after its end)
    original = await made(banana)
    delivered = slack.files[original.slack_file_id or ""].data
    assert len(delivered) > 10 * 1024 * 1024
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, upscaled = await banana.settle(2)
    assert upscaled.state is TaskState.DONE
    (create,) = creates_of(kie, TOPAZ_UPSCALE)
    sent = uploaded(kie, create["input"]["image_url"])
    assert len(sent) <= 10 * 1024 * 1024 and sent.startswith(b"\x89PNG")
    assert pixels(sent).tobytes() == pixels(delivered).tobytes()  # without loss
    notes = [m.text for m in slack.thread(CHANNEL_ID, original.message_ts or "")]
    assert any("re-encoded without loss" in (text or "") for text in notes)


async def test_an_upscale_is_named_after_the_format_it_came_back_in(banana, kie, slack):
    original = await made(banana)  # a PNG
    buffer = io.BytesIO()
    pixels(slack.files[original.slack_file_id or ""].data).save(buffer, "JPEG", quality=95)
    slack.files[original.slack_file_id or ""].data = buffer.getvalue()  # as a file re-encoded to fit would be
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, upscaled = await banana.settle(2)
    result = slack.files[upscaled.slack_file_id or ""]
    assert result.data.startswith(b"\xff\xd8") and result.name == f"banana-{upscaled.id}.jpg"
    assert upscaled.output_format == "jpg"


async def test_a_restart_in_the_middle_finishes_the_upscale_once(start_banana, kie, slack):
    first = await start_banana(SHUTDOWN_GRACE="600")
    original = await made(first)
    kie.plan(Outcome(kind="never"))
    await first.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    await slack.wait_for(lambda: bool(creates_of(kie, TOPAZ_UPSCALE)))
    async with asyncio.timeout(60):
        await first.server.stop()

    second = await start_banana()
    (kie_task_id,) = [t.task_id for t in kie.tasks.values() if t.body["model"] == TOPAZ_UPSCALE]
    kie.finish_now(kie_task_id)
    _, upscaled = await second.settle(2)
    assert upscaled.state is TaskState.DONE and len(creates_of(kie, TOPAZ_UPSCALE)) == 1
    results = [f for f in slack.files.values() if f.name == cards.result_filename(upscaled) and not f.deleted]
    assert len(results) == 1


async def test_edits_and_variations_of_an_upscaled_image_start_from_it(banana, kie, slack):
    original = await made(banana)
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, upscaled = await banana.settle(2)
    enlarged = slack.files[upscaled.slack_file_id or ""].data

    await banana.say(f"{BOT_MENTION} #{upscaled.id} make it night", thread_ts=original.message_ts)
    edit = (await banana.settle(3))[2]
    assert (edit.relation, edit.parent_task_id, edit.model) == ("edit", upscaled.id, "nano-banana-pro")
    (image_url,) = creates_of(kie, "nano-banana-pro")[-1]["input"]["image_input"]
    assert uploaded(kie, image_url) == enlarged

    await banana.click(cards.VARIATIONS, str(upscaled.id), message_ts=original.message_ts or "")
    variations = (await banana.settle(6))[3:]
    assert {(t.relation, t.parent_task_id, t.model) for t in variations} == {
        ("variation", upscaled.id, "nano-banana-pro")
    }
    for create in creates_of(kie, "nano-banana-pro")[-3:]:
        (image_url,) = create["input"]["image_input"]
        assert pixels(uploaded(kie, image_url)).size == pixels(enlarged).size
    assert len(creates_of(kie, TOPAZ_UPSCALE)) == 1  # none of them upscaled again


async def test_regenerate_on_an_upscale_upscales_afresh_and_retry_repeats_it(banana, kie, slack):
    original = await made(banana)
    kie.plan(Outcome(kind="fail", fail_code="500", fail_msg="busy"))
    await banana.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, failed = await banana.settle(2)
    await banana.click(cards.RETRY, str(failed.id), message_ts=original.message_ts or "")
    retried = (await banana.settle(3))[2]
    assert (retried.model, retried.upscale_factor, retried.relation) == (TOPAZ_UPSCALE, 2, "retry")
    await banana.click(cards.REGENERATE, str(retried.id), message_ts=original.message_ts or "")
    regenerated = (await banana.settle(4))[3]
    assert regenerated.state is TaskState.DONE and regenerated.model == TOPAZ_UPSCALE and regenerated.fresh
    assert len(creates_of(kie, TOPAZ_UPSCALE)) == 3  # --fresh: its own request, made again


async def test_another_persons_private_result_is_refused_from_home(banana, kie, slack):
    private = invite_banana(slack)
    await banana.command("our unannounced logo", channel=private)
    (secret,) = await banana.settle(1)
    await banana.click(cards.UPSCALE_X2, str(secret.id), message_ts="", container="view", user=OTHER_USER_ID)
    await slack.wait_for(lambda: "no longer exists" in json.dumps(slack.views_opened[-1:]))
    assert len(await tasks_of(banana)) == 1 and await tasks_of(banana, OTHER_USER_ID) == []
    assert creates_of(kie, TOPAZ_UPSCALE) == []


# ------------------------------------------------------------------------------------------------ pure parts


def test_each_model_has_its_request_body():
    options = Options("16:9", "2K", "png")
    body = request_body(TOPAZ_UPSCALE, "ignored", options, ["https://kie/files/a.png"], 4)
    assert body == {"model": TOPAZ_UPSCALE, "input": {"image_url": "https://kie/files/a.png", "upscale_factor": "4"}}
    nano = request_body("nano-banana-pro", "a fox", options, ["https://kie/files/a.png"])
    assert nano["input"]["image_input"] == ["https://kie/files/a.png"] and nano["input"]["resolution"] == "2K"
    with pytest.raises(ValueError):
        request_body(TOPAZ_UPSCALE, "", options, [], 2)


def test_a_record_without_a_state_is_read_by_what_it_carries():
    result = {"taskId": "t", "resultJson": json.dumps({"resultUrls": ["https://kie/r.png"]})}
    assert KieTask.from_data(result).phase is Phase.SUCCESS
    assert KieTask.from_data({"taskId": "t", "failMsg": "bad image"}).phase is Phase.FAILED
    assert KieTask.from_data({"taskId": "t"}).phase is Phase.UNKNOWN
    assert KieTask.from_data({"taskId": "t", "state": "mystery", **result}).phase is Phase.UNKNOWN


def test_which_factors_fit_kies_20000_px():
    assert drawn_longest_side("1:1", "4K") == 4096 and upscale_refusal(4096, 4) is None
    assert drawn_longest_side("16:9", "4K") == 5504 and "22,016 px" in (upscale_refusal(5504, 4) or "")
    assert upscale_refusal(5504, 2) is None and upscale_refusal(10_001, 2) is not None
    assert upscale_refusal(100, 3) is not None
    assert [upscale_price_key(side) for side in (2048, 2049, 4096, 16_384)] == [
        "upscale 2K",
        "upscale 4K",
        "upscale 4K",
        "upscale 8K",
    ]


def test_upscale_buttons_follow_the_images_size():
    def labels(task: Task) -> list[str]:
        return [b.text.text for b in cards.upscale_buttons(task)]

    assert labels(make_task(state=TaskState.DONE, resolution="1K")) == ["Upscale ×2", "Upscale ×4"]
    assert labels(make_task(state=TaskState.DONE, resolution="4K", aspect_ratio="16:9")) == [
        "Upscale ×2 (×4 too large)"
    ]
    assert labels(make_task(state=TaskState.DONE, width=12_000, height=8_000)) == []
    read = make_task(state=TaskState.DONE, resolution="4K", aspect_ratio="16:9", width=1000, height=500)
    assert labels(read) == ["Upscale ×2", "Upscale ×4"]  # the size read from the image wins over the table


def test_an_upscale_is_a_request_of_its_own():
    images = [InputImage(file=InputFile("F1"), data=png(8, 8), kind="png")]
    nano = request_key("a fox", Options("1:1", "1K", "png"), images)
    x2 = request_key("a fox", Options("1:1", "1K", "png"), images, upscale_factor=2)
    x4 = request_key("a fox", Options("1:1", "1K", "png"), images, upscale_factor=4)
    # an upscale is the image and the factor: the prompt and options it keeps for its caption do not make it another
    assert (
        len({nano, x2, x4}) == 3 and request_key("other", Options("16:9", "2K", "jpg"), images, upscale_factor=4) == x4
    )


def png(width: int, height: int, *, noise: bool = False) -> bytes:
    image = Image.frombytes("RGB", (width, height), random_bytes(width * height * 3)) if noise else None
    image = image or Image.new("RGB", (width, height), "orange")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()


def random_bytes(count: int) -> bytes:
    return random.Random(7).randbytes(count)


def test_an_image_over_the_limit_is_re_encoded_at_its_own_size():
    flat = png(600, 400)  # stored uncompressed: far over the limit, tiny once compressed without loss
    fitted = fit_for_upscale(flat, "flat.png", max_bytes=50_000, max_side=20_000)
    assert fitted.kind == "png" and len(fitted.data) <= 50_000 and "without loss" in (fitted.note or "")
    assert pixels(fitted.data).size == (600, 400) and pixels(fitted.data).tobytes() == pixels(flat).tobytes()

    noisy = png(600, 400, noise=True)  # noise does not compress without loss: a high-quality JPEG, same size
    fitted = fit_for_upscale(noisy, "noisy.png", max_bytes=len(noisy) * 2 // 3, max_side=20_000)
    assert fitted.kind == "jpeg" and pixels(fitted.data).size == (600, 400) and "quality" in (fitted.note or "")

    small = png(20, 20)
    assert fit_for_upscale(small, "small.png", max_bytes=50_000, max_side=20_000).data == small  # as it is


# ------------------------------------------------------------------------------------------------ the stand-in


async def standin_create(kie, image: bytes, factor: object, name: str = "in.png") -> dict:
    """Upload `image` to the kie stand-in and ask its upscaler for `factor`; kie's answer."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=kie.base_url, headers=headers) as http:
        form = {"uploadPath": "banana/inputs", "fileName": name}
        upload = await http.post(UPLOAD, data=form, files={"file": (name, image, "application/octet-stream")})
        url = upload.json()["data"]["downloadUrl"]
        body = {"model": TOPAZ_UPSCALE, "input": {"image_url": url, "upscale_factor": factor}}
        return (await http.post(CREATE, json=body)).json()


async def test_the_standin_refuses_what_kies_upscaler_refuses(kie):
    small = png(10, 10)
    number = await standin_create(kie, small, 2)
    assert number["code"] == 422 and "upscale_factor" in number["msg"]
    assert (await standin_create(kie, small, "3"))["code"] == 422
    too_big = await standin_create(kie, small + bytes(10 * 1024 * 1024), "2")
    assert too_big["code"] == 422 and "10MB" in too_big["msg"]
    not_image = await standin_create(kie, b"%PDF-1.4 not a picture", "2", name="doc.pdf")
    assert not_image["code"] == 422 and "image_url accepts" in not_image["msg"]
    wide = await standin_create(kie, png(5001, 10), "4")
    assert wide["code"] == 422 and "20,000 pixels" in wide["msg"]
    taken = await standin_create(kie, png(5000, 10), "4")
    assert taken["code"] == 200 and not kie.requests_to(CREATE)[-1].json["input"].get("prompt")


def test_a_callbacks_cost_is_bounded_by_its_models_prices():
    assert claimed_cost({"consumeCredits": 40}, prices=PRICES, images=1, model=TOPAZ_UPSCALE) == 40
    with pytest.raises(BadCallback):
        claimed_cost({"consumeCredits": 40.5}, prices=PRICES, images=1, model=TOPAZ_UPSCALE)
    with pytest.raises(BadCallback):
        claimed_cost({"consumeCredits": 40}, prices=PRICES, images=1)  # Nano Banana Pro's dearest is 24


def test_a_running_upscale_says_it_is_upscaling():
    running = make_task(state=TaskState.GENERATING, model=TOPAZ_UPSCALE, upscale_factor=4, width=5504, height=3072)
    card = json.dumps(cards.card_blocks(running, now=1010.0, estimate=None), ensure_ascii=False)
    assert "*Upscaling ×4*" in card and "5,504×3,072 px" in card and "≈40 credits" in card
    assert cards.card_text(running).startswith("Upscaling ×4: ")


def test_the_operator_sets_the_upscalers_prices():
    settings = load(PRICE_UPSCALE_2K="12", PRICE_UPSCALE_4K="22", PRICE_UPSCALE_8K="44")
    assert [settings.prices[f"upscale {size}"] for size in ("2K", "4K", "8K")] == [12, 22, 44]
    assert settings.prices.dearest(TOPAZ_UPSCALE) == 44 and settings.prices.dearest("nano-banana-pro") == 24
