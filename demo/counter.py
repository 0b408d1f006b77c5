"""The day opens at the registration counter: patients scan the counter's QR code with an ABHA app (ABDM Scan &
Share, through the local fake gateway) or take a token from the receptionist, are called in turn, and some are then
booked into a doctor's slot as walk-ins.

What the counter did is kept for the report and the checks (`CounterDay`): every token the service answered, the
on-share callbacks the fake gateway received, the order the counter called them in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from demo import people
from demo.checks import Check
from demo.client import expect, in_parallel

COUNTER = "reg-1"
COUNTER_NAME = "Registration 1"
SHARES = 30  # patients who scan the counter's QR code with their ABHA app
DESK_TOKENS = 20  # patients the receptionist gives a token (half of them already in the register)
BOOKED_AFTER = 6  # of those called, how many the desk then books into a doctor's slot
PHASE = "registration counter"
EXPIRY_S = 1800  # an ABDM token is valid for 30 minutes (ABDM's test case)
CALLBACK_WAIT_S = 30.0  # the fake gateway's on-share arrives through the queue, normally within a second
PICTURE_AFTER = 12  # the board's picture of the counter is taken after this many calls


@dataclass
class CounterDay:
    """What the counter answered: its tokens by number, the shares' requestIds, the calls in order."""

    tokens: dict[int, dict[str, Any]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)  # requestId -> the ABHA address that shared
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # requestId -> the on-share body
    called: list[str] = field(default_factory=list)  # labels, in the order the counter called them
    served: list[str] = field(default_factory=list)
    booked: list[str] = field(default_factory=list)  # patientIds booked into a slot after the counter
    bookings: list[str] = field(default_factory=list)  # their bookingIds

    def figures(self) -> dict[str, Any]:
        numbers = sorted(self.tokens)
        return {
            "counter": COUNTER,
            "tokens": len(numbers),
            "scanAndShare": sum(t["source"] == "ABDM" for t in self.tokens.values()),
            "desk": sum(t["source"] == "DESK" for t in self.tokens.values()),
            "numbers": f"{numbers[0]}-{numbers[-1]}" if numbers else None,
            "consecutive": numbers == list(range(1, len(numbers) + 1)),
            "onShareReceived": len(self.callbacks),
            "called": len(self.called),
            "served": len(self.served),
            "bookedAfter": len(self.booked),
        }


def abha_of(n: int) -> str:
    return f"demo.patient{n:02d}@sbx"


def share(api: Any, n: int) -> tuple[str, str]:
    """One patient scans the counter's QR code: the fake gateway posts their profile to the service, signed."""
    label = f"abdm-{n:02d}"
    body = {
        "counterId": COUNTER,
        "abhaAddress": abha_of(n),
        "name": people.name_of(label),
        "gender": "F" if n % 2 else "M",
        "yearOfBirth": 1950 + n,
        "phone": people.mobile_of(label),
    }
    answer = expect(api.send("POST", "/_local/abdm/share", body=body), f"Scan & Share {n}")
    return str(answer["requestId"]), abha_of(n)


def desk_token(c: Any, n: int) -> dict[str, Any]:
    """The receptionist gives a token; every other patient is found in the register first."""
    body: dict[str, Any] = {}
    if n % 2 == 0:
        body["patientId"] = c.register(f"counter-{n:02d}")
    answer = c.api.send("POST", f"/counters/{COUNTER}/tokens", token=c.reception, body=body)
    return expect(answer, f"desk token {n}")


def on_share(api: Any, request_id: str) -> dict[str, Any] | None:
    answer = api.send("GET", f"/_local/abdm/on-share?requestId={request_id}")
    return answer.body if answer.ok else None


def registration_counter(c: Any) -> str:
    """30 Scan & Share patients and 20 desk tokens at once, every on-share callback awaited, the counter's queue
    called in turn to the end, then several of those called booked into a doctor's slot as walk-ins."""
    day = CounterDay()
    expect(
        c.api.send("PUT", f"/counters/{COUNTER}", token=c.admin, body={"name": COUNTER_NAME, "prefix": "R"}),
        "naming the counter",
    )
    shared = in_parallel([partial(share, c.api, n) for n in range(1, SHARES + 1)], 4)
    day.shares = dict(shared)
    for token in in_parallel([partial(desk_token, c, n) for n in range(1, DESK_TOKENS + 1)], 4):
        day.tokens[int(token["number"])] = token
    deadline = time.monotonic() + CALLBACK_WAIT_S
    while len(day.callbacks) < len(day.shares) and time.monotonic() < deadline:
        for request_id in day.shares.keys() - day.callbacks.keys():
            if (body := on_share(c.api, request_id)) is not None:
                day.callbacks[request_id] = body
        time.sleep(0.2)
    queue = expect(c.api.send("GET", f"/counters/{COUNTER}/queue", token=c.reception), "the counter's queue")
    for token in queue["tokens"]:
        day.tokens[int(token["number"])] = token
    c.counter = day
    while True:
        if len(day.called) == PICTURE_AFTER and c.moment is not None:  # the board, the counter's column calling
            c.say(PHASE, c.moment("counter", datetime.now(c.slots[0].start.tzinfo)))  # on the real clock
        answer = expect(c.api.send("POST", f"/counters/{COUNTER}/call-next", token=c.reception), "call next")
        if answer["served"] is not None:
            day.served.append(str(answer["served"]["label"]))
        if answer["called"] is None:
            break
        day.called.append(str(answer["called"]["label"]))
    walk_ins = [t["patientId"] for t in sorted(day.tokens.values(), key=lambda t: t["number"]) if t["patientId"]]
    targets = [s for s in c.slots if s.doctor_id == c.doctor(2)][-1:]  # the late doctor's last slot has room
    for patient_id in walk_ins[:BOOKED_AFTER] if targets else []:
        event = c.book(PHASE, targets[0], patient_id, "WALKIN", phone=c.phone(patient_id))
        if event.ok:
            day.booked.append(patient_id)
            day.bookings.append(str(event.booking_id))
    if day.bookings and c.moment is not None:  # the slip the desk prints for the first of them
        c.say(PHASE, c.moment("slip", datetime.now(c.slots[0].start.tzinfo)))
    f = day.figures()
    return (
        f"{f['tokens']} tokens at {COUNTER_NAME} ({f['scanAndShare']} by Scan & Share through the fake ABDM gateway, "
        f"{f['desk']} at the desk), numbered {f['numbers']}"
        f"{' without a gap' if f['consecutive'] else ' WITH GAPS'}; {f['onShareReceived']} on-share callbacks "
        f"received; {f['called']} called in turn, {f['served']} served; {f['bookedAfter']} then booked as walk-ins"
    )


def counter_checks(day: CounterDay) -> Check:
    """The counter's numbers are 1..n without a gap or a repeat; every share got its token's number and the 30
    minutes back in its on-share callback; the counter called its tokens in number order and served each."""
    problems = []
    numbers = sorted(day.tokens)
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"the counter's numbers are {numbers}, not 1..{len(numbers)}")
    shared = [t for t in day.tokens.values() if t["source"] == "ABDM"]
    if len(shared) != len(day.shares):
        problems.append(f"{len(day.shares)} shares made {len(shared)} ABDM tokens")
    by_number = {str(n): t for n, t in day.tokens.items()}
    for request_id, abha in day.shares.items():
        body = day.callbacks.get(request_id)
        if body is None:
            problems.append(f"no on-share callback for the share of {abha}")
            continue
        ack = body.get("acknowledgement", {})
        token = by_number.get(str(ack.get("tokenNumber")))
        if token is None or token["source"] != "ABDM" or ack.get("expiry") != EXPIRY_S:
            problems.append(f"the on-share of {abha} answered {ack}, which is not one of its ABDM tokens")
    labels = [str(day.tokens[n]["label"]) for n in numbers]
    if day.called != labels:
        problems.append(f"called {day.called}, not the tokens in number order {labels}")
    if day.served != labels:
        problems.append(f"served {day.served}, not every token in turn")
    checked = f"{len(numbers)} counter tokens, {len(day.callbacks)} on-share callbacks, {len(day.called)} calls"
    return Check("the counter numbers, calls and calls back every token", checked, problems)
