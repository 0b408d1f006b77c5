"""What the service costs in AWS: 1,000 bookings, and a clinic day of a 50-doctor hospital. A model, not a bill.

It multiplies published prices (PRICES: each with its source, date and region) by this project's own
figures, measured here: for every operation, the CPU time of one warm Lambda handler invocation and
its round trips to Redis and MongoDB, by calling the handler in-process (`lambda_handler(event,
context)`, the events of tests/handlers) against our own redis-server and nx-27017, commands
counted on the clients. A day's traffic is the DAY parameters (50 doctors, 30 patients each, 50
waiting-room screens every 3 s for 10 h, a few SMS per patient, an event per change).

How a measurement becomes billed Lambda time: Lambda gives a function CPU in proportion to its
memory, one vCPU at 1,769 MB, so CPU work measured on one core here takes 1,769 / MemorySize times
as long there (below 1,769 MB), and every round trip adds the network's RTT (Atlas and Upstash in the
function's region: ~1.5 ms, a parameter). One Graviton core is taken as fast as one core of this
machine (an assumption: arm64 pydantic-core and bson are native code like here). Each function's
MemorySize is read from template.yaml.

    .venv/bin/python benchmarks/cost.py                        # measure (~30 s), then the tables
    .venv/bin/python benchmarks/cost.py --measured benchmarks/results/handler_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from benchmarks.sms_cost import booked_and_called_parts, samples, sms_price_default  # noqa: E402
from benchmarks.sms_cost import table as sms_table  # noqa: E402
from devserver.template import function_named, load_template  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MB_PER_VCPU = 1769  # Lambda: one full vCPU at 1,769 MB, CPU share in proportion below it
PRICES_AS_OF = "2026-11-29"


@dataclass(frozen=True)
class Prices:
    """USD. Region us-east-1 unless said; as stated in issue 14 and on the AWS pricing pages as we read
    them, recorded PRICES_AS_OF; this machine has no internet access to re-check them: prices change."""

    # AWS Lambda pricing page, arm64, first 7.5 billion GB-s a month; requests $0.20 per million.
    # ap-south-1 (Mumbai): we believe the same per-GB-s and per-request prices, not verified here.
    lambda_gb_s: float = 0.0000133334
    lambda_request: float = 0.20 / 1e6
    # Lambda SnapStart (Python): snapshot cache per GB-s of memory, for as long as a version is
    # active (3 h at least); each restore per GB of memory. AWS Lambda pricing page.
    snapstart_cache_gb_s: float = 0.0000015046
    snapstart_restore_gb: float = 0.0001397998
    # Amazon API Gateway HTTP APIs: $1.00 per million requests (first 300 M a month).
    http_api_request: float = 1.00 / 1e6
    # Amazon EventBridge: custom events put on a bus, $1.00 per million (64 KB chunks).
    eventbridge_event: float = 1.00 / 1e6
    # SMS to India, transactional, per message part: issue 14's figure (~$0.00278), from the AWS SNS /
    # End User Messaging SMS pricing page for India; NOT verified here, and carrier fees for India
    # (DLT-registered templates) may add to it: pass --sms-price.
    sms: float = 0.00278
    # Upstash Redis pay-as-you-go: $0.20 per 100K commands (Upstash pricing page).
    redis_command: float = 0.20 / 100_000
    # MongoDB Atlas: a fixed monthly tier. M10 on AWS ~$0.08/h (~$57 a month); Flex $8-30 a month.
    atlas_month: float = 57.0
    # CloudWatch Logs ingestion (Standard class), per GB; AWS X-Ray traces recorded, per million.
    logs_gb: float = 0.50
    xray_trace: float = 5.00 / 1e6


PRICES = Prices()


@dataclass(frozen=True)
class Day:
    """A clinic day of a 50-doctor hospital (every figure a parameter of the model)."""

    doctors: int = 50
    patients_per_doctor: int = 30
    clinic_hours: float = 10.0
    screens: int = 50
    screen_every_s: float = 3.0
    keyed_share: float = 0.5  # bookings from the patient app (with an Idempotency-Key); the rest at the desk
    refused_share: float = 0.1  # booking attempts refused (full, duplicate), per booking made
    cancelled_share: float = 0.1
    patient_reads: int = 3  # GET /bookings/{id} from the app, per patient
    slot_reads: int = 5  # GET /slots, /doctors/{id}/slots while choosing, per patient
    desk_queue_every_s: float = 30.0  # each doctor's desk reads its queue
    sms_per_patient: float = 2.0  # booked; your turn is near
    events_per_change: float = 1.0  # EventBridge events per state change
    log_bytes_per_invocation: int = 700  # START/END/REPORT lines, our log lines, EMF metrics
    restores_per_function: int = 20  # SnapStart restores a clinic day per route function
    rtt_ms: float = 1.5  # to Atlas and Upstash in the function's region


@dataclass(frozen=True)
class Operation:
    """One kind of request: its handler and what one warm invocation took here."""

    name: str
    handler: str
    cpu_ms: float  # median CPU time of the invocation on this machine
    wall_ms: float  # median elapsed time here (local servers: round trips of ~0.1 ms)
    redis_commands: float
    mongo_commands: float

    @property
    def round_trips(self) -> float:
        return self.redis_commands + self.mongo_commands


def billed_ms(op: Operation, memory_mb: int, rtt_ms: float) -> int:
    """Lambda's billed duration (whole milliseconds) of one warm invocation at `memory_mb`."""
    cpu = op.cpu_ms * MB_PER_VCPU / min(memory_mb, MB_PER_VCPU)
    return math.ceil(cpu + op.round_trips * rtt_ms)


def per_request(op: Operation, memory_mb: int, day: Day, prices: Prices, sms: float = 0.0) -> dict[str, float]:
    """The cost of one request of `op`, by line item (USD)."""
    gb_s = memory_mb / 1024 * billed_ms(op, memory_mb, day.rtt_ms) / 1000
    return {
        "HTTP API": prices.http_api_request,
        "Lambda requests": prices.lambda_request,
        "Lambda compute": gb_s * prices.lambda_gb_s,
        "Upstash Redis": op.redis_commands * prices.redis_command,
        "CloudWatch Logs": day.log_bytes_per_invocation / 1e9 * prices.logs_gb,
        "SMS": sms * prices.sms,
    }


# -- measuring ------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Lambda writes logs and EMF metrics to stdout; here they go to /dev/null (still written: still timed)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def measure(repeats: int) -> list[Operation]:
    """Every operation `repeats` times, warm, in this process, against our own servers."""
    from devserver.servers import mongo_server, redis_server

    with tempfile.TemporaryDirectory(prefix="opd-cost-") as work:
        redis_local = redis_server(Path(work)).start()
        mongo_local = mongo_server(Path(work)).start()
        try:
            os.environ.update(
                REDIS_URL=redis_local.url,
                MONGODB_URI=mongo_local.url,
                MONGODB_DATABASE=f"opd_cost_{uuid.uuid4().hex[:8]}",
                POWERTOOLS_SERVICE_NAME="opd",
                POWERTOOLS_METRICS_NAMESPACE="OPD",
                POWERTOOLS_LOG_LEVEL="INFO",  # the template's default
                PYDANTIC_DISABLE_PLUGINS="__all__",
            )
            os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
            with quiet_stdout():
                return _measure(redis_local.url, mongo_local.url, repeats)
        finally:
            redis_local.stop()
            mongo_local.stop()


def _measure(redis_url: str, mongo_uri: str, repeats: int) -> list[Operation]:
    from opd import runtime, store
    from opd.domain import Capacity, Source
    from tests.handlers import support
    from tests.support.roundtrips import CountingRedis, MongoCommandCounter

    runtime.reset()
    mongo_counter, counting_redis = MongoCommandCounter(), CountingRedis.from_url(redis_url)
    assert isinstance(counting_redis, CountingRedis)
    counted_mongo = store.connect(mongo_uri, event_listeners=[mongo_counter])
    # The handlers' clients, counting the commands they send (opd.runtime makes them otherwise).
    made = runtime.redis_client, runtime.mongo_client
    runtime.redis_client = lambda: counting_redis  # type: ignore[assignment]
    runtime.mongo_client = lambda: counted_mongo  # type: ignore[assignment]
    service = runtime.allocator()
    day = (datetime.now(UTC) + timedelta(days=1)).replace(hour=3, minute=30, second=0, microsecond=0)
    board_doctor, doctor = f"dr-board-{uuid.uuid4().hex[:6]}", f"dr-cost-{uuid.uuid4().hex[:6]}"
    for hour in range(6):  # the board's doctor: a clinic day of 6 slots with 5 patients each
        slot = service.create_slot(board_doctor, day + timedelta(hours=hour), day + timedelta(hours=hour + 1))
        for n in range(5):
            service.book(slot.slot_id, f"b{hour}-{n}", Source.ONLINE)
    full = service.create_slot(doctor, day - timedelta(hours=1), day, Capacity(1, 0, 0))
    service.book(full.slot_id, "first", Source.ONLINE)

    samples: dict[str, list[tuple[float, float, int, int]]] = {}

    def timed(name: str, handler: str, ev: dict[str, Any], expect: int) -> dict[str, Any]:
        counting_redis.commands.clear()
        mongo_counter.commands.clear()
        module = support.handler_module(handler)
        cpu, wall = time.process_time(), time.perf_counter()
        raw: dict[str, Any] = module.lambda_handler(ev, support.context())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if raw["statusCode"] != expect:
            raise RuntimeError(f"{name}: {raw['statusCode']} {raw.get('body')}")
        counts = (sum(counting_redis.commands.values()), sum(mongo_counter.commands.values()))
        samples.setdefault(name, []).append((cpu * 1000, wall * 1000, *counts))
        body: dict[str, Any] = json.loads(raw.get("body") or "{}")
        return body

    warm_up = 3
    slots: list[str] = []
    for i in range(warm_up + repeats):
        if i % 10 == 0:  # a fresh slot every 10 rounds: a round keeps 1 place (the walk-in, completed), 20 here
            at = day + timedelta(hours=8 + i // 10)
            slots.append(service.create_slot(doctor, at, at + timedelta(hours=1), Capacity(base=20)).slot_id)
        one_round(i, slots[-1], full.slot_id, board_doctor, day.date().isoformat(), timed)
    counted_mongo.drop_database(os.environ["MONGODB_DATABASE"])
    counted_mongo.close()
    counting_redis.close()
    runtime.redis_client, runtime.mongo_client = made
    runtime.reset()

    handlers = {
        "book": "create_booking",
        "book (keyed)": "create_booking",
        "refusal": "create_booking",
        "check-in": "check_in_booking",
        "call-next": "call_next",
        "complete": "complete_booking",
        "get booking": "get_booking",
        "cancel": "cancel_booking",
        "board": "get_board",
        "queue": "get_queue",
        "slot": "get_slot",
    }
    operations = []
    for name, runs in samples.items():
        warm = runs[warm_up:]
        operations.append(
            Operation(
                name=name,
                handler=handlers[name],
                cpu_ms=round(statistics.median(r[0] for r in warm), 3),
                wall_ms=round(statistics.median(r[1] for r in warm), 3),
                redis_commands=statistics.mean(r[2] for r in warm),
                mongo_commands=statistics.mean(r[3] for r in warm),
            )
        )
    return operations


def one_round(
    i: int, slot_id: str, full_slot_id: str, board_doctor: str, day: str, timed: Callable[..., dict[str, Any]]
) -> None:
    """Each operation once: a desk and an app booking, a refusal, the room flow, a cancel, the reads."""
    from tests.handlers import support

    desk = support.event(
        "create_booking",
        body={"slotId": slot_id, "patientId": f"w{i}", "source": "WALKIN"},
        role="reception",
        headers={"idempotency-key": None},
    )
    walk_in = timed("book", "create_booking", desk, 201)
    patient = f"p{i}-{uuid.uuid4().hex[:6]}"
    app = support.event(
        "create_booking",
        body={"slotId": slot_id, "patientId": patient, "source": "ONLINE"},
        role="patient",
        user=patient,
        headers={"idempotency-key": f"k-{uuid.uuid4().hex}"},
    )
    online = timed("book (keyed)", "create_booking", app, 201)
    refused = support.event(
        "create_booking",
        body={"slotId": full_slot_id, "patientId": f"r{i}", "source": "WALKIN"},
        role="reception",
        headers={"idempotency-key": None},
    )
    timed("refusal", "create_booking", refused, 409)
    booking_path = {"bookingId": walk_in["bookingId"]}
    timed("check-in", "check_in_booking", support.event("check_in_booking", path=booking_path), 200)
    timed("call-next", "call_next", support.event("call_next", path={"slotId": slot_id}), 200)
    timed("complete", "complete_booking", support.event("complete_booking", path=booking_path), 200)
    own = {"bookingId": online["bookingId"]}
    timed("get booking", "get_booking", support.event("get_booking", path=own, role="patient", user=patient), 200)
    timed("cancel", "cancel_booking", support.event("cancel_booking", path=own, role="patient", user=patient), 200)
    board = support.event("get_board", path={"doctorId": board_doctor}, query={"date": day})
    timed("board", "get_board", board, 200)
    timed("queue", "get_queue", support.event("get_queue", path={"slotId": slot_id}), 200)
    timed("slot", "get_slot", support.event("get_slot", path={"slotId": slot_id}), 200)


# -- the model --------------------------------------------------------------------------------------


def memory_of(handler: str) -> int:
    return function_named(load_template(ROOT / "template.yaml"), handler, ROOT).memory_mb


def day_counts(day: Day) -> dict[str, float]:
    """Requests of each operation in a clinic day."""
    patients = day.doctors * day.patients_per_doctor
    cancelled = patients * day.cancelled_share
    seen = patients - cancelled
    clinic_s = day.clinic_hours * 3600
    return {
        "book": patients * (1 - day.keyed_share),
        "book (keyed)": patients * day.keyed_share,
        "refusal": patients * day.refused_share,
        "check-in": seen,
        "call-next": seen + day.doctors,  # the last call of each doctor's day completes the last patient
        "complete": day.doctors,
        "cancel": cancelled,
        "get booking": patients * day.patient_reads,
        "board": day.screens * clinic_s / day.screen_every_s,
        "queue": day.doctors * clinic_s / day.desk_queue_every_s,
        "slot": patients * day.slot_reads,
    }


CHANGES = ("book", "book (keyed)", "check-in", "call-next", "complete", "cancel")


def xray_traces(requests: float, seconds: float) -> float:
    """X-Ray's default sampling: the first request each second, then 5 % of the rest."""
    per_second = requests / seconds
    return seconds * (min(per_second, 1.0) + 0.05 * max(per_second - 1.0, 0.0))


def clinic_day(ops: dict[str, Operation], day: Day, prices: Prices) -> dict[str, float]:
    """A clinic day's cost by line item (USD)."""
    counts = day_counts(day)
    items: defaultdict[str, float] = defaultdict(float)
    for name, count in counts.items():
        for item, usd in per_request(ops[name], memory_of(ops[name].handler), day, prices).items():
            items[item] += count * usd
    patients = day.doctors * day.patients_per_doctor
    # Each SMS as many parts as its sample with the status link (benchmarks/sms_cost.py): booked, then called in.
    items["SMS"] = patients * day.sms_per_patient * sum(booked_and_called_parts()) / 2 * prices.sms
    items["EventBridge"] = sum(counts[name] for name in CHANGES) * day.events_per_change * prices.eventbridge_event
    # The publisher listens all day: a run each minute, waiting on the hand-off list until 3 s before its timeout.
    publisher = function_named(load_template(ROOT / "template.yaml"), "publish_events", ROOT)
    listening_s = 1440 * (publisher.timeout_s - 3)
    items["Publisher (listening all day)"] = publisher.memory_mb / 1024 * listening_s * prices.lambda_gb_s
    items["X-Ray traces"] = xray_traces(sum(counts.values()), day.clinic_hours * 3600) * prices.xray_trace
    routes = sorted({op.handler for op in ops.values()} | set(ROUTES_NOT_MEASURED))
    snapshot_gb = sum(memory_of(handler) / 1024 for handler in routes)
    items["SnapStart cache (24 h)"] = snapshot_gb * 86_400 * prices.snapstart_cache_gb_s
    items["SnapStart restores"] = snapshot_gb * day.restores_per_function * prices.snapstart_restore_gb
    items["MongoDB Atlas M10 (a day of the month)"] = prices.atlas_month / 30
    return dict(items)


# Route functions on SnapStart whose requests the day leaves out (their cost per request is like a read's).
ROUTES_NOT_MEASURED = ("health", "create_slot", "list_doctor_slots", "set_delay", "mark_no_show", "skip_booking")


def thousand_bookings(ops: dict[str, Operation], day: Day, prices: Prices) -> dict[str, float]:
    """1,000 bookings (half from the app with a key, as in the day), their event, no fixed costs."""
    items: defaultdict[str, float] = defaultdict(float)
    for name, share in (("book", 1 - day.keyed_share), ("book (keyed)", day.keyed_share)):
        for item, usd in per_request(ops[name], memory_of(ops[name].handler), day, prices).items():
            if item != "SMS":
                items[item] += 1000 * share * usd
    items["EventBridge"] = 1000 * day.events_per_change * prices.eventbridge_event
    items["SMS (1 per booking)"] = 1000 * booked_and_called_parts()[0] * prices.sms
    return dict(items)


def memory_choices(ops: dict[str, Operation], day: Day, prices: Prices) -> list[str]:
    """Every route function at one MemorySize: what a clinic day's compute and snapshots cost, and how long
    a booking and a board read take (warm): the figures MemorySize is chosen from."""
    counts = day_counts(day)
    routes = len({op.handler for op in ops.values()} | set(ROUTES_NOT_MEASURED))
    lines = [
        f"Every route function at one MemorySize (a clinic day; {routes} route functions on SnapStart):",
        "",
        "| MB | Lambda compute | SnapStart cache | booking, billed ms | board read, billed ms |",
        "|---|---|---|---|---|",
    ]
    for memory in (128, 256, 512, 1024, 1769):
        compute = sum(
            count * memory / 1024 * billed_ms(ops[name], memory, day.rtt_ms) / 1000 * prices.lambda_gb_s
            for name, count in counts.items()
        )
        cache = routes * memory / 1024 * 86_400 * prices.snapstart_cache_gb_s
        book, board = billed_ms(ops["book"], memory, day.rtt_ms), billed_ms(ops["board"], memory, day.rtt_ms)
        lines.append(f"| {memory} | {money(compute)} | {money(cache)} | {book} | {board} |")
    return lines


def money(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 0.1 else f"${usd:,.2f}"


def report(ops: list[Operation], day: Day, prices: Prices) -> tuple[str, dict[str, Any]]:
    by_name = {op.name: op for op in ops}
    counts = day_counts(day)
    lines = [
        f"Measured here ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}), "
        f"per warm invocation; billed at each function's MemorySize with {day.rtt_ms} ms per round trip",
        "",
        "| operation | handler | MB | CPU ms here | round trips (Redis + Mongo) | billed ms | per million | a day |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for op in ops:
        memory = memory_of(op.handler)
        unit = sum(v for k, v in per_request(op, memory, day, prices).items() if k != "SMS")
        trips = f"{op.redis_commands:g} + {op.mongo_commands:g}"
        billed = billed_ms(op, memory, day.rtt_ms)
        lines.append(
            f"| {op.name} | {op.handler} | {memory} | {op.cpu_ms:.2f} | {trips} | {billed} | {money(unit * 1e6)} "
            f"| {counts[op.name]:,.0f} |"
        )
    thousand = thousand_bookings(by_name, day, prices)
    clinic = clinic_day(by_name, day, prices)
    variable = sum(v for k, v in thousand.items() if not k.startswith("SMS"))
    lines += [
        "",
        "1,000 bookings: " + ", ".join(f"{k} {money(v)}" for k, v in thousand.items()),
        f"  = {money(variable)} without SMS, {money(sum(thousand.values()))} with one SMS each",
        "",
        f"A clinic day: {day.doctors} doctors x {day.patients_per_doctor} patients, {day.screens} screens every "
        f"{day.screen_every_s:g} s for {day.clinic_hours:g} h, {day.sms_per_patient:g} SMS per patient:",
        "",
        "| line item | a day | share |",
        "|---|---|---|",
    ]
    total = sum(clinic.values())
    for item, usd in sorted(clinic.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {item} | {money(usd)} | {usd / total:.0%} |")
    lines.append(f"| **total** | **{money(total)}** (~{money(total * 30)} a month of such days) | |")
    lines += ["", *memory_choices(by_name, day, prices)]
    lines += ["", *sms_table({"SmsPriceUsd's default": sms_price_default(), "--sms-price": prices.sms})]
    result = {
        "pricesAsOf": PRICES_AS_OF,
        "prices": asdict(prices),
        "day": asdict(day),
        "operations": [asdict(op) | {"memoryMb": memory_of(op.handler)} for op in ops],
        "thousandBookings": thousand,
        "clinicDay": clinic,
        "clinicDayTotal": total,
        "sms": [
            {"kind": m.kind, "language": m.language, "characters": len(m.text)} | asdict(m.size) for m in samples()
        ],
    }
    return "\n".join(lines), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="warm invocations of each operation (default 30)")
    parser.add_argument("--measured", type=Path, help="a handler_cpu.json of an earlier run instead of measuring")
    parser.add_argument("--sms-price", type=float, default=PRICES.sms, help="USD per SMS part to India")
    parser.add_argument("--rtt-ms", type=float, default=Day.rtt_ms, help="ms per round trip to Atlas / Upstash")
    parser.add_argument("--out", type=Path, default=RESULTS / "cost.json")
    args = parser.parse_args(argv)
    if args.measured:
        ops = [Operation(**op) for op in json.loads(args.measured.read_text(encoding="utf-8"))["operations"]]
    else:
        ops = measure(args.repeats)
        measured = {"machine": platform.machine(), "cpus": os.cpu_count(), "operations": [asdict(op) for op in ops]}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "handler_cpu.json").write_text(json.dumps(measured, indent=1), encoding="utf-8")
    prices = Prices(sms=args.sms_price)
    text, result = report(ops, Day(rtt_ms=args.rtt_ms), prices)
    print(f"prices: us-east-1, as of {PRICES_AS_OF} (see Prices in benchmarks/cost.py for each source)")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
