"""Development tools, not part of the reconciler: the local SMTP sink (``mailctl sink``)
and the demo (``python -m reconciler.devtools.demo``, what ``make run`` starts).

Nothing in the core imports this package. The defaults below live here, light, so the
``sink`` command's options need not import aiosmtpd."""

DEFAULT_LISTEN = "127.0.0.1:2525"
DEFAULT_MAILDIR = ".mailctl/maildir"
DEFAULT_CA_OUT = ".mailctl/sink-ca.pem"
