"""Hostile inputs for the property tests (tests/handlers/test_no_server_errors.py, tests/e2e/test_local_hardening.py).

What a careless or malicious client sends: bodies nested thousands deep or over the size limit,
numbers of thousands of digits, NaN, times in year 1 and 9999 at any offset, epoch seconds as
text, unicode and lone surrogates, wrong JSON types, odd media types, made-up ids.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

FIELDS = ["doctorId", "start", "end", "baseCapacity", "premiumBuffer", "emergencyBuffer", "delayed", "minutes"]
FIELDS += ["slotId", "patientId", "source"]
FIELDS += ["from", "to", "weekdays", "slotMinutes", "date", "reason"]  # sessions and leave
CONTENT_TYPES = [  # the first is what the property tests send most: the rest are the odd ones
    "application/json",
    None,
    "APPLICATION/JSON",
    "application/json; charset=utf-8",
    "application/json-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
]
ROLES = [None, "patient", "reception", "admin", "[doctor]", "[admin reception]", "[]"]

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
odd_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=offsets).map(
        datetime.isoformat
    ),
    st.datetimes(timezones=st.none()).map(datetime.isoformat),  # no offset
    st.sampled_from(
        [
            "0001-01-01T00:00:00+05:30",
            "9999-12-31T23:59:59-05:00",
            "9999-12-31T23:59:59.999999-23:59",
            "1930000000",
            "2030-02-30T09:00:00Z",
            "2030-01-07T24:00:00Z",
            "2030-01-07T23:59:60Z",
            "2030-01-07T09:00:00+24:00",
            "2030-01-07t09:00:00z",
            "+002030-01-07T09:00:00Z",
        ]
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
odd_dates = st.one_of(
    st.sampled_from(["9999-12-31", "0001-01-01", "2031-03-03T00:00"]),  # the ends of the calendar, a time
    st.dates().map(date.isoformat),
    # Days the window takes (it moves with the real clock here; the property holds on any day).
    st.dates(min_value=date.today(), max_value=date.today() + timedelta(days=400)).map(date.isoformat),
    odd_times,
    st.sampled_from(["2030-1-7", "", "2030-01-07,2030-01-08", "２０３０-01-07"]),
    st.text(max_size=20),
)
ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
    st.text(max_size=70),
    st.sampled_from(["", ".", "..", "a.", ".b", "slot-x.y.z", "x" * 65, "\ud800", "slot%2F1"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    odd_times,
    st.sampled_from(["ONLINE", "WALKIN", "PAID", "FOLLOWUP", "EMERGENCY", "WALK_IN", "online"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


clock_times = st.one_of(  # a session's "HH:MM", and what is not quite one
    st.times().map(lambda t: t.strftime("%H:%M")),
    st.times().map(time.isoformat),
    st.sampled_from(["00:00", "23:59", "24:00", "9:00", "09:00:00", "09:00Z", "09:00+05:30", "٠٩:٠٠", "09h00"]),
)
weekday_lists = st.lists(
    st.sampled_from(["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN", "mon", "MONDAY", "", "\ud800"]), max_size=9
)
# Values more likely to pass the first checks, so the property reaches the service too.
FIELD_VALUES = dict.fromkeys(FIELDS, json_values) | {
    "from": st.one_of(odd_dates, json_values),
    "to": st.one_of(odd_dates, json_values),
    "date": st.one_of(odd_dates, json_values),
    "start": st.one_of(clock_times, json_values),
    "end": st.one_of(clock_times, json_values),
    "weekdays": st.one_of(weekday_lists, json_values),
    "slotMinutes": st.one_of(st.integers(min_value=-5, max_value=300), json_values),
    "reason": st.one_of(st.text(max_size=220), json_values),
}


def deep(depth: int, kind: str) -> str:
    """Arrays or objects nested `depth` deep, as the body or inside a field."""
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "in-a-field":
        return '{"start": ' + "[" * depth + "]" * depth + "}"
    return '{"slotId":' * depth + '"x"' + "}" * depth


def as_json(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity too: what a careless client sends


_nested = st.builds(
    deep,
    st.one_of(st.sampled_from([33, 9_984, 20_000, 50_000]), st.integers(min_value=30, max_value=30_000)),
    st.sampled_from(["array", "object", "in-a-field"]),
)
_fields = st.fixed_dictionaries({}, optional=FIELD_VALUES).map(as_json)
_odd = st.sampled_from(
    [
        '{"minutes": ' + "9" * 5_000 + "}",
        '{"delayed": true, "minutes": NaN}',
        '{"start": 1e999}',
        '{"doctorId": "\\ud800"}',
        '{"\\ud800": 1}',
        '{"slotId": "a"',
        "null",
        "",
    ]
)
_over_64_kib = st.integers(min_value=0, max_value=3).map(lambda n: '{"x": "' + "a" * (64 * 1024 - 10 + n * 10) + '"}')


@st.composite
def raw_bodies(draw: st.DrawFn) -> str:
    """A body's text: the request's own fields with hostile values, or nested deep, or over 64 KiB, or odd."""
    weighted = [_fields, _fields, json_values.map(as_json), _nested, _nested, _over_64_kib, _odd, st.text(max_size=200)]
    body: str = draw(draw(st.sampled_from(weighted)))
    return body


# The patient register's fields (POST /patients, PATCH /patients/{id}): drawn for those routes alone, so the other
# routes' examples stay as they were. Names in any script with marks, joiners and what no name holds; phones
# near E.164; years far out; ABHA addresses near handle@suffix.
_names = st.one_of(
    st.text(max_size=90),
    st.text(alphabet=st.characters(categories=["L", "M", "Zs"]), max_size=90),
    st.sampled_from(["Rāma Śarmā", "राहुल शर्मा", "முருகன்", "D'Souza", "क\u200dष", "\u0301", "a" * 81, " ", "\ud800"]),
)
PATIENT_VALUES = {
    "name": st.one_of(_names, json_values),
    "phone": st.one_of(st.from_regex(r"\+?[0-9]{0,17}", fullmatch=True), json_values),
    "yearOfBirth": st.one_of(st.integers(min_value=-(10**20), max_value=10**20), st.integers(1890, 2100), json_values),
    "sex": st.one_of(st.sampled_from(["F", "M", "O", "U", "f", "X", ""]), json_values),
    "language": st.one_of(st.sampled_from(["en", "hi", "ta", "EN", "fr", ""]), json_values),
    "abhaAddress": st.one_of(
        st.from_regex(r"[A-Za-z0-9._@]{0,70}", fullmatch=True), st.sampled_from(["a@b", "ravi@", "@sbx"]), json_values
    ),
}
# GET /patients?q=: a name's start in any script, a phone's end however written, and what is neither.
search_queries = st.one_of(
    _names,
    st.from_regex(r"\+?[0-9 \-]{0,70}", fullmatch=True),
    st.sampled_from(["", "a", "ab", "'", "d'", "1234", "+", "--", "x" * 65, "\u200d\u200d"]),
)
