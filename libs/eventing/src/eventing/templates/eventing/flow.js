// The flow page's refresh (eventing.flow): fetch the JSON snapshot, redraw each section's body.
// Inlined by flow.html; the markup mirrors the template's, element ids included.
(function () {
  "use strict";
  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const num = (id, value, extra) =>
    `<td class="num"${id ? ` id="${esc(id)}"` : ""} data-value="${esc(value)}"${extra || ""}>${esc(value)}</td>`;

  function body(section, empty, table) {
    if (section.error) return `<p class="error section-error">${esc(section.error)}</p>`;
    if (!section.items.length) return `<p class="muted">${esc(empty)}</p>`;
    return table(section.items);
  }

  const renderers = {
    connectors: (s) => body(s, "No connectors configured.", (items) =>
      "<table><thead><tr><th>connector</th><th>state</th><th>tasks</th><th>doctor</th></tr></thead><tbody>" +
      items.map((c) => "<tr>" +
        `<td>${esc(c.name)}</td>` +
        `<td id="connector-state-${esc(c.name)}" data-value="${esc(c.state)}" class="state-${esc(c.state)}">${esc(c.state)}</td>` +
        "<td>" + (c.tasks.length ? c.tasks.map((t) =>
          `<div id="task-state-${esc(c.name)}-${esc(t.id)}" data-value="${esc(t.state)}" class="state-${esc(t.state)}">` +
          `task ${esc(t.id)}: ${esc(t.state)}${t.trace ? ` <span class="muted">${esc(t.trace)}</span>` : ""}</div>`).join("")
          : '<span class="muted">no tasks</span>') + "</td>" +
        "<td>" + (c.findings.length ? c.findings.map((f) =>
          `<div class="finding-${esc(f.severity)}">${esc(f.id)} ${esc(f.message)}</div>`).join("")
          : '<span class="muted">no findings</span>') + "</td></tr>").join("") +
      "</tbody></table>"),

    topics: (s) => body(s, "No topics.", (items) =>
      "<table><thead><tr><th>topic</th><th>role</th><th>start offset</th><th>end offset</th>" +
      "<th>per partition (start–end)</th></tr></thead><tbody>" +
      items.map((t) => `<tr><td>${esc(t.topic)}</td><td>${esc(t.role)}</td>` + (t.exists
        ? num(`topic-start-${t.topic}`, t.start) + num(t.id, t.end) + "<td>" + t.partitions.map((p) =>
          `<span id="topic-end-${esc(t.topic)}-${esc(p.partition)}" data-value="${esc(p.end)}">` +
          `${esc(p.partition)}: ${esc(p.start)}–${esc(p.end)}</span>`).join(", ") + "</td>"
        : '<td colspan="3" class="muted">does not exist (yet)</td>') + "</tr>").join("") +
      "</tbody></table>"),

    groups: (s) => body(s, "No consumer groups.", (items) =>
      "<table><thead><tr><th>group</th><th>members</th><th>lag</th><th>partition</th><th>committed</th>" +
      "<th>end</th><th>lag</th></tr></thead><tbody>" +
      items.map((g) => {
        const span = ` rowspan="${g.partitions.length}"`;
        const head = (rows) => `<td${rows}>${esc(g.group)}</td>` +
          num(`group-members-${g.group}`, g.members, rows) + num(g.id, g.lag, rows);
        if (!g.partitions.length) return `<tr>${head("")}<td colspan="4" class="muted">no partitions</td></tr>`;
        return g.partitions.map((p, i) => "<tr>" + (i === 0 ? head(span) : "") +
          `<td>${esc(p.topic)}/${esc(p.partition)}</td>` +
          `<td class="num">${p.committed === null ? '<span class="muted">none</span>' : esc(p.committed)}</td>` +
          `<td class="num">${esc(p.end)}</td>` + num(p.id, p.lag) + "</tr>").join("");
      }).join("") + "</tbody></table>"),

    "dead-letters": (s) => body(s, "No dead-letter topics.", (items) =>
      "<table><thead><tr><th>group</th><th>dead-letter topic</th><th>messages</th></tr></thead><tbody>" +
      items.map((d) => `<tr><td>${esc(d.group)}</td><td>${esc(d.topic)}</td>${num(d.id, d.count)}</tr>`).join("") +
      "</tbody></table>"),

    latency: (s) => body(s, "No consumer has reported to this database.", (items) =>
      "<table><thead><tr><th>member</th><th>live</th><th>lag</th><th>applied</th><th>dead-lettered</th>" +
      "<th>latency (ms)</th><th>measured at</th></tr></thead><tbody>" +
      items.map((m) => `<tr><td>${esc(m.member)}</td>` +
        `<td class="live-${m.live ? "yes" : "no"}">${m.live ? "yes" : "no"}</td>` +
        `<td class="num">${m.lag === null ? "?" : esc(m.lag)}</td>` +
        `<td class="num">${esc(m.applied)}</td><td class="num">${esc(m.dead_lettered)}</td>` +
        `<td class="num" id="${esc(m.id)}" data-value="${esc(m.latency_ms ?? "")}">${m.latency_ms === null ? "-" : esc(m.latency_ms)}</td>` +
        `<td>${m.latency_at === null ? "-" : esc(m.latency_at)}</td></tr>`).join("") +
      "</tbody></table>"),
  };
  const keys = { connectors: "connectors", topics: "topics", groups: "groups",
    "dead-letters": "dead_letters", latency: "latency" };

  function draw(data) {
    for (const [sectionId, render] of Object.entries(renderers)) {
      document.querySelector(`#${sectionId} > .body`).innerHTML = render(data[keys[sectionId]]);
    }
    const stamp = document.getElementById("generated-at");
    stamp.textContent = data.generated_at;
    stamp.dataset.value = data.generated_at;
  }

  async function refresh() {
    const problem = document.getElementById("refresh-error");
    try {
      const response = await fetch(FLOW_DATA_URL, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      draw(await response.json());
      problem.textContent = "";
    } catch (error) {
      problem.textContent = `refresh failed: ${error.message}`;
    } finally {
      setTimeout(refresh, FLOW_REFRESH_MS);  // after the previous answer: never two at once
    }
  }
  setTimeout(refresh, FLOW_REFRESH_MS);
})();
