"""The shared base of the SQL store backends (``sqlite/``, ``postgres/``).

Both keep the same tables and the same semantics; what really differs between them is
one small :class:`~.dialect.Dialect` value (placeholders, how a list is bound, a LIMIT of
"all", how a history delta is kept) and how each connects and runs its transactions.
Everything else is here, once:

- :mod:`.codec`: a record as the columns of ``scopes`` and back;
- :mod:`.sql`: the statements, in the shared notation the dialect translates;
- :mod:`.ddl`: the tables, in each backend's words (its migrations create them);
- :mod:`.reads`, :mod:`.historyrows`: the reads, and compact history's rows;
- :mod:`.tx`: ``SqlTx``, the ``StoreTx`` of both backends;
- :mod:`.store`: ``SqlStore``, the ``StateStore`` methods both share.

A backend plugs in with a dialect, a one-line ``SqlTx`` subclass naming it, and an
``SqlStore`` subclass that opens, guards and runs transactions. This package imports no
backend and no driver.
"""
