// The licence hub's pages: checks of audit proofs in the browser, and confirmation of destructive forms.
// Hand-written, no dependencies. The proof check follows RFC 9162 §2.1.3.2 (inclusion) with SHA-256 and
// the 0x00 leaf / 0x01 node prefixes; the tree head's ES256 signature is checked against the hub's JWKS.
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
  checkHeadSignature(element).catch((error) => {
    const out = element.querySelector(".signature");
    if (out) { out.textContent = "✗ " + error.message; out.className = "signature result bad"; }
  });
});
