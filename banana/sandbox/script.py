"""The sandbox's script: starts the kie.ai and Slack stand-ins and Banana between them, plays the conversation the
way Slack would send it, and leaves the images and the channel page in an output folder.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from banana.app.server import BananaServer
from banana.sandbox.page import ChannelPage, ChannelWatch, FirstVersions, Form, plain_text, summary_line
from bot.blocks import brand as brand_form
from bot.blocks.settings import HOME_SETTINGS
from bot.settings import load_settings
from prompts.references import STUDIO_SOURCE
from prompts.tasks import Task
from standins import kie as kie_standin
from standins import slack as slack_standin
from standins.kie import KieStandIn, Outcome, RecordedRequest
from standins.slack import SlackStandIn
from standins.slack.driver import SignedRequest, SlackDriver, TeamSource, over_http

USER_ID = slack_standin.USER_ID
CHANNEL_ID = "C0GENERAL1"
COMMAND_TEXT = "a lighthouse at dawn, isometric --ar 16:9"
PHOTO_TEXT = "Our team photo from the offsite :camera:"
EDIT_TEXT = "make the sky stormy, keep the lighthouse"
REMIX_PROMPT = "turn this into a retro travel poster with the title “Offsite 2025”"
BRAND_NAME = "Harbour Coffee"
# Every role given, so none of the operator's colours is left in (an empty one is no colour).
BRAND_COLOURS = {"primary": "#16324F", "secondary": "", "accent": "#F2A541", "background": "#FFF8EE", "text": "#16324F"}
LOGO_WORDS = "a white lighthouse with an orange beam on a navy disc"
LOGO_NAME = "harbour-logo.png"
STUDIO_TEXT = 'quote "Good coffee takes time. Great coffee takes a harbour." — Ada, head roaster'
IMAGES_DIR = "images"
DATABASE_NAME = "banana.db"


@dataclass(frozen=True)
class Timings:
    """How long the stand-in kie takes, and how often the app looks: slow enough to watch the card move."""

    queue_seconds: float = 1.5
    generate_seconds: float = 4.0
    poll_interval: float = 0.5
    progress_interval: float = 1.0
    home_refresh_delay: float = 0.5
    watch_interval: float = 0.1  # how often the terminal looks for new messages and edits
    step_timeout: float = 45.0  # no step of the conversation may take longer


FAST = Timings(
    queue_seconds=0.2,
    generate_seconds=0.6,
    poll_interval=0.1,
    progress_interval=0.2,
    home_refresh_delay=0.1,
    watch_interval=0.05,
    step_timeout=15.0,
)


@dataclass
class SandboxResult:
    page: Path
    images: list[Path]
    result_file_ids: list[str]  # the images Banana posted, in order
    result_kinds: list[str]  # how each task Banana ran came to be ("new", "edit", "remix"), in order
    kie_task_ids: list[str]  # the stand-in kie's tasks, in order of creation
    logo: bytes = b""  # the logo the admin uploaded in the brand kit
    kie_images: list[list[bytes]] = field(default_factory=list)  # each create's image_input, as kie received it
    log: list[str] = field(default_factory=list)


class Sandbox:
    """The stand-ins, the app between them, and the conversation."""

    def __init__(self, out: Path, timings: Timings, echo: Callable[[str], None]) -> None:
        self.out = out
        self.timings = timings
        self.echo = echo
        self.kie = KieStandIn(
            default_outcome=Outcome(queue_seconds=timings.queue_seconds, generate_seconds=timings.generate_seconds),
            result_long_side=640,  # big enough to see on the page
        )
        self.slack = SlackStandIn()
        self.server: BananaServer | None = None
        self.watch = ChannelWatch(self.slack, echo, time.monotonic(), USER_ID)
        self.first_versions = FirstVersions(self.slack)
        self.kinds: list[str] = []
        self.forms: list[Form] = []  # the modals the conversation filled in or looked at, in order
        self.logo = brand_logo()
        self.log: list[str] = []

    async def run(self) -> SandboxResult:
        await self.kie.start()
        await self.slack.start()
        try:
            secret = secrets.token_hex(16)
            self.server = BananaServer(load_settings(self._environment(secret), env_file=None))
            port = await self.server.start()
            app_url = f"http://127.0.0.1:{port}"
            self.echo(f"kie.ai stand-in {self.kie.base_url} · Slack stand-in {self.slack.base_url} · Banana {app_url}")
            async with httpx.AsyncClient(timeout=10) as http:

                async def post(request: SignedRequest) -> httpx.Response:
                    response = await http.post(request.url, content=request.body, headers=request.headers)
                    return response.raise_for_status()

                events_url = f"{app_url}/slack/events"
                self.slack.deliver_events_to(events_url, secret)
                await self._conversation(SlackDriver(TeamSource(self.slack), over_http(events_url, secret, post)))
            assert self.server.services is not None
            tasks = await self.server.services.store.for_user(slack_standin.TEAM_ID, USER_ID, limit=100)
            self.kinds = [task_kind(task) for task in sorted(tasks, key=lambda t: t.id)]
        finally:
            if self.server is not None:
                await self.server.stop()
            await self.slack.stop()
            await self.kie.stop()
        return self._write_output()

    def _environment(self, secret: str) -> dict[str, str]:
        t = self.timings
        return {
            "SLACK_BOT_TOKEN": slack_standin.BOT_TOKEN,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": self.slack.api_url,
            "KIEAI_API_KEY": kie_standin.API_KEY,
            "KIEAI_BASE_URL": self.kie.base_url,
            "KIEAI_UPLOAD_URL": self.kie.base_url,
            "DATABASE_PATH": str(self.out / DATABASE_NAME),
            "HOST": "127.0.0.1",
            "PORT": "0",
            "POLL_INTERVAL_FAST": str(t.poll_interval),
            "POLL_INTERVAL_MEDIUM": str(t.poll_interval),
            "POLL_INTERVAL_SLOW": str(t.poll_interval),
            "PROGRESS_UPDATE_INTERVAL": str(t.progress_interval),
            "HOME_REFRESH_DELAY": str(t.home_refresh_delay),
            "SLACK_POST_INTERVAL": "0.1",
            "KIEAI_RETRY_DELAYS": "0.2,0.5",
            "KIEAI_EXPECTED_SECONDS": "none",  # kie's real 30-90 s would hold the sandbox's quick tasks' reads back
        }

    async def _conversation(self, you: SlackDriver[httpx.Response]) -> None:
        # 1. A command.
        started = time.monotonic()
        await you.command(COMMAND_TEXT)
        self.watch.say(f"you     → /banana {COMMAND_TEXT}   (acknowledged in {_ms(started)})")
        await self._until_tasks_finished(1)

        # 2. In the image's thread: "@Banana make the sky stormy". Slack sends the mention as an event.
        assert self.server is not None and self.server.services is not None
        (first,) = await self.server.services.store.for_user(slack_standin.TEAM_ID, USER_ID)
        await self.slack.post_as_user(CHANNEL_ID, f"<@{self.slack.bot_user_id}> {EDIT_TEXT}", thread_ts=first.thread_ts)
        self.watch.say(f"you     → in the image's thread: @Banana {EDIT_TEXT}")
        await self._until_tasks_finished(2)

        # 3. Someone posts a photo; "Remix with Banana" from its menu; the form is submitted.
        photo = self.slack.add_file(team_photo(), "team-photo.png", "image/png", channel=CHANNEL_ID, text=PHOTO_TEXT)
        message = self.slack.message(CHANNEL_ID, photo.share_ts or "")
        self.watch.say(f"you     → posts {photo.name} in #general: {plain_text(PHOTO_TEXT, self.slack)}")
        opened = len(self.slack.views_opened)
        started = time.monotonic()
        await you.message_shortcut(self.slack.message_payload(message), channel=message.channel)
        self.watch.say(f"you     → Remix with Banana on that message   (acknowledged in {_ms(started)})")
        await self._until(lambda: len(self.slack.views_opened) > opened, "the remix form to open")
        form = self.slack.views_opened[-1]
        self.watch.say(f"Banana  ← opens the form: {summary_line('', form['blocks'][:1], self.slack)}")
        await you.submit(form, prompt=REMIX_PROMPT)
        self.forms.append(Form(USER_ID, form, {"prompt": REMIX_PROMPT}))
        self.watch.say(f"you     → submits the form: “{REMIX_PROMPT}”")
        await self._until_tasks_finished(3)

        # 4. The Home tab.
        published = len(self.slack.calls_to("views.publish"))
        await you.event({"type": "app_home_opened", "user": USER_ID, "channel": "D0DIRECT01", "tab": "home"})
        self.watch.say("you     → opens Banana's Home tab")
        await self._until(lambda: len(self.slack.calls_to("views.publish")) > published, "the Home tab")
        home = self.slack.views_published[USER_ID]
        shown = [summary_line("", [b], self.slack) for b in home["blocks"] if b.get("type") == "section"]
        self.watch.say(f"Banana  ← publishes the Home tab: {' | '.join(s for s in shown if s)}")

        # 5. An admin opens Settings from their Home tab, then sets the brand kit: colours and a logo image.
        await self._admin_sets_the_brand(you)

        # 6. A studio image, made in the brand: its request at kie carries the logo's bytes.
        await self._studio_image(you)

    async def _admin_sets_the_brand(self, you: SlackDriver[httpx.Response]) -> None:
        admin = self.slack.admin_user_id
        await you.event({"type": "app_home_opened", "user": admin, "channel": "D0DIRECT02", "tab": "home"})
        self.watch.say("admin   → Admin User opens Banana's Home tab")
        await self._until(lambda: HOME_SETTINGS in str(self.slack.views_published.get(admin)), "the admin's Home tab")
        self.watch.say("Banana  ← publishes it with Settings and Brand kit, which only admins see")

        self.watch.say("admin   → presses Settings")
        settings = await self._opened(you.click(HOME_SETTINGS, "open", user=admin), "the settings form")
        self.forms.append(Form(admin, settings, submitted=False))
        fields = [b["label"]["text"] for b in settings["blocks"] if b.get("type") == "input"]
        self.watch.say(f"Banana  ← opens Settings: {', '.join(fields)}")
        self.watch.say("admin   → looks, and closes it with Cancel")

        self.watch.say("admin   → presses Brand kit")
        kit = await self._opened(you.click(brand_form.HOME_BRAND, "open", user=admin), "the brand kit")
        self.watch.say("Banana  ← opens the brand kit: the brand's words, colours, fonts, logo and style images")
        logo = self.slack.add_file(self.logo, LOGO_NAME, "image/png", user=admin)  # what Slack keeps of a file_input
        filled: dict[str, object] = {
            brand_form.NAME: BRAND_NAME,
            **{brand_form.COLOUR + role: hex for role, hex in BRAND_COLOURS.items()},
            brand_form.LOGO_WORDS: LOGO_WORDS,
            brand_form.LOGO_FILE: [self.slack.file_object(logo.id)],
        }
        answer = await you.submit(kit, user=admin, **filled)
        if answer.text:
            raise SandboxError(f"the brand kit was refused: {answer.text}")
        self.forms.append(Form(admin, kit, filled))
        colours = ", ".join(f"{role} {hex}" for role, hex in BRAND_COLOURS.items() if hex)
        self.watch.say(f"admin   → saves the brand {BRAND_NAME}: {colours}, logo {LOGO_NAME}")

    async def _studio_image(self, you: SlackDriver[httpx.Response]) -> None:
        self.watch.say(f"you     → /banana {STUDIO_TEXT}")
        form = await self._opened(you.command(STUDIO_TEXT), "the studio form")
        self.watch.say(f"Banana  ← opens the studio form: {form['title']['text']}")
        answer = (await you.submit(form)).json()
        review = {**answer["view"], "id": form["id"]}  # the form updated in place to its review step
        self.forms.append(Form(USER_ID, form))
        self.watch.say("you     → submits the studio form; Banana shows the prompt it wrote, to review")
        await you.submit(review)
        self.forms.append(Form(USER_ID, review))
        self.watch.say("you     → submits the review step")
        await self._until_tasks_finished(4)
        create = self.kie.requests_to(kie_standin.CREATE_PATH)[-1]
        sent = self._images_sent(create)
        carried = "carries the brand's logo" if self.logo in sent else "does NOT carry the brand's logo"
        self.watch.say(f"kie.ai  ← the studio image's request {carried} ({len(sent)} reference image(s))")

    def _images_sent(self, create: RecordedRequest) -> list[bytes]:
        """The bytes of each image a create named in image_input, as kie's upload API received them."""
        urls = ((create.json or {}).get("input") or {}).get("image_input") or []
        return [self.kie.uploads[url] for url in urls]

    async def _opened(self, action: Awaitable[httpx.Response], what: str) -> dict[str, Any]:
        """The modal `action` opens (views.open), once Slack has it."""
        opened = len(self.slack.views_opened)
        await action
        await self._until(lambda: len(self.slack.views_opened) > opened, what)
        return self.slack.views_opened[-1]

    async def _until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timings.step_timeout
        while not done():
            self.watch.report()
            if time.monotonic() > deadline:
                raise SandboxError(f"gave up waiting for {what} after {self.timings.step_timeout:.0f}s")
            await asyncio.sleep(self.timings.watch_interval)
        self.watch.report()

    async def _until_tasks_finished(self, count: int) -> None:
        assert self.server is not None and self.server.services is not None
        services = self.server.services
        finished = False

        async def check() -> None:
            nonlocal finished
            tasks = await services.store.for_user(slack_standin.TEAM_ID, USER_ID, limit=100)
            finished = len(tasks) >= count and all(t.state.finished for t in tasks) and not services.runner.in_flight

        deadline = time.monotonic() + self.timings.step_timeout
        while True:
            await check()
            self.watch.report()
            if finished:
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"task {count} did not finish within {self.timings.step_timeout:.0f}s")
            await asyncio.sleep(self.timings.watch_interval)

    def _write_output(self) -> SandboxResult:
        images_dir = self.out / IMAGES_DIR
        images_dir.mkdir(exist_ok=True)
        saved: dict[str, str] = {}
        for file in self.slack.files.values():
            if file.deleted or not file.mimetype.startswith("image/"):
                continue
            name = f"{file.id}-{re.sub(r'[^A-Za-z0-9._-]', '_', file.name)}"
            (images_dir / name).write_bytes(file.data)
            saved[file.id] = f"{IMAGES_DIR}/{name}"
        page = self.out / "index.html"
        page_html = ChannelPage(self.slack, saved, CHANNEL_ID, USER_ID, self.first_versions.seen, self.forms).render()
        page.write_text(page_html, encoding="utf-8")
        posted = [f.id for f in self.slack.files.values() if f.user == self.slack.bot_user_id and not f.deleted]
        return SandboxResult(
            page=page,
            images=[self.out / path for path in saved.values()],
            result_file_ids=posted,
            result_kinds=self.kinds,
            kie_task_ids=list(self.kie.tasks),
            logo=self.logo,
            kie_images=[self._images_sent(create) for create in self.kie.requests_to(kie_standin.CREATE_PATH)],
        )


class SandboxError(Exception):
    """The conversation did not go as it should; the message says which step."""


def task_kind(task: Task) -> str:
    """How a task came to be: "new" from a prompt alone, "studio" from a studio form, "remix" of images it was given,
    else its relation."""
    if task.relation:
        return task.relation
    if task.inputs:
        return "remix"
    return "studio" if task.source.startswith(STUDIO_SOURCE) else "new"


def closing_summary(result: SandboxResult, folder: Path) -> str:
    """What the sandbox made, counting Banana's images only (not the photo that was remixed)."""
    count = len(result.result_file_ids)
    kinds = Counter(result.result_kinds)
    each = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    made = f"Banana made {count} image{'s' if count != 1 else ''}" + (f" ({each})" if each else "")
    return f"Done. {made}. The images and the channel page are in {folder}"


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def team_photo() -> bytes:
    """A small made-up "photo" for the remix: sky, sea, sun and three people."""
    image = Image.new("RGB", (480, 320), (135, 190, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 200, 480, 320), fill=(40, 110, 160))
    draw.ellipse((360, 30, 430, 100), fill=(255, 210, 80))
    for x, colour in ((150, (220, 80, 60)), (230, (80, 160, 90)), (310, (120, 90, 200))):
        draw.ellipse((x - 18, 130, x + 18, 166), fill=(240, 200, 170))
        draw.rectangle((x - 24, 168, x + 24, 250), fill=colour)
    return png(image)


def brand_logo() -> bytes:
    """A small made-up logo for the brand kit: a lighthouse and its beam on a navy disc."""
    image = Image.new("RGB", (256, 256), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 248, 248), fill=(22, 50, 79))
    draw.polygon([(70, 96), (128, 80), (186, 64), (186, 112), (128, 96)], fill=(242, 165, 65))
    draw.polygon([(104, 216), (116, 96), (140, 96), (152, 216)], fill=(255, 255, 255))
    draw.rectangle((110, 140, 146, 156), fill=(242, 165, 65))
    draw.rectangle((112, 80, 144, 96), fill=(242, 165, 65))
    return png(image)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def run_sandbox(out: Path, *, timings: Timings = Timings(), echo: Callable[[str], None] = print) -> SandboxResult:
    """Run the whole conversation into `out` (created; earlier sandbox output there is replaced)."""
    prepare_folder(out)
    return await Sandbox(out, timings, echo).run()


def prepare_folder(out: Path) -> None:
    """Create the output folder and clear what an earlier run left there, so the page shows this run only."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob(f"{DATABASE_NAME}*"), *(out / IMAGES_DIR).glob("*"), out / "index.html"]:
        stale.unlink(missing_ok=True)


def run_cli(out: str) -> int:
    """`banana-bot sandbox`: returns the exit status."""
    # The app's own log lines would drown the conversation; warnings and errors still show.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = Path(out).resolve()
    print("Banana sandbox: the app between local stand-ins for kie.ai and Slack; no accounts needed.\n")
    try:
        result = asyncio.run(run_sandbox(folder))
    except SandboxError as error:
        print(f"\nThe sandbox stopped: {error}")
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"\n{closing_summary(result, folder)}")
    print(f"Open it in a browser: {result.page.as_uri()}")
    return 0
