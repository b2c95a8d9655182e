"""Keep Python's cyclic garbage collector off a long session's objects once the app has taken them in.

A session of 100,000 calls is over a million objects the collector tracks (the
live report's items, the side-effect panel's rows, the widgets). CPython walks
all of them in a full pass whenever a quarter more objects have survived since
its last one: 0.1 s at 10,000 calls, 0.6 s at 100,000, on the event loop the
keys share, at whatever moment the growth tips it (in a burst of calls one
frame took 670 ms that way, where a frame takes 5 ms). Those objects stay as
long as the session is shown, and the records and items among them hold no
cycles (reference counting frees them when they go).

So when the app has taken a backlog in (a full read of the session, a large
batch of events, or small batches adding up to one), it settles the heap: one collection now, which frees the
cyclic garbage there is, then `gc.freeze()`, which moves every survivor out of
the collector's generations. From then on a full pass walks only what is new
since, however long the session. A full read also unfreezes first, so what
was frozen and has since become garbage (a screen closed, a report replaced)
is found then.

`release` gives the collector everything back; the app calls it as it closes,
so a process that runs the app more than once (the tests) reclaims what each
run left behind.
"""

from __future__ import annotations

import gc

__all__ = ["release", "settle"]


def settle(*, reclaim: bool) -> None:
    """Collect the garbage there is, then take every object left out of the collector's generations.

    Args:
        reclaim: first give back to the collector what earlier settles took out,
            so what has become garbage among it since is found (a pass over the
            whole heap; without it, the pass covers what is new since the last
            settle).

    A process that turned the collector off keeps it so: nothing is done.
    """
    if not gc.isenabled():
        return
    if reclaim:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    # A pass over nothing: CPython sizes the next full pass against the last one's survivors, which
    # were just frozen; after this one it runs as soon as enough new objects have survived, over them alone.
    gc.collect()


def release() -> None:
    """Give the collector back every object `settle` took out (the app is closing)."""
    gc.unfreeze()
