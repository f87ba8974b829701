/* Work page: the live row feed and the "rows today" counter, fed by the SSE `rows` family.
 *
 * Rows: each stored WorkBatch arrives as one `rows` event (docs/SSE.md) the moment the gateway
 * gets it; its newest rows go to the top of the feed (capped at FEED_MAX) and its `count` is
 * added to the counter. The counter is re-based on the analyzer's own count of today's events
 * (GET /api/v1/kpi/today at load, then each KpiUpdate's `events`), so rows of other days or a
 * missed event never leave it wrong for longer than one KPI interval.
 * Everything is written with textContent: worker and event names are never parsed as HTML.
 */
(function () {
  'use strict';
  var FEED_MAX = 50;
  var box = document.getElementById('work-live');
  var src = document.getElementById('work-live-src');
  if (!box || !src) return;
  var want = box.dataset.process || 'all';
  var names = JSON.parse(box.dataset.names || '{}');
  var body = box.querySelector('[data-testid=live-rows] tbody');
  var empty = box.querySelector('[data-testid=live-empty]');
  var counter = box.querySelector('[data-testid=rows-today]');
  var base = {};   // process -> today's events as the analyzer last counted them
  var since = {};  // process -> rows received since that count
  var pending = []; // newest last; drawn on the next animation frame
  var drawQueued = false;

  function wanted(process) { return want === 'all' || process === want; }

  function total() {
    var n = 0, p;
    for (p in base) if (wanted(p)) n += base[p];
    for (p in since) if (wanted(p)) n += since[p];
    return n;
  }

  function cell(tr, text, title) {
    var td = document.createElement('td');
    td.textContent = text;
    td.title = title || text;  // the whole text where a phone cuts the cell short
    tr.appendChild(td);
  }

  function draw() {
    drawQueued = false;
    counter.textContent = total().toLocaleString();
    if (!pending.length) return;
    var frag = document.createDocumentFragment();
    for (var i = pending.length - 1; i >= 0; i--) {  // newest first
      var r = pending[i], tr = document.createElement('tr');
      var ts = String(r.ts || '');
      cell(tr, ts.length >= 19 ? ts.slice(11, 19) : ts, ts);
      cell(tr, r.worker);
      cell(tr, r.event);
      cell(tr, names[r.process] || r.process);
      frag.appendChild(tr);
    }
    pending = [];
    body.insertBefore(frag, body.firstChild);
    while (body.rows.length > FEED_MAX) body.deleteRow(-1);
    if (empty) empty.hidden = true;
  }

  function queueDraw() {
    if (drawQueued) return;
    drawQueued = true;
    // A hidden tab gets no animation frames; the buffer is capped, so nothing piles up.
    requestAnimationFrame(draw);
  }

  function onRows(data) {
    if (!wanted(data.process)) return;
    since[data.process] = (since[data.process] || 0) + (data.count || 0);
    var rows = data.rows || [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      pending.push({ts: r.ts, worker: r.worker, event: r.event, process: data.process});
    }
    if (pending.length > FEED_MAX) pending = pending.slice(-FEED_MAX);
    queueDraw();
  }

  function onKpi(data) {
    var values = data.values || {};
    if (!data.process || typeof values.events !== 'number') return;
    base[data.process] = values.events;
    since[data.process] = 0;
    queueDraw();
  }

  // The page's one EventSource (body sse-connect) delivers them to this hidden element;
  // cancelling the swap keeps htmx from putting the JSON into the page.
  src.addEventListener('htmx:sseBeforeMessage', function (e) {
    e.preventDefault();
    var msg = e.detail;
    var data;
    try { data = JSON.parse(msg.data); } catch (err) { return; }
    if (msg.type === 'rows') onRows(data); else if (msg.type === 'kpi') onKpi(data);
  });

  fetch('/api/v1/kpi/today', {credentials: 'same-origin'})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (today) {
      if (!today || !today.processes) return;
      for (var p in today.processes) {
        base[p] = Number(today.processes[p].events) || 0;
        since[p] = 0;
      }
      queueDraw();
    })
    .catch(function () { /* the analyzer is away: the counter counts live rows only */ });
})();
