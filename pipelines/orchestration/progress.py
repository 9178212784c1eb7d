"""Console output of headless runs (`kpi run`, `kpi backfill`, `kpi demo`).

Default: one progress bar — redrawn in place on a terminal, a line at every fifth of the way
otherwise (cron mails, CI logs) — plus a one-line message for each failed step; everything else the
run prints (dbt's own lines, library warnings) goes to the run's log file (see
``pipelines.orchestration.runner.run_nightly``), and the CLI prints a summary at the end (≤ 40 lines). With
``-v`` (verbose): one line per step start and end with its duration, and every message the steps log
(dbt's own lines included) on the console.

Disabled unless the run config enables it, so runs launched from the UI keep Dagster's logs only.
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

_QUIET_EVENTS = {"STEP_OUTPUT", "HANDLED_OUTPUT", "LOADED_INPUT", "STEP_INPUT", "ASSET_MATERIALIZATION",
                 "ASSET_CHECK_EVALUATION", "ASSET_CHECK_EVALUATION_PLANNED", "LOGS_CAPTURED",
                 "RESOURCE_INIT_STARTED", "RESOURCE_INIT_SUCCESS", "ENGINE_EVENT", "STEP_WORKER_STARTING",
                 "STEP_WORKER_STARTED", "ASSET_MATERIALIZATION_PLANNED", "PIPELINE_STARTING",
                 "PIPELINE_ENQUEUED", "ASSET_OBSERVATION"}
BAR_WIDTH = 30
#: Where the bar is drawn: the console the CLI was started on, set by ``console()`` while the run's
#: own stdout goes to its log file. Shared by every handler instance (Dagster makes several per run).
_CONSOLE: dict = {"stream": None, "bar_open": False}


class console:  # lower case: used as a context manager, like contextlib's
    """Within the block, progress output goes to ``stream`` (whatever ``sys.stdout`` becomes)."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def __enter__(self) -> None:
        _CONSOLE.update(stream=self.stream, bar_open=False)

    def __exit__(self, *exc: object) -> None:
        if _CONSOLE["bar_open"]:
            self.stream.write("\n")
            self.stream.flush()
        _CONSOLE.update(stream=None, bar_open=False)


class _ProgressHandler(logging.Handler):
    def __init__(self, *, verbose: bool = True, total_steps: int = 0) -> None:
        super().__init__()
        self.verbose = verbose
        self.total = max(0, total_steps)
        self.started: dict[str, float] = {}
        self.done = 0
        self.shown_fifth = -1

    @property
    def stream(self):
        return _CONSOLE["stream"] or sys.stdout

    def _say(self, text: str) -> None:
        if _CONSOLE["bar_open"]:  # finish the bar's line before another line
            self.stream.write("\n")
            _CONSOLE["bar_open"] = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _bar(self, current: str) -> None:
        total = max(self.total, self.done, 1)
        filled = int(BAR_WIDTH * self.done / total)
        line = f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{total} steps  {current}"
        if getattr(self.stream, "isatty", lambda: False)():
            self.stream.write("\r" + line[:110].ljust(110))
            self.stream.flush()
            _CONSOLE["bar_open"] = True
            return
        fifth = (5 * self.done) // total
        if fifth > self.shown_fifth:
            self.shown_fifth = fifth
            self._say(line)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = (meta.get("step_key") or "").replace("__", "/")
        message = meta.get("orig_message") or record.getMessage()
        if event is None:
            if self.verbose and record.levelno >= logging.INFO:
                self._say(f"    {step + ': ' if step else ''}{message}")
            return
        kind = event.event_type_value
        if kind in _QUIET_EVENTS:
            return
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            if self.verbose:
                self._say(f"  ▶ {step}")
            else:
                self._bar(step)
        elif kind == "STEP_SUCCESS":
            self.done += 1
            if self.verbose:
                seconds = time.monotonic() - self.started.get(step, time.monotonic())
                self._say(f"  ✓ {step}  ({seconds:.1f} s, {self.done} step(s) done)")
            else:
                self._bar(step)
        elif kind == "STEP_FAILURE":
            self.done += 1
            first = message.strip().splitlines()[0] if message.strip() else ""
            self._say(f"  ✗ {step} failed: {message if self.verbose else first[:300]}")
        elif kind == "STEP_SKIPPED":
            if self.verbose:
                self._say(f"  - {step} skipped (an upstream step failed or a blocking check failed)")
        elif kind in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
            if self.verbose:
                self._say(f"  {message}")
        elif kind in ("PIPELINE_START", "STEP_UP_FOR_RETRY") and self.verbose or kind == "STEP_UP_FOR_RETRY":
            self._say(f"  {message}")


@dg.logger(
    config_schema={"enabled": dg.Field(bool, default_value=False),
                   "verbose": dg.Field(bool, default_value=True),
                   "total_steps": dg.Field(int, default_value=0)},
    description="A progress bar (or one line per step with its duration, verbose) for the kpi CLI.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("kpi.progress", level=logging.DEBUG)
    config = init_context.logger_config
    if config["enabled"]:
        logger.addHandler(_ProgressHandler(verbose=config["verbose"], total_steps=config["total_steps"]))
    return logger


def cli_run_config(*, verbose: bool = True, total_steps: int = 0) -> dict:
    """Run config for headless runs: quiet Dagster console, our progress output on."""
    return {
        "loggers": {
            "console": {"config": {"log_level": "WARNING" if verbose else "CRITICAL"}},
            "progress": {"config": {"enabled": True, "verbose": verbose, "total_steps": total_steps}},
        }
    }
