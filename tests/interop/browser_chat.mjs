// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens a chat page
// that logs in over XMPP-over-WebSocket with @xmpp/client's browser bundle, waits for PEER to be
// available, sends it a message and waits for the reply. Driven by test_browser.py.
//
//   node browser_chat.mjs SERVICE DOMAIN USERNAME PASSWORD PEER [SCREENSHOT.png]
//
// The page is served by this script from http://localhost:<a free port>/ (a secure context, which
// @xmpp/client needs for crypto.randomUUID, and a loopback one, so that Chromium's local-network
// rules let it open a WebSocket to the server); the WebSocket carries that page's Origin.
// What the page does is printed as JSON lines, as ws_client.mjs does.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const [service, domain, username, password, peer, screenshot] = process.argv.slice(2);
const bundle = createRequire(import.meta.url).resolve("@xmpp/client/dist/xmpp.min.js");
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chat</title><script src="/xmpp.min.js"></script></head>
<body><h1>chat</h1><ol id="log"></ol>
<script>
const q = new URLSearchParams(location.search);
const peer = q.get("peer");
const log = (event, fields = {}) => {
  const item = document.createElement("li");
  item.textContent = event + " " + JSON.stringify(fields);
  document.getElementById("log").append(item);
  window.report({ event, ...fields });
};
const { client, xml } = window.XMPP;
const xmpp = client({ service: q.get("service"), domain: q.get("domain"), username: q.get("username"),
                      password: q.get("password"), resource: "browser" });
xmpp.reconnect.stop();
xmpp.on("error", (err) => log("error", { error: String(err) }));
xmpp.on("send", (el) => {
  if (el.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl")) log("auth", { mechanism: el.attrs.mechanism });
});
let messaged = false;
xmpp.on("stanza", async (stanza) => {
  const from = stanza.attrs.from || "";
  if (stanza.is("presence") && from.startsWith(peer + "/")) {
    const type = stanza.attrs.type || "available";
    log("presence", { from, type });
    if (type === "available" && !messaged) {
      messaged = true;
      await xmpp.send(xml("message", { to: peer, type: "chat" }, xml("body", {}, "hello from " + navigator.userAgent.split(" ").find((w) => w.startsWith("HeadlessChrome") || w.startsWith("Chrome")))));
    }
  } else if (stanza.is("message") && stanza.getChildText("body")) {
    log("message", { from, body: stanza.getChildText("body") });
    await xmpp.stop();
    log("done");
  }
});
xmpp.on("online", async (address) => {
  log("online", { jid: address.toString(), origin: location.origin });
  await xmpp.send(xml("presence"));
});
xmpp.start().catch((err) => log("error", { error: String(err) }));
</script></body></html>`;

const script = await readFile(bundle);
const site = createServer((req, res) => {
  const isScript = req.url === "/xmpp.min.js";
  res.writeHead(200, { "Content-Type": isScript ? "text/javascript" : "text/html; charset=utf-8" });
  res.end(isScript ? script : PAGE);
});
await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
  timeout: 20000,
});
let ok = false;
try {
  const page = await browser.newPage();
  let settle;
  const finished = new Promise((resolve) => { settle = resolve; });
  await page.exposeFunction("report", (event) => {
    emit(event);
    if (event.event === "done" || event.event === "error") settle(event.event === "done");
  });
  page.on("pageerror", (err) => emit({ event: "error", error: `page: ${err.message}` }));
  const query = new URLSearchParams({ service, domain, username, password, peer });
  await page.goto(`http://localhost:${site.address().port}/?${query}`);
  const timeout = new Promise((resolve) => setTimeout(() => resolve(false), 15000));
  ok = await Promise.race([finished, timeout]);
  if (!ok) emit({ event: "error", error: "timeout or failure in the page" });
  if (screenshot) await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
  site.close();
}
process.exit(ok ? 0 : 1);
