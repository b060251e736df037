#!/usr/bin/env python3
"""An independent SimPy model of hotcold's session traffic, for side-by-side comparison.

Written from the text of the project's CONTRACT (section 2, "Visits and returns", and section 4,
"Engine semantics"), not translated from the Rust simulator, so that the two can check each other:
the same scenario YAML should give the same counts up to sampling noise, and the wall time of the
two on the same machine gives a speed ratio.

What it models
  * Arrivals of new sessions in each region: a Poisson process whose rate follows the region's
    daily sinusoid in local time (run start = 00:00 UTC; local hour = UTC hour + utc_offset),
    peaking at `peak_hour`, max/min = `peak_to_trough`, averaging `sessions_per_day`, all scaled
    by `sample` (drawn by thinning).
  * One SimPy process per session: visits of `requests` requests (a draw rounded to the nearest
    integer, at least 1) spaced by `think_time`; the first request of the first visit creates the
    session, every other request looks it up, a share `update_fraction` of lookups also updates.
    After a visit's last request: logout with `logout_probability`; otherwise a return visit with
    `returns.probability` after `returns.gap`; otherwise the user never comes back.
  * A lookup is a hot hit when the session is in its region's hot tier (and its hot TTL has not
    run out), else a cold promotion when the cold tier holds it and it is younger than
    `cold_storage.ttl` since its last access, else an invalid lookup. Hits and promotions set the
    session's last access (refreshing `hot_storage.ttl`).
  * A sync job per region at every multiple of `sync_interval` from the start, demoting every hot
    session idle for at least `promotion_threshold` (written to the cold tier, removed from hot).
  * A promotion reads the cold copy and leaves it there (a later demotion overwrites it); a logout
    removes the session from both tiers. Cold copies expire `cold_storage.ttl` after the last
    access they record (purged every simulated minute, and never returned once expired).
  * `sample`: the arrival rate is multiplied by `sample`; counts are printed both as simulated
    and scaled back by 1/sample ("scaled").

What it leaves out (on purpose)
  * every latency distribution and `latency.rtt_ms` (operations take no simulated time, so a
    session can never be touched during its own demotion); payload sizes and bytes;
  * faults, migration, residency, `travel_probability` (every request is served by the session's
    home region), `engine.durability` (no write-behind or write-through copies), the audit and
    analytics trails, `cross_region_delay`, `batch_size`, growth, costs, SLOs, and percentiles;
  * `warmup` applies only to hot_avg/cold_avg/hot_peak here (time averages after warmup), as in
    hotcold; all counts cover the whole run.

Output: one JSON object on stdout: counts as simulated and scaled by 1/sample, hot/cold averages
(scaled), `wall_seconds` of `env.run` only (not Python's start-up, imports or the YAML) and
`requests_per_second` = simulated requests / wall_seconds.

Usage:
  python3 bench/simpy/hotcold_simpy.py SCENARIO.yaml [--sample F] [--seed N] [--set KEY=VALUE]...
"""

import argparse
import collections
import heapq
import json
import math
import random
import re
import sys
import time

import simpy
import yaml

Z95 = 1.6448536269514722
Z99 = 2.3263478740408408

# Defaults from the CONTRACT's example scenario (section 2), for keys a scenario may leave out.
DEFAULTS = {
    "seed": 42,
    "duration": "7d",
    "warmup": "1d",
    "sample": 1.0,
    "session_config": {
        "hot_storage": {"ttl": 7200, "promotion_threshold": 1800},
        "cold_storage": {"ttl": 2592000},
        "sync": {"sync_interval": 300},
    },
    "traffic": {
        "visit": {
            "requests": {"dist": "lognormal", "median": 8, "p95": 40},
            "think_time": {"dist": "lognormal", "median": "20s", "p95": "3m"},
            "update_fraction": 0.2,
            "logout_probability": 0.15,
        },
        "returns": {"probability": 0.45, "gap": {"dist": "lognormal", "median": "2h", "p95": "5d"}},
    },
}
REGION_DEFAULTS = {"utc_offset": 0, "peak_hour": 20, "peak_to_trough": 3.0}

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")


def seconds(value):
    """A duration: a number of seconds, or a string such as `250ms`, `20s`, `2h`, `7d`, `3d12h`."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r}")
    return total


def merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def sampler(spec, rng):
    """A function drawing from a CONTRACT distribution; numbers may be durations."""
    d = spec["dist"]
    if d == "constant":
        x = seconds(spec["value"])
        return lambda: x
    if d == "uniform":
        lo, hi = seconds(spec["min"]), seconds(spec["max"])
        return lambda: rng.uniform(lo, hi)
    if d == "exponential":
        rate = 1.0 / seconds(spec["mean"])
        return lambda: rng.expovariate(rate)
    if d == "lognormal":
        median = seconds(spec["median"])
        if "p95" in spec:
            sigma = math.log(seconds(spec["p95"]) / median) / Z95
        else:
            sigma = math.log(seconds(spec["p99"]) / median) / Z99
        mu = math.log(median)
        return lambda: rng.lognormvariate(mu, sigma)
    if d == "pareto":
        xmin, alpha = seconds(spec["min"]), float(spec["alpha"])
        return lambda: xmin * rng.paretovariate(alpha)
    raise ValueError(f"unknown distribution {d!r}")


def set_key(doc, dotted, text):
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = yaml.safe_load(text)


class Model:
    def __init__(self, sc):
        self.sc = sc
        self.rng = rng = random.Random(int(sc["seed"]))
        self.duration = seconds(sc["duration"])
        self.warmup = min(seconds(sc["warmup"]), self.duration)
        self.sample = float(sc["sample"])
        scfg = sc["session_config"]
        self.hot_ttl = seconds(scfg["hot_storage"]["ttl"])
        self.threshold = seconds(scfg["hot_storage"]["promotion_threshold"])
        self.cold_ttl = seconds(scfg["cold_storage"]["ttl"])
        self.sync_interval = seconds(scfg["sync"]["sync_interval"])
        tr = sc["traffic"]
        visit = tr["visit"]
        self.draw_requests = sampler(visit["requests"], rng)
        self.draw_think = sampler(visit["think_time"], rng)
        self.update_fraction = float(visit["update_fraction"])
        self.logout_p = float(visit["logout_probability"])
        self.return_p = float(tr["returns"]["probability"])
        self.draw_gap = sampler(tr["returns"]["gap"], rng)
        self.regions = {name: merge(REGION_DEFAULTS, r) for name, r in tr["regions"].items()}

        self.env = simpy.Environment()
        self.hot = {name: collections.OrderedDict() for name in self.regions}  # sid -> last access
        self.cold = {}  # sid -> last access recorded by its newest demotion
        self.cold_expiry = []  # heap of (expiry time, sid)
        self.next_sid = 0
        self.c = collections.Counter()
        # time averages after warmup
        self.hot_n = self.cold_n = 0
        self.hot_area = self.cold_area = 0.0
        self.hot_peak = 0
        self.area_t = 0.0

    # -- tier sizes -----------------------------------------------------------------------------
    def _account(self, now):
        t0 = self.area_t if self.area_t > self.warmup else self.warmup
        if now > t0:
            self.hot_area += self.hot_n * (now - t0)
            self.cold_area += self.cold_n * (now - t0)
        self.area_t = now

    def _make_hot(self, hot, sid, now):
        """Puts `sid` in the region's hot tier `hot` at `now` (a creation or a promotion)."""
        self._account(now)
        hot[sid] = now
        self.hot_n += 1
        if self.hot_n > self.hot_peak and now >= self.warmup:
            self.hot_peak = self.hot_n

    # -- traffic --------------------------------------------------------------------------------
    def arrivals(self, name, r):
        env, rng = self.env, self.rng
        mean = float(r["sessions_per_day"]) / 86400.0 * self.sample
        ratio = float(r["peak_to_trough"])
        a = (ratio - 1.0) / (ratio + 1.0)
        lam_max = mean * (1.0 + a)
        if lam_max <= 0:
            return
        offset, peak = float(r["utc_offset"]), float(r["peak_hour"])
        w = 2.0 * math.pi / 86400.0
        phase = (offset - peak) * 3600.0
        top = 1.0 + a
        process, user = env.process, self.user
        while True:
            yield env.timeout(rng.expovariate(lam_max))
            self.c["arrival_candidates"] += 1
            if rng.random() * top < 1.0 + a * math.cos(w * (env.now + phase)):
                self.next_sid += 1
                process(user(name, self.next_sid))

    def user(self, region, sid):
        env, rng, c = self.env, self.rng, self.c
        hot = self.hot[region]
        cold = self.cold
        timeout = env.timeout
        draw_think, draw_requests = self.draw_think, self.draw_requests
        upd = self.update_fraction
        hot_ttl, cold_ttl = self.hot_ttl, self.cold_ttl
        first_visit = True
        while True:
            n = int(draw_requests() + 0.5)
            if n < 1:
                n = 1
            c["visits"] += 1
            for i in range(n):
                if i:
                    yield timeout(draw_think())
                now = env.now
                c["requests"] += 1
                if first_visit and i == 0:
                    c["created"] += 1
                    self._make_hot(hot, sid, now)
                    continue
                last = hot.get(sid)
                if last is not None and now - last < hot_ttl:
                    c["hot_hits"] += 1
                    hot[sid] = now
                    hot.move_to_end(sid)
                else:
                    if last is not None:  # hot TTL ran out (only if the sync job did not run)
                        c["expired_hot"] += 1
                        self._account(now)
                        del hot[sid]
                        self.hot_n -= 1
                    clast = cold.get(sid)
                    if clast is not None and now - clast < cold_ttl:
                        c["cold_promotions"] += 1
                        self._make_hot(hot, sid, now)
                    else:
                        c["invalid_lookups"] += 1
                        continue
                if rng.random() < upd:
                    c["updates"] += 1
            first_visit = False
            # the visit ended at its last request
            if rng.random() < self.logout_p:
                c["logged_out"] += 1
                now = env.now
                self._account(now)
                if hot.pop(sid, None) is not None:
                    self.hot_n -= 1
                if cold.pop(sid, None) is not None:
                    self.cold_n -= 1
                return
            if rng.random() >= self.return_p:
                return
            c["returns"] += 1
            yield timeout(self.draw_gap())

    # -- the sync job and cold expiry -----------------------------------------------------------
    def sync_job(self, region):
        env, c = self.env, self.c
        hot, cold, heap = self.hot[region], self.cold, self.cold_expiry
        threshold, hot_ttl, cold_ttl = self.threshold, self.hot_ttl, self.cold_ttl
        interval = self.sync_interval
        k = 0
        while True:
            k += 1
            yield env.timeout(k * interval - env.now)
            now = env.now
            c["sync_passes"] += 1
            self._account(now)
            # hot is ordered by last access, oldest first
            while hot:
                sid, last = next(iter(hot.items()))
                if now - last < threshold:
                    break
                hot.popitem(last=False)
                self.hot_n -= 1
                if now - last >= hot_ttl:
                    c["expired_hot"] += 1
                    continue
                c["demoted"] += 1
                if sid not in cold:
                    self.cold_n += 1
                cold[sid] = last
                heapq.heappush(heap, (last + cold_ttl, sid))

    def cold_purge(self):
        env, c, cold, heap = self.env, self.c, self.cold, self.cold_expiry
        while True:
            yield env.timeout(60.0)
            now = env.now
            while heap and heap[0][0] <= now:
                exp, sid = heapq.heappop(heap)
                last = cold.get(sid)
                if last is not None and last + self.cold_ttl <= now:
                    self._account(now)
                    del cold[sid]
                    self.cold_n -= 1
                    c["expired_cold"] += 1

    def run(self):
        env = self.env
        for name, r in self.regions.items():
            env.process(self.arrivals(name, r))
            env.process(self.sync_job(name))
        env.process(self.cold_purge())
        start = time.perf_counter()
        env.run(until=self.duration)
        wall = time.perf_counter() - start
        self._account(self.duration)
        return wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--sample", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", help="also write the JSON to this file")
    args = ap.parse_args(argv)

    with open(args.scenario) as f:
        doc = yaml.safe_load(f)
    for kv in args.set:
        k, _, v = kv.partition("=")
        set_key(doc, k, v)
    if args.sample is not None:
        doc["sample"] = args.sample
    if args.seed is not None:
        doc["seed"] = args.seed
    sc = merge(DEFAULTS, doc)

    m = Model(sc)
    wall = m.run()
    c = m.c
    scale = 1.0 / m.sample
    keys = ["requests", "created", "hot_hits", "cold_promotions", "invalid_lookups", "demoted",
            "updates", "logged_out", "expired_hot", "expired_cold", "visits", "returns"]
    window = m.duration - m.warmup
    hot_avg = m.hot_area / window if window > 0 else 0.0
    cold_avg = m.cold_area / window if window > 0 else 0.0
    out = {
        "model": "simpy " + simpy.__version__,
        "scenario": sc.get("name"),
        "seed": int(sc["seed"]),
        "sample": m.sample,
        "simulated_seconds": m.duration,
        "simulated": {k: c[k] for k in keys},
        "scaled": {k: round(c[k] * scale) for k in keys},
        "hot_cold_scaled": {
            "hot_avg": round(hot_avg * scale, 1),
            "hot_peak": round(m.hot_peak * scale),
            "cold_avg": round(cold_avg * scale, 1),
            "hot_ratio_avg": hot_avg / (hot_avg + cold_avg) if hot_avg + cold_avg > 0 else 0.0,
        },
        "sync_passes": c["sync_passes"],
        "wall_seconds": round(wall, 3),
        "requests_per_second": round(c["requests"] / wall, 1) if wall > 0 else None,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
