"""Synthetic hourly electricity use of an office building, with the ground truth of its meter faults.

Consumption has a daily shape (occupied 7-19 h on working days), a weekly one (quiet weekends),
holidays that look like Sundays, heating below 15 °C and cooling above 22 °C of outdoor
temperature (an annual cycle, a daily cycle and multi-day weather swings), plus meter faults:
dropouts to zero, stuck readings and spikes. Everything is drawn from one seeded generator.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

#: Public holidays of the simulated year (a fixed list keeps the example offline and deterministic).
HOLIDAYS = [
    date(2025, 1, 1), date(2025, 1, 6), date(2025, 2, 17), date(2025, 3, 19), date(2025, 4, 18),
    date(2025, 4, 21), date(2025, 5, 1), date(2025, 5, 29), date(2025, 6, 9), date(2025, 6, 24),
    date(2025, 7, 14), date(2025, 8, 15), date(2025, 9, 8), date(2025, 10, 3), date(2025, 11, 1),
    date(2025, 12, 25), date(2025, 12, 26),
]  # fmt: skip
START = pd.Timestamp("2025-01-01")


def simulate_building(months: int, seed: int = 7) -> pd.DataFrame:
    """Hourly readings for `months` calendar months from 2025-01-01.

    Columns: timestamp, temperature (°C), is_holiday, consumption_kwh (what the meter reported),
    true_kwh (what the building used) and fault (the kind of meter fault, "" when none).
    """
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(START, START + pd.DateOffset(months=months), freq="h", inclusive="left")
    hours = stamps.hour.to_numpy()
    day_of_year = stamps.dayofyear.to_numpy()
    days = (stamps - START).days.to_numpy()
    # Temperature: annual cycle (coldest mid-January), daily cycle (warmest at 15 h), weather swings.
    weather = np.repeat(_weather_swings(rng, days.max() + 1), 24)[: len(stamps)]
    temperature = (
        9.0
        - 11.0 * np.cos(2 * np.pi * (day_of_year - 15) / 365)
        + 4.0 * np.cos(2 * np.pi * (hours - 15) / 24)
        + weather
        + rng.normal(0, 0.7, len(stamps))
    )
    holiday = np.isin(stamps.date, HOLIDAYS)
    working = (stamps.dayofweek.to_numpy() < 5) & ~holiday
    occupied = working & (hours >= 7) & (hours < 19)
    base = 40.0 + 8.0 * np.cos(2 * np.pi * (hours - 3) / 24)  # servers, lighting of corridors
    occupancy = np.where(occupied, 55.0 + 10.0 * np.sin(np.pi * (hours - 7) / 12), 0.0)
    heating = 3.2 * np.clip(15.0 - temperature, 0, None) * np.where(occupied, 1.0, 0.45)
    cooling = 5.0 * np.clip(temperature - 22.0, 0, None) * np.where(occupied, 1.0, 0.2)
    true_kwh = base + occupancy + heating + cooling + rng.normal(0, 2.5, len(stamps))
    reported, fault = _meter_faults(rng, true_kwh)
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "temperature": temperature.round(2),
            "is_holiday": holiday.astype(int),
            "consumption_kwh": reported.round(2),
            "true_kwh": true_kwh.round(2),
            "fault": fault,
        }
    )


def _weather_swings(rng: np.random.Generator, days: int) -> np.ndarray:
    """Day-to-day weather: an AR(1) process with multi-day persistence."""
    swings = np.zeros(days)
    for day in range(1, days):
        swings[day] = 0.8 * swings[day - 1] + rng.normal(0, 1.8)
    return swings


def _meter_faults(rng: np.random.Generator, true_kwh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """About three fault episodes a month: dropouts (zeros), stuck readings and spikes."""
    reported = true_kwh.copy()
    fault = np.full(len(true_kwh), "", dtype=object)
    episodes = max(1, round(len(true_kwh) / (24 * 30) * 3))
    for start in rng.choice(np.arange(200, len(true_kwh) - 24), size=episodes, replace=False):
        kind = rng.choice(["dropout", "stuck", "spike"])
        length = {"dropout": rng.integers(3, 9), "stuck": rng.integers(6, 13), "spike": 1}[kind]
        window = slice(start, start + length)
        if kind == "dropout":
            reported[window] = 0.0
        elif kind == "stuck":
            reported[window] = reported[start - 1]
        else:
            reported[window] = reported[window] * rng.uniform(2.5, 4.0)
        fault[window] = kind
    return reported, fault
