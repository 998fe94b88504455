// citybrain operations console: plain JavaScript over the plan service's HTTP API (docs/service.md).
// The token lives in sessionStorage only and goes out as "Authorization: Bearer"; every control
// the role may not use is absent, and every refusal the API sends is shown as it came.
"use strict";

const TOKEN_KEY = "citybrain.token";
const POLL_MS = 3000;
const TRAFFIC_EVERY = 5; // polls between two reads of the traffic state
const PENDING = new Set(["draft", "checked", "approved"]);
const PUSHABLE = new Set(["approved", "active", "superseded", "rolled_back"]);
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  token: null, me: null, network: null, lights: new Map(), targets: new Map(), selected: null,
  panelKey: "", plans: [], plan: null, versions: new Map(), audit: [], poll: null, polls: 0,
  busy: false,
};

// ---------------------------------------------------------------- small DOM helpers
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const short = (sha) => (sha ? sha.slice(0, 12) : "none");
const secs = (s) => (s === null || s === undefined ? "" : `${Number(s).toFixed(1).replace(/\.0$/, "")} s`);
const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "");
const shown = (v) => (v === null || v === undefined ? "none" : typeof v === "number" ? String(Number(v.toFixed(2))) : v);
const plainNumber = (s) => (s === null || s === undefined ? "" : Number(s).toFixed(1).replace(/\.0$/, ""));

// ---------------------------------------------------------------- the API
class ApiError extends Error {
  constructor(status, detail, problems) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.problems = problems || [];
  }
}

// Thrown for a request of a session that has ended (signed out meanwhile): nothing to show.
class SignedOut extends Error {}

async function api(method, path, body, raw) {
  const token = state.token;
  if (!token) throw new SignedOut("signed out");
  const headers = { Authorization: `Bearer ${token}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, `the service cannot be reached (${exc.message})`, []);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (_exc) {
    data = null;
  }
  if (state.token !== token) throw new SignedOut("signed out");
  if (!resp.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : resp.statusText;
    const problems = data && Array.isArray(data.problems) ? data.problems : [];
    throw new ApiError(resp.status, detail, problems);
  }
  return data;
}

function errorLine(err) {
  return err instanceof ApiError ? `HTTP ${err.status || "-"}: ${err.detail}` : `Error: ${err.message}`;
}

function showError(err) {
  if (err instanceof SignedOut) return;
  $("error-text").textContent = errorLine(err);
  const list = $("error-problems");
  list.replaceChildren(...(err.problems || []).map((p) => el("li", {}, p)));
  $("error").hidden = false;
  if (err instanceof ApiError && err.status === 401 && state.token) signOut(false);
}

function clearError() {
  $("error").hidden = true;
}

// Run an event handler, showing whatever it throws (never an unhandled rejection).
function guard(fn) {
  return (...args) => {
    Promise.resolve().then(() => fn(...args)).catch((err) => showError(err));
  };
}

// Show an action's outcome in its own result line as well as in the error banner.
function report(node, err) {
  if (err instanceof SignedOut) return;
  node.replaceChildren(el("span", { class: "bad" }, errorLine(err)),
    err.problems && err.problems.length ? el("ul", {}, err.problems.map((p) => el("li", {}, p))) : null);
  showError(err);
}

// ---------------------------------------------------------------- roles
function atLeast(role) {
  const roles = state.me.roles;
  return roles.indexOf(state.me.role) >= roles.indexOf(role);
}

function applyRole() {
  for (const node of document.querySelectorAll(".needs-engineer")) node.hidden = !atLeast("engineer");
}

// ---------------------------------------------------------------- sign in and out
async function signIn(event) {
  event.preventDefault();
  clearError();
  const input = $("token");
  const token = input.value.trim();
  input.value = "";
  if (!token) return;
  state.token = token;
  try {
    await start();
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showError(err);
  }
}

function signOut(clear = true) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.poll) clearInterval(state.poll);
  Object.assign(state, { token: null, me: null, poll: null, selected: null, panelKey: "", plan: null });
  state.versions.clear();
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signout").hidden = true;
  $("who").textContent = "";
  // nothing the last user saw (or could press) stays on the page for the next one
  $("panel").replaceChildren(el("p", { class: "note" }, "Choose a light on the map."));
  $("plan-detail").replaceChildren(el("p", { class: "note" }, "Choose a plan."));
  for (const id of ["plans-table", "audit-table"]) $(id).querySelector("tbody").replaceChildren();
  for (const id of ["upload-result", "audit-count", "traffic-note"]) $(id).textContent = "";
  $("upload-form").reset();
  $("audit-form").reset();
  $("layer-traffic").checked = false;
  paintTraffic(null);
  if (clear) clearError();
  $("token").focus();
}

async function start() {
  state.me = await api("GET", "/me");
  sessionStorage.setItem(TOKEN_KEY, state.token);
  state.network = await api("GET", "/network");
  $("who").replaceChildren("Signed in as ", el("strong", { id: "who-name" }, state.me.name),
    " ", el("span", { class: `role role-${state.me.role}`, id: "who-role" }, state.me.role));
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  applyRole();
  drawMap();
  fillLightChoices();
  await refreshLights();
  state.poll = setInterval(guard(poll), POLL_MS);
  showView("map");
}

async function poll() {
  if (state.busy || document.hidden || !state.token) return;
  state.busy = true;
  try {
    state.polls += 1;
    await refreshLights();
    if ($("layer-traffic").checked && state.polls % TRAFFIC_EVERY === 0) await refreshTraffic();
    if (state.selected) await openLight(state.selected, false);
  } finally {
    state.busy = false;
  }
}

// ---------------------------------------------------------------- views
function showView(name) {
  for (const v of ["map", "plans", "audit"]) {
    $(`view-${v}`).hidden = v !== name;
    $(`tab-${v}`).setAttribute("aria-selected", String(v === name));
  }
  if (name === "plans") guard(refreshPlans)();
  if (name === "audit") guard(refreshAudit)();
}

// ---------------------------------------------------------------- map
function mapFrame() {
  const [x0, y0, x1, y1] = state.network.bounds_m;
  const span = Math.max(x1 - x0, y1 - y0, 1);
  const pad = span * 0.06;
  return { x0, y1, span, pad, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad };
}

function drawMap() {
  const map = $("map");
  const f = mapFrame();
  const X = (x) => (x - f.x0 + f.pad).toFixed(1);
  const Y = (y) => (f.y1 - y + f.pad).toFixed(1);
  map.setAttribute("viewBox", `0 0 ${f.w.toFixed(1)} ${f.h.toFixed(1)}`);
  const pairs = new Set(state.network.links.map((l) => `${l.from}>${l.to}`));
  const links = svg("g", { class: "links" }, state.network.links.map((link) => {
    // the two directions of a road drawn side by side (each to the right of its travel), not on top of each other
    const shape = pairs.has(`${link.to}>${link.from}`) ? offsetRight(link.shape_m, f.span * 0.004) : link.shape_m;
    return svg("polyline", {
      class: "link", "data-edge": link.id, "stroke-width": 2 + link.lanes,
      points: shape.map(([x, y]) => `${X(x)},${Y(y)}`).join(" "),
    }, svg("title", {}, `link ${link.id} (${link.from} to ${link.to}, ${link.lanes} lane(s))`));
  }));
  const r = f.span * 0.014;
  const lights = svg("g", { class: "lights" }, state.network.lights.map((light) => {
    const g = svg("g", {
      class: "light st-none", "data-tls": light.tls, tabindex: 0, role: "button",
      "aria-label": `Light ${light.tls}`, transform: `translate(${X(light.x_m)},${Y(light.y_m)})`,
      onclick: guard(() => openLight(light.tls, true)),
      onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          guard(() => openLight(light.tls, true))();
        }
      },
    }, svg("circle", { r: r.toFixed(1) }),
    svg("text", { y: (-r * 1.5).toFixed(1), "font-size": (r * 1.5).toFixed(1), "text-anchor": "middle" },
      light.tls.length > 16 ? `${light.tls.slice(0, 15)}…` : light.tls),
    svg("title", {}, light.tls));
    return g;
  }));
  map.replaceChildren(links, lights);
  $("map-note").textContent = `${state.network.lights.length} lights, ${state.network.links.length} links; ` +
    `coordinates: ${state.network.crs_note}`;
}

// A polyline (metres, y north) moved ``d`` metres to the right of its direction, vertex by vertex.
function offsetRight(points, d) {
  const normal = (a, b) => {
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]) || 1;
    return [(b[1] - a[1]) / len, -(b[0] - a[0]) / len];
  };
  return points.map((p, i) => {
    const n1 = i > 0 ? normal(points[i - 1], p) : null;
    const n2 = i < points.length - 1 ? normal(p, points[i + 1]) : null;
    const n = n1 && n2 ? [(n1[0] + n2[0]) / 2, (n1[1] + n2[1]) / 2] : n1 || n2;
    return [p[0] + n[0] * d, p[1] + n[1] * d];
  });
}

// The light's contact with its target: "none" (no target), "ok" or "lost" (with why).
function contact(light) {
  if (!light.target) return { state: "none" };
  const t = state.targets.get(light.tls);
  if (!t) return { state: "unknown" };
  if (t.error) return { state: "lost", why: t.error };
  if (!t.reported[light.tls]) return { state: "lost", why: `${t.target} does not report ${light.tls}` };
  return { state: "ok", report: t.reported[light.tls] };
}

function shownStatus(light) {
  if (light.status === "push-failed") return "push-failed";
  if (contact(light).state === "lost") return "out-of-contact";
  return light.status;
}

const STATUS_TEXT = {
  active: "active plan", "pending-approval": "pending approval", "push-failed": "push failed",
  "out-of-contact": "out of contact", none: "no plan of ours",
};

async function refreshLights() {
  const [lights, targets] = await Promise.all([api("GET", "/lights"), api("GET", "/targets")]);
  state.lights = new Map(lights.lights.map((l) => [l.tls, l]));
  state.targets = new Map();
  for (const t of targets.targets) for (const tls of t.lights) state.targets.set(tls, t);
  for (const node of document.querySelectorAll("#map .light")) {
    const light = state.lights.get(node.dataset.tls);
    if (!light) continue;
    const st = shownStatus(light);
    node.setAttribute("class", `light st-${st}${state.selected === light.tls ? " selected" : ""}`);
    node.setAttribute("data-status", st);
    node.setAttribute("aria-label", `Light ${light.tls}: ${STATUS_TEXT[st]}`);
    node.querySelector("title").textContent = `${light.tls}: ${STATUS_TEXT[st]}`;
  }
  $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function refreshTraffic() {
  const note = $("traffic-note");
  let resp;
  try {
    resp = await fetch("/public/traffic-state", { cache: "no-store" });
  } catch (exc) {
    note.textContent = `traffic state: the service cannot be reached (${exc.message})`;
    return;
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    note.textContent = `traffic state: HTTP ${resp.status}: ${data && data.detail ? data.detail : resp.statusText}`;
    paintTraffic(null);
    return;
  }
  const traffic = new Map((data.features || []).map((f) => [f.id ?? f.properties.edge, f.properties]));
  const areas = Object.entries(data.areas || {}).filter(([, v]) => v && Number.isFinite(v.index))
    .map(([k, v]) => `${k}: congestion index ${v.index.toFixed(2)} (${v.level})`).join(", ");
  note.textContent = `traffic state${data.at ? ` at ${data.at}` : ""}: ${traffic.size} links${areas ? `; ${areas}` : ""}`;
  paintTraffic(traffic);
}

function paintTraffic(traffic) {
  $("traffic-legend").hidden = !traffic;
  for (const line of document.querySelectorAll("#map .link")) {
    const p = traffic ? traffic.get(line.dataset.edge) : null;
    line.setAttribute("class", p ? `link lv-${p.level}` : "link");
    const link = line.dataset.edge;
    line.querySelector("title").textContent = p
      ? `link ${link}: ${p.level}, ${Math.round(p.flow_vph)} veh/h, ${Number(p.speed_kmh).toFixed(0)} km/h, ` +
        `travel ${Number(p.travel_s).toFixed(0)} s (index ${Number(p.tti).toFixed(2)})`
      : `link ${link}`;
  }
}

// ---------------------------------------------------------------- plan versions (bodies never change)
async function versionOf(planId, version) {
  const key = `${planId}/${version}`;
  if (!state.versions.has(key)) state.versions.set(key, await api("GET", `/plans/${planId}/versions/${version}`));
  return state.versions.get(key);
}

// The light's plans in a plan JSON: [{period, plan}] for every period that has it.
function lightPlans(body, tls) {
  const out = [];
  for (const period of body.periods || []) {
    for (const p of period.plans || []) if (p.tls === tls) out.push({ period: period.name, plan: p });
  }
  return out;
}

// ---------------------------------------------------------------- light panel
async function openLight(tls, userAction) {
  if (userAction) clearError();
  state.selected = tls;
  for (const node of document.querySelectorAll("#map .light")) {
    node.classList.toggle("selected", node.dataset.tls === tls);
  }
  const [light, audit] = await Promise.all([
    api("GET", `/lights/${encodeURIComponent(tls)}`),
    api("GET", `/audit?tls=${encodeURIComponent(tls)}`),
  ]);
  if (state.selected !== tls) return;
  const key = JSON.stringify([light, audit.entries.length, shownStatus(light)]);
  if (!userAction && key === state.panelKey) return;
  state.panelKey = key;
  const version = light.active ? await versionOf(light.active.id, light.active.version) : null;
  renderPanel(light, audit.entries, version);
}

function renderPanel(light, entries, version) {
  const st = shownStatus(light);
  const panel = $("panel");
  const parts = [el("h2", {}, `Light ${light.tls} `, el("span", { class: `badge st-${st}`, id: "panel-status" }, STATUS_TEXT[st]))];
  const facts = el("dl", { class: "facts" });
  const fact = (name, ...value) => facts.append(el("dt", {}, name), el("dd", {}, ...value));
  if (light.active) {
    fact("Active plan", el("span", { id: "panel-active" }, `plan ${light.active.id} version ${light.active.version}`),
      version ? ` (by ${version.author}, approved by ${version.approved_by || "nobody"})` : "");
    const pushed = light.history.find((h) => h.push_id === light.active.push_id);
    fact("SHA-256", el("code", { title: "the light's plan, as its target acknowledged it" }, short(pushed ? pushed.sha256 : null)));
    fact("Since", light.active.since ? `${when(light.active.since)} UTC` : "");
  } else {
    fact("Active plan", el("span", { id: "panel-active" }, "none pushed by this service"));
  }
  fact("Target", light.target || "none yet");
  if (light.push_in_flight) fact("Push in flight", `push ${light.push_in_flight}`);
  fact("Target reports", el("span", { id: "panel-reported" }, reportedText(light)));
  parts.push(facts);

  if (version) {
    for (const { period, plan } of lightPlans(version.plan, light.tls)) parts.push(timing(plan, period));
  } else {
    const own = state.network.lights.find((l) => l.tls === light.tls);
    if (own) parts.push(ownProgram(own.program));
  }
  if (atLeast("operator") && light.active) parts.push(rollbackForm(light));
  parts.push(el("h3", {}, "Plan history"), historyTable(light.history));
  parts.push(el("h3", {}, "Audit lines"), auditLines(entries));
  panel.replaceChildren(...parts);
}

function reportedText(light) {
  const r = light.reported;
  if (!light.target) return "no target yet";
  if (!r) return `${light.target} does not report this light (out of contact)`;
  if (r.error) return `out of contact: ${r.error}`;
  // what the target acknowledged for this light in the active push (the light's own plan's SHA-256)
  const pushed = light.active ? light.history.find((h) => h.push_id === light.active.push_id) : null;
  const sha = pushed ? pushed.sha256 : null;
  let text = `runs ${short(r.sha256)}`;
  if (sha && r.sha256 === sha) text += " (the active plan)";
  else if (sha && r.pending === sha) text += `; the active plan ${short(sha)} is pending (switches at the cycle's end)`;
  else if (sha) text += ` (not the active plan ${short(sha)})`;
  if (r.pending && r.pending !== sha) text += `; pending ${short(r.pending)}`;
  if (r.controller) text += `; controller: ${r.controller}`;
  return text;
}

// A phase diagram of one light's plan: each phase's green, yellow and all-red along the cycle.
function timing(plan, period) {
  const cycle = plan.cycle_s;
  const W = 600;
  const H = 74;
  const k = W / cycle;
  const segs = [];
  let t = 0;
  plan.phases.forEach((ph, i) => {
    const start = t;
    for (const [cls, d, label] of [["seg-green", ph.green_s, "G"], ["seg-yellow", ph.yellow_s, "Y"], ["seg-red", ph.all_red_s, "R"]]) {
      if (!(d > 0)) continue;
      segs.push(svg("rect", { class: cls, x: (t * k).toFixed(2), y: 22, width: (d * k).toFixed(2), height: 26 },
        svg("title", {}, `phase ${i + 1} ${label} ${secs(d)}`)));
      if (d * k > 26) {
        segs.push(svg("text", { class: "seg-label", x: ((t + d / 2) * k).toFixed(1), y: 40, "text-anchor": "middle" }, plainNumber(d)));
      }
      t += d;
    }
    segs.push(svg("text", { class: "phase-label", x: (start * k + 2).toFixed(1), y: 16 }, `Φ${i + 1}`));
    segs.push(svg("line", { class: "phase-tick", x1: (start * k).toFixed(1), x2: (start * k).toFixed(1), y1: 4, y2: 52 }));
  });
  segs.push(svg("text", { class: "axis", x: 0, y: 66 }, "0"));
  segs.push(svg("text", { class: "axis", x: W, y: 66, "text-anchor": "end" }, `${plainNumber(cycle)} s`));
  const diagram = svg("svg", {
    class: "phases", viewBox: `0 -2 ${W} ${H}`, role: "img",
    "aria-label": `Phase diagram of ${plan.tls}: cycle ${secs(cycle)}, offset ${secs(plan.offset_s)}`,
  }, segs);
  const rows = plan.phases.map((ph, i) => el("tr", {}, el("th", { scope: "row" }, `Φ${i + 1}`),
    el("td", {}, plainNumber(ph.green_s)), el("td", {}, plainNumber(ph.yellow_s)), el("td", {}, plainNumber(ph.all_red_s)),
    el("td", {}, plainNumber(ph.min_green_s)), el("td", {}, el("code", {}, ph.state))));
  return el("section", { class: "timing", "data-period": period },
    el("h3", {}, `Timing${period ? ` (${period})` : ""}: `,
      el("span", { class: "cycle" }, `cycle ${secs(cycle)}`), ", ", el("span", { class: "offset" }, `offset ${secs(plan.offset_s)}`),
      `, method ${plan.method || "?"}`),
    diagram,
    el("table", { class: "grid compact phase-table" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Phase"), el("th", { scope: "col" }, "Green s"),
        el("th", { scope: "col" }, "Yellow s"), el("th", { scope: "col" }, "All-red s"),
        el("th", { scope: "col" }, "Min green s"), el("th", { scope: "col" }, "Signal state"))),
      el("tbody", {}, rows)));
}

// The light's own program from the network file: its phases along the cycle, coloured by their signal states.
function ownProgram(program) {
  const cycle = program.phases.reduce((t, ph) => t + ph.duration_s, 0);
  const W = 600;
  const k = W / (cycle || 1);
  const kind = (st) => (/[Gg]/.test(st) ? "seg-green" : /[yYuo]/.test(st) ? "seg-yellow" : "seg-red");
  const segs = [];
  let t = 0;
  program.phases.forEach((ph, i) => {
    segs.push(svg("rect", { class: kind(ph.state), x: (t * k).toFixed(2), y: 8, width: (ph.duration_s * k).toFixed(2), height: 26 },
      svg("title", {}, `phase ${i} ${secs(ph.duration_s)} ${ph.state}`)));
    if (ph.duration_s * k > 26) {
      segs.push(svg("text", { class: "seg-label", x: ((t + ph.duration_s / 2) * k).toFixed(1), y: 26, "text-anchor": "middle" },
        plainNumber(ph.duration_s)));
    }
    segs.push(svg("line", { class: "phase-tick", x1: (t * k).toFixed(1), x2: (t * k).toFixed(1), y1: 2, y2: 38 }));
    t += ph.duration_s;
  });
  segs.push(svg("text", { class: "axis", x: W, y: 52, "text-anchor": "end" }, `${plainNumber(cycle)} s`));
  return el("section", { class: "timing own-program" },
    el("h3", {}, `Its own program in the network file (${program.type} ${program.program_id}): cycle ${secs(cycle)}, offset ${secs(program.offset_s)}`),
    svg("svg", { class: "phases", viewBox: `0 0 ${W} 58`, role: "img", "aria-label": `Own program: cycle ${secs(cycle)}` }, segs),
    el("p", { class: "note" }, "No plan of this service has been pushed to this light."));
}

function rollbackForm(light) {
  const result = el("p", { class: "result", id: "rollback-result", "aria-live": "polite" });
  const force = el("input", { type: "checkbox", id: "rollback-force" });
  const button = el("button", { type: "submit", id: "rollback-button" }, `Roll back ${light.tls}`);
  const form = el("form", { class: "actions", method: "post" },
    button, el("label", { class: "check", for: "rollback-force" }, force,
      " force (restore this light alone out of its coordinated group)"), result);
  form.addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    clearError();
    button.disabled = true;
    result.textContent = "rolling back...";
    try {
      const r = await api("POST", `/lights/${encodeURIComponent(light.tls)}/rollback`, { force: force.checked });
      result.replaceChildren(el("span", { class: "good" },
        `rolled back: push ${r.push_id}, plan ${r.id} version ${r.version}, ${r.status}`));
      await refreshLights();
      await openLight(light.tls, true);
    } catch (err) {
      report(result, err);
      button.disabled = false;
    }
  }));
  return el("section", {}, el("h3", {}, "Roll back"), form);
}

// A table whose rows each carry a line of text under them (the panel is narrow): [cells, text, class].
function twoLineTable(id, headers, rows) {
  return el("table", { class: "grid compact two-line", id },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map(([cells, text, cls]) => [
      el("tr", { class: `main ${cls || ""}` }, cells.map(([v, c]) => el("td", { class: c || null }, v))),
      el("tr", { class: `sub ${cls || ""}` }, el("td", { colspan: headers.length, class: "wrap" }, text)),
    ])));
}

function historyTable(history) {
  if (!history.length) return el("p", { class: "note" }, "No push has included this light.");
  return twoLineTable("panel-history", ["Push", "Kind", "Plan", "User", "Status", "Finished (UTC)"],
    history.map((h) => [[[h.push_id], [h.kind + (h.forced ? " (forced)" : "")], [`${h.id} v${h.version}`], [h.user],
      [h.status], [when(h.finished_at || h.started_at), "nowrap"]], `${h.target}: ${h.message || "no answer yet"}`,
    `push-${h.status}`]));
}

function auditLines(entries) {
  if (!entries.length) return el("p", { class: "note" }, "No audit line names this light.");
  return twoLineTable("panel-audit", ["At (UTC)", "User", "Action", "Result", "Plan"],
    entries.slice().reverse().map((e) => [[[when(e.at), "nowrap"], [e.user], [e.action], [e.result],
      [e.plan_id ? `${e.plan_id} v${e.to_version ?? ""}` : ""]], e.detail, `result-${e.result}`]));
}

// ---------------------------------------------------------------- plans view
async function refreshPlans() {
  const data = await api("GET", "/plans");
  state.plans = data.plans;
  const all = $("plans-all").checked;
  const shown = state.plans.filter((p) => all || PENDING.has(p.status)).slice().reverse();
  const body = $("plans-table").querySelector("tbody");
  body.replaceChildren(...shown.map((p) => el("tr", { class: state.plan && state.plan.id === p.id ? "chosen" : "" },
    el("td", {}, el("button", { type: "button", class: "link-button", "data-plan": p.id, onclick: guard(() => openPlan(p.id)) }, `Plan ${p.id}`)),
    el("td", {}, p.name), el("td", {}, p.author), el("td", {}, `v${p.latest_version}`),
    el("td", {}, el("span", { class: `badge plan-${p.status}` }, p.status)), el("td", {}, p.lights.join(" ")))));
  if (!shown.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "note" },
      all ? "No plan is stored yet." : "No draft or pending plan (tick the box to see every plan).")));
  }
}

async function openPlan(planId, version) {
  clearError();
  const plan = await api("GET", `/plans/${planId}`);
  const v = version || plan.latest_version;
  const ver = await api("GET", `/plans/${planId}/versions/${v}`);
  state.versions.set(`${planId}/${v}`, ver);
  state.plan = { id: planId, version: v };
  await refreshLights();
  const diff = await diffAgainstActive(ver);
  renderPlan(plan, ver, diff);
  await refreshPlans();
}

function renderPlan(plan, ver, diff) {
  const detail = $("plan-detail");
  const select = el("select", { id: "version-select" }, plan.versions.map((x) =>
    el("option", { value: x.version, selected: x.version === ver.version }, `version ${x.version} (${x.status})`)));
  select.addEventListener("change", guard(() => openPlan(plan.id, Number(select.value))));
  const facts = el("dl", { class: "facts" });
  const fact = (name, ...value) => facts.append(el("dt", {}, name), el("dd", {}, ...value));
  fact("Status", el("span", { class: `badge plan-${ver.status}`, id: "plan-status" }, ver.status));
  fact("Author", `${ver.author}, ${ver.created_at}`);
  fact("Checked", ver.checked_by ? `by ${ver.checked_by}, ${ver.checked_at}` : "not yet");
  fact("Approved", ver.approved_by ? `by ${ver.approved_by}, ${ver.approved_at}` : "not yet");
  fact("Lights", ver.lights.join(" "));
  fact("SHA-256", el("code", {}, short(ver.sha256)));
  detail.replaceChildren(
    el("h2", {}, `Plan ${plan.id}: ${plan.name}`),
    el("div", { class: "row" }, el("label", { for: "version-select" }, "Version"), select),
    facts,
    checkSection(ver),
    actionSection(plan, ver),
    el("h3", {}, "Against what each light runs now"),
    diff);
}

function checkSection(ver) {
  const box = el("section", { class: "check-result", id: "check-result" }, el("h3", {}, "Safety check"));
  const c = ver.check;
  if (!c) box.append(el("p", { class: "note" }, "Not checked yet."));
  else {
    box.append(el("p", { class: c.safe ? "good" : "bad" },
      c.safe ? `Safe: no error, ${c.warnings.length} warning(s).` : `Unsafe: ${c.errors.length} violation(s).`));
    if (c.errors.length) box.append(el("ul", { class: "violations" }, c.errors.map((x) => el("li", {}, x))));
    if (c.warnings.length) box.append(el("h4", {}, "Warnings"), el("ul", { class: "warnings" }, c.warnings.map((x) => el("li", {}, x))));
  }
  return box;
}

function actionSection(plan, ver) {
  const box = el("section", { class: "actions-box" });
  const result = el("p", { class: "result", id: "plan-result", "aria-live": "polite" });
  const act = (label, id, fn) => el("button", { type: "button", id, onclick: guard(async () => {
    clearError();
    result.textContent = `${label}...`;
    try {
      const text = await fn();
      state.versions.delete(`${plan.id}/${ver.version}`);
      await openPlan(plan.id, ver.version);
      $("plan-result").replaceChildren(el("span", { class: "good" }, text));
    } catch (err) {
      report(result, err);
    }
  }) }, label);
  if (atLeast("engineer") && (ver.status === "draft" || ver.status === "checked")) {
    box.append(act("Run the safety check", "check-button", async () => {
      const r = await api("POST", `/plans/${plan.id}/check`, { version: ver.version });
      return `checked: ${r.safe ? "safe" : "unsafe"}, ${r.errors.length} error(s), ${r.warnings.length} warning(s); now ${r.status}`;
    }));
  }
  if (atLeast("operator") && ver.status === "checked") {
    if (ver.author === state.me.name) {
      box.append(el("p", { class: "note" }, "You wrote this version: another operator must approve it."));
    } else {
      box.append(act(`Approve version ${ver.version}`, "approve-button", async () => {
        const r = await api("POST", `/plans/${plan.id}/approve`, { version: ver.version });
        return `approved by ${r.approved_by}: version ${r.version} is ${r.status}`;
      }));
    }
  }
  if (atLeast("operator") && PUSHABLE.has(ver.status)) box.append(pushForm(plan, ver, result));
  box.append(result);
  return box;
}

function pushForm(plan, ver, result) {
  const targets = [...new Set(ver.lights.map((t) => (state.lights.get(t) || {}).target).filter(Boolean))];
  const target = el("input", { id: "push-target", type: "text", required: true, spellcheck: "false",
    value: targets.length === 1 ? targets[0] : "", placeholder: "http://127.0.0.1:PORT or file:///PATH.json" });
  const lights = el("input", { id: "push-lights", type: "text", spellcheck: "false", placeholder: ver.lights.join(" ") });
  const force = el("input", { id: "push-force", type: "checkbox" });
  const button = el("button", { type: "submit", id: "push-button" }, `Push version ${ver.version}`);
  const form = el("form", { class: "push", method: "post" },
    el("h3", {}, "Push"),
    el("label", { for: "push-target" }, "Target"), target,
    el("label", { for: "push-lights" }, "Only these lights (blank: all of the plan's)"), lights,
    el("label", { class: "check", for: "push-force" }, force, " force (push part of a coordinated group)"),
    button);
  form.addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    clearError();
    button.disabled = true;
    result.textContent = "pushing...";
    const chosen = lights.value.split(/[\s,]+/).filter(Boolean);
    try {
      const r = await api("POST", `/plans/${plan.id}/push`, {
        target: target.value.trim(), version: ver.version, force: force.checked, lights: chosen.length ? chosen : null,
      });
      await openPlan(plan.id, ver.version);
      $("plan-result").replaceChildren(el("span", { class: "good", id: "push-outcome" },
        `push ${r.push_id} to ${r.target}: ${r.status}${r.forced ? " (forced)" : ""}; ` +
        Object.entries(r.lights).map(([t, s]) => `${t} ${short(s)}`).join(", ")));
    } catch (err) {
      report(result, err);
      button.disabled = false;
    }
  }));
  return form;
}

// Per light of this version: what changes from the plan it runs now (green, yellow, all-red, cycle, offset).
async function diffAgainstActive(ver) {
  const rows = [];
  const notes = [];
  for (const tls of ver.lights) {
    const light = state.lights.get(tls);
    const mine = lightPlans(ver.plan, tls);
    if (!light || !light.active) {
      notes.push(`${tls}: runs no plan of ours yet; this version would be its first.`);
      continue;
    }
    if (light.active.id === ver.id && light.active.version === ver.version) {
      notes.push(`${tls}: runs this version now.`);
      continue;
    }
    const active = await versionOf(light.active.id, light.active.version);
    const theirs = lightPlans(active.plan, tls);
    const label = `plan ${light.active.id} v${light.active.version}`;
    let changed = 0;
    for (const { period, plan } of mine) {
      const other = (theirs.find((x) => x.period === period) || theirs[0] || {}).plan;
      if (!other) continue;
      for (const f of ["cycle_s", "offset_s"]) {
        if (plan[f] !== other[f]) { rows.push([tls, period, "", f, other[f], plan[f], label]); changed += 1; }
      }
      const n = Math.max(plan.phases.length, other.phases.length);
      for (let i = 0; i < n; i += 1) {
        const a = other.phases[i] || {};
        const b = plan.phases[i] || {};
        for (const f of ["green_s", "yellow_s", "all_red_s", "min_green_s", "state"]) {
          if (a[f] !== b[f]) { rows.push([tls, period, `Φ${i + 1}`, f, a[f], b[f], label]); changed += 1; }
        }
      }
    }
    if (!changed) notes.push(`${tls}: the same timing as ${label}, which it runs now.`);
  }
  const box = el("section", { class: "diff", id: "plan-diff" });
  if (rows.length) {
    box.append(el("table", { class: "grid compact" },
      el("thead", {}, el("tr", {}, ["Light", "Period", "Phase", "Field", "Runs now", "This version", "Now from"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map(([tls, period, phase, f, a, b, from]) => el("tr", {},
        el("td", {}, tls), el("td", {}, period), el("td", {}, phase), el("td", {}, f),
        el("td", { class: "from" }, shown(a)), el("td", { class: "to" }, shown(b)), el("td", {}, from))))));
  }
  if (notes.length) box.append(el("ul", { class: "notes" }, notes.map((n) => el("li", {}, n))));
  return box;
}

async function uploadPlan(event) {
  event.preventDefault();
  clearError();
  const result = $("upload-result");
  const file = $("upload-file").files[0];
  if (!file) return;
  const text = await file.text();
  const base = $("upload-plan").value.trim();
  try {
    const r = base
      ? await api("POST", `/plans/${encodeURIComponent(base)}/versions`, text, true)
      : await api("POST", "/plans", text, true);
    result.replaceChildren(el("span", { class: "good" }, `stored plan ${r.id} version ${r.version} (${r.status})`));
    $("upload-form").reset();
    await openPlan(r.id, r.version);
  } catch (err) {
    report(result, err);
  }
}

// ---------------------------------------------------------------- audit view
function fillLightChoices() {
  const select = $("audit-light");
  select.replaceChildren(el("option", { value: "" }, "any"),
    ...state.network.lights.map((l) => el("option", { value: l.tls }, l.tls)));
}

// A local datetime-local value as UTC ISO 8601 text (the audit's time format), or "".
function utc(value) {
  return value ? new Date(value).toISOString() : "";
}

async function refreshAudit(event) {
  if (event) {
    event.preventDefault();
    clearError();
  }
  const q = new URLSearchParams();
  if ($("audit-light").value) q.set("tls", $("audit-light").value);
  if ($("audit-user").value.trim()) q.set("user", $("audit-user").value.trim());
  if ($("audit-action").value) q.set("action", $("audit-action").value);
  if ($("audit-since").value) q.set("since", utc($("audit-since").value));
  const data = await api("GET", `/audit${q.toString() ? `?${q}` : ""}`);
  const until = utc($("audit-until").value);
  state.audit = data.entries.filter((e) => !until || e.at <= until);
  const body = $("audit-table").querySelector("tbody");
  body.replaceChildren(...state.audit.slice().reverse().map((e) => el("tr", { class: `result-${e.result}` },
    el("td", {}, e.at.replace("T", " ").replace("Z", "")), el("td", {}, e.user), el("td", {}, e.role),
    el("td", {}, e.action), el("td", {}, e.result), el("td", {}, e.plan_id ?? ""),
    el("td", {}, e.from_version ? `${e.from_version} to ${e.to_version}` : e.to_version ?? ""),
    el("td", {}, e.lights.join(" ")), el("td", { class: "wrap" }, e.detail))));
  $("audit-count").textContent = `${state.audit.length} line(s)`;
}

const CSV_COLUMNS = ["id", "at", "user", "role", "action", "plan_id", "from_version", "to_version", "lights", "result", "sha256", "detail"];

// One CSV cell (RFC 4180 quoting; a leading = + - @ is prefixed with ' so spreadsheets do not run it).
function csvCell(value) {
  let s = Array.isArray(value) ? value.join(" ") : value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function exportCsv() {
  const lines = [CSV_COLUMNS.join(",")].concat(state.audit.map((e) => CSV_COLUMNS.map((c) => csvCell(e[c])).join(",")));
  const blob = new Blob([`${lines.join("\r\n")}\r\n`], { type: "text/csv" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `citybrain-audit-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---------------------------------------------------------------- wiring
function init() {
  $("signin-form").addEventListener("submit", guard(signIn));
  $("signout").addEventListener("click", () => signOut(true));
  $("error-close").addEventListener("click", clearError);
  const views = ["map", "plans", "audit"];
  views.forEach((v, i) => {
    const tab = $(`tab-${v}`);
    tab.addEventListener("click", () => showView(v));
    tab.addEventListener("keydown", (e) => { // arrow keys move between the tabs
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = views[(i + step + views.length) % views.length];
      $(`tab-${next}`).focus();
      showView(next);
    });
  });
  $("plans-all").addEventListener("change", guard(refreshPlans));
  $("upload-form").addEventListener("submit", guard(uploadPlan));
  $("audit-form").addEventListener("submit", guard(refreshAudit));
  $("audit-csv").addEventListener("click", guard(exportCsv));
  $("layer-traffic").addEventListener("change", guard(async () => {
    if ($("layer-traffic").checked) await refreshTraffic();
    else {
      paintTraffic(null);
      $("traffic-note").textContent = "";
    }
  }));
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    state.token = saved;
    start().catch((err) => {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showError(err);
    });
  } else {
    $("token").focus();
  }
}

document.addEventListener("DOMContentLoaded", init);
