"""The DSP behind the web services, driven from one thread.

The DSP, its SQLite SMI and the emulated devices are not thread-safe, so
everything that touches them runs, one call at a time, on the engine's own
thread; the HTTP side stays concurrent and awaits :meth:`Engine.call`.

Calls are taken in small batches: the thread runs every call waiting (up to
``max_batch``), then writes the asynchronous messages they produced to the
outbox in one transaction (a group commit), and only then hands the results
back.  So a reply never leaves before what follows it is safe on disk, and
under load one commit and one wake-up of the event loop serve many requests.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import queue
import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from lxml import etree

from ..clock import FixedClock, SystemClock, seeded_random
from ..devices import FaultPlan, Network
from ..dsp import DSP, Outgoing
from ..dsp.service import Submission
from ..errors import DuisError, InputError, WrongRoot
from ..messages import format_datetime
from ..profiles import DEFAULT_PROFILE, profile as named_profile
from ..signatures import CounterStore, CredentialStore
from ..signatures.credentials import default_store_directory
from ..smi import CplEntry, SqliteInventory, load_world
from ..xmlparse import parse_bytes
from .config import ServeConfig
from .outbox import Message, Outbox

T = TypeVar("T")
REQUEST_TAG = "{http://www.dccinterface.co.uk/ServiceUserGateway}Request"


class AdminError(InputError):
    """An admin request that cannot be carried out (bad field, wrong clock mode)."""


@dataclass
class Handled:
    """What one request produced: the DSP's submission and its asynchronous messages."""

    submission: Submission
    messages: list[Message] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    """Outbox sequence numbers of ``messages``, once written."""

    @property
    def recipients(self) -> set[str]:
        return {m.recipient for m in self.messages}


@dataclass
class Ticked:
    """What a clock move produced (device alerts and the DCC alerts they caused)."""

    now: _dt.datetime
    outgoing: list[Outgoing]
    messages: list[Message] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"now": format_datetime(self.now),
                "messages": [{"seq": seq, "kind": o.kind, "code": o.code,
                              "recipient": o.recipient}
                             for seq, o in zip(self.queued, self.outgoing)]}


def default_world() -> Path:
    from ..commands.submit import default_world as world
    return world()


@dataclass
class _Call:
    func: Callable
    args: tuple
    future: asyncio.Future | Future
    loop: asyncio.AbstractEventLoop | None = None
    """The loop awaiting ``future``; None for a caller waiting on a thread."""


class Engine:
    """Owns the DSP, the SMI, the devices and the outbox; one thread runs them."""

    def __init__(self, config: ServeConfig, *, max_batch: int = 16) -> None:
        self.config = config
        self.profile_name = config.profile or DEFAULT_PROFILE
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="duis-dsp", daemon=True)
        self.dsp: DSP | None = None
        self.outbox: Outbox | None = None
        self.faults = FaultPlan()
        self.audit_start = 0
        """The SMI audit sequence when the server started."""
        self.seeded = False
        """Whether the SMI was seeded from the world at this start."""

    # --- lifecycle --------------------------------------------------------------------

    def open(self) -> None:
        """Start the engine's thread and build the DSP on it (SQLite connections
        stay on the thread that opened them)."""
        self._thread.start()
        self._wait(self._open)

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
        """Finish the calls queued before, close the SMI and the outbox, end the thread."""
        if not self._thread.is_alive():
            return
        self._wait(self._close)
        self._queue.put(None)
        self._thread.join()

    def _close(self) -> None:
        if self.dsp is not None:
            self.dsp.inventory.close()
            if self.dsp.counters is not None:
                self.dsp.counters.close()
        if self.outbox is not None:
            self.outbox.close()

    def _wait(self, func: Callable[..., T], *args) -> T:
        """Run on the engine's thread and wait (for callers outside an event loop)."""
        future: Future = Future()
        self._queue.put(_Call(func, args, future))
        return future.result()

    async def call(self, func: Callable[..., T], *args) -> T:
        """Run ``func(*args)`` on the engine's thread, after the calls before it;
        the messages it produced are in the outbox when this returns."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Call(func, args, future, loop))
        return await future

    # --- the engine's thread ------------------------------------------------------------

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)                    # stop after this batch
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[_Call]) -> None:
        outcomes: list[tuple[object, BaseException | None]] = []
        for call in batch:
            try:
                outcomes.append((call.func(*call.args), None))
            except BaseException as exc:  # handed to the caller, who maps it
                outcomes.append((None, exc))
        produced = [r for r, e in outcomes if isinstance(r, (Handled, Ticked)) and r.messages]
        if produced:
            try:
                seqs = iter(self.outbox.add(m for r in produced for m in r.messages))
                for result in produced:
                    result.queued = [next(seqs) for _ in result.messages]
            except BaseException as exc:
                outcomes = [(None, exc) if r in produced else (r, e) for r, e in outcomes]
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for call, (result, error) in zip(batch, outcomes):
            if call.loop is None:
                _settle(call.future, result, error)
            else:
                by_loop.setdefault(call.loop, []).append((call.future, result, error))
        for loop, settled in by_loop.items():                # one wake-up per loop and batch
            loop.call_soon_threadsafe(_settle_all, settled)

    # --- on the engine's thread ---------------------------------------------------------

    @property
    def clock(self):
        return self.dsp.clock

    @property
    def driven(self) -> bool:
        return isinstance(self.dsp.clock, FixedClock)

    def submit(self, data: bytes, service: str, source: str) -> Handled:
        """One request through the DSP (its asynchronous messages are queued after)."""
        try:
            submission = self.dsp.submit(data, web_service=service, source=source)
        except DuisError:
            raise
        except Exception:
            _ensure_request(data, source)      # a valid, signed Response posted by mistake
            raise
        cause = str(submission.request.request_id)
        return Handled(submission, [_message(o, cause) for o in submission.outgoing[1:]])

    def tick(self) -> Ticked:
        """Let the devices catch up with the clock (the alerts that fire are queued after)."""
        now = self.dsp.clock.now()
        outgoing = self.dsp.tick()
        cause = f"clock at {format_datetime(now)}"
        return Ticked(now, outgoing, [_message(o, cause) for o in outgoing])

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


def _ensure_request(data: bytes, source: str) -> None:
    """Raise :class:`WrongRoot` unless ``data`` is an ``sr:Request``."""
    root = parse_bytes(data, source).getroot()
    if root.tag != REQUEST_TAG:
        raise WrongRoot("a web service takes a DUIS request", source=source, path="/",
                        expected="sr:Request", found=etree.QName(root).localname)


def _settle(future: asyncio.Future | Future, result: object,
            error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_all(settled: list) -> None:
    for future, result, error in settled:
        _settle(future, result, error)


def _message(out: Outgoing, cause: str) -> Message:
    return Message(out.recipient, out.kind, out.code, out.xml, cause)
