#!/usr/bin/python3
"""A stand-in for a broken keystone-ng: answers every GET/HEAD with the given
5xx status (and keystone-ng's header), so the tests can show that the front
doors replace such an answer by Python Keystone's. Usage: fake_5xx.py PORT STATUS
"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _x(self):
        b = ('{"error":{"code":%s,"message":"fake failure","title":"Server Error"}}' % sys.argv[2]).encode()
        self.send_response(int(sys.argv[2])); self.send_header("Content-Type","application/json")
        self.send_header("OpenStack-Identity-Service","keystone-ng"); self.send_header("Content-Length",str(len(b))); self.end_headers()
        if self.command != "HEAD": self.wfile.write(b)
    do_GET = do_HEAD = _x
    def log_message(self,*a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
