"""The DSP behind the web services, driven from one thread.

The DSP, its SQLite SMI and the emulated devices are not thread-safe, so
everything that touches them runs, one call at a time, on the engine's own
thread; the HTTP side stays concurrent and awaits :meth:`Engine.call`.  Each
call that produces asynchronous messages queues them in the outbox before it
returns, so a reply never leaves before what follows it is safe on disk.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from ..clock import FixedClock, SystemClock, seeded_random
from ..devices import FaultPlan, Network
from ..dsp import DSP, Outgoing
from ..dsp.service import Submission
from ..errors import InputError
from ..messages import format_datetime
from ..profiles import DEFAULT_PROFILE, profile as named_profile
from ..signatures import CounterStore, CredentialStore
from ..signatures.credentials import default_store_directory
from ..smi import CplEntry, SqliteInventory, load_world
from .config import ServeConfig
from .outbox import Message, Outbox

T = TypeVar("T")


class AdminError(InputError):
    """An admin request that cannot be carried out (bad field, wrong clock mode)."""


@dataclass
class Handled:
    """What one request produced: the DSP's submission and the outbox rows queued."""

    submission: Submission
    queued: list[int] = field(default_factory=list)

    @property
    def recipients(self) -> set[str]:
        return {o.recipient for o in self.submission.outgoing[1:]}


@dataclass
class Ticked:
    """What a clock move produced (device alerts and the DCC alerts they caused)."""

    now: _dt.datetime
    outgoing: list[Outgoing]
    queued: list[int]

    def as_dict(self) -> dict:
        return {"now": format_datetime(self.now),
                "messages": [{"seq": seq, "kind": o.kind, "code": o.code,
                              "recipient": o.recipient}
                             for seq, o in zip(self.queued, self.outgoing)]}


def default_world() -> Path:
    from ..commands.submit import default_world as world
    return world()


class Engine:
    """Owns the DSP, the SMI, the devices and the outbox; one thread runs them."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.profile_name = config.profile or DEFAULT_PROFILE
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="duis-dsp")
        self.dsp: DSP | None = None
        self.outbox: Outbox | None = None
        self.faults = FaultPlan()
        self.audit_start = 0
        """The SMI audit sequence when the server started."""
        self.seeded = False
        """Whether the SMI was seeded from the world at this start."""

    # --- lifecycle --------------------------------------------------------------------

    def open(self) -> None:
        """Build the DSP on the engine's thread (SQLite connections stay on it)."""
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        config = self.config
        clock = FixedClock(config.now) if config.clock == "driven" else SystemClock()
        world = config.world or default_world()
        if config.smi is None:
            inventory = load_world(world, clock=clock)
            self.seeded = True
        else:
            self.seeded = not Path(config.smi).exists()
            inventory = SqliteInventory(config.smi, clock=clock)
            if self.seeded:
                load_world(world, inventory)
        self.audit_start = inventory.last_seq()
        network = Network.from_inventory(inventory, clock=clock,
                                         random=seeded_random(config.seed), faults=self.faults)
        counters = CounterStore(config.smi) if config.replay_check else None
        store = CredentialStore(config.store or default_store_directory())
        self.dsp = DSP(inventory, store, profile=named_profile(self.profile_name), clock=clock,
                       counters=counters, network=network)
        self.outbox = Outbox(config.smi)

    def close(self) -> None:
        """Finish queued calls, then close the SMI and the outbox."""
        def _close() -> None:
            if self.dsp is not None:
                self.dsp.inventory.close()
                if self.dsp.counters is not None:
                    self.dsp.counters.close()
            if self.outbox is not None:
                self.outbox.close()
        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)

    async def call(self, func: Callable[..., T], *args) -> T:
        """Run ``func(*args)`` on the engine's thread, after the calls before it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    # --- on the engine's thread ---------------------------------------------------------

    @property
    def clock(self):
        return self.dsp.clock

    @property
    def driven(self) -> bool:
        return isinstance(self.dsp.clock, FixedClock)

    def submit(self, data: bytes, service: str, source: str) -> Handled:
        """One request through the DSP; its asynchronous messages queued."""
        submission = self.dsp.submit(data, web_service=service, source=source)
        cause = str(submission.request.request_id)
        queued = self.outbox.add(_message(o, cause) for o in submission.outgoing[1:])
        return Handled(submission, queued)

    def tick(self) -> Ticked:
        """Let the devices catch up with the clock; queue the alerts that fire."""
        now = self.dsp.clock.now()
        outgoing = self.dsp.tick()
        cause = f"clock at {format_datetime(now)}"
        return Ticked(now, outgoing, self.outbox.add(_message(o, cause) for o in outgoing))

    def move_clock(self, *, advance_seconds: float | None = None,
                   now: _dt.datetime | None = None) -> Ticked:
        """Driven clock only: move it (never backwards), then :meth:`tick`."""
        if not self.driven:
            raise AdminError("the clock is real; it cannot be moved",
                             expected="duis serve --clock driven", found="--clock real")
        clock: FixedClock = self.dsp.clock
        if now is not None:
            if now < clock.now():
                raise AdminError("the clock does not go backwards",
                                 expected=f"an instant at or after {format_datetime(clock.now())}",
                                 found=format_datetime(now))
            clock.set(now)
        if advance_seconds is not None:
            if advance_seconds < 0:
                raise AdminError("negative advance", expected="seconds >= 0",
                                 found=str(advance_seconds))
            clock.advance(seconds=advance_seconds)
        return self.tick()

    def remove_cpl(self, manufacturer: str, model: str, firmware_version: str,
                   smets: str | None, cause: str) -> list[str]:
        """The DCC removes a CPL entry: the devices running it are Suspended."""
        return self.dsp.inventory.remove_cpl_entry(manufacturer, model, firmware_version, smets,
                                                   reason="CPL entry removed", cause=cause)

    def add_cpl(self, entry: CplEntry, cause: str) -> None:
        self.dsp.inventory.add_cpl_entry(entry, reason="CPL entry added", cause=cause)

    def fault(self, kind: str, device: str | None, share: float | None) -> None:
        """Plan a network fault, as a scenario's ``fault`` step does."""
        plan = self.faults
        actions = {
            "lose-next-response": lambda: plan.lose_next_response(device),
            "no-response": lambda: plan.no_response(device),
            "unreachable": lambda: plan.unreachable(device),
            "corrupt-image": lambda: plan.corrupt_next_image(device),
            "power-loss": lambda: plan.power_loss_on_next_activation(device),
            "lose-share": lambda: plan.lose_responses(share, message_code=0x00CA),
            "clear": lambda: plan.clear(device),
        }
        if kind not in actions:
            raise AdminError("unknown fault kind", expected=", ".join(actions), found=repr(kind))
        if kind == "lose-share" and share is None:
            raise AdminError("lose-share needs a share", expected="share: 0 to 1", found="none")
        if kind not in ("lose-share", "clear") and not device:
            raise AdminError(f"fault {kind} needs a device", expected="device: EUI-64",
                             found="none")
        actions[kind]()

    def device(self, eui: str) -> dict | None:
        found = self.dsp.inventory.device(eui)
        return asdict(found) if found is not None else None

    def audit(self, since: int) -> list[dict]:
        return [asdict(r) for r in self.dsp.inventory.audit(since_seq=since)]

    def status(self) -> dict:
        return {"now": format_datetime(self.dsp.clock.now()),
                "clock": "driven" if self.driven else "real",
                "profile": self.profile_name, "outbox": self.outbox.counts(),
                "smi_audit_start": self.audit_start}


def _message(out: Outgoing, cause: str) -> Message:
    return Message(out.recipient, out.kind, out.code, out.xml, cause)
