// keystone-ng login page: passkey sign-in and registration, identity
// providers, token hand-over. No framework; served under a strict CSP.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { token: null, user: null };

  function status(msg, isError) {
    const s = $("status");
    s.textContent = msg;
    s.classList.toggle("error", !!isError);
  }

  // --- base64url <-> ArrayBuffer
  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(pk) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
    }
    const o = Object.assign({}, pk);
    o.challenge = b64uToBuf(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: b64uToBuf(pk.user.id) });
    o.excludeCredentials = (pk.excludeCredentials || []).map((c) => Object.assign({}, c, { id: b64uToBuf(c.id) }));
    return o;
  }
  function requestOptions(pk) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(pk);
    }
    const o = Object.assign({}, pk);
    o.challenge = b64uToBuf(pk.challenge);
    o.allowCredentials = (pk.allowCredentials || []).map((c) => Object.assign({}, c, { id: b64uToBuf(c.id) }));
    return o;
  }
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    const r = cred.response;
    const resp = { clientDataJSON: bufToB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = bufToB64u(r.attestationObject);
      resp.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      resp.authenticatorData = bufToB64u(r.authenticatorData);
      resp.signature = bufToB64u(r.signature);
      if (r.userHandle) resp.userHandle = bufToB64u(r.userHandle);
    }
    return {
      id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, response: resp,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
    };
  }

  async function api(method, path, body, token) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["X-Auth-Token"] = token;
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
    let data = null;
    const text = await resp.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
    if (!resp.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : resp.status + " " + resp.statusText;
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return { data, resp };
  }

  function authURL() {
    const base = location.pathname.replace(/\/v4\/login.*$/, "");
    return location.origin + base + "/v3";
  }

  function trustedDashboards() {
    try { return JSON.parse(document.body.dataset.trustedDashboards || "[]"); } catch (e) { return []; }
  }

  function signedIn(token, user) {
    state.token = token;
    state.user = user;
    $("signin-section").hidden = true;
    $("session-section").hidden = false;
    const domain = user.domain && user.domain.name ? " (" + user.domain.name + ")" : "";
    $("whoami").textContent = (user.name || user.id) + domain;
    $("token-output").value = token;
    $("openstack-exports").textContent = "export OS_AUTH_TYPE=token OS_AUTH_URL=" + authURL() + " OS_TOKEN=" + token + "\n";
    status("Signed in as " + (user.name || user.id) + ".");
    const origin = new URLSearchParams(location.search).get("origin");
    if (origin && trustedDashboards().indexOf(origin) >= 0) {
      // The token goes to the dashboard only when the person, who now
      // sees whose account this is, clicks: never by itself.
      const f = $("dashboard-form");
      f.action = origin;
      $("dashboard-token").value = token;
      let shown = origin;
      try { shown = new URL(origin).origin; } catch (e) { /* keep the full URL */ }
      $("dashboard-continue").textContent = "Continue to " + shown;
      f.hidden = false;
      status("Signed in as " + (user.name || user.id) + domain + ". Continue to the dashboard when this is your account.");
    }
    listPasskeys();
  }

  // --- one-time nonce for identity provider logins started here: the
  // callback hands the token back in the fragment with this nonce, and a
  // fragment without the nonce this tab stored (a crafted link carrying
  // someone else's token) is ignored.
  const NONCE_KEY = "ksng-login-nonce";
  function newNonce() {
    const b = new Uint8Array(32);
    crypto.getRandomValues(b);
    return bufToB64u(b.buffer);
  }
  function storeNonce(n) {
    try { sessionStorage.setItem(NONCE_KEY, n); return true; } catch (e) { return false; }
  }
  // takeNonce returns true when n is the stored nonce, which it then
  // deletes (one use).
  function takeNonce(n) {
    let stored = null;
    try { stored = sessionStorage.getItem(NONCE_KEY); } catch (e) { stored = null; }
    if (!n || !stored || n !== stored) return false;
    try { sessionStorage.removeItem(NONCE_KEY); } catch (e) { /* nothing to do */ }
    return true;
  }

  async function signIn(user) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status("This browser does not support passkeys.", true);
      return;
    }
    try {
      status("Starting passkey sign-in…");
      const start = await api("POST", "/v4/auth/passkey/start", user ? { user } : {});
      const cred = await navigator.credentials.get({ publicKey: requestOptions(start.data.options.publicKey) });
      if (!cred) throw new Error("No passkey was chosen.");
      status("Checking your passkey…");
      const fin = await api("POST", "/v4/auth/passkey/finish", { ceremony_id: start.data.ceremony_id, credential: credentialJSON(cred) });
      const token = fin.resp.headers.get("X-Subject-Token");
      const u = fin.data && fin.data.token ? fin.data.token.user : null;
      if (!token || !u) throw new Error("The server did not return a token.");
      signedIn(token, u);
    } catch (e) {
      status(e && e.status === 401 ? "Sign-in failed: the passkey was not accepted." : "Sign-in failed: " + (e && e.message ? e.message : e), true);
    }
  }

  async function useToken(token) {
    try {
      const r = await api("GET", "/v4/login/whoami", undefined, token);
      signedIn(token, r.data.user);
    } catch (e) {
      status("That token was not accepted: " + e.message, true);
    }
  }

  async function registerPasskey() {
    if (!state.token) return;
    const name = $("passkey-name").value.trim();
    const base = "/v4/users/" + encodeURIComponent(state.user.id) + "/passkeys/register/";
    try {
      status("Starting passkey registration…");
      const start = await api("POST", base + "start", { name }, state.token);
      const cred = await navigator.credentials.create({ publicKey: creationOptions(start.data.options.publicKey) });
      if (!cred) throw new Error("No passkey was created.");
      const body = { ceremony_id: start.data.ceremony_id, credential: credentialJSON(cred) };
      if (name) body.name = name;
      const fin = await api("POST", base + "finish", body, state.token);
      status("Passkey \u201c" + fin.data.passkey.name + "\u201d registered.");
      $("passkey-name").value = "";
      listPasskeys();
    } catch (e) {
      status("Registration failed: " + (e && e.message ? e.message : e), true);
    }
  }

  async function listPasskeys() {
    const ul = $("passkey-list");
    ul.textContent = "";
    try {
      const r = await api("GET", "/v4/users/" + encodeURIComponent(state.user.id) + "/passkeys", undefined, state.token);
      for (const p of r.data.passkeys) {
        const li = document.createElement("li");
        li.textContent = p.name + " — created " + p.created_at + (p.last_used_at ? ", last used " + p.last_used_at : ", never used");
        ul.appendChild(li);
      }
    } catch (e) { /* listing is a convenience */ }
  }

  async function loadIdentityProviders() {
    const ul = $("idp-list");
    let idps = [];
    try {
      const r = await api("GET", "/v4/login/identity_providers" + location.search);
      idps = (r.data && r.data.identity_providers) || [];
    } catch (e) { idps = []; }
    const o = new URLSearchParams(location.search).get("origin");
    const origin = o && trustedDashboards().indexOf(o) >= 0 ? o : "";
    for (const idp of idps) {
      let url;
      try { url = new URL(idp.login_url, location.href); } catch (e) { continue; }
      if (url.protocol !== "https:" && url.protocol !== "http:") continue;
      // Opened for a trusted dashboard (?origin=): the identity provider
      // login hands its token to that dashboard too.
      if (origin && !url.searchParams.has("origin")) url.searchParams.set("origin", origin);
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = url.href;
      a.textContent = idp.name || idp.id;
      // A fresh nonce per login, stored before the browser leaves.
      a.addEventListener("click", () => {
        const n = newNonce();
        const u = new URL(url.href);
        if (storeNonce(n)) u.searchParams.set("page_nonce", n);
        a.href = u.href;
      });
      li.appendChild(a);
      ul.appendChild(li);
    }
    $("idp-none").hidden = ul.children.length > 0;
  }

  // A federated (OpenID Connect) browser login started here lands here
  // with its token and this tab's nonce in the fragment, which no server
  // sees. The fragment leaves the address bar at once; the token is used
  // only with the nonce this tab stored (then forgotten), so a crafted
  // link carrying someone else's token signs nobody in.
  function takeFragment() {
    if (location.hash.length <= 1) return;
    const frag = new URLSearchParams(location.hash.slice(1));
    const t = frag.get("token");
    const n = frag.get("nonce");
    if (t === null && n === null) return;
    history.replaceState(null, "", location.pathname + location.search);
    if (t && !state.token && takeNonce(n)) {
      useToken(t);
    } else if (t) {
      status("Ignored a sign-in link that was not started on this page.", true);
    }
  }

  async function copy(text, what) {
    try { await navigator.clipboard.writeText(text); status(what + " copied."); }
    catch (e) { status("Copying failed; select the text and copy it.", true); }
  }

  function signOut() {
    const t = state.token;
    state.token = null;
    state.user = null;
    $("token-output").value = "";
    $("openstack-exports").textContent = "";
    $("token-input").value = "";
    $("session-section").hidden = true;
    $("signin-section").hidden = false;
    if (t) { // best effort: revoke the token at Keystone
      fetch("/v3/auth/tokens", { method: "DELETE", headers: { "X-Auth-Token": t, "X-Subject-Token": t }, credentials: "omit" }).catch(() => {});
    }
    status("Signed out.");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("passkey-signin").addEventListener("click", () => signIn(null));
    $("signin-named-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = $("signin-name").value.trim();
      const domain = $("signin-domain").value.trim() || "Default";
      if (!name) { status("Enter a user name, or use the passkey button above.", true); $("signin-name").focus(); return; }
      signIn({ name, domain: { name: domain } });
    });
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = $("token-input").value.trim();
      if (t) useToken(t);
    });
    $("passkey-register").addEventListener("click", registerPasskey);
    $("copy-token").addEventListener("click", () => copy($("token-output").value, "Token"));
    $("copy-exports").addEventListener("click", () => copy($("openstack-exports").textContent, "Commands"));
    $("signout").addEventListener("click", signOut);
    loadIdentityProviders();
    takeFragment();
    window.addEventListener("hashchange", takeFragment);
  });
})();
