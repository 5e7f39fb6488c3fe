"""What people ask in words, turned into an answer or a started task. The `/banana` command and a message in the DM
with Banana read the same words the same way (`read_words`), start a prompt the same way (`start_prompt`), and an
edit in a result's thread starts the same way from a mention, a reply or the DM (`start_edit`)."""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.blocks import studio
from bot.blocks.usage import balance_text, usage_text
from bot.clients.kie import KieError
from bot.clients.kie_keys import KeyGone
from bot.jobs.threads import Picked, pick_parent
from bot.services import Services
from bot.services.starter import Refused
from prompts.command import checked, mentions_options, parse_command_text
from prompts.options import CommandError, GenerationRequest, InputFile
from prompts.studio import KINDS
from prompts.tasks import Origin, Task

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
# Emoji as Slack writes them in a message's text (`:tada:`, `:+1::skin-tone-2:`).
_EMOJI = re.compile(r":[a-z0-9_+'-]+:")
# A greeting or a thanks on its own is not a request for an image of it (a first "hi" in the DM must cost nothing).
_SMALL_TALK = frozenset({"hi", "hello", "hey", "thanks", "thank you", "thx", "ty", "ok", "okay", "cool", "nice"})


class Asked(enum.Enum):
    HELP = "help"
    USAGE = "usage"
    PROMPTS = "prompts"  # the workspace's saved prompts, `rest` the words to find
    STUDIO = "studio"  # the prompt studio's form for `kind`, `rest` its notes
    NOTHING = "nothing"  # no words at all
    PROMPT = "prompt"  # an image to make, `rest` the whole text with its options


@dataclass(frozen=True)
class Words:
    asked: Asked
    rest: str = ""
    kind: str = ""  # the studio's kind, for Asked.STUDIO


def read_words(text: str) -> Words:
    """What `/banana <text>` (or the same text in the DM) asks for."""
    text = text.strip()
    if text.lower() in HELP_WORDS:
        return Words(Asked.HELP)
    if text.lower() == "usage":
        return Words(Asked.USAGE)
    word, rest = _first_word(text)
    # The prompt studio's forms choose the options, so text with options (`quote card --no text`) is a plain prompt.
    if word in KINDS and not mentions_options(rest):
        return Words(Asked.STUDIO, rest, kind=word)
    if word == "prompts" and not mentions_options(rest):
        return Words(Asked.PROMPTS, rest.strip())
    if not text:
        return Words(Asked.NOTHING)
    return Words(Asked.PROMPT, text)


def _first_word(text: str) -> tuple[str, str]:
    """The first word, in lower case, and the rest, whose line breaks are kept (notes and roles come one a line)."""
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    return word.lower(), text.strip()[len(word) :].strip()


def says_something(text: str) -> bool:
    """Whether a message's words could be a prompt: not only emoji, punctuation or a greeting."""
    bare = _EMOJI.sub(" ", text)
    if not any(character.isalnum() for character in bare):
        return False
    return " ".join(re.sub(r"[^\w\s]", " ", bare.lower()).split()) not in _SMALL_TALK


async def start_prompt(
    services: Services,
    text: str,
    origin: Origin,
    *,
    inputs: tuple[InputFile, ...] = (),
    source: str = "command",
    admitted: Callable[[], Awaitable[object]] | None = None,
) -> Task | Refused:
    """A prompt with the command's options, started; with `inputs`, a remix of them (a remix of one of Banana's own
    results records it as its parent). Raises CommandError when the words are not a request."""
    request = parse_command_text(text, await services.defaults_for(origin.team_id))
    if inputs:
        parent = await remixed_task(services, origin.team_id, inputs)
        request = checked(
            dataclasses.replace(
                request,
                inputs=inputs,
                parent_task_id=parent,
                relation="remix" if parent else None,
            )
        )
    return await services.starter.start(dataclasses.replace(request, source=source), origin, admitted=admitted)


async def remixed_task(services: Services, team_id: str, images: tuple[InputFile, ...]) -> int | None:
    """The task whose result is among `images` (the first found, in this workspace), for a remix's parent."""
    for image in images:
        parent = await services.store.by_file_id(team_id, image.id)
        if parent is not None:
            return parent.id
    return None


async def start_edit(services: Services, thread: list[Task], picked: Picked, origin: Origin, *, source: str) -> str:
    """The edit `picked` asks for in `thread` (its Banana tasks, oldest first), started; returns what to tell the
    person when it could not start, or "" when it did."""
    parent = pick_parent(thread, picked.number)
    if isinstance(parent, str):
        return parent
    try:
        asked = parse_command_text(picked.text, parent.options)
        request = checked(
            dataclasses.replace(
                asked,
                avoid=asked.avoid or parent.avoid,
                parent_task_id=parent.id,
                relation="edit",
                source=source,
            )
        )
    except CommandError as error:
        return f":warning: {error}"
    started = await services.starter.start(request, origin)
    return f":no_entry: {started.reason}" if isinstance(started, Refused) else ""


def again_request(
    task: Task, *, relation: str, resolution: str | None = None, fresh: bool = False, count: int = 1
) -> GenerationRequest:
    """A task's request once more (prompt, options, input images) as a button asks for it: regenerate, upscale, retry,
    variations. Raises CommandError for a row from an older version that today's rules refuse."""
    asked = task.request
    parent_id = task.id
    if task.is_upscale and relation == "variation" and task.slack_file_id:
        # variations of an upscaled image are drawn by Nano Banana Pro from that image, not upscaled again
        image = InputFile(id=task.slack_file_id, name=f"result of #{task.id}")
        asked = GenerationRequest(prompt=task.prompt, options=task.options, avoid=task.avoid, inputs=(image,))
    if task.relation == "edit" and not task.input_files and task.parent_task_id:
        # an edit that never got its parent's image (the parent failed, or was still running when it was cancelled):
        # again is the same edit of the same image, not a plain prompt
        parent_id, relation = task.parent_task_id, "edit"
    return checked(
        dataclasses.replace(
            asked,
            options=dataclasses.replace(asked.options, resolution=resolution or asked.options.resolution),
            parent_task_id=parent_id,
            relation=relation,
            fresh=fresh,
            source="button",
            count=count,
        )
    )


async def saved_prompts_answer(services: Services, team_id: str, search: str) -> dict[str, Any]:
    """`prompts [words]`: the message listing the workspace's saved prompts."""
    shown = studio.SAVED_PROMPTS_SHOWN
    found = await services.store.list_prompts(team_id, limit=shown + 1, contains=search)
    return studio.saved_prompts_message(found, search=search, more=len(found) > shown)


async def usage_answer(services: Services, team_id: str, user_id: str) -> str:
    """`usage`: the person's and the workspace's spend and limits; for those who may change the workspace's settings,
    its own kie.ai key's balance, or else, for the operator's admins, the operator's balance."""
    report = await services.budget.report(team_id, user_id)
    return usage_text(report, balance=await _balance(services, team_id, user_id))


async def _balance(services: Services, team_id: str, user_id: str) -> str | None:
    own = await services.kie_keys.current(team_id)
    if own is not None:
        workspaces = services.workspaces
        if workspaces is None or not await workspaces.may_change(team_id, user_id):
            return None
        whose = f"this workspace's own key …{own.last4}: "
    elif services.budget.may_see_balance(team_id, await services.slack.team(team_id).is_admin(user_id)):
        whose = ""
    else:
        return None
    try:
        credits = await services.kie_keys.balance(team_id) if own else await services.kie.get_credits()
    except KieError as error:
        log.warning("could not read the kie.ai balance: %s", error)
        return f"{whose}could not be read just now. {error.summary}"
    except KeyGone:  # removed since it was read a moment ago
        return None
    if credits is None:
        return None
    resolution = (await services.defaults_for(team_id)).resolution
    return whose + balance_text(credits, services.settings.prices, resolution)
