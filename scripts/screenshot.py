"""Take the README screenshot of the CRM Inbox client from a running demo (scripts/demo.sh).

Logs in through JSON-RPC, hands the session cookie to headless Chromium over the
DevTools protocol, opens the mail client (optionally a conversation of the list) and
saves a PNG.

    python3 scripts/screenshot.py [--url http://localhost:8069] [--row 5]
        [--width 1440 --height 900] [--out static/description/screenshot_inbox.png]
"""

import argparse
import base64
import json
import os
import subprocess
import tempfile
import time

import requests
import websocket


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="crm_inbox_demo")
    parser.add_argument("--path", default="/odoo/crm-inbox")
    parser.add_argument("--row", type=int, default=-1,
                        help="open the conversation at this index of the list (0: newest)")
    parser.add_argument("--click", default="",
                        help="CSS selector of an element to click before the row and the shot")
    parser.add_argument("--after", "--then", dest="after", action="append", default=[],
                        help="CSS selector to click after the row (repeatable, in order), "
                             "e.g. the Reply button, then a dropdown toggle")
    parser.add_argument("--js", action="append", default=[],
                        help="JavaScript to run after the clicks (repeatable), e.g. to type "
                             "into the reply box and press Send")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--out", default="static/description/screenshot_inbox.png")
    parser.add_argument("--port", type=int, default=9333)
    args = parser.parse_args()

    session = requests.Session()
    response = session.post(f"{args.url}/web/session/authenticate", json={
        "jsonrpc": "2.0", "params": {"db": args.db, "login": args.login,
                                  "password": args.password},
    }, timeout=30)
    response.raise_for_status()
    sid = session.cookies["session_id"]

    profile = tempfile.mkdtemp(prefix="crm-inbox-shot-")
    chrome = subprocess.Popen([
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", f"--remote-debugging-port={args.port}",
        f"--window-size={args.width},{args.height}", "about:blank",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                targets = requests.get(f"http://127.0.0.1:{args.port}/json", timeout=2).json()
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        seq = iter(range(1, 10_000))

        def call(method, **params):
            msg_id = next(seq)
            ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == msg_id:
                    return msg.get("result", {})

        call("Network.enable")
        host = args.url.split("//", 1)[1].split(":")[0]
        call("Network.setCookie", name="session_id", value=sid, domain=host, path="/")
        call("Emulation.setDeviceMetricsOverride", width=args.width, height=args.height,
             deviceScaleFactor=1, mobile=args.width < 768)
        call("Page.enable")
        call("Page.navigate", url=args.url + args.path)
        time.sleep(float(os.environ.get("SHOT_WAIT", "20")))
        if args.click:
            call("Runtime.evaluate", expression=(
                f"document.querySelector({json.dumps(args.click)})?.click()"))
            time.sleep(6)
        if args.row >= 0:
            call("Runtime.evaluate", expression=(
                f"document.querySelectorAll('.o_crm_inbox_row')[{args.row}]?.click()"))
            time.sleep(4)
        for selector in args.after:
            call("Runtime.evaluate", expression=(
                f"document.querySelector({json.dumps(selector)})?.click()"))
            time.sleep(3)
        for expression in args.js:
            call("Runtime.evaluate", expression=expression)
            time.sleep(3)
        shot = call("Page.captureScreenshot", format="png")
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "wb") as handle:
            handle.write(base64.b64decode(shot["data"]))
        print(f"saved {args.out}")
    finally:
        chrome.kill()


if __name__ == "__main__":
    main()
