"""The refused gate: a connection whose last request was refused waits while other
connections' requests are in hand (at most the configured time), never when idle."""

from __future__ import annotations

import asyncio

from duis.serve.app import RefusedGate


class Connection:
    """Stands for a transport (weakly referenced by the gate)."""


def test_a_refused_connection_waits_only_while_others_are_in_hand():
    async def scenario():
        gate = RefusedGate(wait=5.0)
        good, bad = Connection(), Connection()
        gate.note(bad, 400)
        # idle: no wait at all
        assert await asyncio.wait_for(gate.turn(bad), 0.5) is False
        # a first-class request in hand: the refused connection waits for it
        first = await gate.turn(good)
        assert first is True
        waiting = asyncio.ensure_future(gate.turn(bad))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        gate.done(first)
        assert await asyncio.wait_for(waiting, 0.5) is False
        # a 2xx on the connection clears it
        gate.note(bad, 200)
        assert await gate.turn(bad) is True
        gate.done(True)
    asyncio.run(scenario())


def test_the_wait_is_bounded():
    async def scenario():
        gate = RefusedGate(wait=0.05)
        good, bad = Connection(), Connection()
        gate.note(bad, 403)
        await gate.turn(good)                  # never answered
        await asyncio.wait_for(gate.turn(bad), 1.0)
    asyncio.run(scenario())


def test_zero_means_no_waiting_and_connections_are_not_kept_alive():
    async def scenario():
        gate = RefusedGate(wait=0)
        good, bad = Connection(), Connection()
        gate.note(bad, 400)
        await gate.turn(good)
        await asyncio.wait_for(gate.turn(bad), 0.05)
        del bad
        assert gate.marked == 0
    asyncio.run(scenario())
