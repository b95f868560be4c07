"""Payment processor adapters: each speaks one processor's API behind the interface of :mod:`.base`."""
