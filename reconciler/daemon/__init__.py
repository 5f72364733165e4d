"""``mailctl daemon``: watch the configs folder, reconcile, resync, serve health/metrics.

- :mod:`.cache` keeps one checked file per path (stat signature + ``FileCheck``) so a
  one-file change re-checks one file;
- :mod:`.runs` runs reconciles (full, incremental, resync) on the core functions;
- :mod:`.watch` turns watchfiles events into filtered manifest paths;
- :mod:`.loop` is the asyncio loop: debounce, interval, suspend, signals;
- :mod:`.http` serves ``/healthz`` ``/readyz`` ``/status`` ``/metrics``;
- :mod:`.metrics` holds the Prometheus registry; :mod:`.cli` the click command.
"""
