"""The sandbox: the scripted conversation runs end to end, and its page shows the images in a real browser."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from banana.cli import main
from banana.sandbox import FAST, SandboxResult, run_sandbox

CHROMIUM = shutil.which("chromium")
# What the environment needs for a headless Chromium that starts quickly and reaches for nothing on the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


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
    assert sum("Banana uploads" in line for line in printed) == 4
    assert "in the image's thread: @Banana make the sky stormy" in text
    assert "Remix with Banana" in text and "opens the form" in text
    assert "publishes the Home tab" in text
    assert "admin   → presses Settings" in text and "Banana  ← opens Settings: Daily credits per person" in text
    assert "saves the brand Harbour Coffee" in text and "logo harbour-logo.png" in text
    assert "kie.ai  ← the studio image's request carries the brand's logo" in text


def test_output_folder_holds_the_images_and_the_page(sandbox):
    result, _ = sandbox
    assert len(result.result_file_ids) == 4
    # four results (the image, its edit, the remix, the studio image), the photo remixed and the logo uploaded
    assert len(result.images) == 6
    for image in result.images:
        with Image.open(image) as opened:
            opened.verify()
    page = result.page.read_text()
    for image in result.images:
        assert f"src='images/{image.name}'" in page
    assert page.count("<details class='history'>") == 4  # each progress card, with its edits
    assert "<div class='thread'>" in page
    assert "Home tab of" in page and "Your Banana images" in page
    assert (result.page.parent / "banana.db").exists()
    assert result.result_kinds == ["new", "edit", "remix", "studio"]


def test_page_links_stay_within_it_and_names_are_slacks(sandbox):
    result, _ = sandbox
    page = result.page.read_text()
    assert "http://127.0.0.1" not in page  # the stand-in is gone once the sandbox ends
    targets = re.findall(r"<a href='#(m[0-9-]+)'>open thread</a>", page)
    assert len(targets) == 4 and all(f"id='{target}'" in page for target in targets)
    assert "@Test User" in page and "@Banana" in page and "@user<" not in page and "@banana-bot" not in page


def test_every_card_version_shows_its_status_before_its_prompt(sandbox):
    result, _ = sandbox
    page = result.page.read_text()
    histories = re.findall(r"<details class='history'>.*?</details>", page, re.S)
    assert len(histories) == 4
    versions = [re.findall(r"<li><div class='when'>([^<]*)</div>(.*?)</li>", h, re.S) for h in histories]
    # Each card as posted (running) and as finished: both orders would show here.
    assert all(len(card) >= 2 and card[0][0] == "as posted" and "Done" in card[-1][1] for card in versions)
    for _, version in (version for card in versions for version in card):
        first_section = re.search(r"<div class='section'><div class='text'>(.*?)</div>", version, re.S)
        assert first_section and not first_section.group(1).startswith("<blockquote>"), version


def test_the_studio_image_carries_the_logo_the_admin_uploaded_to_kie(sandbox):
    result, _ = sandbox
    with Image.open(io.BytesIO(result.logo)) as logo:
        assert logo.format == "PNG" and len(logo.getcolors(256) or []) > 2  # a real picture, not a blank
    *others, studio = result.kie_images
    assert result.logo in studio
    assert not any(result.logo in sent for sent in others)  # plain images carry no brand images (studio only)
    page = result.page.read_text()
    card = re.findall(r"<div class='message bot' id='m[0-9-]+'>.*?</div></div></div>", page, re.S)
    assert any("here is your image #4" in c and "brand: Harbour Coffee · logo" in c for c in card)


def modal(page: str, title: str) -> str:
    """One form as the page draws it, from its title to its buttons."""
    found = re.search(rf"<div class='modal'><div class='modal-title'>{title}</div>.*?<div class='modal-buttons'>", page)
    assert found, f"the page shows no {title} form"
    return found.group(0)


def test_the_page_shows_the_settings_and_brand_kit_forms_as_the_admin_left_them(sandbox):
    result, _ = sandbox
    page = result.page.read_text()
    assert "Home tab of Test User" in page and "Home tab of Admin User" in page
    admin_home = page.split("Home tab of Admin User", 1)[1]
    assert "<button class='plain' disabled>Settings</button>" in admin_home
    assert "<button class='plain' disabled>Brand kit</button>" in admin_home

    settings = modal(page, "Banana settings")
    assert "Admin User · closed" in settings
    assert "Daily credits per person" in settings and "Default ratio" in settings and "Banana admins" in settings

    kit = modal(page, "Brand kit")
    assert "Admin User · submitted" in kit
    assert "<div class='input'>Harbour Coffee</div>" in kit
    assert "<div class='input'>#16324F</div>" in kit and "<div class='input'>#F2A541</div>" in kit
    logo = next(path for path in result.images if path.name.endswith("harbour-logo.png"))
    assert logo.read_bytes() == result.logo and f"src='images/{logo.name}'" in kit
    assert "Test User · submitted" in modal(page, "Check the prompt")


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
        *CHROMIUM_FLAGS,
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


# Run once the page and its images have loaded: opens every edit history, then lists each element whose box reaches
# past the window's left or right edge, and whether the page scrolls sideways. The answer goes into the DOM, which
# --dump-dom prints.
MEASURE = """<script>
addEventListener("load", () => {
  for (const details of document.querySelectorAll("details")) details.open = true;
  const root = document.documentElement;
  const width = root.clientWidth;
  const offenders = [];
  if (root.scrollWidth > width) offenders.push(`the page is ${root.scrollWidth}px wide`);
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
      const name = [element.tagName.toLowerCase(), ...element.classList].join(".");
      offenders.push(`${name} from ${Math.round(box.left)} to ${Math.round(box.right)}px`);
    }
  }
  const answer = document.createElement("pre");
  answer.id = "measured";
  answer.textContent = JSON.stringify({ width: innerWidth, offenders });
  document.body.append(answer);
});
</script>"""


def measure(page: Path, width: int, profile: Path) -> dict[str, Any]:
    """What runs off `page` in headless Chromium `width` pixels wide. The measuring copy sits beside the page, so
    its images load."""
    copy = page.with_name(f"measure-{width}.html")
    copy.write_text(page.read_text().replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    command = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},1200"]
    done = subprocess.run([*command, "--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=90)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium printed no measurement: {done.stderr[-2000:]}"
    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
@pytest.mark.parametrize("width", [700, 1400])
def test_nothing_runs_off_the_page(sandbox, tmp_path: Path, width: int):
    result, _ = sandbox
    measured = measure(result.page, width, tmp_path / "profile")
    assert measured["width"] == width, "chromium did not lay the page out at the width asked for"
    assert measured["offenders"] == [], f"at {width}px these run off the page: {measured['offenders']}"
