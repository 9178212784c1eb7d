"""A concise console progress logger for headless runs (`kpi run`, `kpi backfill`, `kpi demo`).

Dagster's console logger prints every engine event; on a server one wants one line per step with
its duration and the steps' own messages. Disabled unless the run config enables it, so runs
launched from the UI keep Dagster's default logs only.
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


class _ProgressHandler(logging.Handler):
    def __init__(self, stream=None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        self.started: dict[str, float] = {}
        self.done = 0

    def _say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = (meta.get("step_key") or "").replace("__", "/")
        message = meta.get("orig_message") or record.getMessage()
        if event is None:
            if record.levelno >= logging.INFO:
                self._say(f"    {step + ': ' if step else ''}{message}")
            return
        kind = event.event_type_value
        if kind in _QUIET_EVENTS:
            return
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            self._say(f"  ▶ {step}")
        elif kind == "STEP_SUCCESS":
            self.done += 1
            seconds = time.monotonic() - self.started.get(step, time.monotonic())
            self._say(f"  ✓ {step}  ({seconds:.1f} s, {self.done} step(s) done)")
        elif kind == "STEP_FAILURE":
            self._say(f"  ✗ {step} failed: {message}")
        elif kind == "STEP_SKIPPED":
            self._say(f"  - {step} skipped (an upstream step failed or a blocking check failed)")
        elif kind in ("PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE", "STEP_UP_FOR_RETRY"):
            self._say(f"  {message}")


@dg.logger(
    config_schema={"enabled": dg.Field(bool, default_value=False)},
    description="One line per step with its duration (enabled by the kpi CLI).",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("kpi.progress", level=logging.DEBUG)
    if init_context.logger_config["enabled"]:
        logger.addHandler(_ProgressHandler())
    return logger


def cli_run_config() -> dict:
    """Run config for headless runs: quiet Dagster console, our progress lines on."""
    return {
        "loggers": {
            "console": {"config": {"log_level": "WARNING"}},
            "progress": {"config": {"enabled": True}},
        }
    }
