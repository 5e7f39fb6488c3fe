"""A workspace's brand kit, set by its admins from the Home tab: the words and colours its studio prompts follow, its
logo and style images (uploaded in the form, checked as remix inputs are, stored with the workspace), every bad input
answered beside its field with nothing saved; plus the one brand rule and the modal's builder."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from bot.blocks import brand as form
from bot.services.brand_kit import TOO_SLOW, BrandKit, brand_changes, brand_data, word_errors
from bot.services.workspace_settings import Ceilings, WorkspaceSettings
from bot.store import SqliteTaskStore
from prompts.catalog import brand_fields, check_brand, load_brand
from prompts.options import InputFile, Options
from prompts.tasks import BrandImage
from standins import slack as slack_standin
from tests.conftest import USER_ID
from tests.test_home import open_home
from tests.test_images import PDF, png_header_only
from tests.test_remix import image_bytes
from tests.test_studio import open_form, review_step, shown_prompt
from tests.test_workspaces import eventually, installed  # noqa: F401 (a fixture)

ADMIN = "U0ADMIN001"
TEAM = slack_standin.TEAM_ID
LOGO = image_bytes("yellow", size=(512, 256))
STYLE = image_bytes("navy", size=(64, 64))
ACME = {form.NAME: "Acme", form.COLOUR + "primary": "#112233", form.COLOUR + "accent": "#abcdef"}


async def open_brand_kit(banana, slack, user: str = ADMIN, team=None) -> dict:
    ws = team or slack
    before = len(ws.views_opened)
    await banana.click(form.HOME_BRAND, "open", message_ts="", container="view", user=user, team=team)
    await ws.wait_for(lambda: len(ws.views_opened) > before)
    return ws.views_opened[-1]


async def save_brand(banana, slack, files=None, user: str = ADMIN, team=None, **fields) -> dict:
    """Open the brand kit, fill it in and save; Slack's answer to the submission ({} when it closed)."""
    view = await open_brand_kit(banana, slack, user, team)
    assert view["callback_id"] == form.BRAND_CALLBACK
    answer = await banana.submit_with_files(view, files or {}, user=user, team=team, **fields)
    assert answer.status_code == 200
    return answer.json() if answer.text else {}


# ---- through the real app ------------------------------------------------------------------------------------------


async def test_an_admin_sets_the_brand_with_a_logo_and_studio_prompts_follow_it(banana, slack):
    assert form.HOME_BRAND in json.dumps(await open_home(banana, slack, ADMIN))
    view = await open_brand_kit(banana, slack)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[form.NAME]["element"]["initial_value"] == "Banana Studio"  # the operator's, to start from
    assert blocks[form.LOGO_FILE]["element"] == {
        "type": "file_input",
        "action_id": form.LOGO_FILE,
        "filetypes": form.IMAGE_FILETYPES,
        "max_files": 1,
    }

    answer = await save_brand(banana, slack, {form.LOGO_FILE: [(LOGO, "logo.png", "image/png")]}, **ACME)
    assert answer == {}
    stored = await banana.services.store.workspace_brand(TEAM)
    assert stored.data["name"] == "Acme" and stored.data["colours"]["primary"] == "#112233"
    (logo,) = stored.images
    assert (logo.role, logo.name, logo.width, logo.height) == ("logo", "logo.png", 512, 256)
    sha = hashlib.sha256(LOGO).hexdigest()  # a PNG kie takes as it is goes byte for byte
    assert logo.sha256 == sha and (await banana.services.store.brand_image(TEAM, sha)).data == LOGO
    (change,) = await banana.services.store.settings_changes(TEAM)
    assert change.user_id == ADMIN and change.change.startswith("brand: name Acme;")
    assert "primary colour #112233" in change.change and "logo: logo.png (512\u00d7256)" in change.change

    brand = await banana.services.brand_for(TEAM)
    assert (brand.name, brand.hexes[0], brand.logo_image) == ("Acme", "#112233", sha)  # the first is the main one
    assert "#ABCDEF" in brand.hexes
    again = json.dumps(await open_brand_kit(banana, slack), ensure_ascii=False)
    assert "Logo: logo.png (512\u00d7256)" in again and '"initial_value": "Acme"' in again

    studio = await open_form(banana, slack, 'quote "Ship it" — Ada, CTO')
    review = await review_step(banana, slack, studio)
    assert "Acme" in shown_prompt(review) and "#112233" in shown_prompt(review)


async def test_saved_images_can_be_removed_and_style_references_added(banana, slack):
    await save_brand(banana, slack, {form.LOGO_FILE: [(LOGO, "logo.png", "image/png")]}, **ACME)
    sha = hashlib.sha256(LOGO).hexdigest()
    styles = [(STYLE, "mood.png", "image/png"), (image_bytes("red"), "red.jpg", "image/png")]
    answer = await save_brand(banana, slack, {form.STYLE_FILES: styles}, **{form.SAVED: [sha], form.REFERENCES: "all"})
    assert answer == {}
    brand = await banana.services.brand_for(TEAM)
    assert brand.logo_image == "" and len(brand.style_images) == 2 and brand.references == "all"
    (last, _) = await banana.services.store.settings_changes(TEAM)
    assert "removed logo logo.png" in last.change and "style: mood.png (64\u00d764)" in last.change


async def test_a_non_admin_finds_no_brand_kit_and_a_forged_submission_changes_nothing(banana, slack):
    assert form.HOME_BRAND not in json.dumps(await open_home(banana, slack, USER_ID))
    refused = await open_brand_kit(banana, slack, USER_ID)  # a forged press of the button
    assert "Only workspace admins" in json.dumps(refused)
    forged = await banana.services.brands.form(TEAM)  # type: ignore[union-attr]
    forged["id"] = "V0FORGED"
    logo = {form.LOGO_FILE: [(LOGO, "logo.png", "image/png")]}
    await banana.submit_with_files(forged, logo, user=USER_ID, **ACME)
    assert await banana.services.store.workspace_brand(TEAM) is None
    assert await banana.services.store.settings_changes(TEAM) == []
    assert (await banana.services.brand_for(TEAM)).name == "Banana Studio"


async def test_every_bad_input_is_answered_beside_its_field_and_nothing_is_saved(banana, slack):
    words = await save_brand(
        banana,
        slack,
        {form.STYLE_FILES: [(STYLE, f"s{n}.png", "image/png") for n in range(4)]},
        **{form.NAME: "   ", form.COLOUR + "primary": "red", form.NEVER: "x" * 101},
    )
    errors = words["errors"]
    assert errors[form.NAME] == "Fill this in."
    assert "hex colour" in errors[form.COLOUR + "primary"] and "'red'" in errors[form.COLOUR + "primary"]
    assert errors[form.NEVER].startswith("Line 1: must be at most 100 characters")
    assert errors[form.STYLE_FILES].startswith("3 style images at most")
    assert not slack.calls_to("files.info")  # the words are checked before any file is fetched

    no_colour = await save_brand(banana, slack, **{form.COLOUR + role: "" for role in form.COLOUR_ROLES})
    assert no_colour["errors"] == {form.COLOUR + "primary": "Give at least one colour, as #RRGGBB."}

    files = await save_brand(
        banana,
        slack,
        {
            form.LOGO_FILE: [(PDF, "logo.pdf", "application/pdf")],
            form.STYLE_FILES: [(png_header_only(30_000, 30_000), "bomb.png", "image/png")],
        },
        **ACME,
    )
    assert files["errors"][form.LOGO_FILE] == (
        "logo.pdf is a PDF, not an image. Export the page as PNG or JPEG and try again."
    )
    assert "bomb.png claims to be far larger; I take images up to 80 megapixels" in files["errors"][form.STYLE_FILES]

    huge = b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024)
    oversized = await save_brand(banana, slack, {form.LOGO_FILE: [(huge, "big.png", "image/png")]}, **ACME)
    assert oversized["errors"] == {form.LOGO_FILE: "big.png is 11 MB; I take images up to 10 MB."}

    assert await banana.services.store.workspace_brand(TEAM) is None
    assert await banana.services.store.settings_changes(TEAM) == []


async def test_two_workspaces_keep_separate_brands_and_an_uninstall_forgets_one(installed, slack):  # noqa: F811
    banana, north, south = installed
    for team, name, colour in ((north, "North", "yellow"), (south, "South", "blue")):
        logo = {form.LOGO_FILE: [(image_bytes(colour), f"{name}.png", "image/png")]}
        assert await save_brand(banana, team, logo, user=team.admin_user_id, team=team, **{form.NAME: name}) == {}
    north_brand, south_brand = [await banana.services.brand_for(t.team_id) for t in (north, south)]
    assert (north_brand.name, south_brand.name) == ("North", "South")
    assert north_brand.logo_image == hashlib.sha256(image_bytes("yellow")).hexdigest()
    store = banana.services.store
    assert await store.brand_image(north.team_id, south_brand.logo_image) is None
    await slack.uninstall(south.team_id)

    async def gone() -> bool:
        return await store.workspace_brand(south.team_id) is None

    await eventually(gone)
    assert await store.brand_image(south.team_id, south_brand.logo_image) is None
    assert (await store.workspace_brand(north.team_id)).data["name"] == "North"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_brand_survives_a_restart(start_banana, slack, backend, request):
    env = {"DATABASE_URL": request.getfixturevalue("postgres_url")} if backend == "postgresql" else {}
    first = await start_banana(**env)
    await save_brand(first, slack, {form.LOGO_FILE: [(LOGO, "logo.png", "image/png")]}, **ACME)
    await first.server.stop()
    second = await start_banana(**env)
    brand = await second.services.brand_for(TEAM)
    assert brand.name == "Acme" and brand.logo_image == hashlib.sha256(LOGO).hexdigest()
    assert (await second.services.store.brand_image(TEAM, brand.logo_image)).data == LOGO


async def test_a_brand_saved_on_one_replica_is_followed_by_another(postgres_url, start_banana, slack):
    first, second = await start_banana(DATABASE_URL=postgres_url), await start_banana(DATABASE_URL=postgres_url)
    assert (await second.services.brand_for(TEAM)).name == "Banana Studio"
    await save_brand(first, slack, {form.LOGO_FILE: [(LOGO, "logo.png", "image/png")]}, **ACME)

    async def seen() -> bool:  # the other replica's cache lasts a few seconds
        return (await second.services.brand_for(TEAM)).logo_image == hashlib.sha256(LOGO).hexdigest()

    await eventually(seen)
    assert (await second.services.brand_for(TEAM)).name == "Acme"


# ---- the service's time limit, the one brand rule, and the builder -------------------------------------------------


class SlowInputs:
    async def fetch(self, slack, files, **_):
        await asyncio.Event().wait()  # never answers: Slack's 3 seconds must not be waited out


class OneTeam:
    def team(self, team_id):
        return self


async def test_fetching_that_would_outlast_slacks_three_seconds_says_to_try_again(tmp_path):
    store = await SqliteTaskStore(tmp_path / "banana.db").open()
    try:
        await store.save_workspace_settings(TEAM, ADMIN, {"admins": [ADMIN]}, "Banana admins")
        workspaces = WorkspaceSettings(store, OneTeam(), Ceilings(None, None, Options("1:1", "2K", "png"), True))
        kit = BrandKit(store, OneTeam(), workspaces, load_brand(), inputs=SlowInputs(), fetch_seconds=0.01)
        fields = {**ACME, form.HEADING_FONT: "Inter", form.BODY_FONT: "Inter", form.TONE: "Plain."}
        errors = await kit.submit(TEAM, ADMIN, {**fields, form.LOGO_FILE: [InputFile(id="F1", name="logo.png")]})
        assert errors == {form.LOGO_FILE: TOO_SLOW}
        assert await store.workspace_brand(TEAM) is None
    finally:
        await store.close()


def test_the_form_and_a_brand_file_share_one_rule():
    operator = load_brand()
    assert check_brand(brand_fields(operator), operator.source) == (operator, {})
    data = brand_data({form.NAME: " Acme ", form.TONE: "Plain.", form.COLOUR + "text": "#000000", form.NEVER: "a\n\nb"})
    assert data["never"] == ["a", "b"] and data["colours"] == {"text": "#000000"}
    assert word_errors(data) == {form.HEADING_FONT: "Fill this in.", form.BODY_FONT: "Fill this in."}
    _, problems = check_brand({**data, "colours": {"primary": "#12345"}})
    assert "colours.primary" in problems and "fonts.headings" in problems


def test_the_change_log_says_what_changed():
    image = BrandImage(TEAM, "a", "logo", 0, "logo.png", "image/png", 512, 512)
    before = {"name": "Acme", "colours": {"primary": "#111111"}}
    after = {"name": "Acme Co", "colours": {"primary": "#111111", "accent": "#222222"}}
    assert brand_changes(before, after, [], [image]) == (
        "brand: name Acme → Acme Co; accent colour #222222; logo: logo.png (512\u00d7512)"
    )
    assert brand_changes(after, after, [image], [image]) == ""
    assert brand_changes({"never": ["clip art"]}, {}, [image], []) == (
        "brand: never-list clip art → none; removed logo logo.png (512\u00d7512)"
    )


def test_the_modal_fits_slack_and_lists_the_saved_images(slack):
    saved = [form.SavedImage("a" * 64, "logo", "logo.png", 512, 256), form.SavedImage("b" * 64, "style", "m.png", 9, 9)]
    view = form.brand_modal(form.BrandForm(fields=brand_fields(load_brand()), images=saved, references="all"))
    slack._validate_view(view, allowed_types=("modal",))
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    labels = [o["text"]["text"] for o in blocks[form.SAVED]["element"]["options"]]
    assert labels == ["Logo: logo.png (512\u00d7256)", "Style reference: m.png (9\u00d79)"]
    assert blocks[form.REFERENCES]["element"]["initial_option"]["value"] == "all"
    assert blocks[form.STYLE_FILES]["element"]["max_files"] == form.MAX_STYLE_IMAGES
