/*
 * The CRM sandbox UI: sample contacts and companies with click-to-call, the calling widget in HubSpot's place,
 * an incoming-call card with caller-ID match, and a timeline of the engagements the widget's SDK messages create
 * and complete. The SDK host logic lives in host.js (CrmHost); this file only draws.
 *
 * Numbers for the built-in demo line: any number answers; numbers ending in 486, 480 or 603 get busy,
 * no answer and declined.
 *
 * An ES module: the helpers it shares with the widget and the desktop window come from ui/common, which
 * softphone/widget/assets.py copies beside this file (served as /sandbox/common/).
 */
import { END_STATUS } from "./common/calls.js";
import { byId as $, h as el } from "./common/dom.js";
import { clockTime, duration, initials as initialsOf } from "./common/format.js";
import { phoneIcon } from "./common/icons.js";
import { htmlToText } from "./common/text.js";

(function () {
  const PORTAL = 123456;
  const RECORDS = [
    { objectId: 501, objectTypeId: "0-1", type: "CONTACT", firstName: "Maya", lastName: "Chen", email: "maya@northwind.example",
      company: "Northwind Traders", title: "Head of Operations", phones: [{ label: "mobilephone", number: "+1 415 555 0132" }] },
    { objectId: 502, objectTypeId: "0-1", type: "CONTACT", firstName: "Priya", lastName: "Nair", email: "priya@acme.example",
      company: "Acme Robotics", title: "VP Engineering", countryCode: "GB", phones: [{ label: "phone", number: "020 7946 0958" }] },
    { objectId: 503, objectTypeId: "0-1", type: "CONTACT", firstName: "Jonas", lastName: "Weber", email: "jonas@brightline.example",
      company: "Brightline GmbH", title: "Procurement", countryCode: "DE", phones: [{ label: "phone", number: "030 901820" }] },
    { objectId: 504, objectTypeId: "0-1", type: "CONTACT", firstName: "Lucas", lastName: "Martin", email: "lucas@harbor.example",
      company: "Harbor & Co", title: "Busy line (demo: 486)", phones: [{ label: "phone", number: "+1 212 555 0486" }] },
    { objectId: 505, objectTypeId: "0-1", type: "CONTACT", firstName: "Sofia", lastName: "Rossi", email: "sofia@lumen.example",
      company: "Lumen Studio", title: "Never picks up (demo: 480)", phones: [{ label: "phone", number: "+1 312 555 0480" }] },
    { objectId: 506, objectTypeId: "0-1", type: "CONTACT", firstName: "Daniel", lastName: "Okafor", email: "daniel@kestrel.example",
      company: "Kestrel Labs", title: "Declines calls (demo: 603)", phones: [{ label: "phone", number: "+1 646 555 0603" }] },
    { objectId: 507, objectTypeId: "0-1", type: "CONTACT", firstName: "Ben", lastName: "Ortiz", email: "ben@typo.example",
      company: "Typo Inc", title: "Broken number in the CRM", phones: [{ label: "phone", number: "+1 555" }] },
    { objectId: 508, objectTypeId: "0-1", type: "CONTACT", firstName: "Dana", lastName: "Demo", email: "dana@demo.invalid",
      company: "Softphone demo line", title: "Calls you when you ask", phones: [{ label: "phone", number: "sip:demo@demo.invalid" }] },
    { objectId: 601, objectTypeId: "0-2", type: "COMPANY", name: "Northwind Traders", domain: "northwind.example",
      phones: [{ label: "phone", number: "+1 415 555 0100" }] },
    { objectId: 602, objectTypeId: "0-2", type: "COMPANY", name: "Acme Robotics", domain: "acme.example", countryCode: "GB",
      phones: [{ label: "phone", number: "+44 20 7946 0000" }] },
    { objectId: 603, objectTypeId: "0-2", type: "COMPANY", name: "Brightline GmbH", domain: "brightline.example", countryCode: "DE",
      phones: [{ label: "phone", number: "+49 30 1234567" }] },
  ];
  const OUTCOMES = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected", "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer", "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message", "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
  };
  const STATUS = Object.assign({
    CONNECTING: ["Calling", "live"], RINGING: ["Ringing", "live"], IN_PROGRESS: ["In progress", "live"],
  }, END_STATUS);

  const ui = { tab: "CONTACT", selected: null };

  function nameOf(r) { return r.type === "CONTACT" ? r.firstName + " " + r.lastName : r.name; }
  function initials(r) { return initialsOf(nameOf(r)) || ""; }
  function callButton(r, p, iconOnly) {
    const b = el("button", { type: "button", class: iconOnly ? "call-icon" : "call-btn", title: "Call " + p.number,
      "aria-label": "Call " + nameOf(r) + " at " + p.number, "data-object-id": String(r.objectId) });
    b.append(phoneIcon());
    if (!iconOnly) b.append(p.number);
    b.addEventListener("click", (ev) => { ev.stopPropagation(); select(r); host.dial(r, p); });
    return b;
  }

  // -------------------------------------------------------------- the host (HubSpot's role)
  // HubSpot's modes and failure paths, as ?mode=… (the select below reloads with it); ?loc=window is the
  // calling-window popup the remote opens. Open several tabs of this page for HubSpot's several-tabs case.
  const params = new URLSearchParams(location.search);
  const mode = params.get("mode") || "widget";
  const loc = params.get("loc") || (mode === "remote" ? "remote" : "widget");
  const host = new window.CrmHost({
    src: location.origin + "/",
    hostElementSelector: "#widget-host",
    width: "100%",
    height: "520",
    records: RECORDS.map((r) => Object.assign({ portalId: PORTAL }, r)),
    sync: { portalId: PORTAL, userId: 42, ownerId: 7, iframeLocation: loc,
      usesCallingWindow: mode === "remote" },
    createEngagements: mode !== "no-engagement",
    engagementDelayMs: mode === "slow" ? 3000 : 0,
    failUpdates: mode === "update-fails" ? 1 : 0,
    strict: mode !== "lenient",
  });
  $("sandbox-mode").value = mode;
  $("sandbox-mode").addEventListener("change", () => {
    location.search = "?mode=" + encodeURIComponent($("sandbox-mode").value);
  });
  $("open-calling-window").hidden = loc !== "remote";
  $("open-calling-window").addEventListener("click", () => {
    window.open(location.pathname + "?mode=remote&loc=window", "softphone-calling-window", "width=420,height=640");
  });
  window.sandboxHost = host;
  host.on(() => render());

  // -------------------------------------------------------------- drawing
  function renderRecords() {
    const list = $("record-list");
    list.textContent = "";
    for (const r of RECORDS.filter((x) => x.type === ui.tab)) {
      const av = el("span", { class: "av" + (r.type === "COMPANY" ? " company" : ""), text: initials(r) });
      const meta = el("div", { class: "meta" }, [
        el("strong", { text: nameOf(r) }),
        el("span", { text: (r.type === "CONTACT" ? r.company : r.domain) + " · " + r.phones[0].number }),
      ]);
      const li = el("li", { class: "record", "data-object-id": String(r.objectId) }, [av, meta, callButton(r, r.phones[0], true)]);
      if (ui.selected === r) li.setAttribute("aria-current", "true");
      li.addEventListener("click", () => select(ui.selected === r ? null : r));
      list.appendChild(li);
    }
    for (const t of document.querySelectorAll(".tab")) t.setAttribute("aria-selected", String(t.dataset.tab === ui.tab));
  }

  function renderHead() {
    const head = $("record-head");
    head.textContent = "";
    const r = ui.selected;
    if (!r) {
      head.appendChild(el("div", { class: "empty" }, [
        el("strong", { text: "All activity" }),
        el("div", { class: "small", text: "Select a record to see its calls, or click a number to call it." }),
      ]));
      $("activity-scope").textContent = "All records";
      return;
    }
    const phones = el("div", { class: "phones" }, r.phones.map((p) => callButton(r, p)));
    head.appendChild(el("span", { class: "av" + (r.type === "COMPANY" ? " company" : ""), text: initials(r) }));
    head.appendChild(el("div", {}, [
      el("h3", { text: nameOf(r) }),
      el("div", { class: "small muted", text: r.type === "CONTACT" ? r.title + " · " + r.company + " · " + r.email : r.domain }),
      phones,
    ]));
    $("activity-scope").textContent = nameOf(r);
  }

  function renderTimeline() {
    const ol = $("timeline");
    ol.textContent = "";
    const items = host.engagements.filter((e) => !ui.selected || (e.record && e.record.objectId === ui.selected.objectId));
    if (!items.length) {
      ol.appendChild(el("li", { class: "none", text: "No calls yet. Click a phone number to place one." }));
      return;
    }
    for (const e of items.slice().reverse()) {
      const who = e.record ? nameOf(e.record) : (e.direction === "INBOUND" ? e.fromNumber : e.toNumber) || "Unknown";
      const [label, tone] = STATUS[e.status] || [e.status, ""];
      const live = !e.ended;
      const ic = el("span", { class: "ic" + (e.direction === "INBOUND" ? " in" : "") });
      ic.append(phoneIcon());
      const title = el("div", { class: "title" }, [
        el("strong", { text: (e.direction === "INBOUND" ? "Call from " : "Call to ") + who }),
        el("span", { class: "pill " + (live ? "live" : tone), text: live ? label : label }),
        e.disposition ? el("span", { class: "pill outcome", text: OUTCOMES[e.disposition] || "Custom outcome" }) : null,
        e.completed ? null : (e.ended ? el("span", { class: "pill", text: "awaiting notes" }) : null),
      ]);
      const facts = [clockTime(e.startedAt), e.direction === "INBOUND" ? "inbound" : "outbound",
        e.direction === "INBOUND" ? e.fromNumber : e.toNumber];
      if (e.durationMs !== null && e.completed) facts.push(duration(Math.round(e.durationMs / 1000)));
      facts.push("engagement " + e.id);
      const body = el("div", {}, [title, el("div", { class: "facts", text: facts.filter(Boolean).join(" · ") })]);
      if (e.notes) body.appendChild(el("div", { class: "notes", text: htmlToText(e.notes) }));
      ol.appendChild(el("li", { class: "eng", "data-engagement": String(e.id) }, [ic, body]));
    }
  }

  function renderStatus() {
    const chip = $("widget-status");
    const w = host.widget;
    let st = "loading", text = "Loading widget…";
    if (w.initialized) {
      if (w.loggedIn === false) { st = "error"; text = "Softphone: not registered"; }
      else if (w.available === false) { st = "away"; text = "Softphone: do not disturb"; }
      else { st = "ready"; text = "Softphone ready"; }
    } else if (w.synced) { text = "Widget connected"; }
    chip.dataset.state = st;
    chip.querySelector(".text").textContent = text;
    const alert = $("alert");
    const last = host.errors[host.errors.length - 1];
    if (last && Date.now() - last.at < 8000) { alert.textContent = last.message; alert.hidden = false; }
    else alert.hidden = true;
    const inc = host.incoming;
    const card = $("incoming");
    if (inc && !inc.answered) {
      card.hidden = false;
      const m = inc.match;
      $("incoming-name").textContent = m ? nameOf(m) : inc.fromNumber;
      $("incoming-sub").textContent = m ? (m.type === "CONTACT" ? m.company + " · " : "") + inc.fromNumber : "No matching record";
      const open = $("incoming-open");
      open.hidden = !m;
      open.onclick = () => select(m);
    } else {
      card.hidden = true;
    }
    const last2 = host.engagements[host.engagements.length - 1];
    if (last2 && last2.completed && last2.hideWidget) $("widget-host").parentElement.classList.add("collapsed");
  }

  function renderLog() {
    const ol = $("log");
    ol.textContent = "";
    for (const m of host.messages.slice(-80).reverse()) {
      const li = el("li", {}, [
        el("span", { class: "dir " + m.dir, text: m.dir === "in" ? "← widget" : "→ widget" }),
        document.createTextNode(" " + m.type + (m.data ? " " + JSON.stringify(m.data) : "")),
      ]);
      ol.appendChild(li);
    }
    $("log-count").textContent = "(" + host.messages.length + ")";
  }

  function render() { renderRecords(); renderHead(); renderTimeline(); renderStatus(); renderLog(); }

  function select(r) { ui.selected = r; if (r) ui.tab = r.type; render(); }

  // navigateToRecord from the widget opens the record here; an incoming call pops the caller's record
  host.on((h, ev) => {
    if (ev.type === "message" && ev.message === "INCOMING_CALL" && h.incoming && h.incoming.match) {
      select(RECORDS.find((x) => x.objectId === h.incoming.match.objectId) || null);
    }
    if (ev.type === "message" && ev.message === "NAVIGATE_TO_RECORD") {
      const c = ev.data && ev.data.objectCoordinates;
      const r = c && RECORDS.find((x) => String(x.objectId) === String(c.objectId));
      if (r) select(r);
    }
  });

  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => { ui.tab = t.dataset.tab; render(); });
  $("widget-hide").addEventListener("click", () => {
    const card = $("widget-host").parentElement;
    card.classList.toggle("collapsed");
    const hidden = card.classList.contains("collapsed");
    host.setVisibility(hidden, hidden);
  });
  $("demo-call").addEventListener("click", async () => {
    const b = $("demo-call");
    b.disabled = true;
    try {
      const r = await fetch("/sandbox/demo-call", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        host.errors.push({ message: (body.error && body.error.message) || "The demo line could not call you.", at: Date.now() });
      }
    } catch (e) {
      host.errors.push({ message: "Softphone is not running.", at: Date.now() });
    } finally {
      b.disabled = false;
      render();
    }
  });
  setInterval(renderStatus, 2000);
  render();
})();
