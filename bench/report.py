"""The results as a table (for the terminal and for BENCHMARKS.md), with the targets from issue 7."""

from __future__ import annotations

import os
import platform
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.scenarios import FixedFigures, Outcome, RemixFigures
from bench.stack import percentile


@dataclass(frozen=True)
class Row:
    measurement: str
    result: str
    target: str = ""
    met: bool | None = None  # None: for information only

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("yes" if self.met else "NO")


def machine() -> dict[str, str]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    memory = first("/proc/meminfo", "MemTotal")
    gib = f"{int(memory.split()[0]) / 1024 / 1024:.1f} GiB" if memory != "unknown" else memory
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": first("/proc/cpuinfo", "model name"),
        "memory": gib,
        "python": sys.version.split()[0],
        "os": platform.platform(),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def pair(values: list[float]) -> str:
    """p50 / p99, in ms or s."""
    if not values:
        return "no samples"
    return f"{ms(percentile(values, 0.5))} / {ms(percentile(values, 0.99))}"


def rows(results: dict[str, Outcome], *, long_seconds: float) -> list[Row]:
    out: list[Row] = []
    ack = results.get("ack")
    if ack:
        out.append(
            Row(
                f"ack latency p50 / p99, {ack.tasks} commands in {ack.sent.seconds:.0f} s",
                pair(ack.sent.latencies),
                "p99 ≤ 100 ms",
                percentile(ack.sent.latencies, 0.99) <= 0.100 and ack.sent.plain == ack.tasks,
            )
        )
    for mode in ("callbacks", "polling"):
        found = results.get(f"delivery-{mode}")
        if not found:
            continue
        target = 0.25 if mode == "callbacks" else found.poll_interval / 2 + 0.25
        out.append(
            Row(
                f"delivery lag p50 / p99, {mode} ({found.delivered}/{found.tasks} tasks of {found.generation})",
                pair(found.lags),
                f"p50 ≤ {ms(target)}",
                bool(found.lags) and percentile(found.lags, 0.5) <= target and found.delivered == found.tasks,
            )
        )
    for mode, limit in (("polling", 10), ("callbacks", 2)):
        found = results.get(f"long-{mode}")
        if not found:
            continue
        worst = max(found.record_info, default=0)
        mean = sum(found.record_info) / max(1, len(found.record_info))
        out.append(
            Row(
                f"recordInfo calls per {long_seconds:.0f}-s task, {mode} (mean, worst of {len(found.record_info)})",
                f"{mean:.1f}, {worst}",
                f"≤ {limit}" if long_seconds == 60 else f"≤ {limit} per 60-s task",
                worst <= limit if long_seconds == 60 else None,
            )
        )
    # How far the card's "Done" trails its image: final edits go first in chat.update's budget.
    for key, fraction, seconds in (
        ("steady-polling", 0.99, 2.0),
        ("delivery-polling", 0.5, 5.0),
        ("delivery-callbacks", 0.5, 5.0),
    ):
        found = results.get(key)
        if not found:
            continue
        label = f"{found.tasks} tasks in {found.sent.seconds:.0f} s" if key.startswith("steady") else key.split("-")[1]
        out.append(
            Row(
                f"card shows Done after the image arrived p50 / p99, {label}",
                pair(found.card_lags) + ("" if found.idle else " (some cards never did)"),
                f"p{round(fraction * 100)} ≤ {seconds:.0f} s",
                bool(found.card_lags) and found.idle and percentile(found.card_lags, fraction) <= seconds,
            )
        )
    for key, found in results.items():
        if found.fixed:
            out += poll_rows(found, found.fixed, targets=key != "poll-wide")
    for name, found in results.items():
        slack = sum(found.slack_429.values())
        detail = ", ".join(f"{method} {count}" for method, count in sorted(found.slack_429.items()))
        out.append(
            Row(
                f"429s received, {name} (Slack / kie)",
                f"{slack} / {found.kie_429}" + (f" ({detail})" if detail else ""),
                "0 / 0",
                slack == 0 and found.kie_429 == 0,
            )
        )
    for mode in ("polling", "callbacks"):
        load = results.get(f"load-{mode}")
        if not load:
            continue
        size = f"{load.result_bytes / 1024 / 1024:g} MB results" if load.result_bytes else "tiny results"
        label = f"{load.tasks:,} in flight, {mode}, {size}:"
        out.append(Row(f"{label} most tasks in flight at once", f"{load.peak_in_flight:,}", f"{load.tasks:,}"))
        out.append(
            Row(
                f"{label} delivered",
                f"{load.delivered:,}/{load.tasks:,} in {load.delivery_seconds:.0f} s",
                "all",
                load.delivered == load.tasks,
            )
        )
        rss = load.peak_rss_mb
        out.append(
            Row(
                f"{label} peak RSS of the app (VmHWM)",
                f"{rss:.0f} MB" if rss else "unknown",
                "< 250 MB",
                rss is not None and rss < 250,
            )
        )
        lag = load.loop
        out.append(
            Row(
                f"{label} event-loop lag p99 (max)",
                f"{lag.get('p99_ms', float('nan')):.0f} ms ({lag.get('max_ms', float('nan')):.0f} ms)",
                "≤ 100 ms",
                lag.get("p99_ms", float("inf")) <= 100,
            )
        )
        out.append(Row(f"{label} ack latency p50 / p99 during the burst", pair(load.sent.latencies)))
        out.append(Row(f"{label} cards still waiting for their final edit", f"{load.in_flight_after_delivery:,}"))
    found = results.get("remix")
    if found and found.remix:
        out += remix_rows(found, found.remix)
    return out


def poll_rows(app: Outcome, fixed: FixedFigures, *, targets: bool = True) -> list[Row]:
    """Issue 13: the app's polling against a plain poller reading every few seconds, on the same kind of tasks. The
    targets hold for the usual spread; for the wide one the rows say how both change, for information."""
    plain = f"fixed {fixed.interval:g} s"
    label = f"polling vs {plain}, kie {app.generation}:"
    app_reads = sum(app.record_info) / max(1, len(app.record_info))
    fixed_reads = sum(fixed.record_info) / max(1, len(fixed.record_info))
    app_p50, fixed_p50 = percentile(app.lags, 0.5), percentile(fixed.lags, 0.5)
    complete = app.delivered == app.tasks and fixed.seen == fixed.tasks
    refused = f" (kie refused {fixed.kie_429})" if fixed.kie_429 else ""
    ratio = app_reads / fixed_reads if fixed_reads else float("nan")
    return [
        Row(f"{label} delivery lag p50 / p99, banana ({app.delivered}/{app.tasks})", pair(app.lags)),
        Row(f"{label} delivery lag p50 / p99, {plain} ({fixed.seen}/{fixed.tasks})", pair(fixed.lags) + refused),
        Row(f"{label} reads per task (mean), banana / {plain}", f"{app_reads:.1f} / {fixed_reads:.1f}"),
        Row(
            f"{label} banana's lag p50 against {plain}'s",
            f"{ms(app_p50)} vs {ms(fixed_p50)}",
            f"≤ {plain}'s" if targets else "",
            (complete and bool(app.lags) and app_p50 <= fixed_p50) if targets else None,
        ),
        Row(
            f"{label} banana's reads per task against {plain}'s",
            f"{ratio:.0%}",
            "≤ 60%" if targets else "",
            (complete and ratio <= 0.6) if targets else None,
        ),
    ]


TIMES = "\N{MULTIPLICATION SIGN}"
KIE_INPUT_MIMES = ("image/jpeg", "image/png", "image/webp")
KIE_INPUT_MAX_BYTES = 30 * 1024 * 1024  # kie's limit per input image


def remix_rows(found: Outcome, remix: RemixFigures) -> list[Row]:
    megapixels = remix.photo_pixels[0] * remix.photo_pixels[1] / 1_000_000
    label = f"remix: {remix.remixes} {TIMES} {remix.photos} photos of {megapixels:.0f} MP at once:"
    times = remix.to_last_upload
    timing = f"{ms(percentile(times, 0.5))} / {ms(max(times))}" if times else "no samples"
    if len(times) < remix.remixes:
        timing += f" ({len(times)} of {remix.remixes} remixes reached kie)"
    rss, lag = found.peak_rss_mb, found.loop
    expected = remix.remixes * remix.photos
    uploads = remix.uploads
    fits = all(u["bytes"] <= KIE_INPUT_MAX_BYTES and u["mime"] in KIE_INPUT_MIMES for u in uploads)
    reached = f"{len(uploads)}/{expected}, {remix.delivered}/{remix.remixes} delivered"
    if remix.forms_opened < remix.remixes or remix.submitted < remix.remixes:
        reached += f" ({remix.forms_opened} forms opened, {remix.submitted} submitted)"
    return [
        Row(f"{label} submission to last kie upload p50 / max", timing),
        Row(
            f"{label} peak RSS of the app (VmHWM)",
            f"{rss:.0f} MB" if rss else "unknown",
            "< 250 MB",
            rss is not None and rss < 250,
        ),
        Row(
            f"{label} event-loop lag p99 (max)",
            f"{lag.get('p99_ms', float('nan')):.0f} ms ({lag.get('max_ms', float('nan')):.0f} ms)",
            "≤ 100 ms",
            lag.get("p99_ms", float("inf")) <= 100,
        ),
        Row(
            f"{label} uploads reaching kie",
            reached,
            "all, each ≤ 30 MB",
            len(uploads) == expected and remix.delivered == remix.remixes and fits,
        ),
        Row(f"{label} what kie received", received(remix)),
    ]


def received(remix: RemixFigures) -> str:
    """kie's view of the uploads: their kinds, sizes and pixels, against the photos as posted."""
    uploads = remix.uploads
    if not uploads:
        return "nothing"
    kinds = Counter(str(u["mime"]).removeprefix("image/").upper() for u in uploads)
    sizes = sorted(u["bytes"] / 1024 / 1024 for u in uploads)
    pixels = Counter(TIMES.join(map(str, u["pixels"])) if u["pixels"] else "unreadable" for u in uploads)
    posted = sum(remix.photo_bytes) / len(remix.photo_bytes) / 1024 / 1024
    return (
        ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
        + f", {sizes[0]:.1f}-{sizes[-1]:.1f} MB ({posted:.1f} MB posted), "
        + ", ".join(f"{count} of {size}" for size, count in pixels.most_common())
    )


def slack_calls(results: dict[str, Outcome]) -> tuple[list[str], list[list[str]]]:
    """Slack Web API calls per task, by method, for the delivery runs (one column per mode)."""
    runs = [(mode, results[f"delivery-{mode}"]) for mode in ("polling", "callbacks") if f"delivery-{mode}" in results]
    methods = sorted({method for _, found in runs for method in found.slack_calls})
    headers = ["Slack calls per task", *(f"{mode} ({found.tasks} tasks)" for mode, found in runs)]
    body = [[method, *(f"{found.slack_calls.get(method, 0):.2f}" for _, found in runs)] for method in methods]
    return headers, body


def text_table(headers: list[str], body: list[list[str]]) -> str:
    cells = [headers, *body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def main_table(found: list[Row]) -> tuple[list[str], list[list[str]]]:
    return ["measurement", "result", "target", "met"], [[r.measurement, r.result, r.target, r.verdict] for r in found]


def text(found: list[Row], results: dict[str, Outcome]) -> str:
    return text_table(*main_table(found)) + "\n\n" + text_table(*slack_calls(results))


def markdown(found: list[Row], results: dict[str, Outcome], host: dict[str, str], command: str) -> str:
    return (
        f"Measured {host['date']} with `{command}` on {host['cpus']} CPUs ({host['cpu']}), {host['memory']} RAM, "
        f"Python {host['python']}, {host['os']}.\n\n"
        + markdown_table(*main_table(found))
        + "\n\n"
        + markdown_table(*slack_calls(results))
        + "\n"
    )
