// The dashboard page: fetches the read-only JSON API and renders it with DOM
// calls only. Device ids, labels and errors are user data: they only ever
// become text nodes (textContent), never markup.

/** @param {string} tag @param {Record<string, string>} [attrs] @param {...(Node|string|null|undefined)} children */
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
};
const $ = (id) => document.getElementById(id);
const clear = (el) => el.replaceChildren();

const state = { version: -1, selector: "", open: null, readAt: null };

const ago = (iso) => {
  if (iso === undefined || state.readAt === null) return "";
  const s = Math.max(0, Math.round((state.readAt - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
};

const getJson = async (path) => {
  const res = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  const body = await res.json();
  return { ok: res.ok, status: res.status, body };
};

// -------------------------------------------------------------------------------------
// sections
// -------------------------------------------------------------------------------------

const SEGMENTS = ["succeeded", "failed", "pending", "offline"];

const renderStatus = (s) => {
  $("backend").textContent = s.backend;
  state.readAt = s.readAt === undefined ? null : Date.parse(s.readAt);
  const banner = $("read-error");
  banner.hidden = s.readError === undefined;
  banner.textContent = s.readError === undefined ? "" : `Cannot read the backend: ${s.readError}. Showing the last good data.`;
  const d = s.devices;
  $("device-totals").textContent =
    `${d.total} device${d.total === 1 ? "" : "s"}: ${d.online} online, ${d.offline} offline, ${d.unregistered} not registered` +
    (d.unreadable > 0 ? `, ${d.unreadable} unreadable` : "");
  const bars = $("deployments");
  clear(bars);
  if (s.deployments.length === 0) bars.append(h("p", { class: "muted" }, "No deployment is assigned to any device."));
  for (const dep of s.deployments) {
    const label = `${dep.deployment}: ${dep.matched} matched, ${SEGMENTS.map((k) => `${dep[k]} ${k}`).join(", ")}`;
    const bar = h("div", { class: "bar", role: "img", "aria-label": label });
    for (const k of SEGMENTS)
      if (dep[k] > 0) {
        const seg = h("span", { class: `seg ${k}`, title: `${dep[k]} ${k}` }, String(dep[k]));
        // Through the CSSOM, not a style attribute: the page's CSP allows no inline styles.
        seg.style.flexGrow = String(dep[k]);
        bar.append(seg);
      }
    if (dep.matched === 0) bar.append(h("span", { class: "seg empty" }, "no device"));
    bars.append(
      h(
        "div",
        { class: "bar-row", "data-deployment": dep.deployment },
        h("div", { class: "bar-name" }, h("strong", {}, dep.deployment), h("span", { class: "muted" }, ` ${dep.matched} matched`)),
        bar,
        h("div", { class: "bar-counts small" }, ...SEGMENTS.map((k) => h("span", { class: `count ${k}` }, `${dep[k]} ${k}`))),
      ),
    );
  }
  const errors = $("errors");
  clear(errors);
  if (s.errors.length === 0) errors.append(h("li", { class: "muted" }, "No failures reported."));
  for (const e of s.errors)
    errors.append(
      h("li", { class: "error" }, h("span", { class: "tag failed" }, "Failed"), " ", h("strong", {}, `${e.device} / ${e.deployment}`), " ", h("span", { class: "muted" }, ago(e.at)), h("div", { class: "err-text" }, e.error)),
    );
  const problems = $("problems");
  clear(problems);
  if (s.problems.length > 0)
    problems.append(
      h("h3", {}, `Unreadable records (${s.problems.length}), skipped`),
      h("ul", { class: "problems small" }, ...s.problems.map((p) => h("li", {}, h("code", {}, `${p.source} ${p.key}`), `: ${p.message}`))),
    );
};

const renderPlan = (p) => {
  const s = p.summary;
  $("plan-summary").textContent =
    s.create + s.update + s.delete === 0 ? `No changes. ${s.unchanged} entries as desired.` : `${s.create} to create, ${s.update} to update, ${s.delete} to delete; ${s.unchanged} unchanged`;
  const box = $("plan");
  clear(box);
  for (const c of p.conflicts) box.append(h("p", { class: "conflict" }, h("span", { class: "tag failed" }, "Conflict"), ` ${c}`));
  if (p.actions.length === 0) {
    box.append(h("p", { class: "muted" }, "Reality matches the World: fleet apply has nothing to do."));
    return;
  }
  const body = h("tbody");
  for (const a of p.actions)
    body.append(
      h("tr", {}, h("td", {}, h("span", { class: `tag op-${a.op}` }, a.op)), h("td", {}, a.device), h("td", {}, a.deployment), h("td", { class: "muted" }, a.why + (a.presence === "online" ? "" : ` (device ${a.presence})`))),
    );
  box.append(
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "plan" }, h("thead", {}, h("tr", {}, ...["Action", "Device", "Deployment", "Why"].map((x) => h("th", { scope: "col" }, x)))), body),
    ),
  );
};

const stateTag = (st) => h("span", { class: `tag st-${st.toLowerCase()}` }, st);

const renderDevices = (v) => {
  $("devices-count").textContent = v.devices.length === v.total ? `${v.total} devices` : `${v.devices.length} of ${v.total} devices match`;
  const body = $("devices").tBodies[0];
  clear(body);
  if (v.devices.length === 0) body.append(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "No device matches this selector.")));
  for (const d of v.devices) {
    const open = h("button", { type: "button", class: "link", "data-device": d.id, "aria-label": `Explain ${d.id}` }, d.id);
    open.addEventListener("click", () => openDevice(d.id));
    const labels = Object.entries(d.labels).map(([k, val]) => h("span", { class: "label" }, `${k}=${val}`));
    const deps = d.deployments.map((x) => h("span", { class: "dep", title: x.error ?? "" }, `${x.deployment} `, stateTag(x.state)));
    body.append(
      h(
        "tr",
        { "data-device-row": d.id },
        h("th", { scope: "row" }, open),
        h("td", {}, h("span", { class: `tag pr-${d.presence}` }, d.presence), d.lastHeartbeat === undefined ? null : h("span", { class: "muted small" }, ` ${ago(d.lastHeartbeat)}`)),
        h("td", {}, d.arch),
        h("td", {}, ...(labels.length === 0 ? [h("span", { class: "muted" }, "none")] : labels)),
        h("td", {}, ...(deps.length === 0 ? [h("span", { class: "muted" }, d.unreadable ?? "none")] : deps)),
      ),
    );
  }
};

const renderSelectorError = (e) => {
  const box = $("selector-error");
  clear(box);
  if (e === null) {
    box.hidden = true;
    $("selector").removeAttribute("aria-invalid");
    return;
  }
  box.hidden = false;
  $("selector").setAttribute("aria-invalid", "true");
  box.append(
    h("p", {}, h("strong", {}, "Invalid selector: "), `${e.message} at column ${e.position + 1}`),
    h("pre", { class: "caret", "aria-label": "selector with a caret under the problem" }, `${e.input}\n${" ".repeat(e.position)}^`),
  );
};

const verdictTree = (e) =>
  h(
    "li",
    { class: e.verdict ? "yes" : "no" },
    h("span", { class: "mark", "aria-hidden": "true" }, e.verdict ? "✓" : "✗"),
    h("span", { class: "visually-hidden" }, e.verdict ? "holds: " : "fails: "),
    h("code", {}, e.selector),
    h("span", { class: "muted" }, `  (${e.because})`),
    e.children.length === 0 ? null : h("ul", { class: "tree" }, ...e.children.map(verdictTree)),
  );

const renderDrilldown = (x) => {
  $("drilldown-title").textContent = `Device ${x.id}`;
  const body = $("drilldown-body");
  clear(body);
  const labels = Object.entries(x.device.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "no labels";
  const declared = x.declared === "no-fleet" ? "the World declares no fleet" : x.declared === "yes" ? "yes" : "no (apply would delete what it has)";
  body.append(
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Labels"), h("dd", {}, labels),
      h("dt", {}, "Arch"), h("dd", {}, x.device.arch + (x.device.agentVersion ? `, agent ${x.device.agentVersion}` : "")),
      h("dt", {}, "Declared"), h("dd", {}, declared),
      h("dt", {}, "Presence"), h("dd", {}, h("span", { class: `tag pr-${x.presence}` }, x.presence), x.lastHeartbeat ? ` last heartbeat ${ago(x.lastHeartbeat)}` : ""),
      ...(x.unreadable ? [h("dt", {}, "Unreadable"), h("dd", {}, `${x.unreadable}; the diff leaves this device alone`)] : []),
    ),
    h("h3", {}, `Assignments (${x.assignments.length})`),
  );
  const list = h("ol", { class: "assignments" });
  for (const a of x.assignments)
    list.append(
      h(
        "li",
        { class: a.verdict ? "yes" : "no", "data-assignment": a.name },
        h("div", {}, h("span", { class: `tag ${a.verdict ? "st-running" : "st-none"}` }, a.verdict ? "matches" : "no match"), " ", h("strong", {}, a.name), a.priority !== 0 ? h("span", { class: "muted" }, ` priority ${a.priority}`) : null, h("span", { class: "muted" }, " gives "), ...a.gives.map((g) => h("span", { class: "dep" }, g.deployment, g.shadowedBy ? h("span", { class: "tag st-pending" }, `shadowed by ${g.shadowedBy}`) : null))),
        h("ul", { class: "tree" }, verdictTree(a.explanation)),
      ),
    );
  body.append(list);
  body.append(h("h3", {}, `Desired deployments (${x.desired.length})`));
  body.append(
    x.desired.length === 0
      ? h("p", { class: "muted" }, "none")
      : h("ul", {}, ...x.desired.map((d) => h("li", {}, h("strong", {}, d.deployment), " ", h("code", {}, d.specHash), h("span", { class: "muted" }, ` from ${d.assignment}`)))),
  );
  for (const [title, items] of [["Conflicts", x.conflicts], ["Shadowed", x.shadowed]])
    if (items.length > 0) body.append(h("h3", {}, `${title} (${items.length})`), h("ul", {}, ...items.map((s) => h("li", {}, s))));
  body.append(h("h3", {}, "Desired vs observed"));
  if (x.comparison.length === 0) body.append(h("p", { class: "muted" }, "Nothing published, nothing reported."));
  else {
    const rows = x.comparison.map((c) =>
      h("tr", {}, h("th", { scope: "row" }, c.deployment), h("td", {}, h("code", {}, c.desired ?? "-")), h("td", {}, h("code", {}, c.published ?? "-")), h("td", {}, h("code", {}, c.observed ?? "-")), h("td", {}, c.phase ? stateTag(c.phase) : "-", c.at ? h("span", { class: "muted small" }, ` ${ago(c.at)}`) : null), h("td", {}, [c.error, c.note].filter((z) => z).join("; "))),
    );
    body.append(h("div", { class: "table-wrap" }, h("table", { class: "compare" }, h("thead", {}, h("tr", {}, ...["Deployment", "Desired", "Published", "Observed", "Phase", "Note"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, ...rows))));
  }
};

// -------------------------------------------------------------------------------------
// loading
// -------------------------------------------------------------------------------------

const loadDevices = async () => {
  const r = await getJson(`/api/devices?selector=${encodeURIComponent(state.selector)}`);
  if (r.status === 400 && r.body.error.position !== undefined) {
    renderSelectorError(r.body.error);
    return;
  }
  if (!r.ok) throw new Error(r.body.error.message);
  renderSelectorError(null);
  renderDevices(r.body);
};

const loadDrilldown = async () => {
  if (state.open === null) return;
  const r = await getJson(`/api/devices/${encodeURIComponent(state.open)}`);
  const panel = $("drilldown");
  panel.hidden = false;
  if (!r.ok) {
    $("drilldown-title").textContent = `Device ${state.open}`;
    clear($("drilldown-body"));
    $("drilldown-body").append(h("p", { class: "muted" }, r.body.error.message));
    return;
  }
  renderDrilldown(r.body);
};

const openDevice = async (id) => {
  state.open = id;
  await loadDrilldown();
  $("drilldown").scrollIntoView({ block: "start" });
};

const refresh = async () => {
  try {
    const [status, plan] = await Promise.all([getJson("/api/status"), getJson("/api/plan")]);
    if (!status.ok) throw new Error(status.body.error.message);
    renderStatus(status.body);
    if (plan.ok) renderPlan(plan.body);
    await loadDevices();
    await loadDrilldown();
    state.version = status.body.version;
    document.body.dataset.version = String(state.version);
    $("live").textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    $("live").className = "live ok";
  } catch (e) {
    $("live").textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
    $("live").className = "live bad";
  }
};

const start = () => {
  // The token, if any, now lives in an HttpOnly cookie: keep it out of the address bar.
  if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
  $("filter").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.selector = $("selector").value;
    void loadDevices();
  });
  $("clear").addEventListener("click", () => {
    $("selector").value = "";
    state.selector = "";
    void loadDevices();
  });
  $("close-drilldown").addEventListener("click", () => {
    state.open = null;
    $("drilldown").hidden = true;
  });
  const events = new EventSource("/api/events");
  events.addEventListener("change", (ev) => {
    const { version } = JSON.parse(ev.data);
    if (version !== state.version) void refresh();
  });
  events.addEventListener("error", () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "live bad";
  });
  void refresh();
};

start();
