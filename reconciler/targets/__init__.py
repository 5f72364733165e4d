"""Targets: the systems that send mail receive each scope's applied settings (DESIGN §12).

A target kind is one module behind the :class:`~reconciler.targets.base.Target` protocol,
registered in :mod:`reconciler.targets.registry` (like the reporters). The post-commit
step (:mod:`reconciler.probing`: probe now, targets next) calls
:func:`reconciler.targets.sync.sync_targets`; what was synced lives in the store's sync
state, from which ``status`` derives the ``Synced/<target>`` conditions.

This package's ``__init__`` stays import-light: validation imports only ``manifest``.
"""
