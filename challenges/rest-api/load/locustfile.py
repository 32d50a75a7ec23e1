"""Load profile for the desk booking service.

Mostly reads of single desks (Zipf-distributed over a shared pool of desks), plus bookings on
random dates (409 is a correct answer there), list queries, cancellations and desk updates.
Randomness is seeded from ASSESS_SEED so runs are reproducible. The runner sets host, user
count and pacing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import uuid

from locust import FastHttpUser, task

SEED = int(os.environ.get("ASSESS_SEED", "1"))
DESKS_PER_USER = 5
FLOORS = 10
DATES = [(dt.date(2031, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(60)]
PEOPLE = 400
ZIPF_S = 1.1
RUN = uuid.uuid4().hex[:8]  # keeps names apart if the same service sees several runs

_user_counter = itertools.count()


def _json(resp):
    try:
        return resp.json()
    except Exception:
        return None


class DeskBookingUser(FastHttpUser):
    pool: list[dict] = []  # desks created by all users: {"id", "floor"}
    _cum_weights: list[float] = []

    def on_start(self) -> None:
        n = next(_user_counter)
        self.rng = random.Random(SEED * 1000 + n)
        self.mine: list[str] = []  # desk ids this user created
        self.bookings: list[str] = []  # booking ids this user created
        for i in range(DESKS_PER_USER):
            floor = self.rng.randrange(FLOORS)
            body = {"name": f"load-{RUN}-{n}-{i}", "floor": floor, "features": ["monitor"]}
            with self.client.post(
                "/desks", json=body, name="POST /desks", catch_response=True
            ) as resp:
                desk = _json(resp)
                if resp.status_code != 201 or not isinstance(desk, dict) or not desk.get("id"):
                    resp.failure(f"create desk: status {resp.status_code}")
                    continue
                self.mine.append(desk["id"])
                DeskBookingUser.pool.append({"id": desk["id"], "floor": floor})

    # -- helpers ----------------------------------------------------------------------------
    def zipf_desk(self) -> dict | None:
        pool = DeskBookingUser.pool
        if not pool:
            return None
        cum = DeskBookingUser._cum_weights
        if len(cum) != len(pool):
            total, cum = 0.0, []
            for k in range(len(pool)):
                total += 1.0 / (k + 1) ** ZIPF_S
                cum.append(total)
            DeskBookingUser._cum_weights = cum
        return self.rng.choices(pool, cum_weights=cum, k=1)[0]

    def check_page(self, resp, what: str) -> dict | None:
        body = _json(resp)
        if resp.status_code != 200:
            resp.failure(f"{what}: status {resp.status_code}")
        elif (
            not isinstance(body, dict)
            or not isinstance(body.get("items"), list)
            or "next_cursor" not in body
        ):
            resp.failure(f"{what}: body is not {{items, next_cursor}}")
        else:
            return body
        return None

    # -- tasks ------------------------------------------------------------------------------
    @task(50)
    def get_desk(self) -> None:
        desk = self.zipf_desk()
        if desk is None:
            return
        with self.client.get(
            f"/desks/{desk['id']}", name="GET /desks/[id]", catch_response=True
        ) as resp:
            body = _json(resp)
            if resp.status_code != 200:
                resp.failure(f"get desk: status {resp.status_code}")
            elif not isinstance(body, dict) or body.get("id") != desk["id"]:
                resp.failure("get desk: wrong or missing id")
            elif not resp.headers.get("ETag"):
                resp.failure("get desk: no ETag")

    @task(8)
    def list_desks_by_floor(self) -> None:
        floor = self.rng.randrange(FLOORS)
        with self.client.get(
            f"/desks?floor={floor}&limit=20", name="GET /desks?floor", catch_response=True
        ) as resp:
            body = self.check_page(resp, "list desks")
            if body is not None and any(d.get("floor") != floor for d in body["items"]):
                resp.failure("list desks: a desk from another floor")

    @task(15)
    def create_booking(self) -> None:
        desk = self.zipf_desk()
        if desk is None:
            return
        body = {
            "desk_id": desk["id"],
            "user": f"person-{RUN}-{self.rng.randrange(PEOPLE)}",
            "date": self.rng.choice(DATES),
        }
        headers = {"Idempotency-Key": f"load-{RUN}-{self.rng.getrandbits(64):016x}"}
        with self.client.post(
            "/bookings", json=body, headers=headers, name="POST /bookings", catch_response=True
        ) as resp:
            if resp.status_code == 409:
                resp.success()  # desk-day or user-day taken: a correct answer
                return
            booking = _json(resp)
            if resp.status_code != 201:
                resp.failure(f"create booking: status {resp.status_code}")
            elif (
                not isinstance(booking, dict)
                or not booking.get("id")
                or booking.get("date") != body["date"]
            ):
                resp.failure("create booking: wrong body")
            else:
                self.bookings.append(booking["id"])

    @task(10)
    def list_bookings_by_date(self) -> None:
        date = self.rng.choice(DATES)
        with self.client.get(
            f"/bookings?date={date}&limit=50", name="GET /bookings?date", catch_response=True
        ) as resp:
            body = self.check_page(resp, "list bookings")
            if body is not None and any(b.get("date") != date for b in body["items"]):
                resp.failure("list bookings: a booking from another date")

    @task(5)
    def list_bookings_by_user(self) -> None:
        user = f"person-{RUN}-{self.rng.randrange(PEOPLE)}"
        with self.client.get(
            f"/bookings?user={user}", name="GET /bookings?user", catch_response=True
        ) as resp:
            body = self.check_page(resp, "list bookings")
            if body is not None and any(b.get("user") != user for b in body["items"]):
                resp.failure("list bookings: a booking of another user")

    @task(5)
    def get_booking(self) -> None:
        if not self.bookings:
            return
        booking_id = self.rng.choice(self.bookings)
        with self.client.get(
            f"/bookings/{booking_id}", name="GET /bookings/[id]", catch_response=True
        ) as resp:
            body = _json(resp)
            if resp.status_code != 200:
                resp.failure(f"get booking: status {resp.status_code}")
            elif not isinstance(body, dict) or body.get("id") != booking_id:
                resp.failure("get booking: wrong or missing id")

    @task(3)
    def cancel_booking(self) -> None:
        if not self.bookings:
            return
        booking_id = self.bookings.pop(self.rng.randrange(len(self.bookings)))
        with self.client.delete(
            f"/bookings/{booking_id}", name="DELETE /bookings/[id]", catch_response=True
        ) as resp:
            if resp.status_code != 204:
                resp.failure(f"cancel booking: status {resp.status_code}")

    @task(4)
    def update_desk(self) -> None:
        if not self.mine:
            return
        desk_id = self.rng.choice(self.mine)
        name = f"load-{RUN}-renamed-{self.rng.randrange(1000)}"
        with self.client.patch(
            f"/desks/{desk_id}", json={"name": name}, name="PATCH /desks/[id]", catch_response=True
        ) as resp:
            body = _json(resp)
            if resp.status_code != 200:
                resp.failure(f"update desk: status {resp.status_code}")
            elif not isinstance(body, dict) or body.get("name") != name:
                resp.failure("update desk: name not updated")
