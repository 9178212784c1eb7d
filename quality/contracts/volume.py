"""Volume expectations: a partition's row count against the median of recent partitions.

A warning for the load log and the quality report, never a reason to quarantine rows.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from quality.contracts.model import Contract


def volume_warning(contract: Contract, rows_read: int, recent_counts: Sequence[int]) -> str | None:
    """A sentence when ``rows_read`` is far from the recent median, else None."""
    rule = contract.volume
    if rule is None:
        return None
    history = [n for n in recent_counts[-rule.lookback:] if n > 0]
    if len(history) < rule.min_history:
        return None
    median = statistics.median(history)
    if median < rule.min_median:
        return None
    if rows_read < rule.low * median or rows_read > rule.high * median:
        return (
            f"volume: {rows_read} rows vs a median of {median:g} over the last {len(history)} "
            f"non-empty partitions (expected {rule.low:g}×–{rule.high:g}× the median)"
        )
    return None
