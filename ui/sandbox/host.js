/*
 * CrmHost: plays HubSpot's side of the Calling Extensions SDK (host mode) for a widget iframe.
 *
 * It uses the real SDK (window.default, the UMD build) constructed with iFrameOptions, exactly like HubSpot.
 * Two deliberate deviations from a naive host (see docs/verified facts):
 *  - the SDK in host mode answers every message type it does not know with ERROR/UNKNOWN_MESSAGE_TYPE and the
 *    widget does the same, which ping-pongs forever: we replace the host's onMessageHandler and never reply to
 *    messages we do not understand;
 *  - HubSpot's SYNC carries portalId/userId/ownerId/iframeLocation/usesCallingWindow/engagementId; the SDK's own
 *    host SYNC carries only hostUrl, so sendSync is replaced to send what HubSpot sends.
 *
 * The host keeps a small engagement store (what HubSpot's timeline would show) and a log of every message, which
 * the sandbox UI renders and the integration tests read.
 */
(function (global) {
  "use strict";

  const T = {
    SYNC: "SYNC", READY: "READY", SYNC_ACK_FAILED: "SYNC_ACK_FAILED",
    INITIALIZED: "INITIALIZED", LOGGED_IN: "LOGGED_IN", LOGGED_OUT: "LOGGED_OUT",
    USER_AVAILABLE: "USER_AVAILABLE", USER_UNAVAILABLE: "USER_UNAVAILABLE",
    OUTGOING_CALL_STARTED: "OUTGOING_CALL_STARTED", INCOMING_CALL: "INCOMING_CALL",
    CALL_ANSWERED: "CALL_ANSWERED", CALL_ENDED: "CALL_ENDED", CALL_COMPLETED: "CALL_COMPLETED",
    CALL_TRANSFERRED: "CALL_TRANSFERRED", ERROR: "ERROR", RESIZE_WIDGET: "RESIZE_WIDGET",
    NAVIGATE_TO_RECORD: "NAVIGATE_TO_RECORD", FINALIZE_ENGAGEMENT: "FINALIZE_ENGAGEMENT",
    PUBLISH_TO_CHANNEL: "PUBLISH_TO_CHANNEL",
    DIAL_NUMBER: "DIAL_NUMBER", END_CALL: "END_CALL", VISIBILITY_CHANGED: "VISIBILITY_CHANGED",
    CREATE_ENGAGEMENT_SUCCEEDED: "CREATE_ENGAGEMENT_SUCCEEDED", CREATE_ENGAGEMENT_FAILED: "CREATE_ENGAGEMENT_FAILED",
    CALLER_ID_MATCH_SUCCEEDED: "CALLER_ID_MATCH_SUCCEEDED", CALLER_ID_MATCH_FAILED: "CALLER_ID_MATCH_FAILED",
    UPDATE_ENGAGEMENT_SUCCEEDED: "UPDATE_ENGAGEMENT_SUCCEEDED", UPDATE_ENGAGEMENT_FAILED: "UPDATE_ENGAGEMENT_FAILED",
    FINALIZE_ENGAGEMENT_SUCCEEDED: "FINALIZE_ENGAGEMENT_SUCCEEDED", FINALIZE_ENGAGEMENT_FAILED: "FINALIZE_ENGAGEMENT_FAILED",
    SET_WIDGET_URL_FAILED: "SET_WIDGET_URL_FAILED", FAILED: "FAILED",
    NAVIGATE_TO_RECORD_FAILED: "NAVIGATE_TO_RECORD_FAILED",
  };

  function digitsOf(value) {
    const s = String(value || "").trim().toLowerCase();
    if (s.startsWith("sip:") || s.startsWith("sips:")) return s;
    return s.replace(/[^0-9+]/g, "").replace(/^00/, "+");
  }

  class CrmHost {
    /**
     * @param {object} opts
     *   src, hostElementSelector, width, height: the iframe (as HubSpot's calling settings)
     *   records: [{objectId, objectTypeId "0-1"|"0-2", type "CONTACT"|"COMPANY", firstName, lastName, name,
     *              email, phones: [{label, number}]}]
     *   sync: {portalId, userId, ownerId, iframeLocation, usesCallingWindow} sent with SYNC
     *   createEngagements: false to answer CREATE_ENGAGEMENT_FAILED (tests)
     *   failUpdates: refuse this many callCompleted with UPDATE_ENGAGEMENT_FAILED (nothing saved), then accept
     *   failFinalizes: the same for finalizeEngagement (FINALIZE_ENGAGEMENT_FAILED)
     *   engagementDelayMs: answer CREATE_ENGAGEMENT_* this late (HubSpot's API is slow)
     *   strict (default true): refuse (log in `refused`, never act on) call messages sent before INITIALIZED,
     *     and new calls announced while the widget says it is logged out, as HubSpot ignores them
     *   holdSync: true to hold HubSpot's SYNC until releaseSync() (the widget loads, HubSpot is slow)
     *   onChange(host, event): called after every state change
     */
    constructor(opts) {
      this.opts = Object.assign({ width: "400", height: "600", createEngagements: true }, opts);
      this.records = this.opts.records || [];
      this.sync = Object.assign({ portalId: 123456, userId: 42, ownerId: 7, iframeLocation: "widget",
        usesCallingWindow: false }, this.opts.sync || {});
      this.messages = [];          // {dir: "in"|"out", type, data, at}
      this.engagements = [];       // newest last
      this.errors = [];
      this.widget = { synced: false, initialized: false, loggedIn: null, available: null, hidden: false };
      this.navigations = [];
      this.incoming = null;        // {engagementId, fromNumber, match}
      this.nextEngagementId = 30001 + Math.floor(Math.random() * 1000) * 100;
      this.listeners = [];
      this.syncHeld = !!this.opts.holdSync;
      this.failUpdates = Number(this.opts.failUpdates) || 0;
      this.engagementDelayMs = Number(this.opts.engagementDelayMs) || 0;
      this.strict = this.opts.strict !== false;
      this.refused = [];           // {type, why, at}: messages HubSpot would not have acted on
      this.failFinalizes = Number(this.opts.failFinalizes) || 0;
      this.syncWanted = false;
      if (typeof this.opts.onChange === "function") this.listeners.push(this.opts.onChange);
      this._create();
    }

    _create() {
      const Sdk = global.default;
      if (typeof Sdk !== "function") throw new Error("Calling Extensions SDK not loaded (window.default)");
      this.sdk = new Sdk({
        debugMode: false,
        iFrameOptions: {
          src: this.opts.src,
          width: String(this.opts.width),
          height: String(this.opts.height),
          hostElementSelector: this.opts.hostElementSelector,
        },
        eventHandlers: { defaultEventHandler: () => {} },
      });
      const mgr = this.sdk.iFrameManager;
      this.mgr = mgr;
      const host = this;
      mgr.onMessageHandler = (event) => host._onMessage(event);
      mgr.sendSync = function () {
        if (host.syncHeld) { host.syncWanted = true; return; }
        if (Date.now() - this.firstSyncSent > 30000) {
          this.onMessageHandler({ type: T.SYNC_ACK_FAILED });
          return;
        }
        const message = Object.assign({ type: T.SYNC, hostUrl: global.location.origin }, host.sync);
        const live = host.liveEngagement();
        if (live) message.engagementId = live.id;
        this.sendMessage(message, (ack) => {
          this.destinationHost = (ack && ack.iFrameUrl) || this.destinationHost;
          this.onReady();
        });
        global.setTimeout(() => { if (this.iFrame && !this.isReady) this.sendSync(); }, 100);
      };
    }

    get iframe() { return this.mgr.iFrame; }

    /** holdSync: HubSpot's SYNC (and so the widget's onReady) waits until this is called (a slow CRM page). */
    releaseSync() {
      this.syncHeld = false;
      if (this.syncWanted) {
        this.syncWanted = false;
        this.mgr.firstSyncSent = Date.now();
        this.mgr.sendSync();
      }
    }

    on(fn) { this.listeners.push(fn); }

    _emit(event) {
      for (const fn of this.listeners) {
        try { fn(this, event); } catch (e) { console.error(e); }
      }
    }

    _log(dir, type, data) {
      // t: high-resolution wall clock (ms), comparable with other processes' timestamps (benchmarks)
      const entry = { dir, type, data: data === undefined ? null : data, at: Date.now(),
        t: performance.timeOrigin + performance.now() };
      this.messages.push(entry);
      if (this.messages.length > 10000) this.messages.shift();
      return entry;
    }

    send(type, data) {
      this._log("out", type, data);
      this.mgr.sendMessage({ type, data });
    }

    // -------------------------------------------------------------- what HubSpot's UI does

    /** Click-to-call on a record: DIAL_NUMBER with the payload HubSpot sends. */
    dial(record, phone, extra) {
      const payload = Object.assign({
        phoneNumber: phone.number,
        ownerId: this.sync.ownerId,
        subjectId: record.objectId,
        objectId: record.objectId,
        objectType: record.type,
        portalId: this.sync.portalId,
        countryCode: record.countryCode || "US",
        calleeInfo: { calleeId: record.objectId, calleeObjectTypeId: record.objectTypeId },
        startTimestamp: Date.now(),
        toPhoneNumberSrc: phone.label || "phone",
      }, extra || {});
      this.send(T.DIAL_NUMBER, payload);
      this._emit({ type: "dial", payload });
      return payload;
    }

    dialRaw(payload) { this.send(T.DIAL_NUMBER, payload); this._emit({ type: "dial", payload }); }

    endCall() { this.send(T.END_CALL, {}); }

    setVisibility(isMinimized, isHidden) {
      this.widget.hidden = !!isHidden;
      this.send(T.VISIBILITY_CHANGED, { isMinimized: !!isMinimized, isHidden: !!isHidden });
      this._emit({ type: "visibility" });
    }

    /** Reload the widget iframe (as a page refresh of the HubSpot tab would). */
    reloadWidget() {
      this.widget.synced = false;
      this.widget.initialized = false;
      const frame = this.iframe;
      frame.src = this.opts.src;
      this._emit({ type: "reload" });
    }

    liveEngagement() {
      for (let i = this.engagements.length - 1; i >= 0; i--) {
        const e = this.engagements[i];
        if (!e.ended && !e.completed) return e;
      }
      return null;
    }

    recordById(objectId) {
      return this.records.find((r) => String(r.objectId) === String(objectId)) || null;
    }

    matchCaller(number) {
      const want = digitsOf(number);
      if (!want) return [];
      const out = [];
      for (const r of this.records) {
        for (const p of r.phones || []) {
          const have = digitsOf(p.number);
          const same = have === want || (want.length >= 7 && have.length >= 7 &&
            (have.endsWith(want.replace(/^\+1/, "")) || want.endsWith(have.replace(/^\+1/, ""))));
          if (same) { out.push(r); break; }
        }
      }
      return out;
    }

    // -------------------------------------------------------------- messages from the widget

    _engagementFor(data) {
      const ext = data && data.externalCallId;
      if (ext) {
        const e = this.engagements.find((x) => x.externalCallId === ext);
        if (e) return e;
      }
      const id = data && data.engagementId;
      if (id) return this.engagements.find((x) => String(x.id) === String(id)) || null;
      return null;
    }

    _newEngagement(fields) {
      const e = Object.assign({
        id: this.nextEngagementId++, externalCallId: null, direction: "OUTBOUND", status: "CONNECTING",
        toNumber: "", fromNumber: "", startedAt: Date.now(), answeredAt: null, endedAt: null,
        endStatus: null, ended: false, completed: false, durationMs: null, notes: "", disposition: "",
        record: null, properties: null, duplicates: 0,
      }, fields);
      this.engagements.push(e);
      return e;
    }

    _onMessage(event) {
      const type = event && event.type;
      const data = (event && event.data) || {};
      if (type === T.READY) {
        this.widget.synced = true;
        this._log("in", T.READY, null);
        this._emit({ type: "ready" });
        return;
      }
      this._log("in", type, data);
      const why = this._refusal(type);
      if (why) {
        this.refused.push({ type, why, at: Date.now() });
        this.errors.push({ message: type + " refused: " + why, at: Date.now() });
        this._emit({ type: "refused", message: type, why });
        return;
      }
      switch (type) {
        case T.INITIALIZED:
          this.widget.initialized = true;
          this.widget.loggedIn = !!data.isLoggedIn;
          this.widget.available = data.isAvailable !== false;
          break;
        case T.LOGGED_IN: this.widget.loggedIn = true; break;
        case T.LOGGED_OUT: this.widget.loggedIn = false; break;
        case T.USER_AVAILABLE: this.widget.available = true; break;
        case T.USER_UNAVAILABLE: this.widget.available = false; break;
        case T.OUTGOING_CALL_STARTED: this._outgoing(data); break;
        case T.INCOMING_CALL: this._incoming(data); break;
        case T.CALL_ANSWERED: {
          const e = this._engagementFor(data) || this.liveEngagement();
          if (e) { e.status = "IN_PROGRESS"; e.answeredAt = Date.now(); }
          if (this.incoming && e && this.incoming.engagementId === e.id) this.incoming.answered = true;
          break;
        }
        case T.CALL_ENDED: {
          if (this.incoming && this.incoming.engagementId === null
              && this.incoming.externalCallId === data.externalCallId) this.incoming = null;
          const e = this._engagementFor(data);
          if (e) {
            e.ended = true; e.endedAt = Date.now(); e.endStatus = data.callEndStatus || null;
            e.status = data.callEndStatus || "COMPLETED";
          }
          if (this.incoming && e && this.incoming.engagementId === e.id) this.incoming = null;
          break;
        }
        case T.CALL_COMPLETED: this._completed(data); break;
        case T.ERROR:
          if (data && data.type === "UNKNOWN_MESSAGE_TYPE") break;   // never answer: no ping-pong
          this.errors.push({ message: String((data && data.message) || "Unknown error"), at: Date.now() });
          break;
        case T.RESIZE_WIDGET:
          if (data && (data.width || data.height)) this.mgr.updateIFrameSize({ width: data.width, height: data.height });
          break;
        case T.NAVIGATE_TO_RECORD: {
          const c = data && data.objectCoordinates;
          const rec = c ? this.recordById(c.objectId) : null;
          this.navigations.push({ objectCoordinates: c || null, found: !!rec, at: Date.now() });
          if (!rec) this.send(T.NAVIGATE_TO_RECORD_FAILED, { objectCoordinates: c || null });
          break;
        }
        case T.FINALIZE_ENGAGEMENT:
          if (this.failFinalizes > 0) {
            this.failFinalizes -= 1;
            this.send(T.FINALIZE_ENGAGEMENT_FAILED, { engagementId: data.engagementId,
              error: { message: "The sandbox refused to finalize" } });
            break;
          }
        // falls through
        case T.PUBLISH_TO_CHANNEL:
          this.send(T.FINALIZE_ENGAGEMENT_SUCCEEDED, { engagementId: data.engagementId,
            externalCallId: data.externalCallId });
          break;
        case T.SYNC_ACK_FAILED:
          this.errors.push({ message: "The calling widget did not answer (is Softphone running?)", at: Date.now() });
          break;
        default:
          break;                                                     // unknown: log only, never reply
      }
      this._emit({ type: "message", message: type, data });
    }

    _refusal(type) {
      if (!this.strict) return "";
      const call = [T.OUTGOING_CALL_STARTED, T.INCOMING_CALL, T.CALL_ANSWERED, T.CALL_ENDED, T.CALL_COMPLETED,
        T.CALL_TRANSFERRED];
      if (!call.includes(type)) return "";
      if (!this.widget.initialized) return "sent before initialized";
      if (this.widget.loggedIn === false && (type === T.OUTGOING_CALL_STARTED || type === T.INCOMING_CALL)) {
        return "sent while logged out";
      }
      return "";
    }

    _outgoing(data) {
      const existing = data.externalCallId && this.engagements.find((x) => x.externalCallId === data.externalCallId);
      if (existing) {                       // a second OUTGOING_CALL_STARTED for one call: HubSpot would duplicate
        existing.duplicates += 1;
        return;
      }
      if (!data.createEngagement) return;
      const ctx = data.dialingContext || {};
      const rec = ctx.objectId ? this.recordById(ctx.objectId) : (this.matchCaller(data.toNumber)[0] || null);
      const e = this._newEngagement({
        externalCallId: data.externalCallId || null, direction: "OUTBOUND",
        toNumber: data.toNumber || data.phoneNumber || "", fromNumber: data.fromNumber || "",
        startedAt: data.callStartTime || Date.now(), record: rec, dialingContext: ctx,
      });
      if (this.opts.createEngagements) this._createEngagement(e);
      else this._later(() => this.send(T.CREATE_ENGAGEMENT_FAILED,
        { error: { message: "Engagement creation disabled" } }));
    }

    _incoming(data) {
      const existing = data.externalCallId && this.engagements.find((x) => x.externalCallId === data.externalCallId);
      if (existing) { existing.duplicates += 1; return; }
      const matches = this.matchCaller(data.fromNumber);
      if (!data.createEngagement) {         // another tab logs this call: ring and match here, record nothing
        this.incoming = { engagementId: null, externalCallId: data.externalCallId || null,
          fromNumber: data.fromNumber, match: matches[0] || null, answered: false };
        this._matchCaller(matches);
        return;
      }
      const e = this._newEngagement({
        externalCallId: data.externalCallId || null, direction: "INBOUND", status: "RINGING",
        toNumber: data.toNumber || "", fromNumber: data.fromNumber || "", startedAt: data.callStartTime || Date.now(),
        record: matches[0] || null,
      });
      this.incoming = { engagementId: e.id, fromNumber: data.fromNumber, match: matches[0] || null, answered: false };
      this._matchCaller(matches);
      if (data.createEngagement && this.opts.createEngagements) {
        this._createEngagement(e);
      }
    }

    _matchCaller(matches) {
      if (matches.length) {
        this.send(T.CALLER_ID_MATCH_SUCCEEDED, {
          callerIdMatches: matches.map((r) => (r.type === "CONTACT"
            ? { callerIdType: "CONTACT", objectCoordinates: this.coordinates(r), firstName: r.firstName,
              lastName: r.lastName, email: r.email || "" }
            : { callerIdType: "COMPANY", objectCoordinates: this.coordinates(r), name: r.name })),
        });
      } else {
        this.send(T.CALLER_ID_MATCH_FAILED, {});
      }
    }

    _createEngagement(e) {
      this._later(() => this.send(T.CREATE_ENGAGEMENT_SUCCEEDED, { engagementId: e.id }));
    }

    _later(fn) {
      if (this.engagementDelayMs > 0) global.setTimeout(fn, this.engagementDelayMs);
      else fn();
    }

    coordinates(r) {
      return { portalId: this.sync.portalId, objectId: r.objectId, objectTypeId: r.objectTypeId };
    }

    _completed(data) {
      const e = this._engagementFor(data);
      if (!e) {
        this.errors.push({ message: "callCompleted for an unknown engagement", at: Date.now() });
        return;
      }
      if (this.failUpdates > 0) {          // HubSpot could not save: nothing stored, the widget may retry
        this.failUpdates -= 1;
        e.failedUpdates = (e.failedUpdates || 0) + 1;
        this.send(T.UPDATE_ENGAGEMENT_FAILED, { engagementId: e.id, error: { message: "The sandbox refused to save" } });
        return;
      }
      const p = data.engagementProperties || {};
      if (e.completed) e.duplicates += 1;
      e.completed = true;
      e.ended = true;
      e.properties = p;
      e.notes = p.hs_call_body || "";
      e.disposition = p.hs_call_disposition || "";
      if (p.hs_call_status) e.status = p.hs_call_status;
      if (p.hs_call_duration !== undefined) e.durationMs = Number(p.hs_call_duration);
      e.hideWidget = data.hideWidget;
      this.send(T.UPDATE_ENGAGEMENT_SUCCEEDED, { engagementId: e.id });
    }

    received(type) { return this.messages.filter((m) => m.dir === "in" && m.type === type); }
  }

  CrmHost.TYPES = T;
  global.CrmHost = CrmHost;
})(window);
