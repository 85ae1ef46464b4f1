// The live traffic page: polls this origin's /stats, keeps sparkline history in the page, and updates only
// the table cells and rows whose figures changed (a page with 1,000 routes must refresh in a few ms).
// Talks to nothing but its own origin; the admin listener serves it under a strict Content-Security-Policy.
'use strict';

(() => {
  const params = new URLSearchParams(location.search);
  const intervalMs = Math.min(Math.max(Number(params.get('interval')) || 1000, 250), 60000);
  const timeoutMs = Math.max(2000, 2 * intervalMs);
  const historyLength = 90;  // sparkline samples, one per refresh
  const kMeasure = 'apimeter-refresh';

  // ---- Formatting: one place, so the tables, tiles and tests agree ------------------------------------
  const missing = '–';
  const format = {
    rate(v) {
      if (v == null) return missing;
      return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
    },
    ratio(v) {
      if (v == null) return missing;
      return (100 * v).toFixed(v !== 0 && v < 0.001 ? 3 : v < 0.1 ? 2 : 1) + '%';
    },
    seconds(v) {
      if (v == null) return missing;
      if (v < 0.001) return (v * 1e6).toFixed(0) + ' µs';
      if (v < 1) return (v * 1e3).toFixed(v < 0.01 ? 2 : 1) + ' ms';
      return v.toFixed(2) + ' s';
    },
    bytes(v) {
      if (v == null) return missing;
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[i];
    },
    byteRate(v) { return v == null ? missing : format.bytes(v) + '/s'; },
    count(v) { return v == null ? missing : Math.round(v).toLocaleString('en-US'); },
    duration(s) {
      if (s == null) return missing;
      s = Math.floor(s);
      const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
      return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
    },
    clock(t) { return new Date(t).toLocaleTimeString('en-GB'); },
  };
  const errorClass = (v) => (v == null ? '' : v >= 0.01 ? 'bad' : v > 0 ? 'warn' : '');
  const latencyClass = (v) => (v == null ? '' : v >= 2 ? 'bad' : v >= 0.5 ? 'warn' : '');

  const byId = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props);
    node.append(...children);
    return node;
  };

  // ---- A sortable table whose rows are kept and patched between refreshes -----------------------------
  class LiveTable {
    // columns: {id, label, value(row), text(value,row), cls?(value,row), numeric, spark?}
    constructor(table, columns, {key, sort, filter}) {
      this.table = table;
      this.columns = columns;
      this.key = key;
      this.filter = filter || (() => true);
      this.sort = sort;  // {id, descending}
      this.rows = new Map();  // key -> {tr, cells, data, dirty, onScreen}
      this.byElement = new WeakMap();  // tr -> row
      this.order = [];
      this.history = null;
      // Which rows are on screen (with a margin), so a refresh patches those and defers the rest.
      this.observer = new IntersectionObserver((entries) => {
        for (const entry of entries) {
          const row = this.byElement.get(entry.target);
          if (!row) continue;
          row.onScreen = entry.isIntersecting;
          if (row.onScreen && row.dirty && row.data) this.patch(row);
        }
      }, {rootMargin: '200px 0px'});
      const head = el('tr');
      this.headers = columns.map((c) => {
        const button = el('button', {type: 'button', textContent: c.label, title: `Sort by ${c.label.toLowerCase()}`});
        button.addEventListener('click', () => this.sortBy(c.id));
        const th = el('th', {scope: 'col'}, button);
        th.dataset.column = c.id;
        head.append(th);
        return th;
      });
      this.body = el('tbody');
      table.append(el('thead', {}, head), this.body);
      this.markSort();
    }

    sortBy(id) {
      const column = this.columns.find((c) => c.id === id);
      if (this.sort.id === id) this.sort.descending = !this.sort.descending;
      else this.sort = {id, descending: column.numeric};
      this.markSort();
      this.arrange();
    }

    markSort() {
      this.headers.forEach((th, i) => {
        if (this.columns[i].id === this.sort.id) th.setAttribute('aria-sort', this.sort.descending ? 'descending' : 'ascending');
        else th.removeAttribute('aria-sort');
      });
    }

    // Takes the rows of this refresh. Rows on screen are patched now, cell by cell where the figure changed;
    // rows scrolled away or filtered out are only marked and patched when they come into view.
    update(list, history) {
      this.history = history;
      const seen = new Set();
      for (const data of list) {
        const k = this.key(data);
        seen.add(k);
        let row = this.rows.get(k);
        if (!row) {
          row = this.createRow(k);
          this.rows.set(k, row);
        }
        row.data = data;
        if (row.onScreen) this.patch(row);
        else row.dirty = true;
      }
      for (const [k, row] of this.rows) {
        if (!seen.has(k)) {
          this.observer.unobserve(row.tr);
          row.tr.remove();
          this.rows.delete(k);
        }
      }
      return this.arrange();
    }

    createRow(k) {
      const cells = this.columns.map((c) => {
        const td = el('td', {className: c.numeric ? '' : 'text'});
        td.dataset.column = c.id;
        const text = document.createTextNode('');
        td.append(text);
        let spark = null;
        if (c.spark) {
          const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
          svg.setAttribute('class', 'spark');
          svg.setAttribute('viewBox', `0 0 ${historyLength - 1} 20`);
          svg.setAttribute('preserveAspectRatio', 'none');
          svg.setAttribute('aria-hidden', 'true');
          const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
          svg.append(line);
          td.append(svg);
          spark = {line, points: ''};
        }
        return {td, text, shown: null, value: undefined, cls: '', spark};
      });
      const tr = el('tr');
      tr.dataset.key = k;
      tr.append(...cells.map((c) => c.td));
      const row = {tr, cells, data: null, dirty: true, onScreen: false};
      this.byElement.set(tr, row);
      this.observer.observe(tr);
      return row;
    }

    patch(row) {
      row.dirty = false;
      const data = row.data;
      this.columns.forEach((c, i) => {
        const cell = row.cells[i];
        const value = c.value(data);
        if (value !== cell.value) {
          cell.value = value;
          cell.td.dataset.value = value == null ? '' : String(value);
          const shown = c.text(value, data);
          if (shown !== cell.shown) { cell.text.data = shown; cell.shown = shown; }
          const cls = (c.numeric ? '' : 'text ') + (c.cls ? c.cls(value, data) : '');
          if (cls !== cell.cls) { cell.td.className = cls; cell.cls = cls; }
        }
        if (cell.spark) {
          const points = sparkPoints(this.history && this.history.get(this.key(data)));
          if (points !== cell.spark.points) { cell.spark.line.setAttribute('points', points); cell.spark.points = points; }
        }
      });
    }

    // Puts the visible rows in sort order, touching the DOM only when the order changed.
    arrange() {
      const column = this.columns.find((c) => c.id === this.sort.id);
      const direction = this.sort.descending ? -1 : 1;
      const visible = [];
      for (const row of this.rows.values()) if (this.filter(row.data)) visible.push(row);
      visible.sort((a, b) => {
        const x = column.value(a.data), y = column.value(b.data);
        if (x !== y) {
          if (x == null) return 1;
          if (y == null) return -1;
          return (x < y ? -1 : 1) * direction;
        }
        return this.key(a.data) < this.key(b.data) ? -1 : 1;
      });
      // Move only the rows out of place: a refresh usually swaps a few neighbours, not the whole table.
      let at = this.body.firstChild;
      for (const row of visible) {
        if (row.tr === at) at = at.nextSibling;
        else this.body.insertBefore(row.tr, at);
      }
      while (at) {
        const next = at.nextSibling;
        at.remove();
        at = next;
      }
      this.order = visible;
      return visible.length;
    }
  }

  function sparkPoints(samples) {
    if (!samples || samples.length < 2) return '';
    let peak = 0;
    for (const v of samples) if (v > peak) peak = v;
    const offset = historyLength - samples.length;
    let out = '';
    for (let i = 0; i < samples.length; i++) {
      const y = peak > 0 ? 19 - (18 * samples[i]) / peak : 19;
      out += (i ? ' ' : '') + (offset + i) + ',' + y.toFixed(1);
    }
    return out;
  }

  // ---- The page's state ---------------------------------------------------------------------------------
  const filterInput = byId('filter');
  let filterText = '';
  const routeHistory = new Map();  // route -> per-refresh requests/s
  let previous = null;  // {at, stats}
  let lastGood = 0;
  let failingSince = 0;
  let windowSeconds = 0;  // what the rates and quantiles cover (/stats window_seconds)

  const routes = new LiveTable(byId('routes'), [
    {id: 'route', label: 'Route', value: (r) => r.route, text: (v) => v},
    {id: 'rps', label: 'Req/s', numeric: true, spark: true, value: (r) => r.rate, text: format.rate},
    {id: 'errors', label: '5xx', numeric: true, value: (r) => r.error_ratio, text: format.ratio, cls: errorClass},
    {id: 'p50', label: 'p50', numeric: true, value: (r) => r.p50_seconds, text: format.seconds},
    {id: 'p95', label: 'p95', numeric: true, value: (r) => r.p95_seconds, text: format.seconds, cls: latencyClass},
    {id: 'p99', label: 'p99', numeric: true, value: (r) => r.p99_seconds, text: format.seconds, cls: latencyClass},
    {id: 'in', label: 'In', numeric: true, value: (r) => r.received_bytes_rate, text: format.byteRate},
    {id: 'out', label: 'Out', numeric: true, value: (r) => r.sent_bytes_rate, text: format.byteRate},
    {id: 'requests', label: 'Requests', numeric: true, value: (r) => r.requests_total, text: format.count},
  ], {key: (r) => r.route, sort: {id: 'rps', descending: true},
      filter: (r) => !filterText || r.route.toLowerCase().includes(filterText)});

  const users = new LiveTable(byId('users'), [
    {id: 'user', label: 'User', value: (u) => u.user, text: (v) => v},
    {id: 'rate', label: 'Req/s', numeric: true, value: (u) => u.rate, text: format.rate},
    {id: 'requests', label: 'Requests', numeric: true, value: (u) => u.requests_total, text: format.count},
    {id: 'active', label: 'Active', numeric: true, value: (u) => u.active_requests, text: format.count},
  ], {key: (u) => u.user, sort: {id: 'rate', descending: true}});

  const upstreams = new LiveTable(byId('upstreams'), [
    {id: 'endpoint', label: 'Endpoint', value: (e) => e.endpoint, text: (v) => v},
    {id: 'upstream', label: 'Upstream', value: (e) => e.upstream, text: (v) => v},
    {id: 'attempts', label: 'Requests', numeric: true, value: (e) => e.attempts_total, text: format.count},
    {id: 'connects', label: 'Connects', numeric: true, value: (e) => e.connections_opened_total, text: format.count},
    {id: 'errors', label: 'Connect errors', numeric: true, value: (e) => e.connect_errors_total, text: format.count,
     cls: (v) => (v > 0 ? 'bad' : '')},
  ], {key: (e) => e.endpoint, sort: {id: 'attempts', descending: true}});

  // Tiles and fact lists: built once, then only their text changes.
  const tiles = new Map();
  function tile(id, label, value, text, cls = '') {
    let t = tiles.get(id);
    if (!t) {
      const valueNode = el('div', {className: 'value'});
      const labelNode = el('div', {className: 'label'});
      const node = el('div', {className: 'tile', id: 'tile-' + id}, labelNode, valueNode);
      byId('tiles').append(node);
      t = {node, labelNode, valueNode, label: null, shown: null, value: undefined};
      tiles.set(id, t);
    }
    if (t.label !== label) { t.labelNode.textContent = label; t.label = label; }
    if (t.value !== value) {
      t.value = value;
      t.node.dataset.value = value == null ? '' : String(value);
    }
    if (t.shown !== text) { t.valueNode.textContent = text; t.shown = text; }
    const className = 'value ' + cls;
    if (t.valueNode.className !== className) t.valueNode.className = className;
  }

  function facts(list, items) {
    const dl = byId(list);
    if (dl.children.length !== 2 * items.length) {
      dl.replaceChildren(...items.flatMap(([label]) => [el('dt', {textContent: label}), el('dd')]));
    }
    items.forEach(([, text], i) => {
      const dd = dl.children[2 * i + 1];
      if (dd.textContent !== text) dd.textContent = text;
    });
  }

  function setText(id, text) {
    const node = byId(id);
    if (node.textContent !== text) node.textContent = text;
  }

  // ---- One refresh ----------------------------------------------------------------------------------------
  function render(stats, now) {
    // Requests per second between this refresh and the previous one, for the sparklines.
    const dt = previous ? (now - previous.at) / 1000 : 0;
    const before = new Map();
    if (previous) for (const r of previous.stats.routes) before.set(r.route, r.requests_total);
    for (const r of stats.routes) {
      let h = routeHistory.get(r.route);
      if (!h) { h = []; routeHistory.set(r.route, h); }
      const earlier = before.get(r.route);
      if (dt > 0) h.push(earlier == null ? 0 : Math.max(0, r.requests_total - earlier) / dt);
      if (h.length > historyLength) h.shift();
    }
    if (routeHistory.size > stats.routes.length) {
      const present = new Set(stats.routes.map((r) => r.route));
      for (const k of routeHistory.keys()) if (!present.has(k)) routeHistory.delete(k);
    }

    setText('service', stats.service);
    const m = stats.last_minute;
    windowSeconds = stats.window_seconds;
    tile('rate', 'Requests/s', m.rate, format.rate(m.rate));
    tile('errors', '5xx ratio', m.error_ratio, format.ratio(m.error_ratio), errorClass(m.error_ratio));
    tile('p50', 'p50 latency', m.p50_seconds, format.seconds(m.p50_seconds));
    tile('p95', 'p95 latency', m.p95_seconds, format.seconds(m.p95_seconds), latencyClass(m.p95_seconds));
    tile('p99', 'p99 latency', m.p99_seconds, format.seconds(m.p99_seconds), latencyClass(m.p99_seconds));
    tile('in', 'Bytes in', m.received_bytes_rate, format.byteRate(m.received_bytes_rate));
    tile('out', 'Bytes out', m.sent_bytes_rate, format.byteRate(m.sent_bytes_rate));
    tile('active', 'Active requests', stats.active_requests, format.count(stats.active_requests));
    const limit = stats.client_connections_limit;
    tile('connections', 'Client connections', stats.client_connections_active,
         format.count(stats.client_connections_active) + (limit ? ` / ${format.count(limit)}` : ''),
         limit && stats.client_connections_active >= 0.9 * limit ? 'bad' : '');
    tile('requests', 'Requests since start', stats.requests_total, format.count(stats.requests_total));
    tile('uptime', 'Uptime', stats.uptime_seconds, format.duration(stats.uptime_seconds));

    const shown = routes.update(stats.routes, routeHistory);
    setText('routes-count', filterText ? `${shown} of ${stats.routes.length}` : `${stats.routes.length}`);
    byId('routes-empty').hidden = stats.routes.length > 0;

    const u = stats.users;
    const listed = u ? u.top.filter((x) => x.listed) : [];
    users.update(listed);
    setText('users-count', u ? `${listed.length} listed · ~${format.count(u.distinct_last_minute)} distinct in the last minute` : '(off)');
    byId('users-empty').hidden = listed.length > 0;

    upstreams.update(stats.upstream_endpoints || []);
    const errorTypes = Object.entries(stats.upstream_connect_errors || {});
    facts('upstream-facts', [
      ['Pooled connections', `${format.count(stats.upstream_connections.active)} in use, ${format.count(stats.upstream_connections.idle)} idle`],
      ['Connect errors by kind', errorTypes.length ? errorTypes.map(([k, v]) => `${k} ${format.count(v)}`).join(', ') : 'none'],
    ]);

    const s = stats.series, l = stats.learned_routes;
    facts('budget', [
      ['Routes shown', format.count(stats.routes.length)],
      ['Learned templates', `${format.count(l.admitted)} of ${format.count(l.limit)}${l.admitted >= l.limit ? ' (full: new paths count as _other)' : ''}`],
      ['Metric series', `${format.count(s.active)} of ${format.count(s.limit)}`],
      ['Series dropped by the cap', format.count(s.dropped_total)],
    ]);

    const t = stats.tracing;
    facts('tracing', t ? [
      ['Tracing', t.enabled ? 'on' : 'off'],
      ['Spans exported', format.count(t.spans_exported_total)],
      ['Spans dropped', format.count(t.spans_dropped_total)],
      ['Export requests failed', `${format.count(t.export_requests_failed_total)} of ${format.count(t.export_requests_total)}`],
      ['Spans queued', format.count(t.queued_spans)],
    ] : [['Tracing', 'not reported']]);
    previous = {at: now, stats};
  }

  function showError(reason) {
    const now = Date.now();
    if (!failingSince) failingSince = now;
    const box = byId('error');
    box.hidden = false;
    const since = lastGood ? ` The figures below are from ${format.clock(lastGood)}.` : '';
    box.textContent = `apimeter is not answering at ${location.host} since ${format.clock(failingSince)} (${reason}).` +
        ` Retrying every ${intervalMs / 1000} s.${since}`;
    document.querySelector('main').classList.add('stale-data');
    const status = byId('status');
    status.classList.add('stale');
    status.textContent = lastGood ? `no answer; last update ${format.clock(lastGood)}` : 'no answer';
  }

  function clearError() {
    failingSince = 0;
    byId('error').hidden = true;
    document.querySelector('main').classList.remove('stale-data');
    const status = byId('status');
    status.classList.remove('stale');
    status.textContent = `live · figures over the last ${format.duration(windowSeconds)} · ` +
        `every ${intervalMs / 1000} s · updated ${format.clock(lastGood)}`;
  }

  async function refresh() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let text;
    try {
      const response = await fetch('/stats', {cache: 'no-store', signal: controller.signal, headers: {Accept: 'application/json'}});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (e) {
      showError(e.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : e.message || String(e));
      return;
    } finally {
      clearTimeout(timer);
    }
    // Script time of a refresh, from the bytes to the updated page (DevTools shows it as a User Timing).
    const start = performance.now();
    let stats;
    try {
      stats = JSON.parse(text);
      if (typeof stats !== 'object' || !Array.isArray(stats.routes)) throw new Error('not a /stats document');
      if (stats.version !== 2) throw new Error(`/stats version ${stats.version}, this page reads version 2`);
    } catch (e) {
      showError(e.message);
      return;
    }
    const now = Date.now();
    render(stats, now);
    lastGood = now;
    clearError();
    if (performance.getEntriesByName(kMeasure).length >= 120) performance.clearMeasures(kMeasure);
    performance.measure(kMeasure, {start, end: performance.now()});
  }

  async function loop() {
    try {
      await refresh();
    } catch (e) {
      showError(`the page failed to show /stats: ${e.message || e}`);
    } finally {
      setTimeout(loop, intervalMs);
    }
  }

  filterInput.addEventListener('input', () => {
    filterText = filterInput.value.trim().toLowerCase();
    const shown = routes.arrange();
    if (previous) setText('routes-count', filterText ? `${shown} of ${previous.stats.routes.length}` : `${previous.stats.routes.length}`);
  });
  filterInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { filterInput.value = ''; filterInput.dispatchEvent(new Event('input')); }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && document.activeElement !== filterInput) { e.preventDefault(); filterInput.focus(); }
  });

  loop();
})();
