"""The sandbox: the whole app working on one machine, with no Slack workspace and no kie.ai key.

`banana-bot sandbox` starts the local kie.ai and Slack stand-ins as real servers, starts Banana between them in HTTP
mode, and plays a short conversation the way Slack would send it: a `/banana` command, an edit in its thread, a remix
of a photo someone posted, the Home tab, then an admin's Settings and brand kit (colours and a logo image) and a studio
image that carries the logo to kie. It prints each progress edit as it happens, then leaves the images and an HTML page
of the simulated channel (messages, their edits, threads, images, the Home tabs, the forms) in an output folder.

`script` plays the conversation; `page` renders what the Slack stand-in recorded, and does not import `script`.
"""

from banana.sandbox.script import FAST, SandboxError, SandboxResult, Timings, run_cli, run_sandbox

__all__ = ["FAST", "SandboxError", "SandboxResult", "Timings", "run_cli", "run_sandbox"]
