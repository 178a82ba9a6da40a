"""Generate the ride dataset for the dynamodb-gsi lab, deterministically.

    python labs/dynamodb-gsi/data/make_rides.py

writes, next to this script:
- rides.json: 200 rides as plain JSON (what `rides_repo.load_rides()` reads);
- batches/rides-01.json ... rides-08.json: the same rides in DynamoDB JSON,
  25 per file, ready for `aws dynamodb batch-write-item --request-items file://...`.

The same seed always gives the same files (tests/test_lab_dynamodb_gsi.py checks it).
Guarantees the lab relies on:
- RideId R-0001 ... R-0200 in request order; every RequestTime is unique
  (so RiderId + RequestTime and City + RequestTime are unique keys);
- rider `alice` has rides in October, November and December 2025;
- Seattle has more rides since 2025-11-01 than one page of 10;
- R-0042 exists and the latest rides include IN_PROGRESS ones.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20251104  # Day 3 of the worklog week
COUNT = 200
BATCH = 25  # BatchWriteItem's limit per request
TABLE = "Rides"
HERE = Path(__file__).resolve().parent

RIDERS = ["alice", "bob", "carmen", "dmitri", "emeka", "fatima", "giulia", "hiro", "ines", "jamal",
          "kofi", "lena", "mateo", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tariq"]
CITIES = [("Seattle", 5), ("Portland", 2), ("San Francisco", 3), ("Boston", 2), ("Chicago", 2), ("Austin", 1),
          ("Denver", 1)]
UNICORNS = ["Bucephalus", "Shadowfax", "Rocinante", "Sparkle", "Moonbeam", "Stardust", "Thunderhoof",
            "Glimmer", "Nimbus", "Aurora", "Pegasus", "Willow"]
START = datetime(2025, 10, 1, 6, 0, tzinfo=timezone.utc)
END = datetime(2025, 12, 15, 22, 0, tzinfo=timezone.utc)
ALICE_SHARE = 0.06  # ~12 of 200 rides


def generate() -> list[dict]:
    rng = random.Random(SEED)
    span = int((END - START).total_seconds() // 60)
    minutes = sorted(rng.sample(range(span), COUNT))  # unique request times, one per minute at most
    city_names = [name for name, _ in CITIES]
    city_weights = [weight for _, weight in CITIES]
    rides = []
    for number, minute in enumerate(minutes, start=1):
        requested = START + timedelta(minutes=minute, seconds=rng.randrange(60))
        rider = "alice" if rng.random() < ALICE_SHARE else rng.choice(RIDERS[1:])
        status = "CANCELLED" if rng.random() < 0.08 else "COMPLETED"
        if number > COUNT - 8:  # the latest rides are still under way
            status = rng.choice(["IN_PROGRESS", "IN_PROGRESS", "REQUESTED"])
        rides.append({
            "RideId": f"R-{number:04d}",
            "RiderId": rider,
            "DriverId": f"D-{rng.randrange(101, 131)}",
            "RequestTime": requested.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "City": rng.choices(city_names, city_weights)[0],
            "Fare": round(rng.uniform(8, 95), 2),
            "Status": status,
            "UnicornName": rng.choice(UNICORNS),
        })
    return rides


def dynamodb_json(ride: dict) -> dict:
    return {name: ({"N": str(value)} if isinstance(value, (int, float)) else {"S": value})
            for name, value in ride.items()}


def _lines(values: list) -> str:
    """A JSON array with one value per line: small, and easy to read and diff."""
    return "[\n" + ",\n".join(json.dumps(value) for value in values) + "\n]\n"


def write(folder: Path = HERE) -> list[Path]:
    rides = generate()
    written = [folder / "rides.json"]
    written[0].write_text(_lines(rides), encoding="utf-8")
    batches = folder / "batches"
    batches.mkdir(exist_ok=True)
    for index in range(0, len(rides), BATCH):
        path = batches / f"rides-{index // BATCH + 1:02d}.json"
        chunk = [{"PutRequest": {"Item": dynamodb_json(ride)}} for ride in rides[index:index + BATCH]]
        path.write_text(f'{{"{TABLE}": {_lines(chunk).rstrip()}}}\n', encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print("wrote", path)
