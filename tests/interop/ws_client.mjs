// An @xmpp/client user over XMPP-over-WebSocket (RFC 7395), driven by test_js_websocket.py.
//
//   node --experimental-websocket ws_client.mjs SERVICE DOMAIN USERNAME PASSWORD PEER
//
// Logs in, fetches the roster, sends initial presence; when PEER (a bare JID) shows up as
// available, sends it a chat message; when a reply arrives, goes unavailable and stops.
// Every step is one JSON object per line on stdout; exit status 0 only after "done".
import { client, xml } from "@xmpp/client";

const [service, domain, username, password, peer] = process.argv.slice(2);
const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
const fail = (error) => {
  emit("error", { error: String(error) });
  process.exit(1);
};
const timer = setTimeout(() => fail("timeout"), 15000);

const xmpp = client({ service, domain, username, password, resource: "node" });
xmpp.reconnect.stop(); // a test wants to see a failure, not a retry
xmpp.on("error", fail);
xmpp.on("send", (el) => {
  if (el.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl")) emit("auth", { mechanism: el.attrs.mechanism });
});

let messaged = false;
xmpp.on("stanza", async (stanza) => {
  const from = stanza.attrs.from ?? "";
  if (stanza.is("presence") && from.startsWith(`${peer}/`)) {
    const type = stanza.attrs.type ?? "available";
    emit("presence", { from, type, status: stanza.getChildText("status") });
    if (type === "available" && !messaged) {
      messaged = true;
      await xmpp.send(xml("message", { to: peer, type: "chat", id: "js1" }, xml("body", {}, "hello from node")));
    }
  } else if (stanza.is("message") && stanza.getChildText("body")) {
    emit("message", { from, body: stanza.getChildText("body") });
    await xmpp.send(xml("presence", { type: "unavailable" }));
    await xmpp.stop();
    clearTimeout(timer);
    emit("done");
  }
});

xmpp.on("online", async (address) => {
  emit("online", { jid: address.toString() });
  const roster = await xmpp.iqCaller.get(xml("query", "jabber:iq:roster"));
  emit("roster", { items: roster.getChildren("item").map((item) => item.attrs.jid) });
  await xmpp.send(xml("presence", {}, xml("status", {}, "on node")));
});

xmpp.start().catch(fail);
