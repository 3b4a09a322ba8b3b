# SPDX-License-Identifier: Apache-2.0
"""A small client of the Chrome DevTools protocol for the page tests: one
tab of the headless Chromium of the `chromium` fixture
(tools/testenv/chromium), driven over its websocket with websocket-client
(in the venv tools/setup makes: run the test with SA_VENV_PYTHON)."""
import base64
import json
import os
import urllib.request

import websocket

from harness import check, fail


def browser_url(binary_dir):
    path = os.path.join(binary_dir, "testenv", "chromium", "url")
    check(os.path.exists(path), "no test browser (%s missing): run the test through "
          "ctest, whose fixture `chromium` starts it" % path)
    with open(path) as f:
        return f.read().strip()


class Tab:
    """A new tab; close() closes it. Calls are synchronous: send, then read
    messages until the answer with the same id. Of the events only the URL
    of every request the page makes is kept (self.requests)."""

    def __init__(self, base):
        self.base = base
        req = urllib.request.Request(base + "/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=30) as resp:
            info = json.loads(resp.read())
        self.id = info["id"]
        # No Origin header: Chromium refuses websocket clients whose origin
        # it was not told to allow.
        self.ws = websocket.create_connection(info["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.requests = []
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    fail("%s: %r" % (method, msg["error"]))
                return msg.get("result", {})

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def eval(self, expr):
        """The value of a JS expression (JSON-serialisable), awaited."""
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            fail("JS %r threw: %r" % (expr, res["exceptionDetails"]))
        return res["result"].get("value")

    def screenshot(self, path):
        res = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(res["data"]))

    def close(self):
        try:
            self.ws.close()
        finally:
            urllib.request.urlopen(self.base + "/json/close/" + self.id, timeout=30).read()
