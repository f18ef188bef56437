"""Planted steering for RF-4a–4d (issue 14): until its own plant lands, the RF expert plant's units (no writers)."""

from __future__ import annotations

from plant_rf_experts import flat_unit_groups, unit_groups

__all__ = ["flat_unit_groups", "unit_groups"]
