"""A deterministic city blood service: donors, stations, hospitals and their events.

    from simulation import CityConfig, simulate, PRESETS
    for event in simulate(PRESETS["small"], start=date(2025, 1, 1), days=365, seed=7,
                          pseudonym_key=b"k"):
        ...  # a wire-format dict, exactly as models/events.py documents

It never talks to Kafka: the CLI (`bloodtrace simulate`) hands the events to the SDK producer.
The city comes from the dbt seeds (dbt/seeds/*.csv), the same reference data dbt uses.
"""

from simulation.config import PRESETS, CityConfig
from simulation.engine import Simulation, simulate

__all__ = ["PRESETS", "CityConfig", "Simulation", "simulate"]
