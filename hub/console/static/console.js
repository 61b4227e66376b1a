// The licence hub's pages: checks of audit proofs in the browser, and confirmation of destructive forms.
// Hand-written, no dependencies. The proof checks follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
// (consistency) with SHA-256 and the 0x00 leaf / 0x01 node prefixes; the tree head's ES256 signature is
// checked against the hub's JWKS. The auditor's page remembers the last head it checked (localStorage)
// and proves the new head extends it, so a log rewritten behind the browser's back is noticed.
"use strict";

function fromBase64(text) {
  const clean = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = clean + "=".repeat((4 - (clean.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function verifyInclusion(index, size, leafHash, path, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leafHash;
  const half = (n) => Math.floor(n / 2);
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = half(fn); sn = half(sn); }
      }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn = half(fn); sn = half(sn);
  }
  return sn === 0 && equal(r, root);
}

async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
  if (!(0 < first && first < second) || proof.length === 0) return false;
  const half = (n) => Math.floor(n / 2);
  let odd = first;
  while (odd % 2 === 0) odd = half(odd);
  const path = odd === 1 ? [firstRoot, ...proof] : [...proof];  // a power of two: the first root is implicit
  let fn = first - 1, sn = second - 1;
  while (fn % 2 === 1) { fn = half(fn); sn = half(sn); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await sha256(concat(Uint8Array.of(1), c, fr));
      sr = await sha256(concat(Uint8Array.of(1), c, sr));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = half(fn); sn = half(sn); }
      }
    } else {
      sr = await sha256(concat(Uint8Array.of(1), sr, c));
    }
    fn = half(fn); sn = half(sn);
  }
  return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}

async function checkEntry(button) {
  const out = button.nextElementSibling;
  const d = button.dataset;
  try {
    const leafHash = await sha256(concat(Uint8Array.of(0), new TextEncoder().encode(d.leaf)));
    const path = d.path ? d.path.split(" ").map(fromBase64) : [];
    const ok = await verifyInclusion(Number(d.leafIndex), Number(d.treeSize), leafHash, path, fromBase64(d.root));
    out.textContent = ok ? "✓ " + d.ok : "✗ " + d.bad;
    out.className = "result " + (ok ? "ok" : "bad");
  } catch (error) {
    out.textContent = "✗ " + d.bad + ": " + error.message;
    out.className = "result bad";
  }
}

async function checkHeadSignature(element) {
  const out = element.querySelector(".signature");
  if (!out) return;
  const [header, payload, signature] = element.dataset.signed.split(".");
  const decode = (part) => JSON.parse(new TextDecoder().decode(fromBase64(part)));
  const head = decode(header), claims = decode(payload);
  const jwks = await (await fetch("/.well-known/jwks.json")).json();
  const jwk = jwks.keys.find((k) => k.kid === head.kid);
  let ok = false;
  if (jwk && head.alg === "ES256") {
    const key = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
      { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, fromBase64(signature),
      new TextEncoder().encode(header + "." + payload));
  }
  ok = ok && claims.tree_size === Number(element.dataset.treeSize) && claims.root_hash === element.dataset.rootHash;
  out.textContent = ok ? "✓ " + out.dataset.ok : "✗ " + out.dataset.bad;
  out.className = "signature result " + (ok ? "ok" : "bad");
  return ok;
}

const LAST_HEAD = "hub.audit.lastHead." + location.origin;

function storedHead(text) {
  const head = JSON.parse(text);
  const valid = head && Number.isSafeInteger(head.tree_size) && head.tree_size >= 0 &&
    typeof head.root_hash === "string" && fromBase64(head.root_hash).length === 32 &&
    typeof head.checked_at === "string";
  if (!valid) throw new Error("not a tree head");
  return head;
}

// The head on the page (its signature already checked) against the last one this browser checked: the
// same, or a larger tree with a consistency proof from the old to the new (RFC 9162 §2.1.4). The stored
// head is replaced only when the new one is proven to extend it; every other outcome is an alarm.
async function checkHeadHistory(element) {
  const out = element.querySelector(".history");
  const current = { tree_size: Number(element.dataset.treeSize), root_hash: element.dataset.rootHash,
    checked_at: new Date().toISOString() };
  const say = (state, ok, values) => {
    out.textContent = (ok ? "✓ " : "✗ ") + out.dataset[state].replace(/\{(\w+)\}/g, (_, name) => values[name]);
    out.className = "history result " + (ok ? "ok" : "bad");
    out.dataset.state = state;
  };
  const remember = () => localStorage.setItem(LAST_HEAD, JSON.stringify(current));
  const text = localStorage.getItem(LAST_HEAD);
  if (text === null) {
    remember();
    say("first", true, { now: current.tree_size });
    return;
  }
  let last;
  try {
    last = storedHead(text);
  } catch {
    say("unreadable", false, {});
    return;
  }
  const values = { size: last.tree_size, now: current.tree_size,
    date: last.checked_at.slice(0, 19).replace("T", " ") + " UTC" };
  const lastRoot = fromBase64(last.root_hash), currentRoot = fromBase64(current.root_hash);
  if (current.tree_size < last.tree_size) {
    say("truncated", false, values);
  } else if (current.tree_size === last.tree_size) {
    if (equal(lastRoot, currentRoot)) { remember(); say("same", true, values); }
    else say("forked", false, values);
  } else {
    let ok;
    if (last.tree_size === 0) {
      ok = equal(lastRoot, await sha256(new Uint8Array()));  // the empty tree is a prefix of every tree
    } else {
      const response = await fetch(
        `/v1/audit/proofs/consistency?first=${last.tree_size}&second=${current.tree_size}`);
      if (!response.ok) throw new Error("HTTP " + response.status);
      const proof = await response.json();
      ok = proof.first === last.tree_size && proof.second === current.tree_size &&
        await verifyConsistency(last.tree_size, current.tree_size, lastRoot, currentRoot,
          proof.consistency.map(fromBase64));
    }
    if (ok) { remember(); say("consistent", true, values); }
    else say("inconsistent", false, values);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.verify");
  if (button) checkEntry(button);
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.hasAttribute("data-confirm") && !window.confirm(document.documentElement.lang === "en" ? "Are you sure?" : "确定要这样做吗？")) {
    event.preventDefault();
  }
});

document.querySelectorAll("[data-signed]").forEach((element) => {
  checkHeadSignature(element).then(
    (ok) => {
      if (!ok || !element.querySelector(".history")) return;
      checkHeadHistory(element).catch((error) => {
        const out = element.querySelector(".history");
        out.textContent = "✗ " + out.dataset.error.replace("{error}", error.message);
        out.className = "history result bad";
        out.dataset.state = "error";
      });
    },
    (error) => {
      const out = element.querySelector(".signature");
      if (out) { out.textContent = "✗ " + error.message; out.className = "signature result bad"; }
    },
  );
});
