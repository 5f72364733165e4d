"""Builders for manifest text used across tests (plain YAML strings, as users write them)."""

from __future__ import annotations

import textwrap


def smtp_block(
    host: str = "127.0.0.1",
    port: int = 2525,
    tls: str = "starttls",
    *,
    user: str | None = None,
    secret_env: str = "TEST_SMTP_PASSWORD",
    timeout_ms: int = 5000,
    indent: int = 2,
) -> str:
    lines = [
        "smtp:",
        f"  host: {host}",
        f"  port: {port}",
        f"  tls: {tls}",
        f"  timeoutMs: {timeout_ms}",
    ]
    if user:
        lines += ["  auth:", f"    username: {user}", f"    password: {{env: {secret_env}}}"]
    pad = " " * indent
    return "".join(f"{pad}{line}\n" for line in lines)


def host(
    mode: str = "custom",
    *,
    sender: str = "notify@platform.example",
    display_name: str = "Platform Notifications",
    probe_to: str | None = "probe@platform.example",
    ehlo_name: str | None = None,
    **smtp: object,
) -> str:
    text = f"apiVersion: mailctl/v1\nkind: HostMailSettings\nspec:\n  mode: {mode}\n"
    if mode == "custom":
        text += smtp_block(**smtp)  # type: ignore[arg-type]
        text += f"  from:\n    address: {sender}\n    displayName: {display_name}\n"
    return text + probe_block(probe_to, ehlo_name)


def probe_block(probe_to: str | None, ehlo_name: str | None = None) -> str:
    if not probe_to:
        return ""
    text = f"  probe:\n    to: {probe_to}\n"
    if ehlo_name:
        text += f"    ehloName: '{ehlo_name}'\n"  # quoted: [..] is a YAML list
    return text


def org_secret_env(name: str) -> str:
    """The tenant-scoped variable an org's manifest reads its password from."""
    return name.upper().replace("-", "_") + "_SMTP_PASSWORD"


def org(
    name: str,
    mode: str = "default",
    *,
    sender: str | None = None,
    display_name: str | None = None,
    probe_to: str | None = None,
    ehlo_name: str | None = None,
    **smtp: object,
) -> str:
    text = textwrap.dedent(
        f"""\
        apiVersion: mailctl/v1
        kind: OrgMailSettings
        metadata:
          name: {name}
        spec:
          mode: {mode}
        """
    )
    if mode == "custom":
        # Orgs may only use their own secrets: <ORG>_* (docs/secrets.md).
        smtp.setdefault("secret_env", org_secret_env(name))
        text += smtp_block(**smtp)  # type: ignore[arg-type]
        text += f"  from:\n    address: {sender or f'alerts@{name}.example'}\n"
        if display_name:
            text += f"    displayName: {display_name}\n"
    return text + probe_block(probe_to, ehlo_name)
