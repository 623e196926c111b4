"""Fleet simulation: a firmware campaign over N emulated devices under each
behaviour profile, through the real DSP, to show what MP105 changes.

``simulate(FleetSpec(devices=10_000), CampaignSettings(lost=0.2), store)``
builds a world from a seed, removes the old meter firmware from the CPL,
rolls out the new one (11.1, then 11.3 per device), loses a seeded share of
11.3 responses, runs the supplier's recovery strategy under each profile
(what comes before recovery is done once for all profiles when they agree on
it), and reports per profile how many devices stayed wrongly Suspended, the
messages it took and how long.  See ``docs/simulate.md``.
"""

from .campaign import RECOVERY, Campaign, CampaignSettings, SimulationError, run_profile
from .fleet import FleetSpec, build_inventory, fleet_devices
from .report import Phase, ProfileResult, SharedSteps, SimulationReport, Timeline
from .run import simulate

__all__ = ["RECOVERY", "Campaign", "CampaignSettings", "FleetSpec", "Phase", "ProfileResult",
           "SharedSteps", "SimulationError", "SimulationReport", "Timeline", "build_inventory",
           "fleet_devices", "run_profile", "simulate"]
