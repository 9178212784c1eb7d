"""Small helpers shared by the demo generator: random streams, time arithmetic, formatting, files.

Time inside the generator is plain ``int64`` seconds since 1970-01-01. A *local* value is the
company's wall-clock time read as if it were UTC; a *utc* value is the real instant. Conversions go
through :class:`Clock`, which knows the company timezone (DST-safe to the hour).
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np


class DemoConfigError(ValueError):
    """Bad parameters or input files for the generator (the message names what is wrong)."""


DAY = 86_400
HOUR = 3_600
EPOCH = date(1970, 1, 1)


def rng_for(seed: int, *names: str | int) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, component name...).

    Streams are keyed by name, so adding or reordering draws in one component never shifts another.
    """
    key = [zlib.crc32(str(n).encode("utf-8")) for n in names]
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=key))


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def from_day_number(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


@dataclass
class Clock:
    """Local wall-clock seconds <-> UTC seconds for one IANA timezone."""

    timezone: str
    _cache_l2u: dict[int, int] = field(default_factory=dict, repr=False)
    _cache_u2l: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.timezone)

    def _offset_local(self, hour: int) -> int:
        off = self._cache_l2u.get(hour)
        if off is None:
            naive = datetime(1970, 1, 1) + timedelta(hours=hour)
            off = int(naive.replace(tzinfo=self.tz).utcoffset().total_seconds())  # type: ignore[union-attr]
            self._cache_l2u[hour] = off
        return off

    def _offset_utc(self, hour: int) -> int:
        off = self._cache_u2l.get(hour)
        if off is None:
            instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=hour)
            off = int(instant.astimezone(self.tz).utcoffset().total_seconds())  # type: ignore[union-attr]
            self._cache_u2l[hour] = off
        return off

    def offsets_local(self, local: np.ndarray) -> np.ndarray:
        """UTC offset (seconds) in force at each local wall-clock time."""
        local = np.asarray(local, dtype=np.int64)
        if local.size == 0:
            return np.zeros(0, dtype=np.int64)
        hours, inverse = np.unique(local // HOUR, return_inverse=True)
        offs = np.array([self._offset_local(int(h)) for h in hours], dtype=np.int64)
        return offs[inverse.reshape(local.shape)]

    def to_utc(self, local: np.ndarray) -> np.ndarray:
        local = np.asarray(local, dtype=np.int64)
        return local - self.offsets_local(local)

    def to_local(self, utc: np.ndarray) -> np.ndarray:
        utc = np.asarray(utc, dtype=np.int64)
        if utc.size == 0:
            return utc.copy()
        hours, inverse = np.unique(utc // HOUR, return_inverse=True)
        offs = np.array([self._offset_utc(int(h)) for h in hours], dtype=np.int64)
        return utc + offs[inverse.reshape(utc.shape)]

    def local_midnight_utc(self, d: date) -> int:
        """UTC seconds of local 00:00 on business date ``d``."""
        return int(self.to_utc(np.array([day_number(d) * DAY]))[0])


# --- formatting ----------------------------------------------------------------------------------

NAT = np.iinfo(np.int64).min  # "no value" marker for int64 second arrays


def fmt_ts(seconds: np.ndarray, sep: str = " ", suffix: str = "") -> np.ndarray:
    """``YYYY-MM-DD HH:MM:SS`` strings (numpy ``str_`` array); NAT -> empty string."""
    seconds = np.asarray(seconds, dtype=np.int64)
    missing = seconds == NAT
    has_missing = bool(missing.any())
    vals = (np.where(missing, 0, seconds) if has_missing else seconds).astype("datetime64[s]")
    out = np.datetime_as_string(vals, unit="s")
    if sep != "T" and out.size:
        view = out.view(np.uint32).reshape(out.size, -1)
        view[:, 10] = ord(sep)
    if suffix:
        out = np.strings.add(out, suffix)
    if has_missing:
        out[missing] = ""
    return out


def fmt_date(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` strings from day numbers; NAT -> empty string."""
    days = np.asarray(days, dtype=np.int64)
    missing = days == NAT
    out = np.datetime_as_string(np.where(missing, 0, days).astype("datetime64[D]"), unit="D")
    if missing.any():
        out[missing] = ""
    return out


def fmt_offset(offsets: np.ndarray) -> np.ndarray:
    """``+08:00`` strings from offsets in seconds."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.size == 0:
        return np.array([], dtype=str)
    sign = np.where(offsets < 0, "-", "+")
    a = np.abs(offsets)
    hh = np.strings.zfill((a // HOUR).astype(str), 2)
    mm = np.strings.zfill(((a % HOUR) // 60).astype(str), 2)
    return np.strings.add(np.strings.add(np.strings.add(sign, hh), ":"), mm)


def fmt_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``P0001``-style identifiers."""
    if np.asarray(numbers).size == 0:
        return np.array([], dtype=str)
    nums = np.strings.zfill(np.asarray(numbers, dtype=np.int64).astype(str), width)
    return np.strings.add(prefix, nums)


def to_list(values: np.ndarray, none_mask: np.ndarray | None = None) -> list:
    """Python list for database drivers; positions in ``none_mask`` become ``None``."""
    out = values.tolist()
    if none_mask is not None and none_mask.any():
        for i in np.flatnonzero(none_mask).tolist():
            out[i] = None
    return out


# --- files ---------------------------------------------------------------------------------------


def tmp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers only ever see the complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def choice_by_weights(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with probability proportional to ``weights`` (vectorised)."""
    cum = np.cumsum(np.asarray(weights, dtype=float))
    return np.searchsorted(cum, rng.random(size) * cum[-1], side="right").clip(0, len(cum) - 1)


def group_pick(
    group: np.ndarray, u: np.ndarray, pools: list[np.ndarray]
) -> np.ndarray:
    """For each row, pick ``pools[group][floor(u * len)]`` (vectorised over a padded matrix)."""
    width = max((len(p) for p in pools), default=1) or 1
    mat = np.full((len(pools), width), -1, dtype=np.int64)
    sizes = np.zeros(len(pools), dtype=np.int64)
    for i, p in enumerate(pools):
        mat[i, : len(p)] = p
        sizes[i] = len(p)
    k = np.minimum((u * sizes[group]).astype(np.int64), np.maximum(sizes[group] - 1, 0))
    return mat[group, k]


def unique_sorted(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
