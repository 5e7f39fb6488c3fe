"""The brand kit in use (issue 23, item 2): which brand images a task carries to kie, within kie's eight, what the
prompt, the card and the caption say of them, `--no-brand`, and kie's copy of them kept while kie keeps the file."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time

import pytest
from PIL import Image

from bot.blocks import brand as brand_form
from bot.blocks.cards import lineage, result_caption
from bot.jobs.brand import KIE_KEEPS_UPLOADS, REUSE_MARGIN, still_kept
from bot.jobs.job import request_key
from prompts.builders import InfographicContext, build_infographic
from prompts.catalog import brand_fields, load_brand, load_catalog
from prompts.command import build_request, kie_prompt, parse_command_text
from prompts.options import MAX_PROMPT_CHARS, TOPAZ_UPSCALE, CommandError, InputFile, Options
from prompts.references import BrandImages, brand_for_task, brand_sentence, left_out_note, summary
from prompts.tasks import BrandImage, Task, TaskState
from standins.slack import BOT_USER_ID, TEAM_ID, Team
from tests.conftest import CHANNEL_ID, Banana
from tests.test_brand_kit import save_brand
from tests.test_reliability import LEFT_BEHIND
from tests.test_remix import opened_form, post_with_files
from tests.test_workspaces import installed, wait_done  # noqa: F401 (a fixture)

DEFAULTS = Options("1:1", "2K", "png")
CATALOG = load_catalog()
LOGO, STYLE_1, STYLE_2 = "a" * 64, "b" * 64, "c" * 64
BRAND = dataclasses.replace(
    load_brand(), name="Acme", logo_image=LOGO, style_images=(STYLE_1, STYLE_2), logo_placement="top left"
)


def _inputs(count: int) -> tuple[InputFile, ...]:
    return tuple(InputFile(id=f"F{n}", name=f"{n}.png") for n in range(count))


def _task(**fields: object) -> Task:
    values: dict[str, object] = {
        "id": 7,
        "state": TaskState.DONE,
        "created_at": 0.0,
        "updated_at": 0.0,
        "team_id": "T1",
        "user_id": "U1",
        "channel_id": "C1",
        "prompt": "a lighthouse",
        "avoid": "",
        "aspect_ratio": "1:1",
        "resolution": "2K",
        "output_format": "png",
    }
    return Task(**(values | fields))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ --no-brand


def test_no_brand_turns_the_brand_off_for_one_image_anywhere_in_the_text():
    assert parse_command_text("a lighthouse", DEFAULTS).brand is True
    for text in ("a lighthouse --no-brand", "--no-brand a lighthouse --ar 16:9", "a lighthouse \u2014no-brand"):
        request = parse_command_text(text, DEFAULTS)
        assert request.brand is False
        assert "brand" not in request.prompt


def test_no_brand_ends_what_no_leaves_out_and_takes_no_value():
    request = parse_command_text("a lighthouse --no text, logos --no-brand --ar 16:9", DEFAULTS)
    assert (request.avoid, request.brand, request.options.aspect_ratio) == ("text, logos", False, "16:9")
    assert parse_command_text("a lighthouse --no brand colours", DEFAULTS).brand is True  # `--no` with words


def test_no_brand_twice_is_refused_and_unknown_options_name_it():
    with pytest.raises(CommandError, match="given twice"):
        parse_command_text("a --no-brand --no-brand", DEFAULTS)
    with pytest.raises(CommandError, match="--no-brand"):
        parse_command_text("a --unknown", DEFAULTS)


# ------------------------------------------------------------------------------------------------ which images


def _plain(**fields: object):
    return dataclasses.replace(build_request(prompt="a lighthouse", options=DEFAULTS), **fields)


def test_studio_images_carry_the_logo_then_the_style_references():
    carried = BrandImages.decode(brand_for_task(_plain(source="studio:quote"), BRAND, None))
    assert carried == BrandImages("Acme", LOGO, (STYLE_1, STYLE_2), studio=True)
    assert [role for role, _ in carried.offered] == ["logo", "style", "style"]


def test_other_images_carry_the_brand_only_when_it_says_all():
    assert brand_for_task(_plain(), BRAND, None) == ""
    everywhere = dataclasses.replace(BRAND, references="all")
    assert BrandImages.decode(brand_for_task(_plain(), everywhere, None)) == BrandImages(
        "Acme", LOGO, (STYLE_1, STYLE_2), studio=False
    )
    assert brand_for_task(_plain(brand=False), everywhere, None) == ""
    assert brand_for_task(_plain(source="studio:quote", brand=False), BRAND, None) == ""
    no_images = dataclasses.replace(everywhere, logo_image="", style_images=())
    assert brand_for_task(_plain(), no_images, None) == ""  # nothing of the brand would go


def test_edits_variations_and_regenerates_keep_their_parents_choice():
    studio_parent = _task(brand=BrandImages("Acme", LOGO, (STYLE_1,), studio=True).encode())
    plain_parent = _task()
    for relation in ("edit", "variation", "upscale", "regenerate", "retry"):
        child = _plain(parent_task_id=7, relation=relation)
        kept = BrandImages.decode(brand_for_task(child, BRAND, studio_parent))
        # the workspace's brand as it is now, so a changed logo goes with a regenerate
        assert kept is not None and kept.offered == BrandImages("Acme", LOGO, (STYLE_1, STYLE_2)).offered
        assert kept.studio is (relation != "edit")  # an edit's prompt is new words, not the studio's
        assert brand_for_task(child, dataclasses.replace(BRAND, references="all"), plain_parent) == ""
        assert brand_for_task(dataclasses.replace(child, brand=False), BRAND, studio_parent) == ""
    remix = _plain(parent_task_id=7, relation="remix")  # a remix is a new request: decided anew
    assert brand_for_task(remix, BRAND, studio_parent) == ""


def test_an_upscale_carries_no_brand_image_even_where_every_image_does():
    everywhere = dataclasses.replace(BRAND, references="all")
    upscale = _plain(parent_task_id=7, relation="upscale_x2", model=TOPAZ_UPSCALE, upscale_factor=2)
    assert brand_for_task(upscale, everywhere, _task(brand=BrandImages("Acme", LOGO).encode())) == ""


def test_the_budget_puts_the_persons_images_first_then_the_logo_then_styles():
    images = BrandImages("Acme", LOGO, (STYLE_1, STYLE_2))
    assert images.fitted(0) == ((("logo", LOGO), ("style", STYLE_1), ("style", STYLE_2)), ())
    assert images.fitted(6) == ((("logo", LOGO), ("style", STYLE_1)), (("style", STYLE_2),))
    assert images.fitted(8) == ((), (("logo", LOGO), ("style", STYLE_1), ("style", STYLE_2)))
    assert left_out_note(images, 5) == ""
    assert left_out_note(images, 6) == (
        "Left out the brand's 1 style image: kie takes at most 8 images and this one has 6 of its own."
    )
    assert left_out_note(images, 8) == (
        "Left out the brand's logo and 2 style images: kie takes at most 8 images and this one has 8 of its own."
    )


# ------------------------------------------------------------------------------------------------ the words


def test_a_studio_prompt_places_the_logo_image_and_describes_the_style_references():
    context = InfographicContext(title="Ten years of Acme")
    style = CATALOG.style(None, None, None)
    template = next(iter(CATALOG.templates.values()))
    layout = CATALOG.layout_for(template, None)
    prompt = build_infographic(layout, template, style, BRAND, context)
    assert "Logo: use reference image 1 exactly as given, as the brand's logo, top left." in prompt
    assert "Reference images 2-3 show the brand's style: follow their look, do not copy their content." in prompt
    plain = build_infographic(layout, template, style, load_brand(), context)
    assert "reference image" not in plain.lower()  # a brand without images is described in words only
    only_styles = dataclasses.replace(BRAND, logo_image="")
    prompt = build_infographic(layout, template, style, only_styles, context)
    assert "Reference images 1-2 show the brand's style" in prompt and "reference image 1 exactly" not in prompt


def test_a_plain_prompt_says_which_reference_images_are_the_brands():
    images = BrandImages("Acme", LOGO, (STYLE_1, STYLE_2))
    request = _plain(inputs=_inputs(2), avoid="text")
    assert kie_prompt(request, images) == (
        "a lighthouse\n\nDo not include: text.\n\nBrand Acme: reference image 3 is the brand's logo, to use exactly "
        "as given where a logo fits; reference images 4-5 show the brand's style, to follow without copying their "
        "content."
    )
    assert kie_prompt(request) == "a lighthouse\n\nDo not include: text."
    assert brand_sentence(dataclasses.replace(images, studio=True), 0) == ""  # the studio's prompt places them
    assert brand_sentence(images, 8) == ""  # none of them went


def test_the_brand_sentence_never_takes_a_prompt_past_kies_limit():
    images = BrandImages("Acme", LOGO)
    longest = _plain(prompt="x" * MAX_PROMPT_CHARS)
    assert kie_prompt(longest, images) == "x" * MAX_PROMPT_CHARS
    fits = _plain(prompt="x" * 100)
    assert len(kie_prompt(fits, images)) <= MAX_PROMPT_CHARS and "reference image 1" in kie_prompt(fits, images)


def test_the_card_and_the_caption_say_when_the_brand_was_applied():
    carried = BrandImages("Acme <&>", LOGO, (STYLE_1, STYLE_2)).encode()
    branded = _task(brand=carried, duration=12.0, credits=18.0)
    assert "brand: Acme &lt;&amp;&gt; · logo + 2 style images" in lineage(branded)
    assert "brand: Acme &lt;&amp;&gt; · logo + 2 style images" in result_caption(branded)
    assert not any("brand" in part for part in lineage(_task()))
    assert "brand" not in result_caption(_task(duration=12.0))
    full = _task(brand=carried, input_files=json.dumps([[f"F{n}", f"{n}.png"] for n in range(8)]))
    assert not any("brand" in part for part in lineage(full))  # no room: nothing of the brand went
    words_only = _task(brand=BrandImages("Acme", studio=True).encode())
    assert "brand: Acme" in lineage(words_only)
    assert summary(BrandImages("Acme", "", (STYLE_1,)), 0) == "brand: Acme · 1 style image"


# ------------------------------------------------------------------------------------------------ kie's copy


def _stored(kie_url_at: float | None, kie_url: str = "https://kie/x.png") -> BrandImage:
    return BrandImage("T1", LOGO, "logo", 0, "logo.png", "image/png", 10, 10, b"", kie_url, kie_url_at)


def test_kies_copy_is_used_again_while_kie_keeps_it_with_a_margin():
    now = time.time()
    assert still_kept(_stored(now - 60), now)
    assert still_kept(_stored(now - (KIE_KEEPS_UPLOADS - REUSE_MARGIN) + 1), now)
    assert not still_kept(_stored(now - (KIE_KEEPS_UPLOADS - REUSE_MARGIN)), now)
    assert not still_kept(_stored(None), now)
    assert not still_kept(_stored(now, kie_url=""), now)


# ------------------------------------------------------------------------------------------------ in Slack and at kie

CREATE = "/api/v1/jobs/createTask"
UPLOAD = "/api/file-stream-upload"


def picture(colour: str, size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def seed_brand(
    banana: Banana, team_id: str, name: str, *, logo: bytes, styles: tuple[bytes, ...] = (), references: str = "studio"
) -> None:
    """A workspace's brand kit as its admins' form saves it (tests/test_brand_kit.py drives the form itself)."""

    def image(data: bytes, role: str, position: int) -> BrandImage:
        sha = hashlib.sha256(data).hexdigest()
        return BrandImage(team_id, sha, role, position, f"{role}{position}.png", "image/png", 32, 32, data)

    images = [image(logo, "logo", 0), *(image(data, "style", n) for n, data in enumerate(styles))]
    data = brand_fields(load_brand()) | {"name": name, "references": references}
    await banana.services.store.save_workspace_brand(team_id, "U0ADMIN01", data, images, f"brand: {name}")


def shown(what: object) -> str:
    return json.dumps(what, ensure_ascii=False)


def sent_images(kie, create) -> list[bytes]:
    """The bytes of each image a create sent, from kie's upload API (the stand-in keeps what it was given)."""
    return [kie.uploads[url] for url in create.json["input"]["image_input"]]


async def left_behind(banana: Banana, brand: str) -> None:
    """A task carrying `brand`, as a process killed before it posted anything leaves it."""
    await banana.services.store.add(dataclasses.replace(LEFT_BEHIND, brand=brand))


async def studio_quote(banana: Banana, team: Team | None = None) -> None:
    """`/banana quote …` in `team` (Banana's first workspace by default), its form submitted as it opened, then its
    review step."""
    team = banana.workspace(team)
    opened = len(team.views_opened)
    assert (await banana.command('quote "Ship it, then make it better" — Ada', team=team)).status_code == 200
    await team.wait_for(lambda: len(team.views_opened) > opened)
    form = team.views_opened[-1]
    answer = (await banana.submit(form, team=team)).json()
    assert answer["response_action"] == "update", answer
    await banana.submit({**answer["view"], "id": form["id"]}, team=team)


async def test_a_studio_image_carries_its_own_workspaces_logo_and_never_the_others(installed, kie, slack):  # noqa: F811
    banana, first, second = installed
    logos = {first.team_id: picture("red"), second.team_id: picture("blue")}
    for team, name in ((first, "North"), (second, "South")):  # each workspace's admin, in the brand kit form
        files = {brand_form.LOGO_FILE: [(logos[team.team_id], f"{name}.png", "image/png")]}
        if team is first:
            files[brand_form.STYLE_FILES] = [(picture("yellow"), "style.png", "image/png")]
        answer = await save_brand(banana, team, files, user=team.admin_user_id, team=team, **{brand_form.NAME: name})
        assert answer == {}
    for team in (first, second):
        await studio_quote(banana, team)
        (task,) = await wait_done(banana, team)
        assert task.state is TaskState.DONE
        create = kie.requests_to(CREATE)[-1]
        sent = sent_images(kie, create)
        assert sent[0] == logos[team.team_id]  # the logo, as the prompt numbers it: reference image 1
        others = [data for team_id, data in logos.items() if team_id != team.team_id]
        assert not any(data in sent for data in others)
        assert "use reference image 1 exactly as given, as the brand's logo" in create.json["input"]["prompt"]
        card = shown(team.message(team.general_channel, task.message_ts or "").blocks)
        caption = shown([m.text for m in team.thread(team.general_channel, task.message_ts or "")])
        said = "brand: North · logo + 1 style image" if team is first else "brand: South · logo"
        assert said in card and said in caption
    assert len(sent_images(kie, kie.requests_to(CREATE)[0])) == 2  # North's logo and its style image


async def test_no_brand_sends_none_and_a_plain_prompt_carries_the_brand_only_when_it_says_all(banana, kie, slack):
    logo = picture("green")
    files = {brand_form.LOGO_FILE: [(logo, "logo.png", "image/png")]}
    fields = {brand_form.NAME: "Acme", brand_form.REFERENCES: "all"}
    assert await save_brand(banana, slack, files, **fields) == {}
    await banana.command("a lighthouse at dawn")
    await banana.command("a lighthouse at noon --no-brand")
    first, second = await banana.settle(2)
    by_prompt = {c.json["input"]["prompt"].split("\n")[0]: c for c in kie.requests_to(CREATE)}
    branded, plain = by_prompt["a lighthouse at dawn"], by_prompt["a lighthouse at noon"]
    assert sent_images(kie, branded) == [logo]
    assert "Brand Acme: reference image 1 is the brand's logo" in branded.json["input"]["prompt"]
    assert plain.json["input"].get("image_input", []) == [] and "reference image" not in plain.json["input"]["prompt"]
    assert "brand: Acme · logo" in shown(slack.message(CHANNEL_ID, first.message_ts or "").blocks)
    assert "brand" not in shown(slack.message(CHANNEL_ID, second.message_ts or "").blocks)


async def test_a_remix_with_eight_images_of_its_own_leaves_the_brand_out_and_says_so(banana, kie, slack):
    await seed_brand(banana, TEAM_ID, "Acme", logo=picture("green"), styles=(picture("pink"),), references="all")
    own = [picture(colour) for colour in ("red", "orange", "yellow", "lime", "cyan", "navy", "purple", "grey")]
    message, _ = post_with_files(slack, *[(data, f"p{n}.png", "image/png") for n, data in enumerate(own)])
    await banana.submit(await opened_form(banana, slack, message), prompt="a grid")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    (create,) = kie.requests_to(CREATE)
    assert sent_images(kie, create) == own and "reference image" not in create.json["input"]["prompt"]
    notes = shown([m.text for m in slack.thread(CHANNEL_ID, task.thread_ts or "")])
    assert "Left out the brand's logo and 1 style image: kie takes at most 8 images" in notes
    assert "brand" not in shown(slack.message(CHANNEL_ID, task.message_ts or "").blocks)


async def test_kies_copy_of_the_logo_is_used_again_until_kie_may_have_deleted_it(banana, kie, slack):
    logo = picture("green")
    sha = hashlib.sha256(logo).hexdigest()
    await seed_brand(banana, TEAM_ID, "Acme", logo=logo, references="all")
    store = banana.services.store

    made = 0

    async def image_once(prompt: str) -> list[str]:
        nonlocal made
        uploads = len(kie.requests_to(UPLOAD))
        await banana.command(prompt)
        made += 1
        await banana.settle(made)
        return [u.form["fileName"] for u in kie.requests_to(UPLOAD)[uploads:]]

    (uploaded,) = await image_once("one")
    assert uploaded.startswith("brand-")
    first_url = (await store.brand_image(TEAM_ID, sha)).kie_url  # type: ignore[union-attr]
    assert kie.uploads[first_url] == logo

    assert await image_once("two") == []  # kie still keeps it: the same URL goes again
    assert kie.requests_to(CREATE)[-1].json["input"]["image_input"] == [first_url]

    # A day later (less the margin) kie may have deleted it: uploaded again, and the new URL remembered.
    older = time.time() - (KIE_KEEPS_UPLOADS - REUSE_MARGIN) - 1
    await store.remember_kie_url(TEAM_ID, sha, first_url, older)
    assert len(await image_once("three")) == 1
    again = await store.brand_image(TEAM_ID, sha)
    assert again is not None and again.kie_url != first_url and again.kie_url_at is not None
    assert again.kie_url_at > older and kie.requests_to(CREATE)[-1].json["input"]["image_input"] == [again.kie_url]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_task_resumed_after_a_restart_sends_the_images_it_started_with(start_banana, kie, backend, request):
    env = {"DATABASE_URL": request.getfixturevalue("postgres_url")} if backend == "postgresql" else {}
    logo = picture("green")
    first = await start_banana(**env)
    await seed_brand(first, TEAM_ID, "Acme", logo=logo, references="all")
    carried = BrandImages("Acme", hashlib.sha256(logo).hexdigest()).encode()
    await left_behind(first, carried)
    await first.server.stop()
    # The workspace's choice changes meanwhile; the stored task still sends what it started with.
    second = await start_banana(**env)
    await seed_brand(second, TEAM_ID, "Acme", logo=logo, references="studio")
    (task,) = await second.settle(1)
    assert task.state is TaskState.DONE and task.brand == carried
    (create,) = kie.requests_to(CREATE)
    assert sent_images(kie, create) == [logo]
    assert "Brand Acme: reference image 1 is the brand's logo" in create.json["input"]["prompt"]


async def test_an_edit_of_a_branded_studio_image_keeps_the_brand_after_the_image_it_edits(banana, kie, slack):
    logo = picture("green")
    await seed_brand(banana, TEAM_ID, "Acme", logo=logo)  # studio images only
    await studio_quote(banana)
    studio_task = await banana.only_task()
    await banana.say(f"<@{BOT_USER_ID}> make it blue", thread_ts=studio_task.thread_ts)
    edit = next(t for t in await banana.settle(2) if t.relation == "edit")
    assert edit.state is TaskState.DONE and len(edit.inputs) == 1
    create = kie.requests_to(CREATE)[-1]
    parent_image = slack.files[studio_task.slack_file_id or ""].data
    assert sent_images(kie, create) == [parent_image, logo]  # the image it edits first, then the logo
    assert "Brand Acme: reference image 2 is the brand's logo" in create.json["input"]["prompt"]
    assert "brand: Acme · logo" in shown(slack.message(CHANNEL_ID, edit.message_ts or "").blocks)


def test_the_request_key_counts_the_brand_images_by_content():
    key = request_key("a lighthouse", DEFAULTS, [], [LOGO])
    assert key != request_key("a lighthouse", DEFAULTS, [], [STYLE_1])
    assert key != request_key("a lighthouse", DEFAULTS, [])


async def test_a_brand_image_removed_before_the_task_reached_kie_fails_it_saying_so_and_charges_nothing(
    start_banana, kie
):
    first = await start_banana()
    await seed_brand(first, TEAM_ID, "Acme", logo=picture("green"), references="all")
    gone = BrandImages("Acme", "f" * 64).encode()  # the logo it started with, replaced since
    await left_behind(first, gone)
    await first.server.stop()
    (task,) = await (await start_banana()).settle(1)
    assert (task.state, task.error_code, task.credits or 0) == (TaskState.FAILED, "brand_image_gone", 0)
    assert "brand images were changed" in (task.error_message or "") and kie.requests_to(CREATE) == []
