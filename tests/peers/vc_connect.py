"""pyVmomi's login to a vCenter (vcsim, or the alarm proxy in front of it) from one URL, for
the peers that read or post with pyVmomi (vc_events.py, vc_alarm_info.py, vc_post_event.py).

    si = connect("https://user:pass@127.0.0.1:PORT/sdk")   # or http:// for a plain proxy

User and password are taken from the URL (percent-decoded); certificates are not checked (the
simulator's is self-signed). Disconnect with pyVim.connect.Disconnect(si).
"""

import ssl
import urllib.parse

from pyVim.connect import SmartConnect


def connect(url):
    u = urllib.parse.urlparse(url)
    https = u.scheme != "http"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return SmartConnect(
        protocol="https" if https else "http",
        host=u.hostname,
        port=u.port or (443 if https else 80),
        user=urllib.parse.unquote(u.username or ""),
        pwd=urllib.parse.unquote(u.password or ""),
        sslContext=context if https else None,
        disableSslCertValidation=True,
    )
