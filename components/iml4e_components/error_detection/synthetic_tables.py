"""Clean tables the project generates itself (no downloads), used to build the default knowledge base.

Each table mixes identifiers, categories, free text, numbers, dates and times, and holds functional
dependencies (zip -> city -> state, code -> name, route -> times) so that rule violations are visible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

_FIRST = [
    "anna",
    "ben",
    "carla",
    "david",
    "emma",
    "felix",
    "grace",
    "henry",
    "iris",
    "jonas",
    "kate",
    "liam",
    "mia",
    "noah",
    "olga",
    "paul",
    "rosa",
    "sam",
    "tina",
    "victor",
    "wendy",
    "yusuf",
    "zoe",
    "omar",
    "lena",
    "ivan",
]
_LAST = [
    "miller",
    "smith",
    "garcia",
    "nguyen",
    "kowalski",
    "schmidt",
    "rossi",
    "dubois",
    "silva",
    "tanaka",
    "okafor",
    "jensen",
    "novak",
    "fischer",
    "martin",
    "lopez",
    "brown",
    "wilson",
    "khan",
    "meyer",
]
_CITIES = [
    ("springfield", "IL"),
    ("riverton", "WY"),
    ("fairview", "OR"),
    ("madison", "WI"),
    ("georgetown", "TX"),
    ("clinton", "IA"),
    ("salem", "MA"),
    ("franklin", "TN"),
    ("greenville", "SC"),
    ("bristol", "CT"),
    ("dover", "DE"),
    ("auburn", "AL"),
    ("oxford", "MS"),
    ("milton", "GA"),
    ("ashland", "KY"),
    ("burlington", "VT"),
    ("manchester", "NH"),
    ("kingston", "NY"),
    ("lebanon", "PA"),
    ("marion", "OH"),
]
_CATEGORIES = {
    "electronics": ["laptop", "phone", "monitor", "camera", "speaker"],
    "kitchen": ["kettle", "toaster", "blender", "pan", "knife"],
    "garden": ["hose", "shovel", "rake", "planter", "mower"],
    "office": ["stapler", "desk", "chair", "lamp", "binder"],
}
_ALL_ITEMS = [item for items in _CATEGORIES.values() for item in items]
_BRANDS = ["acme", "globex", "initech", "umbrella", "stark", "wayne", "hooli", "vandelay"]
_DEPARTMENTS = {
    "engineering": "ENG",
    "sales": "SLS",
    "marketing": "MKT",
    "finance": "FIN",
    "support": "SUP",
    "legal": "LGL",
    "research": "RND",
}
_CONDITIONS = {
    "dental": ["d-01", "d-02", "d-07"],
    "physio": ["ph-1", "ph-4"],
    "imaging": ["im-ct", "im-mr", "im-xr"],
    "lab tests": ["lb-11", "lb-12"],
}
_SITES = ["site-a", "site-b", "site-c", "feed-1", "feed-2", "partner"]
_AIRPORTS = ["ORD", "LAX", "JFK", "SFO", "DFW", "MIA", "SEA", "BOS", "ATL", "DEN"]
_STATUS = ["ok", "ok", "ok", "warning", "maintenance"]


def _zip_for(rng: np.random.Generator, cities: np.ndarray) -> dict[int, list[str]]:
    return {
        i: [f"{rng.integers(10000, 99999)}" for _ in range(int(rng.integers(1, 4)))]
        for i in range(len(_CITIES))
    }


def _people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    city = rng.integers(len(_CITIES), size=n)
    zips = _zip_for(rng, city)
    first = rng.choice(_FIRST, n)
    last = rng.choice(_LAST, n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "first_name": [f.title() for f in first],
            "last_name": [x.title() for x in last],
            "email": [f"{f}.{x}@example.com" for f, x in zip(first, last, strict=True)],
            "zip": [zips[c][int(rng.integers(len(zips[c])))] for c in city],
            "city": [_CITIES[c][0].title() for c in city],
            "state": [_CITIES[c][1] for c in city],
            "phone": [
                f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}"
                for _ in range(n)
            ],
            "age": rng.integers(18, 90, n).astype(str),
            "signup_date": [
                f"20{rng.integers(10, 25):02d}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
                for _ in range(n)
            ],
        }
    )


def _products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    categories = list(_CATEGORIES)
    category = rng.choice(categories, n)
    item = [str(rng.choice(_CATEGORIES[c])) for c in category]
    brand = rng.choice(_BRANDS, n)
    return pd.DataFrame(
        {
            "sku": [f"SKU-{rng.integers(0, 10**6):06d}" for _ in range(n)],
            "product_name": [f"{b.title()} {i}" for b, i in zip(brand, item, strict=True)],
            "category": category,
            "brand": brand,
            "price": [f"{p:.2f}" for p in np.round(rng.lognormal(3.5, 0.8, n), 2)],
            "weight_kg": [f"{w:.1f}" for w in rng.gamma(2.0, 1.5, n)],
            "rating": [f"{r:.1f}" for r in rng.uniform(1, 5, n)],
            "in_stock": rng.choice(["yes", "no"], n, p=[0.8, 0.2]),
        }
    )


def _trips(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n_flights = max(2, n // 6)
    carriers = rng.choice(["AA", "UA", "DL", "WN", "B6"], n_flights)
    numbers = rng.integers(100, 3000, n_flights)
    origin = rng.choice(_AIRPORTS, n_flights)
    dep_minutes = rng.integers(5 * 60, 23 * 60, n_flights)
    duration = rng.integers(60, 360, n_flights)
    flight = rng.integers(n_flights, size=n)

    def clock(minutes: int) -> str:
        hour, minute = divmod(int(minutes) % (24 * 60), 60)
        return f"{hour:02d}:{minute:02d}"

    return pd.DataFrame(
        {
            "record_id": [str(i + 1) for i in range(n)],
            "source": rng.choice(_SITES, n),
            "route": [f"{carriers[f]}{numbers[f]} {origin[f]}" for f in flight],
            "planned_departure": [clock(dep_minutes[f]) for f in flight],
            "actual_departure": [clock(dep_minutes[f] + 7 * (f % 3)) for f in flight],
            "planned_arrival": [clock(dep_minutes[f] + duration[f]) for f in flight],
            "actual_arrival": [clock(dep_minutes[f] + duration[f] + 5 * (f % 4)) for f in flight],
        }
    )


def _clinics(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n_providers = max(2, n // 20)
    city = rng.integers(len(_CITIES), size=n_providers)
    provider_zip = [f"{rng.integers(10000, 99999)}" for _ in range(n_providers)]
    provider = rng.integers(n_providers, size=n)
    conditions = list(_CONDITIONS)
    condition = rng.choice(conditions, n)
    measure = [str(rng.choice(_CONDITIONS[c])) for c in condition]
    return pd.DataFrame(
        {
            "clinic_id": [str(10000 + p * 7) for p in provider],
            "clinic_name": [f"{_LAST[p % len(_LAST)]} clinic" for p in provider],
            "street": [f"{100 + p * 13} main st" for p in provider],
            "city": [_CITIES[city[p]][0] for p in provider],
            "state": [_CITIES[city[p]][1].lower() for p in provider],
            "postcode": [provider_zip[p] for p in provider],
            "phone": [f"{3340000000 + p * 1117}" for p in provider],
            "kind": ["general" if p % 5 else "specialist" for p in provider],
            "service": condition,
            "service_code": measure,
            "service_label": [f"{c} ({m})" for m, c in zip(measure, condition, strict=True)],
            "rating_pct": [f"{s}" for s in rng.integers(40, 101, n)],
            "visits": [f"{s}" for s in rng.integers(0, 900, n)],
        }
    )


def _sensors(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n_sensors = max(2, n // 50)
    sensor = rng.integers(n_sensors, size=n)
    locations = rng.choice(["hall a", "hall b", "roof", "basement", "lab 1", "lab 2"], n_sensors)
    return pd.DataFrame(
        {
            "sensor_id": [f"s-{s:04d}" for s in sensor],
            "location": [locations[s] for s in sensor],
            "timestamp": [
                f"2024-03-{rng.integers(1, 29):02d}T{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:00"
                for _ in range(n)
            ],
            "temperature_c": [f"{t:.2f}" for t in rng.normal(21, 3, n)],
            "humidity": [f"{h:.1f}" for h in rng.uniform(20, 80, n)],
            "voltage": [f"{v:.3f}" for v in rng.normal(3.3, 0.05, n)],
            "status": rng.choice(_STATUS, n),
        }
    )


def _employees(rng: np.random.Generator, n: int) -> pd.DataFrame:
    departments = list(_DEPARTMENTS)
    department = rng.choice(departments, n)
    office = rng.integers(len(_CITIES), size=n)
    return pd.DataFrame(
        {
            "employee_id": [str(5000 + i) for i in range(n)],
            "name": [f"{rng.choice(_FIRST).title()} {rng.choice(_LAST).title()}" for _ in range(n)],
            "department": department,
            "dept_code": [_DEPARTMENTS[d] for d in department],
            "salary": [str(int(s)) for s in np.round(rng.lognormal(11, 0.3, n), -2)],
            "hire_year": rng.integers(1995, 2025, n).astype(str),
            "office_city": [_CITIES[o][0].title() for o in office],
            "office_state": [_CITIES[o][1] for o in office],
            "full_time": rng.choice(["true", "false"], n, p=[0.85, 0.15]),
        }
    )


def _orders(rng: np.random.Generator, n: int) -> pd.DataFrame:
    quantity = rng.integers(1, 20, n)
    unit_price = np.round(rng.lognormal(2.5, 0.7, n), 2)
    country = rng.choice(["germany", "france", "spain", "italy", "netherlands"], n)
    currency = {"germany": "EUR", "france": "EUR", "spain": "EUR", "italy": "EUR", "netherlands": "EUR"}
    return pd.DataFrame(
        {
            "order_id": [f"O-{2024000 + i}" for i in range(n)],
            "order_date": [f"{rng.integers(1, 29):02d}/{rng.integers(1, 13):02d}/2023" for _ in range(n)],
            "product": [str(rng.choice(_ALL_ITEMS)) for _ in range(n)],
            "quantity": quantity.astype(str),
            "unit_price": [f"{p:.2f}" for p in unit_price],
            "total": [f"{q * p:.2f}" for q, p in zip(quantity, unit_price, strict=True)],
            "currency": [currency[c] for c in country],
            "country": country,
            "channel": rng.choice(["web", "store", "phone"], n, p=[0.6, 0.3, 0.1]),
        }
    )


#: Generators of the project's synthetic clean tables, by name.
SYNTHETIC_TABLES: dict[str, Callable[[np.random.Generator, int], pd.DataFrame]] = {
    "people": _people,
    "products": _products,
    "trips": _trips,
    "clinics": _clinics,
    "sensors": _sensors,
    "employees": _employees,
    "orders": _orders,
}


def generate_table(name: str, n_rows: int, seed: int) -> pd.DataFrame:
    """One synthetic clean table (all cells strings), deterministic given `seed`."""
    return SYNTHETIC_TABLES[name](np.random.default_rng(seed), n_rows).astype(str)
