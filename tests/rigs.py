"""The rig the DSP tests run on: the public scenario rig
(:class:`duis.scenario.rig.Rig`: a DSP on a driven clock, its emulated devices
and their fault plan, the credential store, the requests' counters and the
:attr:`~duis.scenario.rig.Rig.operations` facade) built from a world file or an
inventory the test made, instead of from a scenario.

Imported as ``tests.rigs``; a module adds its own one-liners in a subclass.
"""

from __future__ import annotations

import random as _random
from pathlib import Path
from typing import Self

from duis.clock import FixedClock
from duis.devices import FaultPlan, Network
from duis.dsp import DSP
from duis.profiles import profile as named_profile
from duis.scenario.rig import Rig
from duis.settings import Settings
from duis.signatures import CredentialStore
from duis.smi import Inventory, load_world

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


class DspRig(Rig):
    """The public rig, with the DSP's inventory and network by name."""

    @classmethod
    def build(cls, store: CredentialStore, world: Path | Inventory, *, clock: FixedClock,
              profile: str | None = None, settings: Settings | None = None,
              devices: bool = True, random: _random.Random | None = None) -> Self:
        """A DSP on ``clock`` over ``world`` (a world file, loaded on ``clock``, or an
        inventory, taken as it is) under ``profile`` (default: the default profile),
        with an emulated device per SMI device (none without ``devices``) drawing
        on ``random`` (default: the network's own seed)."""
        inventory = load_world(world, clock=clock) if isinstance(world, Path) else world
        faults = FaultPlan()
        network = Network.from_inventory(inventory, clock=clock, random=random,
                                         faults=faults) if devices else None
        dsp = DSP(inventory, store, profile=named_profile(profile) if profile else None,
                  clock=clock, network=network, settings=settings)
        return cls(clock, dsp, store, faults, SAMPLES)

    @property
    def inventory(self) -> Inventory:
        return self.dsp.inventory

    @property
    def network(self) -> Network | None:
        return self.dsp.network
