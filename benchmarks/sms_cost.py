"""The SMS side of the cost model: each kind of SMS the notifier sends, with its status link, as SMS parts and dollars.

One sample text per message kind (`opd.messages.MESSAGES`), filled as the notifier fills it and ended with the
status link by the notifier's own `with_status_link`, with a realistic link (a CloudFront URL, as the template's
PUBLIC_URL defaults to, and a 16-character code) and doctor name; then a long Latin name, and a name in
Devanagari (the directory keeps names in any script, and one character outside GSM 03.38 makes the whole SMS
UCS-2). Each is counted by `opd.messages.size`, the function the notifier's spend cap counts parts with:
GSM-7 160 septets in one part (an extension character counts 2), 153 a part once split; UCS-2 70 / 67.
A message costs its parts x the price of a part: SmsPriceUsd's default in template.yaml, and the cost model's
price to India (benchmarks/cost.py, `Prices.sms`).

    .venv/bin/python benchmarks/sms_cost.py
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "allocator"), str(ROOT)]

from opd.domain import CancelReason, EventType  # noqa: E402
from opd.messages import MESSAGES, SmsSize, size, with_status_link  # noqa: E402

SAMPLE_URL = "https://d111111abcdef8.cloudfront.net"  # a CloudFront distribution's domain, as AWS's examples write it
SAMPLE_CODE = "q3Vw9Zb1Kx0Tt7Lm"  # 16 characters: the 96 random bits the service makes
DOCTOR = "Dr Asha Rao"
LONG_NAME = "Dr Meenakshi Sundaram"
DEVANAGARI = "डॉ. आशा राव"
FIELDS = {"date": "2026-11-21", "start": "09:00", "token": 12, "time": "09:36", "minutes": 25}


@dataclass(frozen=True)
class Sample:
    kind: str  # the event type, a cancellation with its reason
    text: str
    size: SmsSize


def kind_of(key: EventType | tuple[EventType, CancelReason]) -> str:
    return f"{key[0].value} ({key[1].value})" if isinstance(key, tuple) else key.value


def sample(key: EventType | tuple[EventType, CancelReason], doctor: str = DOCTOR) -> Sample:
    text = with_status_link(MESSAGES[key].format(doctor=doctor, **FIELDS), SAMPLE_CODE, SAMPLE_URL)
    return Sample(kind_of(key), text, size(text))


def samples() -> list[Sample]:
    """Every kind with the usual name; then the booking's first SMS with a long name and with a Devanagari one."""
    made = [sample(key) for key in MESSAGES]
    made += [sample(key, name) for name in (LONG_NAME, DEVANAGARI) for key in (EventType.BOOKING_CREATED,)]
    return made


def booked_and_called_parts() -> tuple[int, int]:
    """The parts of a booking's two usual SMS (booked; called in), with the usual name: the clinic day's."""
    return sample(EventType.BOOKING_CREATED).size.parts, sample(EventType.BOOKING_CALLED).size.parts


def sms_price_default() -> float:
    """SmsPriceUsd's default in template.yaml: what the notifier's spend cap prices a part at unless it is set."""
    from devserver.template import load_template

    return float(load_template(ROOT / "template.yaml")["Parameters"]["SmsPriceUsd"]["Default"])


def table(prices: dict[str, float]) -> list[str]:
    """The samples as a Markdown table, one cost column per price (its label: USD a part)."""
    heads = " | ".join(f"cost at {label} (${usd:g} a part)" for label, usd in prices.items())
    lines = [
        f"Each SMS with its status link ({SAMPLE_URL}/status.html#<16-character code>), doctor {DOCTOR!r}:",
        "",
        f"| SMS | characters | encoding | units | parts | {heads} |",
        "|---|---|---|---|---|" + "---|" * len(prices),
    ]
    for made in samples():
        name = "" if DOCTOR in made.text else f", doctor {LONG_NAME if LONG_NAME in made.text else DEVANAGARI!r}"
        costs = " | ".join(f"${made.size.parts * usd:.4f}" for usd in prices.values())
        lines.append(
            f"| {made.kind}{name} | {len(made.text)} | {made.size.encoding} | {made.size.units} | {made.size.parts} "
            f"| {costs} |"
        )
    return lines


def main() -> int:
    from benchmarks.cost import PRICES

    print("\n".join(table({"SmsPriceUsd's default": sms_price_default(), "India (cost model)": PRICES.sms})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
