"""Shared fixtures. Real parts only: SQLite files, git repositories, aiosmtpd servers."""

pytest_plugins = (
    "tests.fixtures_smtp",
    "tests.fixtures_repo",
    "tests.fixtures_cli",
    "tests.fixtures_daemon",
    "tests.fixtures_postfix",
    "tests.fixtures_oauth2",
    "tests.fixtures_imap",
    "tests.fixtures_pg",
    "tests.fixtures_targets",
)
