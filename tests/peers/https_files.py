"""Serves a folder over HTTPS on 127.0.0.1 (a free port, printed as "PORT <n>" on stdout) with
the given certificate, until killed. For testing downloads that insist on https (packer's
scripts/lib/fetch.sh). Usage: https_files.py FOLDER CERT KEY"""
import functools
import http.server
import ssl
import sys

folder, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
