"""Process settings for long runs (the server, simulations, benchmarks).

A DSP allocates a few thousand short-lived, cycle-free objects per message,
while what it built at startup (compiled schemas, credentials, the SMI's
caches, the emulated devices) stays alive.  CPython's default collector runs
often and rescans those long-lived objects each time.  :func:`tune_for_throughput`
moves what exists into the collector's permanent generation and collects less
often; it spares the server's latency some pauses (its effect on throughput was
within this machine's run-to-run noise).
Memory use is unchanged in practice: nothing the DSP makes per message needs
the cycle collector to be freed.  An exception does (its traceback holds the
frames it passed through, and they hold it): code that keeps a refusal beyond
its ``except`` block drops its traceback once done with it (``duis serve``
does, per refused request; a test checks nothing of one is left as cyclic garbage).
"""

from __future__ import annotations

import gc

#: generation-0 threshold for long runs (CPython's default is 700)
GEN0_THRESHOLD = 50_000


def tune_for_throughput() -> None:
    """Freeze what the process holds now and collect less often from here on."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)

