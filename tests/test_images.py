"""Input images of any kind people post: decoded fully, converted to what kie takes, upright, fitted to its limits.

Unit tests on `images.prepare` with real files made here, then scenarios through the real app: what reaches kie's
upload API, and that refused files create nothing at kie."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

from bot.clients import inputs
from bot.clients.images import ImageRefused, Prepared, prepare
from bot.clients.inputs import InputImage
from bot.jobs.job import request_key
from prompts.command import kie_prompt
from prompts.tasks import TaskState
from tests.conftest import CHANNEL_ID
from tests.test_remix import UPLOAD, opened_form, post_with_files, problem_shown

MB = 1024 * 1024
LIMITS = {"max_bytes": 30 * MB, "max_side": 4096}


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def half_red(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Red on the left half, blue on the right: which way it is turned shows."""
    image = Image.new("RGB", size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    return image


def sideways_jpeg() -> bytes:
    """A 40 x 20 JPEG stored sideways, with EXIF orientation 6 (show it turned 90° clockwise): upright it is 20 x 40,
    red on top."""
    image = half_red()
    exif = image.getexif()
    exif[0x0112] = 6
    return encoded(image, "JPEG", exif=exif.tobytes(), quality=95)


def heic(size: tuple[int, int] = (64, 48), colour: str = "orange") -> bytes:
    return encoded(Image.new("RGB", size, colour), "HEIF")  # pillow-heif is registered by bot.clients.images


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "green", "blue")]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_jpeg() -> bytes:
    return encoded(Image.new("CMYK", (30, 20), (0, 255, 255, 0)), "JPEG")  # red in ink


def noise_png(side: int) -> bytes:
    return encoded(Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)), "PNG", compress_level=1)


def truncated_png() -> bytes:
    whole = noise_png(64)
    return whole[: len(whole) // 2]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, an IHDR claiming `width` x `height` RGB, and IEND: a few dozen bytes, no pixels at all."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="session")
def big_png() -> bytes:
    """A 35 MB PNG of random pixels (3,450 px square, stored uncompressed): over kie's 30 MB, within 4096 px."""
    side = 3450
    data = encoded(Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)), "PNG", compress_level=0)
    assert len(data) > 34 * MB
    return data


def opened(prepared: Prepared) -> Image.Image:
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    return image


# What kie takes as it is goes byte for byte.


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_png_jpeg_and_webp_pass_byte_for_byte(fmt, kind):
    data = encoded(half_red((300, 200)), fmt)
    prepared = prepare(data, f"picture.{kind}", **LIMITS)
    assert prepared.data == data and prepared.kind == kind and prepared.note is None


# Converted: HEIC, GIF, BMP, TIFF, CMYK; turned upright.


def test_heic_becomes_jpeg_and_says_so():
    prepared = prepare(heic(), "IMG_2041.HEIC", **LIMITS)
    assert prepared.kind == "jpeg" and prepared.mime == "image/jpeg" and prepared.extension == "jpg"
    image = opened(prepared)
    assert image.format == "JPEG" and image.size == (64, 48)
    assert prepared.note == "IMG_2041.HEIC: converted to JPEG"


def test_animated_gif_gives_its_first_frame_as_png_and_says_it_was_animated():
    prepared = prepare(animated_gif(), "dance.gif", **LIMITS)
    image = opened(prepared)
    assert prepared.kind == "png" and image.format == "PNG"
    assert image.convert("RGB").getpixel((10, 10)) == (255, 0, 0)  # the first frame, red
    assert prepared.note == "dance.gif: converted to PNG (first frame only: it is animated)"


def test_transparent_gif_keeps_its_transparency():
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((0, 128, 0, 255), (0, 0, 10, 20))
    prepared = prepare(encoded(image, "GIF"), "sticker.gif", **LIMITS)
    result = opened(prepared)
    assert result.mode == "RGBA" and result.getpixel((15, 10))[3] == 0 and result.getpixel((5, 10))[3] == 255


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_bmp_and_tiff_become_png(fmt):
    prepared = prepare(encoded(half_red(), fmt), f"scan.{fmt.lower()}", **LIMITS)
    image = opened(prepared)
    assert prepared.kind == "png" and image.format == "PNG" and image.size == (40, 20)
    assert image.getpixel((5, 10)) == (255, 0, 0) and image.getpixel((35, 10)) == (0, 0, 255)
    assert prepared.note == f"scan.{fmt.lower()}: converted to PNG"


def test_cmyk_jpeg_becomes_an_rgb_jpeg():
    prepared = prepare(cmyk_jpeg(), "print.jpg", **LIMITS)
    image = opened(prepared)
    assert prepared.kind == "jpeg" and image.mode == "RGB"
    red, green, blue = image.getpixel((15, 10))
    assert red > 200 and green < 60 and blue < 60
    assert prepared.note == "print.jpg: converted from CMYK to RGB"


def test_a_sideways_jpeg_reaches_kie_upright():
    prepared = prepare(sideways_jpeg(), "phone.jpg", **LIMITS)
    image = opened(prepared)
    assert prepared.kind == "jpeg" and image.size == (20, 40)
    assert image.getexif().get(0x0112, 1) == 1
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60, top  # red on top once turned clockwise
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert prepared.note == "phone.jpg: turned upright"


# Fitted: scaled down past MAX_INPUT_SIDE or 30 MB.


def test_a_large_jpeg_is_scaled_to_the_long_side_limit():
    data = encoded(half_red((6000, 4000)), "JPEG")
    prepared = prepare(data, "IMG_0001.jpg", **LIMITS)
    assert opened(prepared).size == (4096, 2731)
    assert prepared.note == "IMG_0001.jpg: scaled to 4096 px"


def test_heic_over_the_side_limit_is_converted_and_scaled():
    prepared = prepare(heic((400, 300)), "IMG_2041.HEIC", max_bytes=30 * MB, max_side=200)
    assert opened(prepared).size == (200, 150)
    assert prepared.note == "IMG_2041.HEIC: converted to JPEG and scaled to 200 px"


def test_a_35_mb_png_is_scaled_until_it_fits_30_mb(big_png):
    prepared = prepare(big_png, "noise.png", **LIMITS)
    image = opened(prepared)
    assert prepared.kind == "png" and len(prepared.data) <= 30 * MB
    assert max(image.size) < 3450
    assert prepared.note == f"noise.png: scaled to {max(image.size)} px"


# Refused, saying why: nothing that does not decode fully goes on.


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (truncated_png(), "cut.png", "cut.png is damaged or cut short"),
        (b"", "empty.png", "empty.png is empty"),
        (SVG, "logo.svg", "logo.svg is an SVG drawing"),
        (PDF, "scan.png", "scan.png is a PDF, not an image"),
        (b"\x00\x01 not a picture at all", "photo.jpg", "photo.jpg is not an image I can read"),
    ],
)
def test_files_that_do_not_decode_are_refused_by_name(data, name, says):
    with pytest.raises(ImageRefused, match=says):
        prepare(data, name, **LIMITS)


def test_a_header_claiming_30000_px_square_is_refused_without_decoding():
    bomb = png_header_only(30_000, 30_000)
    assert len(bomb) < 100
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageRefused, match=r"bomb.png .*megapixels"):
        prepare(bomb, "bomb.png", **LIMITS)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 100 * 1024  # decoded, it would be 2.7 GB


def test_a_header_within_pillows_limit_but_over_ours_is_refused_by_its_size():
    # 81 MP: Pillow would open and try to decode it (243 MB); the size check stops it first, naming the size.
    with pytest.raises(ImageRefused, match=r"poster.png is 9,000 by 9,000 pixels; I take images up to 80 megapixels"):
        prepare(png_header_only(9_000, 9_000), "poster.png", **LIMITS)


# Through the real app: what reaches kie's upload API.


def uploaded(kie) -> dict[str, dict]:
    """The files kie's upload API received, by the file name's number (1 for the first input image)."""
    found = {}
    for request in kie.requests_to(UPLOAD):
        number = int(request.form["fileName"].split("-")[2])
        found[number] = request.form["file"]
    return found


async def test_heic_gif_and_a_sideways_photo_reach_kie_converted_and_upright(banana, kie, slack):
    message, _ = post_with_files(
        slack,
        (heic(), "IMG_2041.HEIC", "image/heic"),
        (animated_gif(), "dance.gif", "image/gif"),
        (sideways_jpeg(), "phone.jpg", "image/jpeg"),
    )
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="combine them")
    task = await banana.only_task()
    assert task.state is TaskState.DONE

    files = uploaded(kie)
    assert [files[n]["content_type"] for n in (1, 2, 3)] == ["image/jpeg", "image/png", "image/jpeg"]
    kie_names = [r.form["fileName"] for r in kie.requests_to(UPLOAD)]
    assert {name.rsplit(".", 1)[1] for name in kie_names} == {"jpg", "png"}
    assert Image.open(io.BytesIO(files[1]["data"])).format == "JPEG"
    assert Image.open(io.BytesIO(files[2]["data"])).format == "PNG"
    photo = Image.open(io.BytesIO(files[3]["data"])).convert("RGB")
    assert photo.size == (20, 40) and photo.getpixel((10, 5))[0] > 200 and photo.getpixel((10, 35))[2] > 200

    # The notes are in the card's thread; the cache key is made from the bytes kie got.
    notes = json.dumps([r.blocks for r in slack.thread(CHANNEL_ID, task.thread_ts or "")])
    assert "IMG_2041.HEIC: converted to JPEG" in notes
    assert "dance.gif: converted to PNG (first frame only: it is animated)" in notes
    assert "phone.jpg: turned upright" in notes
    sent = [InputImage(file=f, data=files[n]["data"], kind="") for n, f in enumerate(task.inputs, start=1)]
    assert task.request_key == request_key(kie_prompt(task.request), task.request.options, sent)


async def test_a_png_and_a_jpeg_reach_kie_byte_for_byte_with_no_notes(banana, kie, slack):
    png, jpeg = encoded(half_red(), "PNG"), encoded(half_red(), "JPEG")
    message, _ = post_with_files(slack, (png, "a.png", "image/png"), (jpeg, "b.jpg", "image/jpeg"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="combine")
    task = await banana.only_task()
    files = uploaded(kie)
    assert (files[1]["data"], files[2]["data"]) == (png, jpeg)
    assert ":information_source:" not in json.dumps([r.blocks for r in slack.thread(CHANNEL_ID, task.thread_ts)])


async def test_a_35_mb_png_reaches_kie_under_30_mb(banana, kie, slack, big_png):
    message, _ = post_with_files(slack, (big_png, "noise.png", "image/png"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="remix")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    (file,) = uploaded(kie).values()
    image = Image.open(io.BytesIO(file["data"]))
    assert image.format == "PNG" and len(file["data"]) <= 30 * MB and max(image.size) < 3450
    notes = json.dumps([r.blocks for r in slack.thread(CHANNEL_ID, task.thread_ts or "")])
    assert f"noise.png: scaled to {max(image.size)} px" in notes


async def test_the_side_limit_is_a_setting(start_banana, kie, slack):
    banana = await start_banana(MAX_INPUT_SIDE="300")
    message, _ = post_with_files(slack, (encoded(half_red((900, 600)), "JPEG"), "wide.jpg", "image/jpeg"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="remix")
    await banana.only_task()
    (file,) = uploaded(kie).values()
    assert Image.open(io.BytesIO(file["data"])).size == (300, 200)


async def test_files_that_do_not_decode_are_named_and_nothing_reaches_kie(banana, kie, slack):
    message, _ = post_with_files(
        slack,
        (encoded(half_red(), "PNG"), "good.png", "image/png"),
        (truncated_png(), "cut.png", "image/png"),
        (b"", "empty.png", "image/png"),
        (SVG, "logo.svg", "image/svg+xml"),
        (PDF, "scan.png", "image/png"),
        (png_header_only(30_000, 30_000), "bomb.png", "image/png"),
    )
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="combine")
    shown = await problem_shown(slack, form)
    for says in (
        "cut.png is damaged or cut short",
        "empty.png is empty",
        "logo.svg is an SVG drawing",
        "scan.png is a PDF",
        "bomb.png claims to be far larger",
        "nothing was charged",
    ):
        assert says in shown, says
    assert "good.png" not in shown
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == "input_rejected"
    assert kie.requests == []


async def test_decodes_run_in_threads_at_most_the_set_number_at_once(start_banana, kie, slack, monkeypatch):
    running, most, threads = 0, 0, set()
    lock = threading.Lock()

    def slow_prepare(data: bytes, name: str, *, max_bytes: int, max_side: int) -> Prepared:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.current_thread() is threading.main_thread())
        time.sleep(0.05)
        with lock:
            running -= 1
        return prepare(data, name, max_bytes=max_bytes, max_side=max_side)

    monkeypatch.setattr(inputs, "prepare", slow_prepare)
    banana = await start_banana(IMAGE_DECODES_AT_ONCE="2")
    pictures = [(encoded(half_red(), "PNG"), f"p{i}.png", "image/png") for i in range(6)]
    message, _ = post_with_files(slack, *pictures)
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="a grid")
    assert (await banana.only_task()).state is TaskState.DONE
    assert most == 2 and threads == {False}


def test_an_images_extension_follows_its_mime_type():
    from bot.clients.images import extension_of

    assert [extension_of(m) for m in ("image/png", "image/jpeg", "image/webp")] == ["png", "jpg", "webp"]
    assert extension_of("image/heic") == "png"  # never sent to kie as such: prepared images are one of the three
