"""The sandbox: the whole app working on one machine, with no Slack workspace and no kie.ai key.

`banana-bot sandbox` starts the local kie.ai and Slack stand-ins as real servers, starts Banana between them in HTTP
mode, and plays a short conversation the way Slack would send it: a `/banana` command, a remix of a photo someone
posted, and the Home tab. It prints each progress edit as it happens, then leaves the images and an HTML page of the
simulated channel (messages, their edits, threads, images, the Home tab) in an output folder.

`script` plays the conversation; `page` renders what the Slack stand-in recorded, and does not import `script`.
"""

from banana.sandbox.script import FAST, SandboxError, SandboxResult, Timings, run_cli, run_sandbox

__all__ = ["FAST", "SandboxError", "SandboxResult", "Timings", "run_cli", "run_sandbox"]
