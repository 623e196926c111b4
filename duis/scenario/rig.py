"""The rig a scenario runs on: the emulated DSP on a driven clock, its devices with
a fault plan, the credential store, and the requests' counters.

Public, so that a scenario's steps (:mod:`.runner`, :mod:`.hub_steps`) and
anything else that plays them take the same object; what a step does to the
DSP beyond sending a request goes through :attr:`Rig.operations`, the facade
``duis serve``'s admin endpoints use too (:class:`duis.dsp.operations.Operations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..clock import FixedClock, seeded_random
from ..devices import FaultPlan, Network
from ..dsp import DSP
from ..dsp.operations import Operations
from ..profiles import profile as named_profile
from ..settings import load_settings
from ..signatures import CounterStore, CredentialStore
from ..signatures.credentials import default_store_directory
from ..smi import load_world
from .format import Scenario, Step, step_duration

#: the first RequestID counter of each originator in a scenario
FIRST_COUNTER = 1000


@dataclass
class Rig:
    """Everything a scenario's steps act on."""

    clock: FixedClock
    dsp: DSP
    store: CredentialStore
    faults: FaultPlan
    base: Path
    """The scenario's folder: request files are relative to it."""
    counters: dict[str, int] = field(default_factory=dict)
    operations: Operations = field(init=False)
    """The clock, the CPL, the faults, joins, power cuts (shared with ``duis serve``)."""

    def __post_init__(self) -> None:
        self.operations = Operations(self.dsp, self.faults)

    @classmethod
    def for_scenario(cls, scenario: Scenario, profile_name: str,
                     store: CredentialStore | None = None) -> Rig:
        """The scenario's world on its start and seed, under ``profile_name``."""
        clock = FixedClock(scenario.start)
        inventory = load_world(scenario.world, clock=clock)
        store = store or CredentialStore(default_store_directory())
        faults = FaultPlan()
        network = Network.from_inventory(inventory, clock=clock,
                                         random=seeded_random(scenario.seed), faults=faults)
        dsp = DSP(inventory, store, profile=named_profile(profile_name), clock=clock,
                  counters=CounterStore(None), network=network,
                  settings=load_settings(scenario.settings) if scenario.settings else None)
        return cls(clock, dsp, store, faults, scenario.source.parent)

    def next_counter(self, originator: str) -> int:
        """The next RequestID counter of ``originator`` (from :data:`FIRST_COUNTER`)."""
        self.counters[originator] = self.counters.get(originator, FIRST_COUNTER - 1) + 1
        return self.counters[originator]


def step_cause(step: Step) -> str:
    """What the SMI's audit and the devices record as the cause of a step's change."""
    return f"scenario step {step.index}"


__all__ = ["FIRST_COUNTER", "Rig", "step_cause", "step_duration"]
