"""The desk's patient search over a large register: GET /patients?q= as the store answers it. A figure, not a test.

Starts its own nx-27017 (or uses MONGODB_URI), as sessions.py does, and registers 100,000 patients in batches
of 1,000, as `PatientStore.insert` writes them (the patients' documents, then their key documents in
`patient_search_keys`, each an `insert_many`): Indian names in Latin (a few written with IAST accents,
"Rāmakṛṣṇa"), Devanagari and Tamil, made from small lists of first names and surnames in each script, so
names repeat as they do in a real register; a phone for nine in ten, one in five of those a family's
phone another patient has; an ABHA address for three in ten. Then 1,000 searches as the desk types them:
seven in ten the first 2-5 characters of a word of a registered name (some in other case, some with the
accents added or taken off), three in ten the last 4-10 digits of a phone (some written "+91 98765 43210").
Each search is `PatientStore.search` (the key documents of the one key, on the (key, name, patientId) index,
then the patients by `_id`), timed from the call to the list of patients, at 10,000 patients and again at
100,000 (the same searches, all made from the first 10,000). Prints p50/p95/p99, how many patients the
searches answered, and the server's plan for the key query (explain()), and whether it uses an index.
Target: p95 at most 50 ms on this machine.

Measured before the key collection (one query, `{"searchKeys": {"$in": [key]}}` on the patients, which
nx-27017 answers by reading every document): p95 36 ms at 10,000 patients, 321 ms at 100,000.
Run: .venv/bin/python benchmarks/patient_search.py [--patients 100000] [--searches 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import unicodedata
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from devserver.servers import given_or_own  # noqa: E402
from opd import store as store_module  # noqa: E402
from opd.domain.patients import Patient, Sex, new_patient_id, search_key, search_keys  # noqa: E402
from opd.patients import SEARCH_ORDER, PatientStore, key_docs, patient_to_doc  # noqa: E402

BATCH = 1_000
CHECKPOINT = 10_000  # searched at this many patients, and at the end


def words(text: str) -> list[str]:
    return text.split()


LATIN_FIRST = words(
    "Aarav Arjun Rohan Ishaan Kabir Rahul Amit Suresh Ramesh Mahesh Vijay Sanjay Anil Sunil Ravi Kiran Deepak "
    "Manoj Rajesh Priya Ananya Diya Aditi Kavya Meera Pooja Neha Sneha Lakshmi Asha Usha Rekha Sunita Anita Nisha "
    "Rāma Kṛṣṇa Sītā Gītā Rādhā Śiva Gaṇeśa Lakṣmī"
)
LATIN_SURNAMES = words(
    "Sharma Verma Gupta Singh Kumar Patel Shah Mehta Iyer Nair Menon Pillai Reddy Rao Naidu Das Bose Banerjee "
    "Chatterjee Ghosh Sen Joshi Kulkarni Deshpande Patil Yadav Mishra Pandey Tiwari Chauhan Khan Ahmed Fernandes "
    "D'Souza D'Cruz Śarmā Varmā Ayyaṅkār"
)
DEVANAGARI_FIRST = words(
    "राहुल अमित सुरेश रमेश महेश विजय संजय अनिल सुनील रवि किरण दीपक मनोज राजेश प्रिया अनन्या दिया अदिति काव्या मीरा "
    "पूजा नेहा स्नेहा लक्ष्मी सीता गीता राधा आशा उषा रेखा सुनीता निशा कृष्ण आरव अर्जुन रोहन कबीर"
)
DEVANAGARI_SURNAMES = words(
    "शर्मा वर्मा गुप्ता सिंह कुमार पटेल शाह मेहता जोशी मिश्रा पांडे तिवारी दुबे यादव चौहान राठौर कुलकर्णी देशपांडे पाटिल "
    "जाधव त्रिपाठी श्रीवास्तव सक्सेना अग्रवाल"
)
TAMIL_FIRST = words(
    "முருகன் செல்வம் கணேசன் ராஜா குமார் சுரேஷ் ரமேஷ் விஜய் கார்த்திக் அருண் பாலு சரவணன் செந்தில் வேலு மணி "
    "லட்சுமி மீனா பிரியா கவிதா செல்வி தேவி கீதா சீதா ராதா அனிதா சுமதி வள்ளி கோபால் கோவிந்தன் ஜெயா"
)
TAMIL_SURNAMES = words(
    "சுப்பிரமணியன் ராமசாமி கிருஷ்ணன் நடராஜன் வெங்கடேசன் சுந்தரம் பாண்டியன் பிள்ளை முதலியார் செட்டியார் நாயுடு ராஜேந்திரன் சீனிவாசன் பெருமாள் அண்ணாமலை"
)
SCRIPTS = (  # (first names, surnames, share of the register)
    (LATIN_FIRST, LATIN_SURNAMES, 0.5),
    (DEVANAGARI_FIRST, DEVANAGARI_SURNAMES, 0.25),
    (TAMIL_FIRST, TAMIL_SURNAMES, 0.25),
)
ACCENTED = str.maketrans("aiusnrt", "āīūśṇṛṭ")  # what the desk might add to a plain Latin name


@dataclass(frozen=True)
class Figure:
    patients: int
    searches: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    answered: int  # patients in all answers
    full: int  # answers of 20 (there were more)
    empty: int
    plan: str
    index_used: bool


def make_patient(rnd: random.Random, phones: list[str], n: int, now: datetime) -> Patient:
    first, surnames, _ = rnd.choices(SCRIPTS, weights=[share for *_, share in SCRIPTS])[0]
    name = f"{rnd.choice(first)} {rnd.choice(surnames)}"
    phone: str | None = None
    if rnd.random() < 0.9:
        phone = (
            rnd.choice(phones)
            if phones and rnd.random() < 0.2
            else f"+91{rnd.choice('6789')}{rnd.randrange(10**9):09d}"
        )
        phones.append(phone)
    abha = f"p{n}.{rnd.randrange(10**6):06d}@sbx" if rnd.random() < 0.3 else None
    sex = rnd.choice(list(Sex))
    return Patient(new_patient_id(), name, now, now, phone, rnd.randint(1930, 2025), sex, None, abha)


def desk_query(rnd: random.Random, patient: Patient) -> str:
    """What the desk types to find `patient`: the start of a word of the name, or the end of the phone."""
    if patient.phone is not None and rnd.random() < 0.3:
        digits = patient.phone.removeprefix("+")
        if rnd.random() < 0.2:  # the whole number as it is written on a card
            return f"+{digits[:2]} {digits[2:7]} {digits[7:]}"
        return digits[-rnd.randint(4, 10) :]
    word = rnd.choice([w for w in (patient.name or "").replace("'", "").split() if len(w) >= 2])
    typed = word[: rnd.randint(2, 5)]
    plain = "".join(c for c in unicodedata.normalize("NFKD", typed) if not unicodedata.combining(c))
    if plain.isascii():  # Latin: some in capitals, some with accents the name has not or without those it has
        chance = rnd.random()
        if chance < 0.15:
            typed = typed.upper()
        elif chance < 0.3:
            typed = plain.translate(ACCENTED) if typed == plain else plain
    return typed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def plan_of(store: PatientStore, q: str) -> tuple[str, bool]:
    """The server's plan for the search's key query (as `PatientStore.search` sends it), in one line, and whether
    an index serves it. (nx-27017 explains the filter alone; the sort's cost shows in the times.)"""
    query = {"key": {"$eq": search_key(q)}}
    explained: dict[str, Any] = store.keys.find(query).sort(SEARCH_ORDER).limit(30).explain()
    plan = explained.get("queryPlanner", {}).get("winningPlan", explained)
    text = json.dumps(plan, ensure_ascii=False)
    return text, any(mark in text for mark in ("IXSCAN", "USING INDEX", "USING COVERING INDEX"))


def measure_searches(store: PatientStore, patients: int, queries: list[str]) -> Figure:
    for q in queries[:20]:  # the server's caches, the connection: once
        store.search(q)
    times, sizes = [], []
    for q in queries:
        began = time.perf_counter()
        answer = store.search(q)
        times.append((time.perf_counter() - began) * 1000)
        sizes.append(len(answer))
    plan, used = plan_of(store, queries[0])
    return Figure(
        patients=patients,
        searches=len(queries),
        p50_ms=statistics.median(times),
        p95_ms=percentile(times, 95),
        p99_ms=percentile(times, 99),
        max_ms=max(times),
        answered=sum(sizes),
        full=sum(1 for n in sizes if n == 20),
        empty=sum(1 for n in sizes if n == 0),
        plan=plan,
        index_used=used,
    )


def measure(mongo_uri: str, patients: int, searches: int) -> tuple[list[Figure], dict[str, float]]:
    rnd = random.Random(19)
    # Long timeouts: a batch's 17,000 key documents may take nx-27017 seconds to index on a busy machine.
    client = store_module.connect(mongo_uri, timeout_ms=60_000)
    database = f"opd_bench_patients_{os.getpid()}"
    store = PatientStore(client[database]["patients"])
    store.ensure_indexes()
    now = datetime.now(UTC).replace(microsecond=0)
    phones: list[str] = []
    first: list[Patient] = []
    queries: list[str] = []
    figures, inserting, keys = [], 0.0, 0
    try:
        for start in range(0, patients, BATCH):
            batch = [make_patient(rnd, phones, n, now) for n in range(start, min(start + BATCH, patients))]
            keys += sum(len(search_keys(p)) for p in batch)
            if len(first) < CHECKPOINT:
                first.extend(batch)
            began = time.perf_counter()
            store.collection.insert_many([patient_to_doc(p) for p in batch], ordered=False)
            store.keys.insert_many([doc for p in batch for doc in key_docs(p, search_keys(p))], ordered=False)
            inserting += time.perf_counter() - began
            done = start + len(batch)
            if done in {CHECKPOINT, patients}:
                if not queries:
                    queries = [desk_query(rnd, rnd.choice(first)) for _ in range(searches)]
                figures.append(measure_searches(store, done, queries))
                print(f"  {done:,} patients: p95 {figures[-1].p95_ms:.0f} ms", flush=True)
    finally:
        client.drop_database(database)
        client.close()
    inserted = {"patients_per_s": patients / inserting, "keys_per_patient": keys / patients}
    return figures, inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "patient_search.json")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        _, mongo_uri = given_or_own(stack, workdir)
        figures, inserted = measure(mongo_uri, args.patients, args.searches)

    print(
        f"Patient search (GET /patients?q=, the store's two finds): {args.searches} searches, "
        f"{inserted['keys_per_patient']:.1f} search keys a patient, registered at {inserted['patients_per_s']:,.0f}/s"
    )
    print(f"{'patients':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'answered':>10}{'of 20':>7}{'none':>6}  index")
    for f in figures:
        print(
            f"{f.patients:>9,}{f.p50_ms:>7.1f}ms{f.p95_ms:>7.1f}ms{f.p99_ms:>7.1f}ms{f.max_ms:>7.1f}ms"
            f"{f.answered:>10,}{f.full:>7}{f.empty:>6}  {'yes' if f.index_used else 'no'}"
        )
    print(f"plan (explain) at {figures[-1].patients:,}: {figures[-1].plan}")
    print(f"target p95 <= 50 ms: {'met' if figures[-1].p95_ms <= 50 else 'not met'} at {figures[-1].patients:,}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"inserted": inserted, "figures": [asdict(f) for f in figures]}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
