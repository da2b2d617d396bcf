"""The ways to get a study's observations into pandas (or Arrow), and a runner for one of them.

    python benchmarks/peers.py --peer jhe --url URL --token TOKEN --study 30001 \
        [--code omh:blood-glucose:4.0] [--concurrency 8] [--mode dataframe|arrow] --result out.json

``benchmarks/run.py`` starts this once per measurement, in a fresh interpreter, so that each
peer's CPU time and peak RSS are its own. Imports happen before the clock starts; the clock
covers the fetch and the DataFrame building only. The result file holds the wall time, the
CPU time (user+sys of the whole process, every thread, over the fetch), the RSS before the
fetch and the peak RSS, and the observations counted in the result (distinct observation ids).

Peers:

``jhe``
    ``jhe.Client(url, token, concurrency=K).fetch_dataframe(study_id=..., code=...)``: the
    default layout (wide for one code; long, one row per observation and measure, for all).
``jhe-arrow``
    The same into Arrow: ``client.fetch_arrow(...)``.
``jhc``
    ``jupyterhealth_client.JupyterHealthClient(url, token=...).list_observations_df(study_id=...,
    code=..., limit=None)``. Its ``limit`` defaults to 2000 and silently truncates the result,
    so the benchmark passes ``limit=None`` as a user who wants the whole study must.
``guide``
    The user guide's ``fetch_all_fhir_observations`` and its per-row DataFrame building
    (``fetch_to_dataframe``), with requests. Adapted as little as possible; every change is
    marked ``ADAPTED`` below.
``baseline``
    A careful pure-Python loop: one requests Session, the server's largest page, json and
    base64 from the standard library, columns built as lists per code, one vectorised
    ``pd.to_datetime`` per time column.
``power``
    A power user's client: aiohttp with 8 requests in flight (the first page for the total,
    then every other page by number), orjson on both layers, ``binascii.a2b_base64``, and the
    baseline's columns per code and vectorised ``pd.to_datetime``.
"""

from __future__ import annotations

import argparse
import base64
import json
import resource
import sys
import time
from typing import Any

OMH = "https://w3id.org/openmhealth"
FHIR_PAGE = 1000  # the server's largest page
IEEE = "https://w3id.org/ieee1752"


def coded(code: str) -> str:
    return code if "|" in code else f"{IEEE if code.startswith('ieee:') else OMH}|{code}"


# --------------------------------------------------------------------------------------
# jhe


def jhe_client(url: str, token: str, concurrency: int | None) -> Any:
    """Default settings, or exactly ``concurrency`` pages in flight: alone, ``concurrency``
    is only where jhe's pace starts (it grows up to ``max_concurrency``)."""
    import jhe

    fixed = {} if concurrency is None else {"concurrency": concurrency, "max_concurrency": concurrency}
    return jhe.Client(url, token, **fixed)


def run_jhe(url: str, token: str, study: int, code: str | None, concurrency: int | None) -> Any:
    return jhe_client(url, token, concurrency).fetch_dataframe(study_id=study, code=code, progress=False)


def run_jhe_arrow(url: str, token: str, study: int, code: str | None, concurrency: int | None) -> Any:
    return jhe_client(url, token, concurrency).fetch_arrow(study_id=study, code=code, progress=False)


# --------------------------------------------------------------------------------------
# jupyterhealth-client 0.5


def run_jhc(url: str, token: str, study: int, code: str | None, concurrency: int | None) -> Any:
    from jupyterhealth_client import JupyterHealthClient

    client = JupyterHealthClient(url, token=token)
    # limit=None: the default (2000) silently cuts the result short.
    return client.list_observations_df(study_id=study, code=code, limit=None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# The user guide's code (docs: "Fetching and Exporting Data"), with requests.
#
# ADAPTED, and only this:
# 1. BASE_URL and ACCESS_TOKEN point at the fake Exchange, and the FHIR base is the current
#    API's /FHIR/R5/ (the guide's /fhir/ is the older servers' /fhir/r5/).
# 2. fetch_all_fhir_observations takes the code and sends it as the guide's "Filter by Data
#    Type" section does (code=system|code); the study is fetched whole (patient=None, which
#    requests leaves out), as current servers allow. No _count: the guide sends none, so the
#    server's default page of 20 rows is used, as the guide's code would.
# 3. The per-row building is the guide's fetch_to_dataframe, reading the FHIR resource (the
#    guide's version reads REST rows): observation_id <- id, patient_id <- subject.reference,
#    created <- meta.lastUpdated; patient_name and data_source are not in a FHIR Observation
#    and are left out; decoding is the guide's decode_omh_data. For all codes, each row's own
#    code selects the guide's type-specific branch.
# 4. timestamp: interval time frames have no date_time (the guide's body["effective_time_frame"]
#    ["date_time"] raises KeyError on them): their start_date_time is used.
# 5. pd.to_datetime(..., utc=True, format="ISO8601"): the payloads carry several UTC offsets,
#    and the guide's pd.to_datetime(df["timestamp"]) raises "Mixed timezones detected" on them
#    (pandas >= 3); and pandas infers one format from the first value, so a lastUpdated written
#    without a fraction (Django drops ".000000") raises "doesn't match format" (seen at 1,000,000).

BASE_URL = ""
ACCESS_TOKEN = ""


def decode_omh_data(fhir_observation):  # type: ignore[no-untyped-def]
    """Extract and decode OMH data from FHIR observation"""
    encoded_data = fhir_observation["valueAttachment"]["data"]

    # Decode base64
    decoded_bytes = base64.b64decode(encoded_data)

    # Parse JSON
    omh_data = json.loads(decoded_bytes.decode("utf-8"))

    return omh_data


def fetch_all_fhir_observations(study_id, patient_id, code=None):  # type: ignore[no-untyped-def]
    """Fetch all FHIR observations using pagination"""
    import requests

    all_entries = []
    url = f"{BASE_URL}/FHIR/R5/Observation"  # ADAPTED (1)
    params = {"patient._has:Group:member:_id": study_id, "patient": patient_id}
    if code:  # ADAPTED (2)
        params["code"] = coded(code)

    while url:
        response = requests.get(
            url,
            headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
            params=params if params else None,
        )
        response.raise_for_status()

        bundle = response.json()
        all_entries.extend(bundle.get("entry", []))

        # Find next link
        next_link = next(
            (link for link in bundle.get("link", []) if link.get("relation") == "next"),
            None,
        )
        url = next_link["url"] if next_link else None
        params = None  # Next URL has params embedded

        print(f"Fetched {len(all_entries)} / {bundle.get('total', 0)} entries")

    return all_entries


def guide_fetch_to_dataframe(study_id, patient_id, data_type):  # type: ignore[no-untyped-def]
    """Fetch observations and convert to pandas DataFrame"""
    import pandas as pd

    # Fetch data
    observations = fetch_all_fhir_observations(study_id, patient_id, data_type)

    # Convert to DataFrame
    rows = []
    for entry in observations:
        obs = entry["resource"]  # ADAPTED (3)
        omh_data = decode_omh_data(obs)
        body = omh_data["body"]
        obs_type = obs["code"]["coding"][0]["code"]  # ADAPTED (3)
        frame = body["effective_time_frame"]

        row = {
            "observation_id": obs["id"],
            "patient_id": obs["subject"]["reference"],
            # ADAPTED (4)
            "timestamp": frame["date_time"] if "date_time" in frame else frame["time_interval"].get("start_date_time"),
            "created": obs["meta"]["lastUpdated"],
        }

        # Add data-type-specific fields
        if obs_type == "omh:blood-glucose:4.0":
            row["glucose_mg_dl"] = body["blood_glucose"]["value"]
            row["meal_context"] = body.get("temporal_relationship_to_meal")

        elif obs_type == "omh:blood-pressure:4.0":
            row["systolic_mmhg"] = body["systolic_blood_pressure"]["value"]
            row["diastolic_mmhg"] = body["diastolic_blood_pressure"]["value"]

        elif obs_type == "omh:heart-rate:2.0":
            row["heart_rate_bpm"] = body["heart_rate"]["value"]

        rows.append(row)

    df = pd.DataFrame(rows)

    # Convert timestamps
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")  # ADAPTED (5)
    df["created"] = pd.to_datetime(df["created"], utc=True, format="ISO8601")  # ADAPTED (5)

    return df


def run_guide(url: str, token: str, study: int, code: str | None, concurrency: int | None) -> Any:
    global BASE_URL, ACCESS_TOKEN
    BASE_URL, ACCESS_TOKEN = url, token
    return guide_fetch_to_dataframe(study, None, code)


# --------------------------------------------------------------------------------------
# An optimised pure-Python baseline.


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        if "value" in value and "unit" in value and len(value) == 2:
            out[prefix + "_value"] = value["value"]
            out[prefix + "_unit"] = value["unit"]
        else:
            for key, item in value.items():
                _flatten(f"{prefix}_{key}", item, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


class _Columns:
    """Columns as lists per code (measures flattened by key path), filled page by page, then
    one DataFrame per code with one vectorised ``pd.to_datetime`` per time column."""

    COMMON = (
        "observation_id", "patient_id", "effective_start", "effective_end",
        "last_updated", "uuid", "modality", "source_name",
    )

    def __init__(self) -> None:
        self.blocks: dict[str, dict[str, list[Any]]] = {}
        self.measures: dict[str, list[dict[str, Any]]] = {}

    def add(self, bundle: dict[str, Any], loads: Any, b64decode: Any) -> None:
        blocks, measures = self.blocks, self.measures
        for entry in bundle.get("entry", ()):
            res = entry["resource"]
            omh = loads(b64decode(res["valueAttachment"]["data"]))
            body = omh["body"]
            header = omh.get("header") or {}
            obs_code = res["code"]["coding"][0]["code"]
            block = blocks.get(obs_code)
            if block is None:
                block = blocks[obs_code] = {k: [] for k in self.COMMON}
                measures[obs_code] = []
            frame = body.get("effective_time_frame") or {}
            interval = frame.get("time_interval")
            if interval is None:
                start, end = frame.get("date_time"), None
            else:
                start, end = interval.get("start_date_time"), interval.get("end_date_time")
            block["observation_id"].append(int(res["id"]))
            block["patient_id"].append(int(res["subject"]["reference"][8:]))
            block["effective_start"].append(start)
            block["effective_end"].append(end)
            block["last_updated"].append(res["meta"]["lastUpdated"])
            block["uuid"].append(header.get("uuid"))
            block["modality"].append(header.get("modality"))
            provenance = header.get("acquisition_provenance")
            block["source_name"].append(provenance.get("source_name") if provenance else None)
            flat: dict[str, Any] = {}
            for key, value in body.items():
                if key != "effective_time_frame":
                    _flatten(key, value, flat)
            measures[obs_code].append(flat)

    def frames(self, code: str | None) -> Any:
        """A dict of DataFrames keyed by code (one frame when one code is asked for)."""
        import pandas as pd

        frames: dict[str, Any] = {}
        for obs_code, block in self.blocks.items():
            rows = self.measures[obs_code]
            names: dict[str, None] = {}
            for flat in rows:
                names.update(dict.fromkeys(flat))
            for name in names:
                block[name] = [flat.get(name) for flat in rows]
            df = pd.DataFrame(block)
            for column in ("effective_start", "effective_end", "last_updated"):
                df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
            for column in ("modality", "source_name"):
                df[column] = df[column].astype("category")
            frames[obs_code] = df
        if code and len(frames) <= 1:
            return next(iter(frames.values()), pd.DataFrame())
        return frames


def _search(study: int, code: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"patient._has:Group:member:_id": study, "_count": FHIR_PAGE}
    if code:
        params["code"] = coded(code)
    return params


def run_baseline(url: str, token: str, study: int, code: str | None, concurrency: int | None) -> Any:
    """Sequential pages, json and base64 from the standard library."""
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    params: dict[str, Any] | None = _search(study, code)
    columns = _Columns()
    next_url: str | None = f"{url}/FHIR/R5/Observation"
    while next_url:
        response = session.get(next_url, params=params)
        response.raise_for_status()
        params = None
        bundle = json.loads(response.content)
        columns.add(bundle, json.loads, base64.b64decode)
        next_url = next((link["url"] for link in bundle.get("link", ()) if link["relation"] == "next"), None)
    return columns.frames(code)


# --------------------------------------------------------------------------------------
# A power user's Python: the first page for the total, then every other page by number,
# 8 in flight (aiohttp), each parsed as it arrives with orjson and binascii.


def run_power(url: str, token: str, study: int, code: str | None, concurrency: int | None) -> Any:
    import asyncio
    import binascii

    import aiohttp
    import orjson

    in_flight = concurrency or 8
    search = _search(study, code)
    columns = _Columns()
    loads, b64decode = orjson.loads, binascii.a2b_base64

    async def page(session: Any, number: int) -> int:
        """Read page `number` into the columns; the search's total. (Not the bundle: gather
        would keep every page's until the last.)"""
        async with session.get(f"{url}/FHIR/R5/Observation", params={**search, "_page": number}) as response:
            response.raise_for_status()
            bundle = loads(await response.read())
        columns.add(bundle, loads, b64decode)
        return int(bundle["total"])

    async def fetch() -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            pages = -(-(await page(session, 1)) // FHIR_PAGE)
            await asyncio.gather(*(page(session, number) for number in range(2, pages + 1)))

    asyncio.run(fetch())
    return columns.frames(code)


PEERS = {
    "jhe": run_jhe,
    "jhe-arrow": run_jhe_arrow,
    "jhc": run_jhc,
    "guide": run_guide,
    "baseline": run_baseline,
    "power": run_power,
}


def _rss_now_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _count(result: Any) -> tuple[int, int, int]:
    """(distinct observation ids, rows of the frame(s), Arrow bytes or 0)."""
    frames = list(result.values()) if isinstance(result, dict) else [result]
    observations = rows = nbytes = 0
    for frame in frames:
        if hasattr(frame, "nbytes") and hasattr(frame, "num_rows"):  # pyarrow.Table
            nbytes += frame.nbytes
            rows += frame.num_rows
            import pyarrow.compute as pc

            # Counted in Arrow: a Python set of a million ids would add its own 100 MB.
            observations += pc.count_distinct(frame.column("observation_id")).as_py()
            continue
        rows += len(frame)
        ids = "observation_id" if "observation_id" in frame.columns else "id"
        observations += frame[ids].nunique() if len(frame) else 0
    return observations, rows, nbytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", choices=sorted(PEERS), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--study", type=int, required=True)
    parser.add_argument("--code")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    args = parser.parse_args()

    # Imports before the clock: a user has pandas (and the library) loaded already.
    import pandas  # noqa: F401
    import requests  # noqa: F401

    if args.peer.startswith("jhe"):
        import jhe  # noqa: F401
        import pyarrow  # noqa: F401
    elif args.peer == "jhc":
        import jupyterhealth_client  # noqa: F401
    elif args.peer == "power":
        import aiohttp  # noqa: F401
        import orjson  # noqa: F401

    rss_before = _rss_now_kb()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = PEERS[args.peer](args.url, args.token, args.study, args.code, args.concurrency)
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    observations, rows, nbytes = _count(result)
    out = {
        "wall_s": wall,
        "cpu_s": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
        "rss_before_kb": rss_before,
        "peak_rss_kb": usage1.ru_maxrss,
        "observations": int(observations),
        "rows": int(rows),
        "arrow_nbytes": int(nbytes),
    }
    with open(args.result, "w") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
