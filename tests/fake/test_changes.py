"""The fake Exchange's data changing while it runs: rows added, updated (a new value, moved
to the newest ``lastUpdated``) and deleted, and rows dated before rows already visible, on
both generations; seen by a jhe fetch, by plain HTTP and by ``expected_observations``."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

import jhe
from jhe.testing import FakeExchange

from tests.fake.helpers import call
from tests.helpers import GLUCOSE, expected_ids, observation_ids, utc

if TYPE_CHECKING:
    import pandas as pd

GENERATIONS = [False, True, "guide"]


def fake(legacy: bool | str) -> FakeExchange:
    """About 500 observations: one page holds them all."""
    return FakeExchange(patients=3, days=1, seed=4, legacy=legacy)


def search(fx: FakeExchange, extra: str = "") -> str:
    """The main study's FHIR search, every row on one page."""
    return f"{fx.fhir_url}/Observation?patient._has:Group:member:_id={fx.main_study_id}&_count=1000{extra}"


def rest_list(fx: FakeExchange, extra: str = "") -> str:
    size = "limit=1000" if fx.generation == "guide" else "page_size=1000"
    return f"{fx.url}/api/v1/observations?study_id={fx.main_study_id}&{size}{extra}"


def glucose_by_id(df: "pd.DataFrame") -> dict[int, float]:
    return dict(zip(df["observation_id"], df["glucose_mg_dl"]))


@pytest.mark.parametrize("legacy", GENERATIONS)
def test_a_fetch_sees_additions_updates_and_deletions(legacy: bool | str) -> None:
    with fake(legacy) as fx:
        client = jhe.Client(fx.url, fx.token)
        study = fx.main_study_id
        rows = fx.expected_observations(study_id=study, code=GLUCOSE)
        before = client.fetch_dataframe(study_id=study, code=GLUCOSE)
        assert observation_ids(before) == expected_ids(rows)
        newest_before = utc(rows[0]["last_updated"])

        added = fx.add_observations(4, code=GLUCOSE)
        updated = [rows[-1]["id"], rows[len(rows) // 2]["id"]]
        fx.update_observations(updated)
        deleted = [rows[0]["id"], rows[3]["id"]]
        fx.delete_observations(deleted)

        after = client.fetch_dataframe(study_id=study, code=GLUCOSE)
        expected = fx.expected_observations(study_id=study, code=GLUCOSE)
        assert observation_ids(after) == expected_ids(expected), "what the fake says there is"
        assert len(after) == len(before) + 4 - 2
        assert observation_ids(after)[:6] == [*reversed(updated), *reversed(added)], "newest first"
        assert not set(deleted) & set(observation_ids(after))
        old, new = glucose_by_id(before), glucose_by_id(after)
        for i in updated:
            assert new[i] != old[i], "the decoded measure changed"
        stamps = dict(zip(after["observation_id"], after["last_updated"]))
        assert all(stamps[i] > newest_before for i in [*updated, *added])
        assert all(new[i] == old[i] for i in old if i not in {*updated, *deleted})


@pytest.mark.parametrize("legacy", GENERATIONS)
def test_updated_since_returns_exactly_the_changed_rows(legacy: bool | str) -> None:
    with fake(legacy) as fx:
        study = fx.main_study_id
        rows = fx.expected_observations(study_id=study)
        since = utc(rows[0]["last_updated"]) + timedelta(microseconds=1)
        updated = [rows[-1]["id"], rows[40]["id"]]
        fx.update_observations(updated)
        added = fx.add_observations(3)
        changed = {*updated, *added}
        df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=study, updated_since=since.isoformat())
        assert set(observation_ids(df)) == changed
        if fx.generation == "current":
            stamp = since.isoformat().replace("+00:00", "Z")
            answer = call(search(fx, f"&_lastUpdated=ge{stamp}"), fx.token).json()
            assert answer["total"] == len(changed)
            assert [int(e["resource"]["id"]) for e in answer["entry"]] == [*reversed(added), *reversed(updated)]
            ascending = call(search(fx, "&_sort=_lastUpdated"), fx.token).json()
            assert [int(e["resource"]["id"]) for e in ascending["entry"][-5:]] == [*updated, *added]
        else:
            # Ignored by the server (jhe filtered on its side above): every row, newest first.
            answer = call(search(fx, "&_lastUpdated=ge2090-01-01&_sort=_lastUpdated"), fx.token).json()
            assert answer["total"] == len(rows) + 3
            assert [int(e["resource"]["id"]) for e in answer["entry"][:5]] == [*reversed(added), *reversed(updated)]


@pytest.mark.parametrize("legacy", GENERATIONS)
def test_updates_show_in_the_fhir_resource_and_the_rest_row(legacy: bool | str) -> None:
    with fake(legacy) as fx:
        row = fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)[-1]
        fx.update_observations([row["id"]])
        now = fx.expected_observations(study_id=fx.main_study_id, code=GLUCOSE)[0]
        assert now["id"] == row["id"]
        assert now["omh"]["body"]["blood_glucose"] != row["omh"]["body"]["blood_glucose"]
        assert now["omh"]["body"]["effective_time_frame"] == row["omh"]["body"]["effective_time_frame"]
        assert utc(now["last_updated"]) > utc(row["last_updated"])
        fhir = call(search(fx, "&_count=1"), fx.token).json()["entry"][0]["resource"]
        assert (fhir["id"], utc(fhir["meta"]["lastUpdated"])) == (str(row["id"]), utc(now["last_updated"]))
        rest = call(rest_list(fx), fx.token).json()["results"][0]
        data = rest["omhData" if fx.generation == "current" else "valueAttachmentData"]
        assert (rest["id"], data) == (row["id"], now["omh"])


@pytest.mark.parametrize("legacy", GENERATIONS)
def test_deleted_rows_are_gone_from_searches_counts_reads_and_lists(legacy: bool | str) -> None:
    with fake(legacy) as fx:
        rows = fx.expected_observations(study_id=fx.main_study_id)
        gone = [rows[0]["id"], rows[-1]["id"]]
        fx.delete_observations(gone)
        page = call(search(fx), fx.token).json()
        assert page["total"] == len(rows) - 2
        assert not {int(e["resource"]["id"]) for e in page["entry"]} & set(gone)
        listed = call(rest_list(fx), fx.token).json()
        assert listed["count"] == len(rows) - 2
        assert call(f"{fx.url}/api/v1/observations?observation_id={gone[0]}", fx.token).json()["count"] == 0
        if fx.generation == "current":
            assert call(search(fx, "&_summary=count"), fx.token).json()["total"] == len(rows) - 2
            assert call(f"{fx.fhir_url}/Observation/{gone[0]}", fx.token).status == 404
            assert call(f"{fx.url}/api/v1/observations/{gone[1]}", fx.token).status == 404
        # Never again, and the ids are not reused.
        with pytest.raises(ValueError, match=str(gone[0])):
            fx.delete_observations([gone[0]])
        with pytest.raises(ValueError, match=str(gone[1])):
            fx.update_observations([gone[1]])
        assert min(fx.add_observations(1)) > max(r["id"] for r in rows)


@pytest.mark.parametrize("legacy", [False, True])
def test_rows_can_be_dated_before_rows_already_visible(legacy: bool) -> None:
    with fake(legacy) as fx:
        study = fx.main_study_id
        client = jhe.Client(fx.url, fx.token)
        first = fx.add_observations(1)
        seen = client.fetch_dataframe(study_id=study)
        newest_seen = seen["last_updated"].max()
        late = fx.add_observations(3, last_updated_offset=timedelta(seconds=-3))
        assert min(late) > max(first), "real new rows, new ids"
        stamps = {r["id"]: utc(r["last_updated"]) for r in fx.expected_observations(study_id=study)}
        assert all(newest_seen - timedelta(seconds=3) < stamps[i] < newest_seen for i in late)
        again = client.fetch_dataframe(study_id=study)
        assert set(late) <= set(observation_ids(again))
        assert observation_ids(again) == expected_ids(fx.expected_observations(study_id=study))
        # A client polling for rows newer than the newest it saw misses them.
        polled = client.fetch_dataframe(study_id=study, updated_since=(newest_seen + timedelta(microseconds=1)).isoformat())
        assert len(polled) == 0


def test_bad_changes_are_refused_and_change_nothing() -> None:
    with FakeExchange(patients=2, days=1) as fx:
        rows = fx.expected_observations()
        for change, message in [
            (lambda: fx.add_observations(-1), "n must be"),
            (lambda: fx.add_observations(2, patient_id=1), "no patient 1"),
            (lambda: fx.add_observations(2, code="omh:nope:1.0"), "unknown code"),
            (lambda: fx.add_observations(2, code="omh:ambient-sound:1.0"), "unknown_codes"),
            (lambda: fx.update_observations([rows[0]["id"], 7]), "no observation 7"),
            (lambda: fx.delete_observations([rows[0]["id"], 10**12]), "no observation"),
        ]:
            with pytest.raises(ValueError, match=message):
                change()
        with pytest.raises(TypeError, match="timedelta"):
            fx.add_observations(1, last_updated_offset=-3)  # type: ignore[arg-type]
        assert fx.expected_observations() == rows
        assert fx.add_observations(0) == []


def test_changes_from_another_thread_while_requests_run() -> None:
    with fake(False) as fx:
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for round_ in range(20):
                    offset = timedelta(seconds=-2) if round_ % 4 == 0 else None
                    added = fx.add_observations(5, last_updated_offset=offset)
                    fx.update_observations(added[:2])
                    fx.delete_observations(added[3:])
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        thread = threading.Thread(target=writer)
        thread.start()
        answers = 0
        while thread.is_alive() or answers < 3:
            page = call(search(fx), fx.token).json()
            got = [int(e["resource"]["id"]) for e in page["entry"]]
            assert len(got) == page["total"] == len(set(got)), "one state of the store per answer"
            answers += 1
        thread.join()
        assert not errors
        df = jhe.Client(fx.url, fx.token).fetch_dataframe(study_id=fx.main_study_id)
        assert observation_ids(df) == expected_ids(fx.expected_observations(study_id=fx.main_study_id))
