"""GET /status/{code} (public): one booking's Status, the page a patient's SMS links to (contract, "Status links").

The code is the capability: whoever has the link sees that booking's token, state, place and times, and nothing
that names or reaches the patient. One indexed query finds the booking's slot (the archive's, for a booking
that left it), a rescheduled booking is followed to its new one, and one read by primary key names the doctor.
No lock. Never cached (no-store, as every answer but the board's): each code is read by one patient's devices,
so a shared cache would save nothing and keep a copy of the answer under the code's URL. The code is never
logged: a refusal's message does not quote it, and the logger never logs the event.
"""

from __future__ import annotations

from opd.api.models import StatusCodePath, StatusOut
from opd.api.openapi import error_responses
from opd.api.resolver import Response, allocator, answer, doctors, make_app, make_handler
from opd.errors import DependencyUnavailable, NotFound, ValidationFailed

app = make_app()


@app.get(
    "/status/<code>",
    summary="A booking's status by its status link's code: token, place, estimate, the token being called (public)",
    tags=["bookings"],
    responses={
        200: {
            "description": "OK: the booking's Status (a rescheduled booking's code: its new booking's); the doctor's "
            "name and room from the directory (its id and null where none is recorded); no patient id, name or "
            "phone, no booking id"
        },
        **error_responses(ValidationFailed, NotFound, DependencyUnavailable),
    },
)
def get_status(code: StatusCodePath) -> Response[StatusOut]:
    status = allocator().booking_status(code)
    return answer(StatusOut.of(status, doctors().get(status.doctor_id)))


lambda_handler = make_handler(app)
