/* The HTTP helper: JSON requests with the session's CSRF token, and API errors in words. */
(function () {
  "use strict";

  const TH = window.TriageHub;

  // Agent pages carry the session's CSRF token; every change they send repeats it.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  // Never throws: a network failure is status 0. `json` is sent as the JSON body. The answer
  // carries its ETag and the server's clock (Date) for the pages that need them.
  TH.request = async function (url, options) {
    const init = Object.assign({ headers: {}, cache: "no-store" }, options || {});
    init.headers = Object.assign({ Accept: "application/json" }, init.headers);
    const token = csrfToken();
    if (token && init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = token;
    if (init.json !== undefined) {
      init.body = JSON.stringify(init.json);
      init.headers["Content-Type"] = "application/json";
      delete init.json;
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, body: null, retryAfter: null, etag: null, date: null };
    }
    if (response.status === 401 && token) {
      // The session ended (logout elsewhere, timeout, account disabled): log in again, then back.
      // (What the agent was typing is kept in this browser: the page need not ask first.)
      const here = window.location.pathname + window.location.search;
      TH.leavingForLogin = true;
      window.location.assign("/login?next=" + encodeURIComponent(here));
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    return {
      ok: response.ok,
      status: response.status,
      body: body,
      retryAfter: response.headers.get("Retry-After"),
      etag: response.headers.get("ETag"),
      date: response.headers.get("Date"),
    };
  };

  // An API error as sentences for people: field messages first, then the error's message.
  TH.describeError = function (result, minChars, maxChars) {
    if (result.status === 0) {
      return ["Could not reach the server. Check your connection and try again."];
    }
    const body = result.body || {};
    const out = [];
    for (const field of body.fields || []) {
      if (field.type === "string_too_short" && minChars) {
        out.push("Please write at least " + minChars + " characters.");
      } else if (field.type === "string_too_long" && maxChars) {
        out.push("Please keep it to " + maxChars + " characters or fewer.");
      } else {
        out.push(field.field + ": " + field.message);
      }
    }
    if (!out.length) {
      out.push(body.message || "The server answered with an error (HTTP " + result.status + ").");
    }
    if (result.retryAfter && (result.status === 503 || result.status === 429)) {
      out.push("Please try again in " + result.retryAfter + " seconds.");
    }
    return out;
  };
})();
