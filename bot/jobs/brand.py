"""The brand's images at kie: each uploaded through kie's file upload API like an input image, and its URL kept and
used again while kie still keeps the file, so a busy workspace does not upload its logo for every image."""

from __future__ import annotations

import uuid

from bot.clients.images import extension_of
from bot.clients.kie import KieClient
from bot.jobs.failures import TaskFailed
from bot.store import TaskStore
from prompts.tasks import BrandImage

# kie deletes uploaded files: "temporary, automatically deleted after 3 days" says its quickstart, while the header
# line of the same pages says "deleted after 24h" (https://docs.kie.ai/file-upload-api/quickstart; notes §5 and §8.2).
# The shorter is taken, as the kie stand-in does, and a URL is used again only while it has an hour left, so the file
# cannot go while kie works on the task.
KIE_KEEPS_UPLOADS = 24 * 3600.0
REUSE_MARGIN = 3600.0
BRAND_UPLOAD_PATH = "banana/brand"
BRAND_IMAGE_GONE = (
    "The workspace's brand images were changed while this image waited, so it was not started and nothing was "
    "charged. Try again (or add `--no-brand`)."
)


def still_kept(image: BrandImage, now: float) -> bool:
    """Whether kie's copy of the image can be sent again now."""
    if not image.kie_url or image.kie_url_at is None:
        return False
    return now - image.kie_url_at < KIE_KEEPS_UPLOADS - REUSE_MARGIN


async def brand_urls(store: TaskStore, kie: KieClient, team_id: str, shas: list[str], now: float) -> list[str]:
    """kie's URLs of the brand images (by sha256, in order), uploading those kie may no longer keep and remembering
    their new URLs. An image gone from the store fails the task before anything is spent."""
    urls = []
    for sha in shas:
        image = await store.brand_image(team_id, sha)
        if image is None or image.data is None:
            raise TaskFailed("brand_image_gone", BRAND_IMAGE_GONE)
        if still_kept(image, now):
            urls.append(image.kie_url)
            continue
        extension = extension_of(image.mime)
        url = await kie.upload_image(
            image.data,
            file_name=f"brand-{sha[:16]}-{uuid.uuid4().hex[:8]}.{extension}",
            upload_path=BRAND_UPLOAD_PATH,
            mime_type=image.mime,
        )
        await store.remember_kie_url(team_id, sha, url, now)
        urls.append(url)
    return urls
