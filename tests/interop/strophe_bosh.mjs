// A Strophe.js user over BOSH (XEP-0124, XEP-0206), driven by test_strophe_bosh.py.
//
//   node strophe_bosh.mjs SERVICE DOMAIN USERNAME PASSWORD PEER
//
// Logs in, fetches the roster, sends initial presence; when PEER (a bare JID) shows up as
// available, sends it a chat message; when a reply arrives, disconnects (Strophe sends a
// type='terminate' body carrying unavailable presence) and stops. Every step is one JSON
// object per line on stdout; exit status 0 only after "done".
//
// Strophe's Node build brings its DOM (@xmldom/xmldom) but no XMLHttpRequest: xhr2
// provides one, and `responseXML` (which xhr2 lacks) is parsed here with the DOMParser
// Strophe installed, as a browser would.
import XHR2 from "xhr2";
import { Strophe, $iq, $msg, $pres } from "strophe.js";

class XMLHttpRequest extends XHR2 {
  get responseXML() {
    if (this.readyState !== XHR2.DONE || !this.responseText) return null;
    return new DOMParser().parseFromString(this.responseText, "text/xml");
  }
}
globalThis.XMLHttpRequest = XMLHttpRequest;

Strophe.setLogLevel(Strophe.LogLevel.WARN); // warnings go to stderr; stdout is for the events

const [service, domain, username, password, peer] = process.argv.slice(2);
const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
const fail = (error) => {
  emit("error", { error: String(error) });
  process.exit(1);
};
const timer = setTimeout(() => fail("timeout"), 20000);

const conn = new Strophe.Connection(service);
conn.xmlInput = (body) => {
  // The session creation response: what the server granted (XEP-0124 §7.1, XEP-0206 §4).
  if (body.getAttribute && body.getAttribute("sid")) {
    const attrs = ["ver", "wait", "hold", "requests", "from", "xmpp:version", "xmpp:restartlogic"];
    emit("session", Object.fromEntries(attrs.map((name) => [name, body.getAttribute(name)])));
  }
};
conn.xmlOutput = (body) => {
  const auth = body.getElementsByTagName && body.getElementsByTagName("auth")[0];
  if (auth) emit("auth", { mechanism: auth.getAttribute("mechanism") });
  if (body.getAttribute("type") === "terminate") emit("terminate");
};

let messaged = false;
conn.addHandler((presence) => {
  const from = presence.getAttribute("from") ?? "";
  if (from.startsWith(`${peer}/`)) {
    const type = presence.getAttribute("type") ?? "available";
    const status = presence.getElementsByTagName("status")[0]?.textContent ?? null;
    emit("presence", { from, type, status });
    if (type === "available" && !messaged) {
      messaged = true;
      conn.send($msg({ to: peer, type: "chat", id: "strophe1" }).c("body").t("hello from strophe"));
    }
  }
  return true;
}, null, "presence");

conn.addHandler((message) => {
  const text = message.getElementsByTagName("body")[0]?.textContent;
  if (text) {
    emit("message", { from: message.getAttribute("from"), body: text });
    conn.disconnect("done");
    return false;
  }
  return true;
}, null, "message");

conn.connect(`${username}@${domain}/strophe`, password, (status, condition) => {
  if (status === Strophe.Status.CONNECTED) {
    emit("online", { jid: conn.jid });
    conn.sendIQ($iq({ type: "get" }).c("query", { xmlns: Strophe.NS.ROSTER }), (result) => {
      const items = Array.from(result.getElementsByTagName("item")).map((item) => item.getAttribute("jid"));
      emit("roster", { items });
      conn.send($pres().c("status").t("on strophe"));
    }, () => fail("roster request failed"));
  } else if (status === Strophe.Status.AUTHFAIL || status === Strophe.Status.CONNFAIL
             || status === Strophe.Status.ERROR) {
    fail(`status ${status} ${condition ?? ""}`);
  } else if (status === Strophe.Status.DISCONNECTED) {
    clearTimeout(timer);
    emit("done");
    process.exit(0);
  }
});
