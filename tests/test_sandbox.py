"""The sandbox: the scripted conversation runs end to end, and its page shows the images in a real browser."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from banana.cli import main
from banana.sandbox import FAST, SandboxResult, run_sandbox

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[SandboxResult, list[str]]:
    """One fast run shared by the tests here (sync, so it owns its event loop)."""
    printed: list[str] = []
    out = tmp_path_factory.mktemp("sandbox") / "out"
    result = asyncio.run(run_sandbox(out, timings=FAST, echo=printed.append))
    return result, printed


def test_conversation_prints_each_step_and_progress_edit(sandbox):
    _, printed = sandbox
    text = "\n".join(printed)
    assert "/banana a lighthouse at dawn" in text and "acknowledged in" in text
    assert any("Banana edits" in line and "Generating" in line for line in printed)
    assert any("Banana edits" in line and "Done" in line for line in printed)
    assert sum("Banana uploads" in line for line in printed) == 3
    assert "in the image's thread: @Banana make the sky stormy" in text
    assert "Remix with Banana" in text and "opens the form" in text
    assert "publishes the Home tab" in text


def test_output_folder_holds_the_images_and_the_page(sandbox):
    result, _ = sandbox
    assert len(result.result_file_ids) == 3
    assert len(result.images) == 4  # three results (the image, its edit, the remix) and the photo that was remixed
    for image in result.images:
        with Image.open(image) as opened:
            opened.verify()
    page = result.page.read_text()
    for image in result.images:
        assert f"src='images/{image.name}'" in page
    assert page.count("<details class='history'>") == 3  # each progress card, with its edits
    assert "<div class='thread'>" in page
    assert "Home tab of" in page and "Your Banana images" in page
    assert (result.page.parent / "banana.db").exists()


def test_sandbox_subcommand_is_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "--help"])
    assert exit_info.value.code == 0
    assert "--out" in capsys.readouterr().out


def colour_count(screenshot: Image.Image, colour: tuple[int, int, int], tolerance: int = 4) -> int:
    """How many pixels are within `tolerance` of `colour` in every channel."""
    masks = [
        band.point(lambda value, wanted=wanted: 255 if abs(value - wanted) <= tolerance else 0)
        for band, wanted in zip(screenshot.split(), colour, strict=True)
    ]
    return ImageChops.darker(ImageChops.darker(masks[0], masks[1]), masks[2]).histogram()[255]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_page_shows_the_images_in_headless_chromium(sandbox, tmp_path: Path):
    result, _ = sandbox
    shot = tmp_path / "page.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        result.page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=90, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    with Image.open(shot) as opened:
        screenshot = opened.convert("RGB")
    first_result = next(path for path in result.images if path.name.startswith(result.result_file_ids[0]))
    with Image.open(first_result) as opened:
        image = opened.convert("RGB")
    # The stand-in draws one colour with a lighter lower-right quarter; both must be on screen, in quantity.
    main_colour = image.getpixel((0, 0))
    quarter_colour = image.getpixel((image.width - 1, image.height - 1))
    assert colour_count(screenshot, main_colour) > 20_000, "the first image is not visible on the page"
    assert colour_count(screenshot, quarter_colour) > 5_000, "the first image is not visible on the page"
