"""The causal loop of the calendar-aware KPI detector, from named parts.

:func:`run_panel` walks the points of S aligned series in time order (vectorised over the
series). At each point, :class:`KpiEngine`

1. **expects** (``_expect``): level (:class:`~pipelines.analytics.kpi_parts.LevelWindow`) + weekday
   profile (:class:`~pipelines.analytics.kpi_parts.CalendarProfile`) + day-of-month effect
   (:class:`~pipelines.analytics.kpi_parts.DayEffects`) or the holiday expectation
   (:class:`~pipelines.analytics.kpi_parts.HolidayEffects`), with the scale of the recent residuals
   (:class:`~pipelines.analytics.kpi_parts.ResidualScale`);
2. **counts** (``_count``): for series with counts, the expected count and its calibrated z-score
   (:class:`~pipelines.analytics.kpi_parts.CountProfile`);
3. **returns** (``_revert``): a learned shift the series came back from is undone silently;
4. **flags** (``_flags``): big scores, dropouts (:class:`~pipelines.analytics.kpi_parts.ZeroRates`)
   and sustained shifts (:class:`ShiftTracker`: a CUSUM, points held back while it is open, a new
   level learned from a shift that lasts);
5. **trains** (``_train``): only points judged normal (and an accepted shift's points) feed the
   parts.

The algorithm and its reasoning are in ``docs/anomaly_detection.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.analytics._robust import nanmedian_last
from pipelines.analytics.calendar import CalendarFeatures
from pipelines.analytics.count_model import count_quantile, count_z
from pipelines.analytics.kpi_parts import (
    CalendarProfile,
    CountProfile,
    DayEffects,
    HolidayEffects,
    LevelWindow,
    PendingQueue,
    PointRecord,
    ResidualScale,
    Transform,
    ZeroRates,
    count_factor,
)
from pipelines.analytics.level import long_run_factor

ST_OK, ST_ANOMALY, ST_NO_HISTORY, ST_MISSING, ST_EXCLUDED, ST_HOLIDAY_NO_HISTORY, ST_SPARSE = range(7)


@dataclass
class EngineOutput:
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    status: np.ndarray
    flag: np.ndarray
    near_zero: np.ndarray
    alarm: np.ndarray
    event: np.ndarray
    event_end: dict[int, int] = field(default_factory=dict)

    @staticmethod
    def empty(s_n: int, t_n: int) -> EngineOutput:
        shape = (s_n, t_n)
        return EngineOutput(
            expected=np.full(shape, np.nan), lower=np.full(shape, np.nan), upper=np.full(shape, np.nan),
            score=np.full(shape, np.nan), status=np.full(shape, ST_MISSING, dtype=np.int8),
            flag=np.zeros(shape, dtype=bool), near_zero=np.zeros(shape, dtype=bool),
            alarm=np.zeros(shape, dtype=bool), event=np.full(shape, -1, dtype=np.int64),
        )


class EventTracker:
    """Event ids: flags of one direction at most ``gap`` points apart, or of one alarm, share one."""

    def __init__(self, s_n: int, gap: int, out: EngineOutput):
        self.gap, self.out = gap, out
        self.cur = np.full(s_n, -1, dtype=np.int64)
        self.sign = np.zeros(s_n, dtype=np.int64)
        self.last = np.full(s_n, -(10**9), dtype=np.int64)
        self.t0 = np.full(s_n, -1, dtype=np.int64)  # first point of the current event
        self.next = 0

    def record(self, t: int, flag: np.ndarray, sign: np.ndarray, near_zero: np.ndarray,
               forced: np.ndarray) -> np.ndarray:
        """Record the flags of step t; returns their event ids (-1 where not flagged)."""
        self.out.flag[:, t] = flag
        self.out.near_zero[:, t] = near_zero & flag
        same = flag & (self.cur >= 0) & (sign == self.sign) & (t - self.last <= self.gap + 1)
        ev = np.where(forced >= 0, forced, np.where(same, self.cur, -2))
        ev = np.where(flag, ev, -1)
        new = np.nonzero(ev == -2)[0]
        if new.size:
            ev[new] = np.arange(self.next, self.next + new.size)
            self.next += new.size
            self.t0[new] = t
        self.out.event[:, t] = ev
        self.cur[flag] = ev[flag]
        self.last[flag] = t
        self.sign[flag] = np.where(sign[flag] != 0, sign[flag], self.sign[flag])
        return ev


class RecentScores:
    """The clipped scores of the last ``size`` points judged normal, with their time, per series."""

    def __init__(self, s_n: int, size: int):
        self.x = np.full((s_n, size), np.nan)
        self.t = np.full((s_n, size), -10, dtype=np.int64)
        self.n = np.zeros(s_n, dtype=np.int64)

    def push(self, rows: np.ndarray, x: np.ndarray, t: int) -> None:
        if rows.size == 0:
            return
        slot = self.n[rows] % self.x.shape[1]
        self.x[rows, slot] = x
        self.t[rows, slot] = t
        self.n[rows] += 1

    def correlation(self) -> np.ndarray:
        """(S,) lag-one autocorrelation over pairs of consecutive points (0 with fewer than 20)."""
        order = np.argsort(self.t, axis=1)
        t = np.take_along_axis(self.t, order, axis=1)
        x = np.take_along_axis(self.x, order, axis=1)
        pair = (t[:, 1:] - t[:, :-1] == 1) & np.isfinite(x[:, 1:]) & np.isfinite(x[:, :-1])
        a = np.where(pair, x[:, :-1], np.nan)
        b = np.where(pair, x[:, 1:], np.nan)
        n = pair.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ma = np.nansum(a, axis=1) / n
            mb = np.nansum(b, axis=1) / n
            da, db = np.nan_to_num(a - ma[:, None]), np.nan_to_num(b - mb[:, None])
            r = (da * db).sum(axis=1) / np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
        return np.where((n >= 20) & np.isfinite(r), r, 0.0)


class ShiftTracker:
    """The CUSUM of clipped scores, its alarm, and what a shift that lasts changes.

    ``up``/``down``: the two CUSUM sides; an alarm opens at ``cusum_h`` (per series); points of an
    alarm's side are flagged; it ends after ``alarm_quiet`` judged points without a flag. After
    ``shift_accept`` flags (``dropout_accept`` for a dropout), the last ``accept_run`` of them in a
    row, the alarm becomes the new level; for ``revert_window`` points afterwards a return to the old
    level (``rev_*``) restores it."""

    def __init__(self, s_n: int, p: object):
        self.p = p
        z = np.zeros
        self.up, self.down = z(s_n), z(s_n)
        self.start = np.full(s_n, -1, dtype=np.int64)
        self.sign, self.length, self.nz = (z(s_n, dtype=np.int64) for _ in range(3))
        self.quiet, self.run = z(s_n, dtype=np.int64), z(s_n, dtype=np.int64)
        self.event = np.full(s_n, -1, dtype=np.int64)
        self.t0 = np.full(s_n, -1, dtype=np.int64)
        self.rev_until = np.full(s_n, -1, dtype=np.int64)
        self.rev_level, self.rev_q, self.rev_llr = np.full(s_n, np.nan), np.full(s_n, np.nan), z(s_n)
        self.rev_start, self.rev_prev, self.rev_sign = (z(s_n, dtype=np.int64) for _ in range(3))
        self.rev_event = np.full(s_n, -1, dtype=np.int64)
        self.normal = RecentScores(s_n, 56)
        self.long_run = np.ones(s_n)
        self.rho_due = 0

    def update(self, t: int, judged: np.ndarray, cs: np.ndarray, cus_h: np.ndarray, rel: np.ndarray,
               near_zero: np.ndarray, big: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Feed the clipped scores ``cs``; returns (flagged as part of an alarm, a new alarm).

        The CUSUM accumulates ``cs`` divided by the long-run factor √((1 + ρ)/(1 − ρ)) of the
        series' recent *normal* scores (ρ: their lag-one autocorrelation): a series whose normal
        deviations come in runs (a staircase headcount, a slowly drifting rate) does not raise a
        shift alarm for a run that is just how it moves. Points beyond the threshold (``big``) count
        in full: a step far outside the band is a shift however the series usually moves."""
        p = self.p
        if p.cusum_autocorrelation and t >= self.rho_due:
            self.rho_due = t + 7
            self.long_run = long_run_factor(self.normal.correlation())
        cs = np.where(big, cs, cs / self.long_run) if big is not None else cs / self.long_run
        up_new = np.where(judged, np.maximum(0.0, self.up + cs - p.cusum_k), self.up)
        dn_new = np.where(judged, np.maximum(0.0, self.down - cs - p.cusum_k), self.down)
        opened = judged & (self.up == 0) & (self.down == 0) & ((up_new > 0) | (dn_new > 0))
        self.start[opened] = t
        self.up, self.down = up_new, dn_new
        new = judged & (self.sign == 0) & ((self.up >= cus_h) | (self.down >= cus_h))
        self.sign[new] = np.where(self.up[new] >= self.down[new], 1, -1)
        self.length[new] = 0
        self.quiet[new] = 0
        self.nz[new] = 0
        on = judged & (self.sign != 0)
        side = np.where(self.sign > 0, self.up, self.down)
        flag = on & (side > 0) & (cs * self.sign > p.cusum_k) & (rel >= p.min_relative_deviation)
        self.quiet[:] = np.where(on, np.where(flag, 0, self.quiet + 1), self.quiet)
        self.run[:] = np.where(flag, self.run + 1, 0)
        self.length[flag] += 1
        self.nz[flag & near_zero] += 1
        return flag, new

    def open(self) -> np.ndarray:
        return (self.up > 0) | (self.down > 0) | (self.sign != 0)

    def clear(self, rows: np.ndarray) -> None:
        self.up[rows] = 0.0
        self.down[rows] = 0.0
        self.sign[rows] = 0

    def link_events(self, t: int, flag: np.ndarray, alarm_flag: np.ndarray, new: np.ndarray,
                    events: EventTracker) -> None:
        ev = events.out.event[:, t]
        self.event[new & flag] = ev[new & flag]
        self.t0[new & flag] = events.t0[new & flag]
        self.event[new & ~flag] = -1
        self.t0[new & ~flag] = -1
        late = alarm_flag & (self.event < 0)  # an alarm without an event takes its first flag's
        self.event[late] = ev[late]
        self.t0[late] = events.t0[late]

    def ended(self, judged: np.ndarray) -> np.ndarray:
        """Rows whose alarm side returned to zero or whose last points were back to normal."""
        side = np.where(self.sign > 0, self.up, self.down)
        return np.nonzero(judged & (self.sign != 0) & ((side == 0) | (self.quiet >= self.p.alarm_quiet)))[0]

    def to_accept(self, judged: np.ndarray) -> np.ndarray:
        """Rows whose alarm lasted long enough and is still going on (a shift that already ended
        is not learned)."""
        p = self.p
        need = np.where(self.nz * 2 > self.length, p.dropout_accept, p.shift_accept)
        return np.nonzero(judged & (self.sign != 0) & (self.length >= need)
                          & (self.run >= np.minimum(need, p.accept_run)))[0]


class KpiEngine:
    """State of the loop: the parts, the outputs, and the per-point values the steps share."""

    def __init__(self, vals: np.ndarray, cal: CalendarFeatures, p: object, excl: np.ndarray, cin: object):
        s_n, t_n = vals.shape
        self.vals, self.cal, self.p, self.excl, self.cin = vals, cal, p, excl, cin
        self.s_n = s_n
        self.is_cnt = cin.is_count
        self.any_cnt = bool(self.is_cnt.any())
        self.n_pos = n_pos = cal.season_length
        n_buckets = int(cal.bucket.max()) if t_n else 0
        self.tf = Transform(vals, p, self.is_cnt)
        self.profile = CalendarProfile(s_n, n_pos, p.season_cycles, p.winsor)
        self.days = DayEffects(s_n, n_buckets, p.bucket_history, p.min_bucket_history, cal.bucket_fallback)
        self.holidays = HolidayEffects(s_n, p.holiday_history)
        self.level = LevelWindow(s_n, p.level_window, p.winsor)
        self.scale = ResidualScale(s_n, p.scale_window, p.min_class_history, p.winsor, p.min_scale, n_pos == 7)
        self.zeros = ZeroRates(s_n, n_pos, p.season_cycles)
        self.counts = CountProfile(s_n, n_pos, p.season_cycles, p.scale_window, p.min_class_history,
                                   p.count_max_dispersion, p.winsor)
        self.queue = PendingQueue(s_n, p.pending_max)
        self.shift = ShiftTracker(s_n, p)
        self.out = EngineOutput.empty(s_n, t_n)
        self.events = EventTracker(s_n, p.gap, self.out)
        self.zero_run_p = np.ones(s_n)

    # ---- training -------------------------------------------------------------------------------

    def commit(self, rows: np.ndarray, rec: PointRecord, new_level: bool = False) -> None:
        """Training data. An ordinary point feeds the level and (as its deviation from the level
        of its time) the profile; a day-of-month point its bucket; every point the scale. Points of
        a newly learned level feed the level only: everything else was measured against the old one."""
        if rows.size == 0:
            return
        ordinary = rec.b == 0
        ro = rows[ordinary]
        if ro.size:
            self.level.push(ro, rec.z[ordinary], rec.pos[ordinary], rec.t[ordinary], rec.cx[ordinary],
                            rec.cn[ordinary])
            self.level.n_clean[ro] += 1
        if new_level:
            return
        if ro.size:
            dev = rec.z[ordinary] - rec.lev[ordinary]
            regular = (rec.pos[ordinary] < self.n_pos) & np.isfinite(dev)
            rr, cc = ro[regular], rec.pos[ordinary][regular]
            slot = self.profile.count[rr, cc] % self.profile.dev.shape[2]
            self.counts.push_position(rr, cc, slot, rec.cx[ordinary][regular],
                                      (rec.cn * rec.clev)[ordinary][regular])
            self.profile.push(rr, cc, dev[regular])
        rb = rows[~ordinary]
        if rb.size:
            ok = np.isfinite(rec.r0[~ordinary])
            self.days.push(rb[ok], rec.b[~ordinary][ok], rec.r0[~ordinary][ok], rec.cx[~ordinary][ok],
                           rec.cmu[~ordinary][ok])
        self.counts.push_z(rows, rec.cz)
        self.scale.push(rows, rec.r, rec.pos)

    def commit_queue(self, rows: np.ndarray, new_level: bool = False) -> None:
        """Commit the held-back points that were not flagged (all of them for a new level)."""
        if rows.size == 0:
            return
        q = self.queue
        for j in range(int(q.n[rows].max())):
            sel = rows[q.n[rows] > j]
            sel = sel[~q.flagged[sel, j]]
            self.commit(sel, q.slot(sel, j), new_level=new_level)
        q.n[rows] = 0

    # ---- one point --------------------------------------------------------------------------------

    def step(self, t: int) -> None:
        cal = self.cal
        pos_t = int(cal.position[t])
        hol_t = bool(cal.is_holiday[t])
        b_t = int(cal.bucket[t]) if not hol_t else 0
        s = _Step(t=t, pos=pos_t, hol=hol_t, b=b_t, y=self.vals[:, t], z=self.tf.z[:, t],
                  ex=self.excl[:, t], x=self.cin.x[:, t], n=self.cin.n[:, t])
        s.v = ~np.isnan(s.y)
        self._expect(s)
        self._count(s)
        self._judge(s)
        if not hol_t:
            self._revert(s)
        self._band(s)
        self._dropout(s)
        if hol_t:
            self._holiday(s)
            return
        self._flags(s)
        self._train(s)

    def _expect(self, s: _Step) -> None:
        prof = self.profile.profile()
        s.level = self.level.level(prof)
        s.p_t = prof[:, s.pos]
        s.e_base = s.level + s.p_t
        if s.b > 0:
            s.d, s.bucket_known, s.inflation, s.fb_used, s.fb = self.days.effect(s.b)
        else:
            s.d, s.bucket_known, s.inflation = np.zeros(self.s_n), np.ones(self.s_n, dtype=bool), np.ones(self.s_n)
            s.fb_used, s.fb = None, 0
        s.sc = self.scale.scale(s.pos) * s.inflation
        s.enough = (self.level.n_clean >= self.p.min_history) & np.isfinite(s.e_base) & np.isfinite(s.sc)

    def _count(self, s: _Step) -> None:
        n_s = self.s_n
        if not self.any_cnt:
            s.cq = s.c_base = s.c_mu = s.c_z = s.c_zs = np.full(n_s, np.nan)
            s.c_sign, s.phi, s.c_fac, s.sfull = np.ones(n_s), np.ones(n_s), np.ones(n_s), None
            return
        s.sfull = self.counts.factors(self.profile.weekday_cols)
        s.cq = self.level.rate(s.sfull)
        s.c_base = s.n * s.cq * s.sfull[:, s.pos]
        if s.hol:
            s.c_fac = count_factor(self.holidays.cx, self.holidays.ce)
        elif s.b > 0:
            s.c_fac = self.days.count_factor(s.b, s.fb_used, s.fb)
        else:
            s.c_fac = np.ones(n_s)
        s.c_mu = s.c_base * s.c_fac
        s.phi = self.counts.dispersion() * s.inflation**2
        # a flipped count (defects behind a pass rate) moves against the value: the score follows
        # the value (a pass-rate drop is a dip)
        s.c_sign = np.where(self.cin.flip, -1.0, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            s.c_z = s.c_sign * count_z(s.x, s.c_mu) / np.sqrt(s.phi)
            s.c_zs = s.c_sign * count_z(s.x, s.c_mu, correction=self.p.count_cusum_correction) / np.sqrt(s.phi)
        s.enough = np.where(self.is_cnt, s.enough & np.isfinite(s.c_mu) & (s.c_mu > 0), s.enough)

    def _judge(self, s: _Step) -> None:
        p = self.p
        # intermittent series (most recent values zero: a few contracts a month at team level) have
        # no meaningful daily band — their weekly series is the one to watch
        with np.errstate(invalid="ignore"):
            lz = np.where(self.level.t >= 0, self.level.z, np.nan)
            n_lz = np.sum(~np.isnan(lz), axis=1)
            s.sparse = (np.sum(np.abs(lz) < 1e-12, axis=1) >= p.max_zero_share * np.maximum(n_lz, 1)) & (n_lz > 0)
        s.sparse &= s.enough
        if s.hol:
            h_med, h_sc = self.holidays.expectation()
            s.e = s.level + h_med
            s.sc = np.fmax(s.sc, h_sc)
            s.hol_ok = self.holidays.count >= p.min_holiday_history
        else:
            s.e = s.e_base + s.d
            s.hol_ok = np.ones(self.s_n, dtype=bool)
        if not s.hol and s.b > 0:
            # a day-of-month effect is learned from its first points, which are not judged (they
            # cannot be: a month-end push would look like a spike until it is known), and not while
            # an alarm is on (the effect would learn the anomaly)
            learn = s.v & ~s.ex & s.enough & ~s.bucket_known & np.isfinite(s.z - s.e_base) & (self.shift.sign == 0)
            lr = np.nonzero(learn)[0]
            self.days.push(lr, np.full(lr.size, s.b), (s.z - s.e_base)[lr], s.x[lr], s.c_base[lr])
            s.enough = s.enough & s.bucket_known
        s.judged = s.v & s.enough & s.hol_ok & ~s.ex & ~s.sparse
        with np.errstate(invalid="ignore", divide="ignore"):
            score = (s.z - s.e) / s.sc
        s.score = np.where(self.is_cnt, s.c_z, score)

    def _revert(self, s: _Step) -> None:
        """Return to the level before a learned shift: restore it silently."""
        p, sh = self.p, self.shift
        rv = s.judged & (sh.rev_until >= s.t)
        if not rv.any():
            return
        e_old = sh.rev_level + s.p_t + s.d
        with np.errstate(invalid="ignore", divide="ignore"):
            s_old = (s.z - e_old) / s.sc
            if self.any_cnt:
                mu_old = s.n * sh.rev_q * s.sfull[:, s.pos] * s.c_fac
                s_old = np.where(self.is_cnt, s.c_sign * count_z(s.x, mu_old) / np.sqrt(s.phi), s_old)
        # back: far from the learned level, towards the old one, and much closer to it (a high
        # count's z-scores are sharp: "within 1.5" alone would miss a clear return) — or, for a return
        # that is small against the noise, a sequential test: the log likelihood ratio old level vs
        # learned level, accumulated like a CUSUM
        with np.errstate(invalid="ignore"):
            inc = np.clip((s.score * s.score - s_old * s_old) / 2.0, -p.score_clip**2 / 2, p.score_clip**2 / 2)
        sh.rev_llr[:] = np.where(rv, np.maximum(0.0, sh.rev_llr + np.nan_to_num(inc)), sh.rev_llr)
        point = (np.abs(s.score) >= 3.0) & ((np.abs(s_old) < 1.5) | (np.abs(s_old) < 0.25 * np.abs(s.score)))
        back = rv & (np.sign(s.score) == -sh.rev_sign) & (point | (sh.rev_llr >= p.revert_llr))
        rb = np.nonzero(back)[0]
        if not rb.size:
            return
        lv = self.level
        lv.forget_since(rb, sh.rev_start[rb])
        lv.regime_start[rb] = sh.rev_prev[rb]
        typical_n = nanmedian_last(np.where(lv.t[rb] >= 0, lv.cn[rb], np.nan))
        for _ in range(3):  # the old level, as pseudo points, until real ones arrive
            lv.push(rb, sh.rev_level[rb], np.full(rb.size, self.n_pos + 1), np.full(rb.size, max(s.t - 1, 0)),
                    sh.rev_q[rb] * typical_n, typical_n)
        for s_i in rb:
            if sh.rev_event[s_i] >= 0:
                self.out.event_end[int(sh.rev_event[s_i])] = s.t - 1
        sh.rev_until[rb] = -1
        s.e[rb] = e_old[rb]
        s.score[rb] = s_old[rb]
        if self.any_cnt:
            s.c_mu[rb] = mu_old[rb]
            s.cq[rb] = sh.rev_q[rb]
            s.c_base[rb] = (s.n * sh.rev_q * s.sfull[:, s.pos])[rb]
        sh.up[rb] = 0.0
        sh.down[rb] = 0.0
        self.queue.n[rb] = 0
        sh.sign[rb] = 0

    def _band(self, s: _Step) -> None:
        thr, back, out, t = self.tf.threshold, self.tf.back, self.out, s.t
        s.exp_y = back(s.e)
        lo_y, hi_y = back(s.e - thr * s.sc), back(s.e + thr * s.sc)
        if self.any_cnt:
            c_lo = count_quantile(s.c_mu, -thr, s.phi)
            c_hi = count_quantile(s.c_mu, thr, s.phi)
            ce, clo, chi = self.cin.to_value(s.c_mu, c_lo, c_hi, s.n)
            s.exp_y = np.where(self.is_cnt, ce, s.exp_y)
            lo_y = np.where(self.is_cnt, clo, lo_y)
            hi_y = np.where(self.is_cnt, chi, hi_y)
        known = s.enough & s.hol_ok
        out.expected[:, t] = np.where(known, s.exp_y, np.nan)
        out.lower[:, t] = np.where(known, lo_y, np.nan)
        out.upper[:, t] = np.where(known, hi_y, np.nan)
        out.score[:, t] = np.where(s.v & known & ~s.sparse, s.score, np.nan)

    def _dropout(self, s: _Step) -> None:
        """A run of near-zero values that the history makes improbable."""
        p = self.p
        with np.errstate(invalid="ignore"):
            near_zero = s.v & (s.exp_y > 0) & (np.abs(s.y) <= p.dropout_fraction * np.abs(s.exp_y))
            p0, zeros_h, n_h = self.zeros.p_zero(s.pos, s.exp_y, self.tf.back, p.dropout_fraction)
            if self.any_cnt:
                # a count series: the Poisson chance of a zero (or more often, if zeros were seen)
                p0_model = np.maximum(np.exp(-s.c_mu / s.phi), zeros_h / np.maximum(n_h, 1))
                p0 = np.where(self.is_cnt & ~self.cin.flip & np.isfinite(s.c_mu), p0_model, p0)
            s.rel = np.abs(s.y - s.exp_y) / np.maximum(np.abs(s.exp_y), 1e-12)
        if s.hol:  # a holiday's zeros say nothing about the feed: no dropout rule, the run waits
            s.dropout = np.zeros(self.s_n, dtype=bool)
        else:
            nz_judged = s.judged & near_zero & (n_h >= 4)
            self.zero_run_p = np.where(nz_judged, self.zero_run_p * p0, np.where(s.judged, 1.0, self.zero_run_p))
            s.dropout = nz_judged & (self.zero_run_p <= p.dropout_alpha) & (s.score < 0)
        s.near_zero = near_zero & (p0 <= 0.1)  # "near zero" in the sense of a dropout (kind)
        s.big = s.judged & (np.abs(s.score) >= self.tf.threshold) & (s.rel >= p.min_relative_deviation)

    def _holiday(self, s: _Step) -> None:
        """Holidays: judged against holiday history only; they never feed the CUSUM."""
        flag = s.big | s.dropout
        h_rows = np.nonzero(s.v & ~s.ex & ~flag & np.isfinite(s.level))[0]
        self.holidays.push(h_rows, s.z[h_rows] - s.level[h_rows], s.x[h_rows], (s.n * s.cq)[h_rows])
        self.events.record(s.t, flag, np.sign(np.nan_to_num(s.score)).astype(np.int64), s.near_zero,
                           np.full(self.s_n, -1, dtype=np.int64))
        self.out.status[:, s.t] = np.select(
            [~s.v, s.ex, ~s.enough, ~s.hol_ok, s.sparse, flag],
            [ST_MISSING, ST_EXCLUDED, ST_NO_HISTORY, ST_HOLIDAY_NO_HISTORY, ST_SPARSE, ST_ANOMALY], ST_OK)

    def _flags(self, s: _Step) -> None:
        p, sh, t = self.p, self.shift, s.t
        # count series accumulate the plain deviance residual: the continuity correction that keeps
        # single-point flags honest would hide a sustained drop in a low count
        cs_in = np.where(self.is_cnt, s.c_zs, s.score) if self.any_cnt else s.score
        s.cs = np.clip(np.nan_to_num(cs_in, nan=0.0), -p.score_clip, p.score_clip)
        alarm_flag, new_alarm = sh.update(t, s.judged, s.cs, self.tf.cusum_h, s.rel, s.near_zero, s.big)
        s.flag = s.big | s.dropout | alarm_flag
        # the zero-rate history learns every judged value now (not when a CUSUM closes), except
        # values flagged on their own: otherwise held-back zeros would make zeros look rarer
        zr = np.nonzero(s.v & ~s.ex & ~s.big & ~s.dropout)[0]
        self.zeros.push(zr, s.pos, s.z[zr])
        sign = np.sign(np.nan_to_num(s.score)).astype(np.int64)
        forced = np.where(alarm_flag & ~new_alarm, sh.event, -1)
        self.events.record(t, s.flag, sign, s.near_zero, forced)
        sh.link_events(t, s.flag, alarm_flag, new_alarm, self.events)
        self.out.alarm[:, t] = alarm_flag
        self.out.status[:, t] = np.select([~s.v, s.ex, ~s.enough, s.sparse, s.flag],
                                          [ST_MISSING, ST_EXCLUDED, ST_NO_HISTORY, ST_SPARSE, ST_ANOMALY], ST_OK)

    def _record(self, s: _Step) -> PointRecord:
        full = np.full(self.s_n, 0, dtype=np.int64)
        return PointRecord(z=s.z, pos=full + s.pos, t=full + s.t, r=s.z - s.e, r0=s.z - s.e_base, b=full + s.b,
                           lev=s.level, cx=s.x, cn=s.n, clev=s.cq, cmu=s.c_base,
                           cz=np.where(s.judged, s.c_z, np.nan))

    def _train(self, s: _Step) -> None:
        sh, q = self.shift, self.queue
        rec = self._record(s)
        rw = np.nonzero(s.v & ~s.ex & (~s.enough | s.sparse))[0]  # warm-up / sparse: commit straight away
        self.commit(rw, rec.take(rw))
        rd = np.nonzero(s.judged & ~s.flag & ~sh.open())[0]
        self.commit(rd, rec.take(rd))
        normal = np.nonzero(s.judged & ~s.flag & (sh.sign == 0))[0]
        sh.normal.push(normal, s.cs[normal], s.t)
        # hold back every judged point while a CUSUM is open
        hold = np.nonzero(s.judged & sh.open())[0]
        if hold.size:
            full = hold[q.n[hold] >= q.size]
            if full.size:  # an inconclusive drift that lasted too long: accept what was normal
                self.commit_queue(full)
                sh.clear(full)
            q.add(hold, rec.take(hold), s.flag[hold])
        # a CUSUM back at zero: the held-back normal points were normal after all
        closed = s.judged & (sh.up == 0) & (sh.down == 0) & (q.n > 0) & (sh.sign == 0)
        self.commit_queue(np.nonzero(closed)[0])
        # an alarm whose side returned to zero, or whose last points were back to normal: the event
        # ended without becoming the new level
        re = sh.ended(s.judged)
        if re.size:
            self.commit_queue(re)
            sh.clear(re)
        accept = sh.to_accept(s.judged)
        if accept.size:
            self._accept(s, accept)

    def _accept(self, s: _Step, accept: np.ndarray) -> None:
        """A sustained shift flagged long enough: learn the new level from the held-back points."""
        p, sh, q = self.p, self.shift, self.queue
        sh.rev_level[accept] = s.level[accept]
        sh.rev_q[accept] = s.cq[accept]
        sh.rev_prev[accept] = self.level.regime_start[accept]
        sh.rev_sign[accept] = sh.sign[accept]
        sh.rev_event[accept] = sh.event[accept]
        # the new level starts with the alarm's event (the CUSUM may have opened on noise well
        # before: those points belong to the old level)
        start = np.maximum(sh.start[accept], sh.t0[accept])
        sh.rev_start[accept] = start
        sh.rev_until[accept] = s.t + p.revert_window
        sh.rev_llr[accept] = 0.0
        # only points on the shift's side of the old level become the new level
        qcz, qr0 = q.data["cz"][accept], q.data["r0"][accept]
        side_r = np.where(self.is_cnt[accept, None] & np.isfinite(qcz), qcz, qr0)
        keep = (q.data["t"][accept] >= start[:, None]) & (side_r * sh.sign[accept, None] > 0)
        q.flagged[accept] = ~keep
        self.commit_queue(accept, new_level=True)
        self.level.regime_start[accept] = start
        sh.clear(accept)


class _Step:
    """The per-point values the steps of :class:`KpiEngine` share (arrays over the series)."""

    def __init__(self, **kw: object):
        self.__dict__.update(kw)


def run_panel(vals: np.ndarray, cal: CalendarFeatures, p: object, excl: np.ndarray, cin: object) -> EngineOutput:
    """Run the detector over S aligned series (see :class:`KpiEngine`)."""
    engine = KpiEngine(vals, cal, p, excl, cin)
    for t in range(vals.shape[1]):
        engine.step(t)
    return engine.out
