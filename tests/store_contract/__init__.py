"""Store behaviour tests written against the ``StateStore`` protocol: every test here runs
once per backend registered in :mod:`.backends` (the ``store_backend`` fixture)."""
