"""Headless Chromium (Debian's `chromium`, driven by playwright-core from npm) opens the admin's
login page from a running server and checks that its stylesheets came back 200 and were applied:
the admin's colours on its header, as Django's admin looks (issue 7, "The operator's first look")."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import django

from tests.interop.jsclients import CHROMIUM, INTEROP, node_modules  # noqa: F401 (fixture)
from tests.transports.conftest import WebServer, make_web, web  # noqa: F401 (fixtures)

BASE_CSS = Path(django.__file__).parent / "contrib/admin/static/admin/css/base.css"

# Loads URL in a light colour scheme; prints one JSON line: the page's HTTP status, every stylesheet
# response (URL, status), the document's style sheets and the computed style of the header.
SCRIPT = """
import { chromium } from "playwright-core";
const [url, chromiumPath, screenshot] = process.argv.slice(1);
const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, timeout: 20000,
                                        args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
try {
  const page = await browser.newPage({ colorScheme: "light" });
  const responses = [];
  page.on("response", (r) => {
    if (r.request().resourceType() === "stylesheet") responses.push({ url: r.url(), status: r.status() });
  });
  const answer = await page.goto(url, { waitUntil: "load", timeout: 15000 });
  const seen = await page.evaluate(() => {
    const header = getComputedStyle(document.getElementById("header"));
    return {
      sheets: [...document.styleSheets].map((s) => {
        try { return { href: s.href, rules: s.cssRules.length }; } catch { return { href: s.href, rules: -1 }; }
      }),
      primary: getComputedStyle(document.documentElement).getPropertyValue("--primary").trim(),
      headerDisplay: header.display,
      headerBackground: header.backgroundColor,
    };
  });
  await page.screenshot({ path: screenshot });
  process.stdout.write(JSON.stringify({ status: answer.status(), responses, ...seen }) + "\\n");
} finally {
  await browser.close();
}
"""


def css_colour(name: str) -> str:
    """The value of a custom property in the admin's base.css, e.g. --secondary -> #417690."""
    match = re.search(rf"{name}:\s*(#[0-9a-f]{{6}});", BASE_CSS.read_text())
    assert match, name
    return match.group(1)


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def test_admin_login_page_is_styled_in_chromium(web: WebServer, node_modules: None, tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: `make interop` (apt-get install -y chromium)"
    node = shutil.which("node")
    assert node, "node is needed for the interop tests (Node.js >= 20.10)"
    screenshot = tmp_path / "admin-login.png"
    proc = await asyncio.create_subprocess_exec(
        node, "--input-type=module", "-e", SCRIPT, web.url("/admin/login/"), CHROMIUM, str(screenshot),
        cwd=INTEROP, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    seen: dict[str, Any] = json.loads(out)
    assert seen["status"] == 200
    statuses = {r["url"].removeprefix(web.url("")): r["status"] for r in seen["responses"]}
    assert statuses.get("/static/admin/css/base.css") == 200, statuses
    assert set(statuses.values()) == {200}, statuses
    base = [s for s in seen["sheets"] if s["href"].endswith("/static/admin/css/base.css")]
    assert len(base) == 1 and base[0]["rules"] > 100, seen["sheets"]
    assert seen["primary"] == css_colour("--primary")
    assert seen["headerDisplay"] == "flex"  # a <div> is a block unless base.css applies
    assert seen["headerBackground"] == rgb(css_colour("--secondary"))  # --header-bg: var(--secondary)
    assert screenshot.stat().st_size > 1000
