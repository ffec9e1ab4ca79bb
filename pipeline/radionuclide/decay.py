"""Decay corrections shared by the particulate and noble-gas analyses (REFERENCE.md §6.4).

Times: ``t_c`` collection, ``t_p`` collection stop → acquisition start (decay), ``t_r`` acquisition
real time, ``t_l`` live time (all s); λ in 1/s; ε efficiency; BR (or I) emission probability.
"""
from __future__ import annotations

import math


def counts_to_activity(lam: float, eff: float, br: float, real_s: float, live_s: float) -> float:
    """Bq at acquisition start per net count: ``λ (t_r/t_l) / (ε BR (1 − e^(−λ t_r)))``
    (decay during the acquisition; for λ t_r → 0 this is ``1 / (ε BR t_l)``)."""
    return lam * (real_s / live_s) / (eff * br * (-math.expm1(-lam * real_s)))


def activity_to_concentration(lam: float, collection_s: float, decay_s: float, air_m3: float) -> float:
    """Bq/m3 of air per Bq at acquisition start: ``λ t_c / (V (1 − e^(−λ t_c)) e^(−λ t_p))``
    (uniform collection over ``t_c``, then decay over ``t_p``)."""
    return lam * collection_s / (air_m3 * (-math.expm1(-lam * collection_s)) * math.exp(-lam * decay_s))
