"""The remix run (issue 12): people remix messages carrying several 12 MP photos, several remixes at once. The app
downloads each photo from Slack, checks it (and may convert or scale it) and uploads it to kie's file upload API,
then creates the task. Measured: the time from each form's submission to kie receiving that remix's last upload,
the app's peak RSS and event-loop lag meanwhile, and what kie received."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from bench.scenarios import Outcome, RemixFigures, Sent, echo, outcome, token_of, wait_for_delivery
from bench.stack import Stack, StackConfig
from bot.blocks.modals import FormContext

PHOTO_SIZE = (4000, 3000)  # 12 MP, a phone camera's 4:3 photo


def photo(number: int, size: tuple[int, int] = PHOTO_SIZE) -> bytes:
    """A JPEG that compresses like a photograph: smooth colour gradients and blotches, with sensor grain on top.
    Each `number` gives a different picture (gradient directions), and the noise differs every call."""
    width, height = size
    small = (width // 8, height // 8)
    bands = []
    for band in range(3):
        gradient = Image.linear_gradient("L").rotate(
            (number * 47 + band * 97) % 360, resample=Image.Resampling.BILINEAR, expand=True
        )
        inner, side = 176, gradient.width  # the square inside the rotated one: no black corners
        box = ((side - inner) // 2, (side - inner) // 2, (side + inner) // 2, (side + inner) // 2)
        gradient = gradient.crop(box).resize(small, Image.Resampling.BICUBIC)
        blotches = Image.effect_noise((24, 18), 50).resize(small, Image.Resampling.BICUBIC)
        bands.append(Image.blend(gradient, blotches, 0.45))
    base = Image.merge("RGB", bands).resize(size, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(size, 10).convert("RGB")  # centred on 128
    picture = ImageChops.add(base, grain, scale=1.0, offset=-128)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photos(folder: Path, count: int) -> list[bytes]:
    """`count` distinct photos, made once per benchmark run and kept in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for number in range(1, count + 1):
        path = folder / f"photo-{number}.jpg"
        if not path.exists():
            path.write_bytes(photo(number))
        found.append(path.read_bytes())
    return found


async def opened_form(stack: Stack, channel: str, timeout: float = 20.0) -> dict[str, Any] | None:  # noqa: ASYNC109
    """The form the app opened for a remix in `channel`, as the Slack stand-in holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for view in (await stack.slack_stats())["views_opened"]:
            if FormContext.from_metadata(view.get("private_metadata", "")).channel_id == channel:
                return dict(view)
        await asyncio.sleep(0.1)
    return None


def last_uploads(kie: dict[str, Any], submitted_at: dict[str, float]) -> list[float]:
    """Per remix whose task kie created: from its form's submission to the last of its images arriving at kie.
    A task names its uploads in `image_input` (their downloadUrls end with the upload's path)."""
    arrived = {upload["path"]: upload["at"] for upload in kie["uploads"]}
    found = []
    for task in kie["tasks"]:
        token = token_of(task["prompt"])
        if token not in submitted_at:
            continue
        times = [at for path, at in arrived.items() for url in task["image_input"] if url.endswith("/files/" + path)]
        if times and len(times) == len(task["image_input"]):
            found.append(max(times) - submitted_at[token])
    return found


async def wait_done(stack: Stack, count: int, timeout: float) -> int:  # noqa: ASYNC109
    """Until `count` results are in their threads, or the app has nothing left in flight (a remix failed), or
    `timeout`; returns how many arrived."""
    deadline = time.monotonic() + timeout
    while True:
        delivered = await wait_for_delivery(stack, count, timeout=0)
        if delivered >= count or time.monotonic() > deadline or (await stack.metrics())["in_flight"] == 0:
            return delivered
        await asyncio.sleep(0.5)


async def remix(
    work: Path, *, remixes: int, count: int, app_env: dict[str, str], deliver_within: float = 180.0
) -> Outcome:
    """`remixes` messages of `count` 12 MP photos each, in as many channels; each is remixed (shortcut, then the
    form), all forms submitted at once."""
    echo(f"  remix: making {count} photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} …")
    pictures = await asyncio.to_thread(photos, work / "photos", count)
    config = StackConfig("remix", queue_seconds=1.0, generate_seconds=4.0, channels=remixes, app_env=app_env)
    stack = Stack(config, work)
    await stack.start()
    try:
        channels = stack.channels
        messages = []
        for number, channel in enumerate(channels, start=1):
            files = [(f"IMG_{number:02d}{n:02d}.jpg", data, "image/jpeg") for n, data in enumerate(pictures, 1)]
            messages.append(await stack.add_message(channel, "photos from the offsite", files))
        await stack.start_window()
        megabytes = sum(len(p) for p in pictures) / len(pictures) / 1024 / 1024
        echo(f"  remix: {remixes} remixes of {count} photos ({megabytes:.1f} MB each) at once …")
        await asyncio.gather(*(stack.message_shortcut(m, c) for m, c in zip(messages, channels, strict=True)))
        forms = await asyncio.gather(*(opened_form(stack, channel) for channel in channels))
        tokens = [f"bench-remix-{number:04d}" for number in range(1, remixes + 1)]
        submitted_at: dict[str, float] = {}

        async def submit(form: dict[str, Any] | None, token: str) -> tuple[float, bool]:
            if form is None:
                return 0.0, False
            submitted_at[token] = time.monotonic()
            answer = await stack.submit(form, prompt=f"{token} one postcard from these photos, warm evening light")
            return answer.took, answer.status == 200 and b'"update"' in answer.body

        started = time.monotonic()
        answers = await asyncio.gather(*(submit(f, t) for f, t in zip(forms, tokens, strict=True)))
        sent = Sent([took for took, _ in answers], sum(ok for _, ok in answers), time.monotonic() - started)
        delivered = await wait_done(stack, remixes, timeout=deliver_within)
        result = await outcome(stack, "remix", "polling", remixes, sent, delivered, False, "5 s")
        kie = await stack.kie_stats()
    finally:
        await stack.stop()
    with Image.open(io.BytesIO(pictures[0])) as first:
        pixels = first.size
    result.remix = RemixFigures(
        remixes=remixes,
        photos=count,
        photo_bytes=[len(p) for p in pictures],
        photo_pixels=(pixels[0], pixels[1]),
        forms_opened=sum(form is not None for form in forms),
        submitted=sent.plain,
        to_last_upload=last_uploads(kie, submitted_at),
        uploads=kie["uploads"],
        delivered=delivered,
    )
    return result
