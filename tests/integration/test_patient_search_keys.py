"""The patient search's key collection on the real server (nx-27017; a real MongoDB when MONGODB_URI is set): one
key document per (key, patient), an index the search's query uses, two round trips a search, a key the record no
longer has never answering, a rename followed, and the writes that stop half way."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pymongo import MongoClient, monitoring

from opd import store as store_module
from opd.domain.patients import amend, register, search_keys
from opd.errors import OutcomeUnknown
from opd.mongo import Document
from opd.patients import KEY_INDEX, SEARCH_KEYS, STALE_ALLOWANCE, PatientStore
from tests.support.patients import LATER, NOW, THIS_YEAR, registered


@pytest.fixture
def store(mongo_client: MongoClient[Document], database_name: str) -> PatientStore:
    made = PatientStore(mongo_client[database_name]["patients"])
    made.ensure_indexes()
    return made


def found(store: PatientStore, q: str) -> list[str]:
    return [p.patient_id for p in store.search(q)]


def key_documents(store: PatientStore, patient_id: str) -> dict[str, Document]:
    return {doc["key"]: doc for doc in store.keys.find({"patientId": patient_id})}


def test_ensure_indexes_makes_the_key_index_and_no_index_on_the_patients_keys(store: PatientStore) -> None:
    keys = [[(f, int(d)) for f, d in index["key"]] for index in store.keys.index_information().values()]
    assert [(f, int(d)) for f, d in KEY_INDEX] in keys
    patients = [[f for f, _ in index["key"]] for index in store.collection.index_information().values()]
    assert not any("searchKeys" in fields for fields in patients)  # nothing queries the record's own keys
    store.ensure_indexes()  # again, as every new execution environment does: no error, no second index
    assert len(store.keys.index_information()) == len(keys)


def test_a_registration_writes_one_key_document_per_key(store: PatientStore) -> None:
    ravi = registered(store, "pt-ravi", name="Ravi Kumar", phone="+919876543210")
    assert store.keys.database.name == store.collection.database.name and store.keys.name == SEARCH_KEYS
    documents = key_documents(store, "pt-ravi")
    assert sorted(documents) == sorted(search_keys(ravi)) and len(documents) == len(search_keys(ravi))
    assert documents["n:ku"] == {"_id": "n:ku|pt-ravi", "key": "n:ku", "name": "Ravi Kumar", "patientId": "pt-ravi"}
    record = store.collection.find_one({"_id": "pt-ravi"})
    assert record is not None and record["searchKeys"] == search_keys(ravi)  # the truth the filter reads


class Recorder(monitoring.CommandListener):
    """Every command a client sends, as sent."""

    def __init__(self) -> None:
        self.sent: list[Document] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def recorded(mongo_uri: str, database_name: str) -> Iterator[tuple[PatientStore, Recorder]]:
    """A store on a client of its own that writes down what it sends."""
    recorder = Recorder()
    client: MongoClient[Document] = store_module.connect(mongo_uri, event_listeners=[recorder])
    yield PatientStore(client[database_name]["patients"]), recorder
    client.close()


def test_a_search_is_two_finds_and_its_key_query_is_served_by_the_key_index(
    store: PatientStore, recorded: tuple[PatientStore, Recorder]
) -> None:
    for n in range(25):
        registered(store, f"pt-{n:02d}", name=f"Priya {'Nair' if n % 5 else 'Menon'}", phone=f"+9198765{n:05d}")
    counted, recorder = recorded
    assert len(counted.search("nair")) == 20
    assert [(c.get("find"), "filter" in c) for c in recorder.sent] == [(SEARCH_KEYS, True), ("patients", True)]
    sent = recorder.sent[0]  # the key documents, in order; then the patients by _id
    explained = store.keys.find(sent["filter"]).sort(list(sent["sort"].items())).explain()
    plan = json.dumps(explained.get("queryPlanner", {}).get("winningPlan", explained))
    # nx-27017 answers SQLite's plan ("SEARCH ... USING INDEX idx_patient_search_keys_key_name_patientId"), MongoDB
    # its stages (IXSCAN); a scan of every key document (nx-27017's answer to `{key: k}`) is neither.
    assert "USING INDEX idx_patient_search_keys_key_name_patientId" in plan or "IXSCAN" in plan, plan


def test_a_key_the_record_no_longer_has_never_answers(store: PatientStore) -> None:
    registered(store, "pt-asha", name="Asha Verma", phone="+919876500001")
    registered(store, "pt-anil", name="Anil Verma")
    # Left behind by a write that stopped half way: keys pointing at a patient who does not match, or is not there.
    store.keys.insert_many(
        [
            {"_id": "n:zo|pt-asha", "key": "n:zo", "name": "Asha Verma", "patientId": "pt-asha"},
            {"_id": "n:ve|pt-gone", "key": "n:ve", "name": "Aaron Verma", "patientId": "pt-gone"},
        ]
    )
    assert found(store, "zo") == []
    assert found(store, "ver") == ["pt-anil", "pt-asha"]
    assert found(store, "ve") == ["pt-anil", "pt-asha"]  # the stale entry comes first in order, and is skipped


def test_stale_keys_ahead_of_the_answer_are_read_past(store: PatientStore) -> None:
    stale = 2 * (20 + STALE_ALLOWANCE)  # two whole pages of them, ordered before every real patient
    store.keys.insert_many(
        [
            {"_id": f"n:me|pt-x{n:03d}", "key": "n:me", "name": "Aaa Meena", "patientId": f"pt-x{n:03d}"}
            for n in range(stale)
        ]
    )
    for n in range(22):
        registered(store, f"pt-{n:02d}", name="Meena Raj")
    assert found(store, "mee") == [f"pt-{n:02d}" for n in range(20)]  # another key: no stale entries
    assert found(store, "me") == [f"pt-{n:02d}" for n in range(20)]


def test_a_renamed_patient_is_found_by_the_new_name_and_not_the_old(store: PatientStore) -> None:
    before = registered(store, "pt-1", name="Zara Shah", phone="+919876500001")
    registered(store, "pt-2", name="Meera Shah", phone="+919876500001")  # the family's phone
    assert found(store, "0001") == ["pt-2", "pt-1"]  # Meera, Zara
    written = store.update(before, amend(before, {"name": "Asha Iyer"}, LATER, THIS_YEAR))
    assert written is not None and written.name == "Asha Iyer"
    assert found(store, "asha") == found(store, "iye") == ["pt-1"]
    assert found(store, "zar") == [] and found(store, "sha") == ["pt-2"]
    assert "n:za" not in key_documents(store, "pt-1") and "n:sh" not in key_documents(store, "pt-1")  # deleted
    # The keys it kept carry the new name: the phone's answer is in the new name's order (Asha before Meera).
    assert {doc["name"] for doc in key_documents(store, "pt-1").values()} == {"Asha Iyer"}
    assert found(store, "0001") == ["pt-1", "pt-2"]


def test_an_update_that_loses_its_race_leaves_no_wrong_answer(store: PatientStore) -> None:
    read = registered(store, "pt-1", name="Meena", phone="+919876500002")
    assert store.update(read, amend(read, {"name": "Meena Raj"}, LATER, THIS_YEAR)) is not None
    lost = store.update(read, amend(read, {"name": "Kavya", "phone": "+919876500003"}, LATER, THIS_YEAR))
    assert lost is None
    assert "n:ka" in key_documents(store, "pt-1")  # inserted before the write that lost: left behind
    assert found(store, "kav") == [] and found(store, "0003") == []  # and never answered
    assert found(store, "raj") == found(store, "0002") == ["pt-1"]


@pytest.fixture
def unreachable() -> Iterator[MongoClient[Document]]:
    client: MongoClient[Document] = store_module.connect("mongodb://127.0.0.1:9/", timeout_ms=100)
    yield client
    client.close()


def test_a_registration_whose_keys_are_lost_names_the_patient_and_a_patch_makes_it_searchable(
    store: PatientStore, unreachable: MongoClient[Document]
) -> None:
    keys_away = PatientStore(store.collection, unreachable["x"][SEARCH_KEYS])
    made = register("pt-1", {"name": "Ravi Kumar", "phone": "+919876543210"}, NOW, THIS_YEAR)
    with pytest.raises(OutcomeUnknown) as exc:
        keys_away.insert(made)
    assert exc.value.details == [{"dependency": "mongo", "outcome": "UNKNOWN", "patientId": "pt-1"}]
    assert "Ravi" not in exc.value.message and "9876543210" not in exc.value.message  # it is logged
    assert store.get("pt-1") == made and found(store, "ravi") == []  # registered, but no key yet

    changed = store.update(made, amend(made, {"yearOfBirth": 1984}, LATER, THIS_YEAR))  # any change
    assert changed is not None
    assert found(store, "ravi") == found(store, "3210") == ["pt-1"]
    assert sorted(key_documents(store, "pt-1")) == sorted(search_keys(changed))
