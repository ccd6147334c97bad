/*
 * Softphone calling widget: runs inside HubSpot's call iframe, speaks the Calling Extensions SDK with HubSpot
 * and a small JSON protocol with the local Softphone engine over wss://localhost/ws.
 *
 * The engine decides what HubSpot is told (it owns the per-call ledger); this page relays:
 *   HubSpot -> onDialNumber, onCreateEngagementSucceeded, ... -> {"type": ...} frames -> engine
 *   engine  -> {"type": "sdk", method, data} -> extensions[method](data) -> HubSpot
 * and renders the engine's call state (idle, incoming, in call, post-call notes).
 *
 * Security: before the SDK is created, a capturing "message" listener drops everything that is not from
 * window.parent with an allowed origin, so the SDK (which accepts SYNC from anyone) never sees foreign
 * messages. Nothing runs at all when the page is not framed or the server gave it no token.
 *
 * An ES module: the helpers it shares with the desktop window and the CRM sandbox come from ui/common, which
 * softphone/widget/assets.py copies beside this file (served as /widget/common/).
 */
import { END_STATUS, callerLabel } from "./common/calls.js";
import { byId as $, flash } from "./common/dom.js";
import { duration, initials } from "./common/format.js";
import { phoneIcon } from "./common/icons.js";
import { notesToHtml } from "./common/text.js";

(function () {
  const CONFIG = (function () {
    try { return JSON.parse(document.getElementById("softphone-config").textContent || "{}"); }
    catch (e) { return {}; }
  })();
  const FRAMED = window.parent !== window;
  const ALLOWED = new Set((CONFIG.allowedOrigins || []).map((o) => String(o).toLowerCase()));
  // The SDK methods the engine may ask for come from the engine (softphone/hubspot/sdk.py), never a copy here.
  const SDK_METHODS = new Set(CONFIG.sdkMethods || []);
  const QUEUEABLE = new Set(["engagement", "engagement_failed", "caller_id", "caller_id_failed", "visibility",
    "host_event", "draft", "complete"]);
  const OFFLINE_MESSAGE = "Softphone isn’t running on this computer. Start it, then try again.";

  // Observable state for tests and support (read-only from outside: the page is cross-origin to HubSpot).
  const debug = { blocked: 0, sdkCalls: [], framesIn: 0, view: "connecting", session: null };
  window.__softphone = debug;

  // ------------------------------------------------------------------ 1. the postMessage gate
  window.addEventListener("message", function (ev) {
    const ok = FRAMED && ev.source === window.parent && ALLOWED.has(String(ev.origin).toLowerCase());
    if (!ok) {
      ev.stopImmediatePropagation();
      debug.blocked += 1;
    }
  }, true);

  const app = $("app");

  const state = {
    status: null,               // {logged_in, available, accounts}
    calls: new Map(),           // call_id -> view from the engine
    endedShown: new Map(),      // call_id -> time until which a non-owned ended call stays on screen
    postcall: null,             // {call, completion, draft}
    outcomes: [],
    disposition: "",
    keypadOpen: false,
    dtmf: "",
    connected: false,
    everConnected: false,
    failures: 0,
    sdkReady: false,
    sdkInfo: null,
    initializedSent: false,
    location: "widget",
    hidden: false,
  };

  function setView(view) {
    if (app.dataset.view !== view) app.dataset.view = view;
    debug.view = view;
  }

  if (!FRAMED || !CONFIG.token) {
    setView("landing");
    $("presence").hidden = true;
    return;
  }

  // ------------------------------------------------------------------ 2. the engine connection
  let ws = null;
  let reqSeq = 0;
  let retryDelay = 400;
  let offlineTimer = null;
  const pending = new Map();
  const outbox = [];

  function connect() {
    let sock;
    try {
      sock = new WebSocket("wss://" + location.host + (CONFIG.wsPath || "/ws"), ["softphone.v1", "auth." + CONFIG.token]);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = function () {
      state.connected = true;
      state.everConnected = true;
      retryDelay = 400;
      if (offlineTimer) { clearTimeout(offlineTimer); offlineTimer = null; }
      if (state.sdkReady) sendReady();
      while (outbox.length) sock.send(outbox.shift());
    };
    sock.onmessage = function (ev) {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      debug.framesIn += 1;
      onFrame(frame);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      const wasUp = state.connected;
      state.connected = false;
      state.failures += 1;
      for (const [, p] of pending) p.reject(new Error(OFFLINE_MESSAGE));
      pending.clear();
      if (state.sdkReady && !state.initializedSent) {
        if (initTimer) { clearTimeout(initTimer); initTimer = null; }
        initializeWithoutEngineSoon();
      }
      // a short blip (engine restart) should not flash the offline page
      if (wasUp && !offlineTimer) {
        offlineTimer = setTimeout(function () { offlineTimer = null; render(); }, 1200);
      }
      scheduleReconnect();
      render();
    };
  }

  function scheduleReconnect() {
    const delay = retryDelay;
    retryDelay = Math.min(retryDelay * 2, 5000);
    $("offline-retry").textContent = "Trying again in " + Math.ceil(delay / 1000) + " s…";
    setTimeout(connect, delay);
  }

  function send(frame) {
    const text = JSON.stringify(frame);
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(text); return true; }
    if (QUEUEABLE.has(frame.type) && outbox.length < 200) outbox.push(text);
    return false;
  }

  function request(frame) {
    reqSeq += 1;
    frame.req = reqSeq;
    return new Promise(function (resolve, reject) {
      if (!ws || ws.readyState !== WebSocket.OPEN) { reject(new Error(OFFLINE_MESSAGE)); return; }
      pending.set(frame.req, { resolve, reject });
      ws.send(JSON.stringify(frame));
    });
  }

  function command(name, args) {
    return request({ type: "command", name, args: args || {} }).catch(function (e) { toast(e.message); throw e; });
  }

  function sendReady() {
    const info = state.sdkInfo || {};
    send({ type: "ready", initialized: state.initializedSent, sdk: {
      engagementId: info.engagementId, iframeLocation: info.iframeLocation, usesCallingWindow: info.usesCallingWindow,
      portalId: info.portalId, userId: info.userId, ownerId: info.ownerId,
    } });
  }

  // ------------------------------------------------------------------ 3. HubSpot (the SDK, widget side)
  let extensions = null;
  // What HubSpot may refuse to save and we can send again unchanged (the rep's notes stay in it).
  const RETRYABLE = new Set(["callCompleted", "finalizeEngagement"]);
  const kept = new Map();
  debug.problem = null;

  function failureText(data) {
    const e = data && (data.error || data);
    const m = e && typeof e.message === "string" ? e.message.trim().slice(0, 300) : "";
    return m ? " (" + m + ")" : "";
  }

  /** A failure HubSpot reported, shown until the rep dismisses it or a retry succeeds. */
  function showProblem(kind, message, retryMethod) {
    const data = retryMethod ? kept.get(retryMethod) : null;
    debug.problem = { kind, message, retry: !!data };
    $("hs-problem-text").textContent = message;
    const retry = $("hs-problem-retry");
    retry.hidden = !data;
    retry.disabled = false;
    retry.onclick = data ? function () {
      retry.disabled = true;
      $("hs-problem-text").textContent = "Sending again…";
      callSdk(retryMethod, data);
    } : null;
    $("hs-problem").hidden = false;
  }
  function clearProblem(kind) {
    if (debug.problem && (!kind || debug.problem.kind === kind)) {
      debug.problem = null;
      $("hs-problem").hidden = true;
    }
  }
  $("hs-problem-close").addEventListener("click", function () { clearProblem(); });

  // Calling-window mode: the navigation-bar frame ("remote") never speaks for a call; the calling window does.
  const CALL_METHODS = new Set(["outgoingCall", "incomingCall", "callAnswered", "callEnded", "callCompleted",
    "callTransferred", "finalizeEngagement"]);
  function relayOnly() {
    return state.location === "remote" && !!(state.sdkInfo && state.sdkInfo.usesCallingWindow);
  }

  function callSdk(method, data) {
    if (!SDK_METHODS.has(method) || !extensions || typeof extensions[method] !== "function") return;
    if (CALL_METHODS.has(method) && relayOnly()) return;
    if (method === "initialized") {
      data = Object.assign({}, data, { sizeInfo: currentSize() });
      state.initializedSent = true;
    }
    if (RETRYABLE.has(method)) kept.set(method, JSON.parse(JSON.stringify(data)));
    debug.sdkCalls.push({ method, data, at: Date.now() });
    if (debug.sdkCalls.length > 300) debug.sdkCalls.shift();
    extensions[method](data);
  }

  function createSdk() {
    const Sdk = window.default;
    if (typeof Sdk !== "function") { toast("The HubSpot SDK did not load."); return; }
    const forward = (event) => (data) => send({ type: "host_event", event, data: data || {} });
    extensions = new Sdk({
      debugMode: false,
      eventHandlers: {
        onReady: function (data) {
          state.sdkReady = true;
          state.sdkInfo = data || {};
          state.location = (data && data.iframeLocation) || "widget";
          app.dataset.location = state.location;
          if (state.connected) sendReady();
          initializeWithoutEngineSoon();
          lastSize = null;
          render();
        },
        onDialNumber: function (data) { dialFromHubSpot(data); },
        onCreateEngagementSucceeded: function (data) { send({ type: "engagement", data: data || {} }); },
        onEngagementCreated: function (data) { send({ type: "engagement", data: data || {} }); },
        onCreateEngagementFailed: function (data) {
          send({ type: "engagement_failed", data: data || {} });
          showProblem("create", "HubSpot could not create a record of this call, so it will not appear on the "
            + "timeline" + failureText(data) + ".");
        },
        onCallerIdMatchSucceeded: function (data) { send({ type: "caller_id", data: data || {} }); },
        onCallerIdMatchFailed: function (data) { send({ type: "caller_id_failed", data: data || {} }); },
        onVisibilityChanged: function (data) {
          state.hidden = !!(data && (data.isHidden || data.isMinimized));
          send({ type: "visibility", data: data || {} });
        },
        onEndCall: function () { send({ type: "end_call" }); },
        onSetCallState: forward("onSetCallState"),
        onNavigateToRecordFailed: function () { toast("HubSpot could not open that record.", "warning"); },
        onUpdateEngagementSucceeded: function (data) {
          clearProblem("update");
          forward("onUpdateEngagementSucceeded")(data);
        },
        onUpdateEngagementFailed: function (data) {
          forward("onUpdateEngagementFailed")(data);
          showProblem("update", "HubSpot could not save the call’s notes and outcome" + failureText(data)
            + ". Your notes are kept: try again.", "callCompleted");
        },
        onFinalizeEngagementSucceeded: function (data) {
          clearProblem("finalize");
          forward("onFinalizeEngagementSucceeded")(data);
        },
        onFinalizeEngagementFailed: function (data) {
          forward("onFinalizeEngagementFailed")(data);
          showProblem("finalize", "HubSpot could not finish the call record" + failureText(data)
            + ". Your notes are kept: try again.", "finalizeEngagement");
        },
        onPublishToChannelSucceeded: forward("onPublishToChannelSucceeded"),
        onPublishToChannelFailed: forward("onPublishToChannelFailed"),
        onInitiateCallIdSucceeded: forward("onInitiateCallIdSucceeded"),
        onInitiateCallIdFailed: forward("onInitiateCallIdFailed"),
        onSetWidgetUrlFailed: function (data) {
          forward("onSetWidgetUrlFailed")(data);
          showProblem("widget_url", "HubSpot could not open the calling window" + failureText(data)
            + ". Calls still work here.");
        },
        onFailed: function (data) {
          forward("onFailed")(data);
          showProblem("failed", "HubSpot reported a problem with the calling extension" + failureText(data) + ".");
        },
        defaultEventHandler: function () {},
      },
    });
  }

  /**
   * HubSpot waits for `initialized` (required by the SDK). The engine sends it in answer to "ready"; when the
   * engine is not running (or does not answer), the page sends it itself as logged out and unavailable, and the
   * engine sends userLoggedIn/userAvailable once it is back (sendReady says `initialized: true`).
   */
  let initTimer = null;
  function initializeWithoutEngineSoon() {
    if (state.initializedSent || initTimer) return;
    const fallback = function () {
      initTimer = null;
      if (state.initializedSent || !state.sdkReady) return;
      callSdk("initialized", { isLoggedIn: false, isAvailable: false });
    };
    if (!state.connected && state.failures > 0) fallback();
    else initTimer = setTimeout(fallback, 2000);
  }

  function dialFromHubSpot(data) {
    if (!state.connected) {
      callSdk("sendError", { message: OFFLINE_MESSAGE });
      toast(OFFLINE_MESSAGE);
      return;
    }
    request({ type: "dial", source: "hubspot", payload: data || {} })
      .catch(function (e) { toast(e.message); });
  }

  // ------------------------------------------------------------------ 4. frames from the engine
  function onFrame(f) {
    switch (f.type) {
      case "hello":
        debug.session = f.session;
        state.status = f.status;
        state.outcomes = f.outcomes || [];
        state.calls.clear();
        for (const c of f.calls || []) state.calls.set(c.call_id, c);
        if (state.postcall && !state.calls.has(state.postcall.call.call_id)) state.postcall = null;
        break;
      case "status":
        state.status = f.status;
        break;
      case "outcomes":                 // the account's own outcomes arrived from the CRM API
        state.outcomes = f.outcomes || [];
        $("outcomes").textContent = "";
        break;
      case "call":
        onCall(f.call);
        break;
      case "sdk":
        callSdk(f.method, f.data || {});
        return;
      case "postcall":
        if (relayOnly()) return;
        if (!state.postcall || state.postcall.call.call_id !== f.call.call_id) {
          state.disposition = (f.draft && f.draft.disposition) || "";
          $("notes").value = (f.draft && f.draft.notes) || "";
        }
        state.postcall = { call: f.call, completion: f.completion || {}, draft: f.draft || {} };
        state.calls.set(f.call.call_id, f.call);
        break;
      case "completed":
        if (state.postcall && state.postcall.call.call_id === f.call_id) state.postcall = null;
        state.calls.delete(f.call_id);
        break;
      case "reply": {
        const p = pending.get(f.req);
        if (p) {
          pending.delete(f.req);
          if (f.ok) p.resolve(f.result || {});
          else p.reject(new Error((f.error && f.error.message) || "Something went wrong."));
        }
        return;
      }
      case "notice":
        if (f.level === "error" || f.level === "warning") toast(f.message, f.level);
        break;
      default:
        return;
    }
    render();
  }

  function onCall(c) {
    const prev = state.calls.get(c.call_id);
    state.calls.set(c.call_id, c);
    if (c.state === "TERMINATED") {
      if (!prev || prev.state !== "TERMINATED") state.endedShown.set(c.call_id, Date.now() + 2500);
      if (!c.awaiting_completion || !c.owned) {
        setTimeout(function () {
          const now = state.calls.get(c.call_id);
          if (now && now.state === "TERMINATED" && !(state.postcall && state.postcall.call.call_id === c.call_id)) {
            state.calls.delete(c.call_id);
            render();
          }
        }, 2600);
      }
    }
    if (state.postcall && state.postcall.call.call_id === c.call_id) state.postcall.call = c;
  }

  // ------------------------------------------------------------------ 5. rendering
  const END_LABELS = Object.assign({}, END_STATUS, { COMPLETED: ["Call ended", "good"] });

  function liveCalls() {
    return Array.from(state.calls.values()).filter((c) => c.state !== "TERMINATED");
  }

  function foreground() {
    const live = liveCalls();
    const order = ["ESTABLISHED", "EARLY", "RINGING", "OUTGOING", "HELD"];
    for (const s of order) {
      const hit = live.filter((c) => c.state === s);
      if (hit.length) return hit[hit.length - 1];
    }
    return null;
  }

  function recentlyEnded() {
    const now = Date.now();
    let best = null;
    for (const c of state.calls.values()) {
      if (c.state === "TERMINATED" && (state.endedShown.get(c.call_id) || 0) > now) best = c;
    }
    return best;
  }

  function shown(c) { return c.remote_display || c.remote || ""; }

  function setAvatar(el, c) {
    const name = c.caller_name || c.remote_name;
    const ini = name && name !== shown(c) ? initials(name) : null;
    if (ini) el.textContent = ini; else el.replaceChildren(phoneIcon());
  }

  function elapsed(c) {
    const from = c.answered_at ? Date.parse(c.answered_at) : Date.parse(c.started_at);
    const to = c.ended_at ? Date.parse(c.ended_at) : Date.now();
    return (to - from) / 1000;
  }

  function statusOf(c) {
    switch (c.state) {
      case "OUTGOING": return ["Calling…", "ringing"];
      case "RINGING": case "EARLY": return ["Ringing…", "ringing"];
      case "ESTABLISHED": return ["Connected · " + duration(elapsed(c)), "live"];
      case "HELD": return ["On hold · " + duration(elapsed(c)), "held"];
      case "TERMINATED": {
        const [label] = END_LABELS[c.end_status] || ["Call ended"];
        const dur = c.answered_at ? " · " + duration(elapsed(c)) : "";
        const why = c.end_status === "FAILED" && c.reason ? " · " + c.reason : "";
        return [label + dur + why, "ended"];
      }
      default: return ["", ""];
    }
  }

  function renderPresence() {
    const p = $("presence");
    const label = p.querySelector(".presence-text");
    let st = "connecting", text = "Connecting…";
    if (!state.connected) {
      if (state.failures > 0 && offlineTimer === null) { st = "offline"; text = "Offline"; }
    } else if (state.status && !state.status.logged_in) { st = "unregistered"; text = "Not registered"; }
    else if (state.status && !state.status.available) { st = "dnd"; text = "Do not disturb"; }
    else if (state.status) { st = "ready"; text = "Available"; }
    p.dataset.state = st;
    label.textContent = text;
    p.disabled = !state.connected || !state.status;
  }

  function renderIdle() {
    const st = state.status || { accounts: [] };
    const acc = (st.accounts || []).find((a) => a.registration === "REGISTERED" || a.registration === "NONE");
    $("idle-icon").dataset.tone = !st.logged_in ? "bad" : (!st.available ? "dnd" : "");
    if (!st.logged_in) {
      $("idle-title").textContent = "Not registered";
      const bad = (st.accounts || [])[0];
      $("idle-sub").textContent = bad && bad.reason ? "Your SIP account is not registered: " + bad.reason + "."
        : "Your SIP account is not registered yet; calls cannot be placed.";
    } else if (!st.available) {
      $("idle-title").textContent = "Do not disturb";
      $("idle-sub").textContent = "Incoming calls are declined. You can still place calls.";
    } else {
      $("idle-title").textContent = "Ready to call";
      $("idle-sub").textContent = "Click a phone number in HubSpot, or dial one here.";
    }
    $("account-line").textContent = acc ? "Calling from " + acc.name + (acc.demo ? " (built-in demo: any number answers)" : "") : "";
    $("dial-button").disabled = !st.logged_in;
  }

  function renderIncoming(c) {
    setAvatar($("in-avatar"), c);
    $("in-name").textContent = c.caller_name || c.remote_name || "Unknown caller";
    $("in-number").textContent = shown(c);
    const lookup = $("in-lookup");
    if (c.caller_lookup === "matched" && c.caller && c.caller.length) {
      lookup.textContent = c.caller[0].kind === "COMPANY" ? "Company in HubSpot" : "Contact in HubSpot";
    } else if (c.caller_lookup === "none") {
      lookup.textContent = "Not found in HubSpot";
    } else {
      lookup.textContent = c.owned ? "Looking up the caller in HubSpot…" : "";
    }
    const rec = $("in-record");
    rec.hidden = !(c.caller && c.caller.length);
    rec.onclick = () => openRecord(c);
  }

  function renderCall(c) {
    const outbound = c.direction === "outbound";
    $("call-direction").textContent = c.state === "TERMINATED" ? "Call ended" : (outbound ? "Outgoing call" : "Incoming call");
    setAvatar($("call-avatar"), c);
    $("call-name").textContent = callerLabel(c);
    $("call-number").textContent = (c.caller_name || c.remote_name) ? shown(c) : "";
    const [text, tone] = statusOf(c);
    $("call-status-text").textContent = text;
    $("call-status").dataset.tone = tone;
    const talking = c.state === "ESTABLISHED" || c.state === "HELD";
    const live = c.state !== "TERMINATED";
    const mute = $("mute"), hold = $("hold"), keys = $("keypad-toggle");
    mute.disabled = !live;
    mute.setAttribute("aria-pressed", String(!!c.muted));
    mute.querySelector("span").textContent = c.muted ? "Unmute" : "Mute";
    hold.disabled = !talking;
    hold.setAttribute("aria-pressed", String(c.state === "HELD"));
    hold.querySelector("span").textContent = c.state === "HELD" ? "Resume" : "Hold";
    keys.disabled = c.state !== "ESTABLISHED";
    if (keys.disabled) state.keypadOpen = false;
    keys.setAttribute("aria-pressed", String(state.keypadOpen));
    $("keypad").hidden = !state.keypadOpen;
    $("dtmf-out").textContent = state.dtmf;
    $("hangup").disabled = !live;
    $("hangup-label").textContent = talking ? "End call" : (live ? "Cancel" : "Ended");
    const rec = $("call-record");
    rec.hidden = !(c.caller && c.caller.length);
    rec.onclick = () => openRecord(c);
  }

  function renderPostcall(pc) {
    const c = pc.call;
    setAvatar($("pc-avatar"), c);
    $("pc-name").textContent = callerLabel(c);
    const dur = c.answered_at ? duration(c.duration_s || elapsed(c)) : "not connected";
    $("pc-meta").textContent = (c.direction === "outbound" ? "Outgoing · " : "Incoming · ")
      + ((c.caller_name || c.remote_name) ? shown(c) + " · " : "") + dur;
    const [label, tone] = END_LABELS[c.end_status] || ["Ended", ""];
    const badge = $("pc-status");
    badge.textContent = label;
    badge.dataset.tone = tone;
    const box = $("outcomes");
    if (box.childElementCount !== state.outcomes.length) {
      box.textContent = "";
      for (const o of state.outcomes) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "chip";
        b.setAttribute("role", "radio");
        b.dataset.id = o.id;
        b.textContent = o.label;
        b.addEventListener("click", function () {
          state.disposition = o.id;
          saveDraftSoon();
          render();
        });
        box.appendChild(b);
      }
    }
    for (const b of box.children) b.setAttribute("aria-checked", String(b.dataset.id === state.disposition));
  }

  let lastSize = null;
  function currentSize() {
    return { width: Math.max(320, Math.ceil(document.documentElement.clientWidth || 400)),
      height: Math.ceil(app.getBoundingClientRect().height) };
  }
  function maybeResize() {
    if (!state.sdkReady || !extensions || !state.initializedSent) return;
    const size = currentSize();
    if (lastSize && Math.abs(lastSize.height - size.height) < 4 && lastSize.width === size.width) return;
    lastSize = size;
    callSdk("resizeWidget", size);
  }

  function render() {
    renderPresence();
    let view;
    const live = liveCalls();
    const incoming = live.filter((c) => c.state === "INCOMING");
    const fg = foreground();
    if (!state.connected) {
      if (offlineTimer !== null) view = app.dataset.view;
      else view = state.failures > 0 ? "offline" : "connecting";
    } else if (incoming.length && !fg) {
      view = "incoming";
      renderIncoming(incoming[incoming.length - 1]);
    } else if (fg) {
      view = "call";
      renderCall(fg);
    } else if (state.postcall) {
      view = "postcall";
      renderPostcall(state.postcall);
    } else if (recentlyEnded()) {
      view = "call";
      renderCall(recentlyEnded());
    } else {
      view = "idle";
      renderIdle();
    }
    setView(view);
  }

  // ------------------------------------------------------------------ 6. the rep's actions
  function toast(message, level) { flash($("toast"), message, level || "error", 6000); }

  function openRecord(c) {
    const m = c.caller && c.caller[0];
    if (!m) return;
    const payload = { objectCoordinates: m.objectCoordinates };
    if (c.engagement_id) payload.engagementId = c.engagement_id;
    callSdk("navigateToRecord", payload);
  }

  function current() { return foreground(); }

  $("dialer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const number = $("dial-input").value.trim();
    if (!number) { $("dial-input").focus(); return; }
    request({ type: "dial", source: "widget", number })
      .then(function () { $("dial-input").value = ""; })
      .catch(function (e) { toast(e.message); });
  });
  $("answer").addEventListener("click", function () {
    const c = liveCalls().filter((x) => x.state === "INCOMING").pop();
    if (c) command("answer", { call_id: c.call_id }).catch(() => {});
  });
  $("decline").addEventListener("click", function () {
    const c = liveCalls().filter((x) => x.state === "INCOMING").pop();
    if (c) command("decline", { call_id: c.call_id }).catch(() => {});
  });
  $("hangup").addEventListener("click", function () {
    const c = current();
    if (c) command("hangup", { call_id: c.call_id }).catch(() => {});
  });
  $("mute").addEventListener("click", function () {
    const c = current();
    if (c) command(c.muted ? "unmute" : "mute", { call_id: c.call_id }).catch(() => {});
  });
  $("hold").addEventListener("click", function () {
    const c = current();
    if (c) command(c.state === "HELD" ? "resume" : "hold", { call_id: c.call_id }).catch(() => {});
  });
  $("keypad-toggle").addEventListener("click", function () {
    state.keypadOpen = !state.keypadOpen;
    render();
  });
  for (const b of document.querySelectorAll(".keys button")) {
    b.addEventListener("click", function () {
      const c = current();
      if (!c) return;
      state.dtmf = (state.dtmf + b.dataset.key).slice(-24);
      $("dtmf-out").textContent = state.dtmf;
      command("dtmf", { call_id: c.call_id, digits: b.dataset.key }).catch(() => {});
    });
  }
  $("presence").addEventListener("click", function () {
    if (!state.status) return;
    command("set_available", { available: !state.status.available }).catch(() => {});
  });

  let draftTimer = null;
  function saveDraftSoon() {
    if (!state.postcall) return;
    if (draftTimer) clearTimeout(draftTimer);
    const callId = state.postcall.call.call_id;
    draftTimer = setTimeout(function () {
      draftTimer = null;
      send({ type: "draft", call_id: callId, notes: $("notes").value, disposition: state.disposition });
    }, 400);
  }
  $("notes").addEventListener("input", saveDraftSoon);

  function complete(withNotes) {
    if (!state.postcall) return;
    const callId = state.postcall.call.call_id;
    const notes = withNotes ? $("notes").value : "";
    if (draftTimer) { clearTimeout(draftTimer); draftTimer = null; }
    $("save").disabled = $("skip").disabled = true;
    if (!state.connected) {
      completeLocally(notes);
      render();
      return;
    }
    request({ type: "complete", call_id: callId, notes, disposition: state.disposition })
      .then(function (r) {
        if (r && r.completed === false && state.postcall && state.postcall.call.call_id === callId) {
          // the engine could not send it (no HubSpot session it trusts yet): this page is connected, send it here
          completeLocally(notes);
        }
        if (state.postcall && state.postcall.call.call_id === callId) state.postcall = null;
        $("notes").value = "";
        render();
      })
      .catch(function (e) { toast(e.message); })
      .finally(function () { $("save").disabled = $("skip").disabled = false; });
  }
  $("postcall").addEventListener("submit", function (ev) { ev.preventDefault(); complete(true); });
  $("skip").addEventListener("click", function () { complete(false); });

  /** Send callCompleted straight to HubSpot (page closing, or the engine unreachable), then tell the engine.
   *  ``typed``: the notes to send (Skip sends none); what the panel holds when not given. ``closing``: the page
   *  is going away, so nobody will know whether HubSpot got it (the engine may write it through the CRM API). */
  function completeLocally(typed, closing) {
    const pc = state.postcall;
    if (!pc || !pc.completion || !pc.completion.externalCallId) return;
    const data = JSON.parse(JSON.stringify(pc.completion));
    const text = typed === undefined ? $("notes").value : typed;
    const notes = text.trim();
    data.engagementProperties = data.engagementProperties || {};
    if (notes) data.engagementProperties.hs_call_body = notesToHtml(notes);
    if (state.disposition) data.engagementProperties.hs_call_disposition = state.disposition;
    callSdk("callCompleted", data);
    const frame = { type: "complete", call_id: pc.call.call_id, notes: text, disposition: state.disposition,
      sent: true, closing: !!closing };
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
    else outbox.push(JSON.stringify(frame));
    state.postcall = null;
  }
  window.addEventListener("pagehide", function () { if (state.postcall) completeLocally(undefined, true); });

  // ------------------------------------------------------------------ 7. start
  setInterval(function () {
    if (state.hidden) return;
    const fg = foreground();
    if (fg || recentlyEnded()) render();
  }, 1000);
  if (typeof ResizeObserver === "function") new ResizeObserver(maybeResize).observe(app);
  createSdk();
  connect();
  render();
})();
