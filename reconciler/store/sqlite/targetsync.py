"""SQLite DDL of the targets' sync state (table ``target_sync``, schema v3; its reads and
writes are shared: ``sqlbase``).

One row per (target, scope): what the last successful sync wrote (partition, the
non-secret values, the secret's *fingerprint* — never a secret or a token) and how the
last attempt went. Rows are written after the settings commit, in their own small
transactions: a target failure never touches the applied settings.
"""

from __future__ import annotations

from reconciler.store.sqlbase import ddl
from reconciler.store.sqlite.dialect import SQLITE_DDL

DDL = ddl.tables(SQLITE_DDL, "target_sync")
