"""Serve a FakeExchange sized to about N observations, in a process of its own.

    python benchmarks/_server.py --target 100000 [--latency-ms 200]

The benchmark harness starts this so that the server's CPU is not counted as the client's.
It picks patients and days so that the main study holds about ``--target`` observations
(all codes), prints one JSON line (url, token, study, patients, days, the study's total and
its blood-glucose total, as the server's FHIR ``_summary=count`` reports them) and serves
until its stdin closes or it gets SIGTERM. A line ``add N`` on its stdin adds N new
observations to the main study.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import urllib.parse
import urllib.request

from jhe.testing import FakeExchange

GLUCOSE = "https://w3id.org/openmhealth|omh:blood-glucose:4.0"
PER_PATIENT_DAY = 118  # observations per patient and day in the generated data (all codes)
DAYS = 14


def count(fx: FakeExchange, code: str | None = None) -> int:
    params = {"patient._has:Group:member:_id": fx.main_study_id, "_summary": "count"}
    if code:
        params["code"] = code
    request = urllib.request.Request(
        f"{fx.fhir_url}/Observation?{urllib.parse.urlencode(params)}",
        headers={"Authorization": f"Bearer {fx.token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return int(json.load(response)["total"])


def shape(target: int, seed: int) -> tuple[int, int]:
    """Patients and days giving a main study of about ``target`` observations."""
    if target < PER_PATIENT_DAY * DAYS:
        patients, days = 1, max(1, round(target / PER_PATIENT_DAY))
    else:
        patients, days = max(1, round(target / (PER_PATIENT_DAY * DAYS))), DAYS
    # One correction from the real count (the generator is deterministic; starting it is cheap).
    with FakeExchange(patients=patients, days=days, seed=seed) as fx:
        total = count(fx)
    if patients > 1:
        patients = max(1, round(patients * target / total))
    else:
        days = max(1, round(days * target / total))
    return patients, days


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, required=True, help="observations in the main study")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    patients, days = shape(args.target, args.seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # render_cache: each resource is rendered once and then served from memory, so the
    # server's share of the two cores is small and the same for every client.
    with FakeExchange(
        patients=patients, days=days, seed=args.seed, latency_ms=args.latency_ms, render_cache=True
    ) as fx:
        info = {
            "url": fx.url,
            "token": fx.token,
            "study_id": fx.main_study_id,
            "patients": patients,
            "days": days,
            "latency_ms": args.latency_ms,
            "total": count(fx),
            "glucose_total": count(fx, GLUCOSE),
        }
        print(json.dumps(info), flush=True)
        try:
            # Until the harness closes our stdin; "add N" adds N observations (the mirror's
            # benchmark) and answers {"added": N}.
            for line in sys.stdin:
                command, _, n = line.partition(" ")
                if command == "add":
                    print(json.dumps({"added": len(fx.add_observations(int(n)))}), flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
