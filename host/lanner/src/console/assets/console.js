// Lanner's alert console. Every alert's text comes from whoever the alert is about (file
// names, command lines, container names): it is only ever put in the page as text
// (textContent, option values, URL parameters), never parsed as markup. The server's
// Content-Security-Policy forbids inline script as a second line of defence.
'use strict';

(function () {
  const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
  const COLOURS = {
    Emergency: '#7b1fa2', Alert: '#9c27b0', Critical: '#b3261e', Error: '#e65100',
    Warning: '#c99700', Notice: '#1565c0', Informational: '#2e7d32', Debug: '#607d8b',
  };
  const FILTERS = ['priority', 'rule', 'source', 'tag', 'host', 'container', 'image', 'q'];
  // Rows drawn at once: the filter and the chart see every kept alert, the table the newest.
  const MAX_ROWS = 500;

  let maxAlerts = 10000;
  let alerts = []; // newest first
  const seen = new Set();
  let chart = null;
  let chartRange = null;
  let selected = null;
  let renderQueued = false;

  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const rank = (p) => {
    const i = PRIORITIES.indexOf(p);
    return i < 0 ? PRIORITIES.length : i;
  };

  // The filters live in the URL, so a view can be shared (the token never is: it is in a
  // cookie once the page has loaded).
  function readFilters() {
    const u = new URLSearchParams(location.search);
    const f = {};
    for (const k of FILTERS) f[k] = u.get(k) || '';
    f.range = u.get('range') === '24h' ? '24h' : '1h';
    return f;
  }
  let filters = readFilters();

  function writeFilters() {
    const u = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) u.set(k, filters[k]);
    if (filters.range !== '1h') u.set('range', filters.range);
    const s = u.toString();
    history.replaceState(null, '', s ? '?' + s : location.pathname);
  }

  function syncForm() {
    for (const k of FILTERS) $('f-' + k).value = filters[k];
    $('f-range').value = filters.range;
  }

  const has = (v, needle) => String(v || '').toLowerCase().includes(needle.toLowerCase());

  function matches(a) {
    const f = filters;
    if (f.priority && rank(a.priority) > rank(f.priority)) return false;
    if (f.rule && !has(a.rule, f.rule)) return false;
    if (f.source && !has(a.source, f.source)) return false;
    if (f.tag && !(a.tags || []).some((t) => t.toLowerCase() === f.tag.toLowerCase())) return false;
    if (f.host && !has(a.hostname, f.host)) return false;
    if (f.container && !has(a.container, f.container)) return false;
    if (f.image && !has(a.image, f.image)) return false;
    if (f.q && !has(a.output, f.q) && !has(a.rule, f.q)) return false;
    return true;
  }

  function add(a) {
    if (seen.has(a.id)) return;
    seen.add(a.id);
    alerts.unshift(a);
    while (alerts.length > maxAlerts) seen.delete(alerts.pop().id);
    queueRender();
  }

  // Under a flood the page redraws less often (three times as long as the last redraw
  // took, up to a second), so it stays usable instead of redrawing all the time.
  let lastRenderMs = 0;
  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => {
      renderQueued = false;
      const t = performance.now();
      render();
      lastRenderMs = performance.now() - t;
    }, Math.min(1000, Math.max(100, 3 * lastRenderMs)));
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    return d.toISOString().replace('T', ' ').replace('Z', '');
  }

  function prioSpan(p) {
    return el('span', p, 'prio p-' + (PRIORITIES.includes(p) ? p : 'Debug'));
  }

  function row(a) {
    const tr = document.createElement('tr');
    tr.dataset.id = String(a.id);
    tr.dataset.rule = a.rule;
    if (selected && selected.id === a.id) tr.className = 'selected';
    const time = el('td', fmtTime(a.time_ms));
    const prio = el('td');
    prio.appendChild(prioSpan(a.priority));
    tr.append(time, prio, el('td', a.rule), el('td', a.hostname), el('td', a.container || ''),
      el('td', a.image || ''), el('td', a.output, 'output'));
    return tr;
  }

  function top(list, key, target, filterKey) {
    const counts = new Map();
    for (const a of list) {
      const k = a[key];
      if (k) counts.set(k, (counts.get(k) || 0) + 1);
    }
    const best = [...counts.entries()].sort((x, y) => y[1] - x[1]).slice(0, 10);
    const items = best.map(([name, n]) => {
      const li = el('li', name + ' — ' + n);
      li.addEventListener('click', () => setFilter(filterKey, name));
      return li;
    });
    $(target).replaceChildren(...items);
  }

  function drawChart(list) {
    const span = filters.range === '24h' ? 24 * 3600 : 3600;
    const step = filters.range === '24h' ? 900 : 60;
    const now = Math.floor(Date.now() / 1000);
    const end = Math.floor(now / step) * step + step;
    const start = end - span;
    const n = span / step;
    const xs = Array.from({ length: n }, (_, i) => start + i * step);
    const per = PRIORITIES.map(() => new Array(n).fill(0));
    let total = 0;
    for (const a of list) {
      const t = a.time_ms / 1000;
      if (t < start || t >= end) continue;
      const p = rank(a.priority);
      if (p >= PRIORITIES.length) continue;
      per[p][Math.floor((t - start) / step)] += 1;
      total += 1;
    }
    const box = $('chart');
    box.dataset.total = String(total);
    $('chart-total').textContent = '(' + total + ' in the ' + (filters.range === '24h' ? 'last day' : 'last hour') + ')';
    const data = [xs, ...per];
    const width = Math.max(300, box.clientWidth || 600);
    if (typeof uPlot === 'undefined') return;
    if (!chart || chartRange !== filters.range) {
      if (chart) chart.destroy();
      chartRange = filters.range;
      chart = new uPlot({
        width,
        height: 200,
        scales: { x: { time: true } },
        series: [{}, ...PRIORITIES.map((p) => ({
          label: p, stroke: COLOURS[p], width: 1.5, points: { show: false },
        }))],
        axes: [{}, { size: 40 }],
      }, data, box);
    } else {
      chart.setData(data);
      if (Math.abs(chart.width - width) > 20) chart.setSize({ width, height: 200 });
    }
  }

  function render() {
    const list = alerts.filter(matches);
    const c = $('count');
    c.dataset.count = String(list.length);
    c.textContent = list.length + ' alerts match the filters (' + alerts.length + ' kept, newest first' +
      (list.length > MAX_ROWS ? '; the newest ' + MAX_ROWS + ' are shown' : '') + ')';
    $('rows').replaceChildren(...list.slice(0, MAX_ROWS).map(row));
    top(list, 'rule', 'top-rules', 'rule');
    top(list, 'container', 'top-containers', 'container');
    drawChart(list);
  }

  function setFilter(key, value) {
    filters[key] = value;
    syncForm();
    writeFilters();
    render();
  }

  function showDetail(a) {
    selected = a;
    for (const tr of $('rows').children) tr.classList.toggle('selected', tr.dataset.id === String(a.id));
    $('detail').hidden = false;
    $('d-rule').textContent = a.rule;
    $('d-priority').replaceWith(Object.assign(prioSpan(a.priority), { id: 'd-priority' }));
    $('d-time').textContent = a.time;
    $('d-host').textContent = a.hostname;
    $('d-source').textContent = a.source;
    $('d-output').textContent = a.output;
    $('d-tags').replaceChildren(...(a.tags || []).map((t) => el('li', t)));
    $('d-fields').replaceChildren(...(a.fields || []).map((f) => {
      const tr = document.createElement('tr');
      tr.append(el('td', f.name), el('td', f.value === null ? '(missing)' : f.value), el('td', f.type));
      return tr;
    }));
    // A relative address: the link stays on this console, the token in its cookie.
    $('d-others').href = '?' + new URLSearchParams({ rule: a.rule }).toString();
    $('d-desc').textContent = '';
    $('d-cond').textContent = '';
    fetch('/console/api/rule?' + new URLSearchParams({ name: a.rule }).toString(), { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .then((r) => {
        if (selected !== a) return;
        $('d-desc').textContent = r ? r.description : 'The rule is not loaded now (internal alert, or removed since).';
        $('d-cond').textContent = r ? r.condition : '';
      })
      .catch(() => {});
  }

  async function loadAlerts() {
    const r = await fetch('/console/api/alerts', { credentials: 'same-origin' });
    if (!r.ok) {
      $('conn').textContent = 'cannot read the alerts (' + r.status + ')';
      return;
    }
    const list = await r.json();
    // The list is newest first; live alerts that came meanwhile stay.
    for (let i = list.length - 1; i >= 0; i--) add(list[i]);
    alerts.sort((x, y) => y.id - x.id);
    queueRender();
  }

  function num(v) {
    return v === undefined || v === null ? '—' : Number(v).toLocaleString('en');
  }

  async function loadState() {
    try {
      const r = await fetch('/console/api/state', { credentials: 'same-origin' });
      if (!r.ok) return;
      const s = await r.json();
      maxAlerts = s.max_alerts || maxAlerts;
      const c = s.counters || {};
      const rows = [
        ['Records captured', num(c.lanner_capture_records_total)],
        ['Records dropped', num(c.lanner_capture_drops_total)],
        ['Events evaluated', num(c.lanner_events_processed_total)],
        ['Alerts raised', num(c.lanner_alerts_total)],
        ['Alerts dropped by outputs', num(c.lanner_output_dropped_total)],
        ['Plugin events dropped', num(c.lanner_plugin_events_dropped_total)],
        ['Rules loaded', num(c.lanner_rules_loaded)],
        ['Reloads ok / failed', num((s.reloads || {}).ok || 0) + ' / ' + num((s.reloads || {}).failed || 0)],
        ['Last reload', s.last_reload
          ? fmtTime(s.last_reload.time_ms) + (s.last_reload.ok ? ' ok' : ' failed: ' + s.last_reload.error)
          : 'none since start'],
        ['Console pages open', num(c.lanner_console_clients)],
        ['Pages that fell behind', num(c.lanner_console_clients_behind_total)],
      ];
      $('state').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
      $('plugins').replaceChildren(...(s.plugins || []).map((p) => {
        const tr = document.createElement('tr');
        const state = el('td', p.state + (p.disabled_reason ? ' (' + p.disabled_reason + ')' : ''));
        tr.append(el('td', p.name), el('td', p.kind), state, el('td', num(p.failures)));
        return tr;
      }));
    } catch (e) {
      // The next round tries again; the connection line tells about the daemon.
    }
  }

  function connect() {
    const es = new EventSource('/console/api/events');
    let opened = false;
    es.addEventListener('open', () => {
      $('conn').textContent = 'live';
      // After a reconnection the list may miss what came in between.
      if (opened) loadAlerts();
      opened = true;
    });
    es.addEventListener('error', () => {
      $('conn').textContent = 'reconnecting…';
    });
    es.addEventListener('alert', (e) => add(JSON.parse(e.data)));
    es.addEventListener('behind', (e) => {
      const n = JSON.parse(e.data).missed;
      const b = $('behind');
      b.hidden = false;
      b.textContent = 'This page fell behind and missed ' + n + ' live alerts; the list was reloaded.';
      loadAlerts();
    });
  }

  function init() {
    syncForm();
    const form = $('filters');
    form.addEventListener('input', (e) => {
      const k = e.target.name === 'q' ? 'q' : e.target.name;
      if (k === 'range') filters.range = e.target.value === '24h' ? '24h' : '1h';
      else if (FILTERS.includes(k)) filters[k] = e.target.value;
      writeFilters();
      queueRender();
    });
    form.addEventListener('submit', (e) => e.preventDefault());
    $('clear').addEventListener('click', () => {
      for (const k of FILTERS) filters[k] = '';
      syncForm();
      writeFilters();
      render();
    });
    $('rows').addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (!tr) return;
      const a = alerts.find((x) => String(x.id) === tr.dataset.id);
      if (a) showDetail(a);
    });
    $('detail-close').addEventListener('click', () => {
      $('detail').hidden = true;
      selected = null;
    });
    window.addEventListener('popstate', () => {
      filters = readFilters();
      syncForm();
      render();
    });
    connect();
    loadAlerts();
    loadState();
    setInterval(loadState, 5000);
    // The chart's window moves on even when no alert comes.
    setInterval(queueRender, 30000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
