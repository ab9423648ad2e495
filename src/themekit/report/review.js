/* themekit review view: plain JavaScript, no network, no build step.
 * Data: the JSON blob #tk-review-data (see themekit/report/review.py, review_data).
 * State: localStorage[D.key] = {v, reviewer, decisions: {key: record}, order: [keys], cand: {id: edit}},
 * so decisions survive a reload; "Export decisions" writes decisions.csv, "Export codebook" a YAML codebook. */
(function () {
  "use strict";
  var T0 = performance.now();   // the view's start-up is measured from here (bench_review.py)
  var root = document.getElementById("tk-review");
  var blob = document.getElementById("tk-review-data");
  if (!root || !blob) return;
  var D = JSON.parse(blob.textContent);
  var U = D.utterances, I = D.items, C = D.codes;
  var COLS = ["utterance_id", "transcript_id", "start", "end", "code", "decision", "new_code", "reviewer",
              "decided_at", "score"];
  var PAGE = 100;
  var S = load();
  var view = { mode: "card", code: -1, transcript: "", status: "todo", page: 0, order: "likely" };
  var Q = [], cur = 0, renders = 0, keyAt = null;
  var api = window.tkReview = { ready: false, firstRenderMs: null, initMs: null, keyMs: [], renders: 0 };

  function load() {
    var s = null;
    try { s = JSON.parse(window.localStorage.getItem(D.key) || "null"); } catch (e) { s = null; }
    if (!s || s.v !== 1) s = { v: 1, reviewer: "", decisions: {}, order: [], cand: {} };
    return s;
  }
  function save() {
    try { window.localStorage.setItem(D.key, JSON.stringify(S)); }
    catch (e) { note("Decisions could not be kept in this browser (" + e.message + "): export them now."); }
  }
  function el(tag, attrs, kids) {
    var n = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") n.textContent = attrs[k];
      else if (k === "cls") n.className = attrs[k];
      else if (k.slice(0, 2) === "on") n.addEventListener(k.slice(2), attrs[k]);
      else n.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }
  function keyOf(i) { return U[I[i][0]][0] + "\t" + C[I[i][1]]; }
  function decisionOf(i) { return S.decisions[keyOf(i)] || null; }
  function fmt(x) { return Number(x).toFixed(3); }
  function reviewer() { return (S.reviewer || "").trim() || "reviewer"; }

  /* ---- decisions ---------------------------------------------------------------------- */
  function decide(i, kind, newCode) {
    var it = I[i], u = U[it[0]], code = C[it[1]];
    if (kind === "recode" && newCode === code) kind = "accept";
    var k = keyOf(i);
    S.decisions[k] = { utterance_id: u[0], transcript_id: u[1], start: u[4], end: u[5], code: code,
                       decision: kind, new_code: kind === "recode" ? newCode : "", reviewer: reviewer(),
                       decided_at: new Date().toISOString(), score: fmt(it[2]) };
    var at = S.order.indexOf(k);
    if (at >= 0) S.order.splice(at, 1);
    S.order.push(k);
    save();
  }
  function undo(i) {
    var k = keyOf(i);
    if (!S.decisions[k]) return;
    delete S.decisions[k];
    S.order.splice(S.order.indexOf(k), 1);
    save();
  }
  function csvCell(v) {
    var s = v == null ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function decisionsCsv() {
    var lines = [COLS.join(",")];
    S.order.forEach(function (k) {
      var d = S.decisions[k];
      lines.push(COLS.map(function (c) { return csvCell(d[c]); }).join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }
  function download(name, text, type) {
    var a = el("a", { href: URL.createObjectURL(new Blob([text], { type: type })), download: name });
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 2000);
  }

  /* ---- candidate codes and the codebook ---------------------------------------------- */
  function cand(id) { return S.cand[id] || (S.cand[id] = {}); }
  function candById(id) { for (var i = 0; i < D.candidates.length; i++) if (D.candidates[i].id === id) return D.candidates[i]; return null; }
  function candLabel(c) { var e = S.cand[c.id]; return (e && e.label != null && e.label.trim()) ? e.label.trim() : c.label; }
  function acceptedCands() {
    return D.candidates.filter(function (c) { var e = S.cand[c.id]; return e && e.accept && !e.merge; });
  }
  function allCodes() { return C.concat(acceptedCands().map(candLabel)); }
  function themes() {
    return D.codebook.filter(function (n) { return !n.parent && !n.codable; }).map(function (n) { return n.name; });
  }
  function q(s) { return JSON.stringify(String(s)); }   // a JSON string is a YAML double-quoted scalar
  function codebookYaml() {
    var nodes = D.codebook.map(function (n) { return JSON.parse(JSON.stringify(n)); });
    var byName = {}, problems = [], log = [];
    nodes.forEach(function (n) { byName[n.name] = n; });
    D.candidates.forEach(function (c) {
      var e = S.cand[c.id] || {};
      if (e.label != null && e.label.trim() && e.label.trim() !== c.label) log.push("renamed candidate " + c.id + " " + q(c.label) + " to " + q(e.label.trim()));
      if (e.merge) {
        var target = e.merge.slice(0, 5) === "code:" ? e.merge.slice(5) : null;
        var tc = target ? null : candById(e.merge.slice(5));
        log.push("merged candidate " + c.id + " " + q(candLabel(c)) + " into " + (target ? "code " + q(target) : "candidate " + (tc ? tc.id + " " + q(candLabel(tc)) : "?")));
        if (target && byName[target]) byName[target].examples = byName[target].examples.concat(c.quotes.slice(0, 2));
      }
    });
    acceptedCands().forEach(function (c) {
      var e = S.cand[c.id], name = candLabel(c), def = (e.definition || "").trim();
      if (byName[name]) { problems.push("candidate " + c.id + ": the name " + q(name) + " is already a code; rename it"); return; }
      if (!def) { problems.push("candidate " + c.id + " " + q(name) + ": type a definition before accepting it"); return; }
      var theme = e.theme || "Emergent codes";
      if (!byName[theme]) { byName[theme] = { name: theme, parent: null, definition: "", include: "", exclude: "", examples: [], codable: false }; nodes.push(byName[theme]); }
      var ex = c.quotes.slice(0, 3);
      D.candidates.forEach(function (o) { var oe = S.cand[o.id]; if (oe && oe.merge === "cand:" + c.id) ex = ex.concat(o.quotes.slice(0, 2)); });
      var n = { name: name, parent: theme, definition: def, include: "", exclude: "", examples: ex, codable: true };
      byName[name] = n; nodes.push(n);
      log.push("accepted candidate " + c.id + " as code " + q(name) + " under " + q(theme));
    });
    var out = ["# codebook edited in the themekit review view by " + reviewer() + ", " + new Date().toISOString()];
    log.forEach(function (l) { out.push("# " + l); });
    out.push("codes:");
    // parents first: a code's theme is written before it
    var written = {}, order = [];
    function put(n) { if (written[n.name]) return; if (n.parent && byName[n.parent]) put(byName[n.parent]); written[n.name] = 1; order.push(n); }
    nodes.forEach(put);
    order.forEach(function (n) {
      out.push("  - name: " + q(n.name));
      if (n.parent) out.push("    parent: " + q(n.parent));
      if (!n.codable) out.push("    codable: false");
      ["definition", "include", "exclude"].forEach(function (f) { if (n[f]) out.push("    " + f + ": " + q(n[f])); });
      if (n.examples && n.examples.length) {
        out.push("    examples:");
        n.examples.forEach(function (x) { out.push("      - " + q(x)); });
      }
    });
    return { text: out.join("\n") + "\n", problems: problems };
  }

  /* ---- layout ------------------------------------------------------------------------ */
  var bar, card, list, msg, recodeSel, counts, candBox;
  function note(s) { if (msg) msg.textContent = s; }
  function build() {
    root.textContent = "";
    var codeF = el("select", { "aria-label": "filter by code", cls: "tk-f-code", onchange: function () { view.code = +this.value; refilter(); } },
                   [el("option", { value: "-1", text: "all codes" })].concat(C.map(function (c, i) { return el("option", { value: String(i), text: c }); })));
    var trF = el("select", { "aria-label": "filter by transcript", cls: "tk-f-transcript", onchange: function () { view.transcript = this.value; refilter(); } },
                 [el("option", { value: "", text: "all transcripts" })].concat(D.transcripts.map(function (t) { return el("option", { value: t, text: t }); })));
    var orF = el("select", { "aria-label": "order", cls: "tk-f-order", onchange: function () { view.order = this.value; refilter(true); } },
                 [["likely", "most likely right first"], ["uncertain", "least certain first"]].map(function (o) { return el("option", { value: o[0], text: o[1] }); }));
    var stF = el("select", { "aria-label": "list shows", cls: "tk-f-status", onchange: function () { view.status = this.value; view.page = 0; render(); } },
                 [["todo", "to decide"], ["done", "decided"], ["all", "all"]].map(function (o) { return el("option", { value: o[0], text: o[1] }); }));
    var who = el("input", { type: "text", cls: "tk-reviewer", placeholder: "your initials", value: S.reviewer || "", "aria-label": "reviewer",
                            oninput: function () { S.reviewer = this.value; save(); } });
    counts = el("span", { cls: "tk-counts" });
    bar = el("div", { cls: "tk-bar" }, [
      el("label", null, ["Reviewer ", who]), el("label", null, ["Code ", codeF]), el("label", null, ["Transcript ", trF]),
      el("label", null, ["Order ", orF]), el("label", null, ["List ", stF]),
      el("button", { type: "button", cls: "tk-toggle", onclick: function () { toggle(); } , text: "Card / list (l)" }),
      el("button", { type: "button", cls: "tk-export", onclick: exportDecisions, text: "Export decisions" }),
      el("button", { type: "button", cls: "tk-export-codebook", onclick: exportCodebook, text: "Export codebook" }),
      counts]);
    msg = el("div", { cls: "tk-msg", role: "status" });
    card = el("div", { cls: "tk-card" });
    list = el("div", { cls: "tk-list", hidden: "" });
    recodeSel = el("select", { cls: "tk-recode", "aria-label": "recode to",
                               onkeydown: function (e) { if (e.key === "Enter") { e.preventDefault(); recodeTo(this.value); this.blur(); } } });
    candBox = el("details", { cls: "tk-cands" });
    root.appendChild(bar); root.appendChild(msg); root.appendChild(card); root.appendChild(list); root.appendChild(candBox);
    fillRecode();
    buildCandidates();
  }
  function fillRecode() {
    recodeSel.textContent = "";
    allCodes().forEach(function (c, i) { recodeSel.appendChild(el("option", { value: c, text: (i < 10 ? ((i + 1) % 10) + " " : "") + c })); });
  }
  function refilter(restart) {   // restart: from the first undecided, not the current suggestion
    var keep = I.length && !restart ? Q[cur] : -1;
    Q = [];
    for (var i = 0; i < I.length; i++) {
      if (view.code >= 0 && I[i][1] !== view.code) continue;
      if (view.transcript && U[I[i][0]][1] !== view.transcript) continue;
      Q.push(i);
    }
    // items come most likely right first; "least certain": smallest margin between the two top codes
    if (view.order === "uncertain") Q.sort(function (a, b) {
      var ma = I[a][9] == null ? Infinity : I[a][9], mb = I[b][9] == null ? Infinity : I[b][9];
      return ma - mb || a - b;
    });
    var at = Q.indexOf(keep);
    cur = at >= 0 ? at : nextTodo(-1);
    view.page = 0;
    render();
  }
  function nextTodo(from) {
    for (var p = from + 1; p < Q.length; p++) if (!decisionOf(Q[p])) return p;
    for (p = 0; p <= from && p < Q.length; p++) if (!decisionOf(Q[p])) return p;
    return Math.min(Math.max(from + 1, 0), Math.max(Q.length - 1, 0));
  }

  /* ---- rendering ------------------------------------------------------------------- */
  function uttNode(r, cls) {
    var u = U[r];
    return el("div", { cls: "tk-utt " + cls + (u[3] === "interviewer" ? " tk-int" : "") },
              [el("span", { cls: "tk-who", text: (u[2] || u[3]) + " · " + u[1] + " " + u[4] + "–" + u[5] }), el("span", { cls: "tk-text", text: u[6] })]);
  }
  function showCounts() {
    var n = { accept: 0, reject: 0, recode: 0 };
    S.order.forEach(function (k) { n[S.decisions[k].decision]++; });
    counts.textContent = S.order.length + " decided (" + n.accept + " accepted, " + n.reject + " rejected, " + n.recode +
      " recoded) · " + I.length + " suggestions";
  }
  function renderCard() {
    card.textContent = "";
    if (!Q.length) { card.appendChild(el("p", { text: I.length ? "No suggestion matches the filters." : "Nothing to review: every suggested utterance already has human coding." })); return; }
    var i = Q[cur], it = I[i], d = decisionOf(i);
    root.dataset.item = String(i);
    card.appendChild(el("div", { cls: "tk-pos", text: "Suggestion " + (cur + 1) + " of " + Q.length + (Q.length < I.length ? " (filtered)" : "") }));
    var ctx = el("div", { cls: "tk-ctx" });
    it[6].forEach(function (r) { ctx.appendChild(uttNode(r, "tk-around")); });
    ctx.appendChild(uttNode(it[0], "tk-this"));
    it[7].forEach(function (r) { ctx.appendChild(uttNode(r, "tk-around")); });
    card.appendChild(ctx);
    var others = it[8] ? it[8].split("|").map(function (s) { var p = s.lastIndexOf(":"); return s.slice(0, p) + " " + s.slice(p + 1); }).join(", ") : "";
    card.appendChild(el("div", { cls: "tk-sugg" }, ["Suggested code: ", el("b", { cls: "tk-code", text: C[it[1]] }),
      el("span", { cls: "tk-score", text: " " + D.score + " " + fmt(it[2]) }), it[3] > 1 ? " (rank " + it[3] + ")" : "",
      others ? el("span", { cls: "tk-others", text: " · also suggested: " + others }) : null]));
    var ev = [el("div", null, ["Codebook: ", el("q", { text: it[4] || "" })])];
    if (it[5] >= 0) ev.push(el("div", { cls: "tk-near" }, ["Nearest human-coded example of this code: ", el("q", { text: U[it[5]][6] }),
      el("span", { cls: "tk-who", text: " (" + (U[it[5]][2] || U[it[5]][1]) + ", " + U[it[5]][1] + " " + U[it[5]][4] + "–" + U[it[5]][5] + ")" })]));
    else ev.push(el("div", { cls: "tk-near note", text: "No human-coded example of this code yet." }));
    card.appendChild(el("div", { cls: "tk-evid" }, ev));
    card.appendChild(el("div", { cls: "tk-actions" }, [
      el("button", { type: "button", cls: "tk-accept", text: "Accept (a)", onclick: function () { act("accept"); } }),
      el("button", { type: "button", cls: "tk-reject", text: "Reject (r)", onclick: function () { act("reject"); } }),
      recodeSel,
      el("button", { type: "button", cls: "tk-recode-btn", text: "Recode (c, 1–9, 0)", onclick: function () { recodeTo(recodeSel.value); } }),
      el("button", { type: "button", text: "Undo (u)", onclick: function () { undo(i); render(); } }),
      el("button", { type: "button", text: "◀ (k)", onclick: function () { move(-1); } }),
      el("button", { type: "button", text: "▶ (j)", onclick: function () { move(1); } })]));
    recodeSel.value = C[it[1]];
    card.appendChild(el("div", { cls: "tk-state" + (d ? " tk-decided tk-" + d.decision : ""), text: d ?
      (d.decision === "accept" ? "Accepted" : d.decision === "reject" ? "Rejected" : "Recoded to " + d.new_code) + " by " + d.reviewer + " at " + d.decided_at
      : "Not decided yet." }));
    var legend = el("ol", { cls: "tk-legend" });
    C.slice(0, 10).forEach(function (c, n) { legend.appendChild(el("li", { text: ((n + 1) % 10) + " " + c })); });
    card.appendChild(legend);
  }
  function renderList() {
    list.textContent = "";
    var rows = Q.filter(function (i) { var d = decisionOf(i); return view.status === "all" || (view.status === "done" ? !!d : !d); });
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    view.page = Math.min(view.page, pages - 1);
    var tb = el("tbody");
    rows.slice(view.page * PAGE, (view.page + 1) * PAGE).forEach(function (i) {
      var it = I[i], u = U[it[0]], d = decisionOf(i);
      tb.appendChild(el("tr", { cls: d ? "tk-decided tk-" + d.decision : "", onclick: function () { cur = Q.indexOf(i); toggle(); } }, [
        el("td", { text: u[1] }), el("td", { text: u[2] }), el("td", { text: u[6].length > 220 ? u[6].slice(0, 219) + "…" : u[6] }),
        el("td", { text: C[it[1]] }), el("td", { text: fmt(it[2]) }),
        el("td", { text: d ? (d.decision === "recode" ? "→ " + d.new_code : d.decision) : "" })]));
    });
    list.appendChild(el("div", { cls: "tk-pager" }, [
      el("button", { type: "button", text: "◀", onclick: function () { view.page = Math.max(0, view.page - 1); render(); } }),
      " page " + (view.page + 1) + " of " + pages + " (" + rows.length + " rows) ",
      el("button", { type: "button", text: "▶", onclick: function () { view.page = Math.min(pages - 1, view.page + 1); render(); } })]));
    list.appendChild(el("table", { cls: "tbl" }, [el("thead", null, [el("tr", null, ["transcript", "speaker", "utterance", "code", D.score, "decision"].map(function (h) { return el("th", { text: h }); }))]), tb]));
  }
  function render() {
    showCounts();
    if (view.mode === "card") { list.hidden = true; card.hidden = false; renderCard(); }
    else { card.hidden = true; list.hidden = false; renderList(); }
    api.renders = ++renders;
    if (keyAt !== null) {
      var t0 = keyAt; keyAt = null;
      requestAnimationFrame(function () { api.keyMs.push(performance.now() - t0); });
    }
  }
  function buildCandidates() {
    candBox.textContent = "";
    candBox.appendChild(el("summary", { text: "Candidate codes from discovery (" + D.candidates.length + "): rename, merge, accept into the codebook" }));
    if (!D.candidates.length) { candBox.appendChild(el("p", { cls: "note", text: "No candidate codes in this run." })); return; }
    var themeNames = themes();
    var tb = el("tbody");
    D.candidates.forEach(function (c) {
      var e = S.cand[c.id] || {};
      var label = el("input", { type: "text", cls: "tk-c-label", value: candLabel(c), "aria-label": "name of " + c.id,
                                oninput: function () { cand(c.id).label = this.value; save(); fillRecode(); } });
      var merge = el("select", { cls: "tk-c-merge", "aria-label": "merge " + c.id + " into",
                                 onchange: function () { cand(c.id).merge = this.value; save(); fillRecode(); } },
        [el("option", { value: "", text: "—" })].concat(
          D.candidates.filter(function (o) { return o.id !== c.id; }).map(function (o) { return el("option", { value: "cand:" + o.id, text: o.id + " " + candLabel(o) }); }),
          C.map(function (n) { return el("option", { value: "code:" + n, text: "code: " + n }); })));
      merge.value = e.merge || "";
      var acc = el("input", { type: "checkbox", cls: "tk-c-accept", "aria-label": "accept " + c.id,
                              onchange: function () { cand(c.id).accept = this.checked; save(); fillRecode(); } });
      acc.checked = !!e.accept;
      var def = el("textarea", { cls: "tk-c-def", rows: "2", placeholder: "definition (needed to accept)", "aria-label": "definition of " + c.id,
                                 oninput: function () { cand(c.id).definition = this.value; save(); } });
      def.value = e.definition || "";
      var theme = el("select", { cls: "tk-c-theme", "aria-label": "theme of " + c.id, onchange: function () { cand(c.id).theme = this.value; save(); } },
        themeNames.concat(["Emergent codes"]).filter(function (t, k, a) { return a.indexOf(t) === k; }).map(function (t) { return el("option", { value: t, text: t }); }));
      var bestNode = D.codebook.filter(function (n) { return n.name === c.best; })[0];
      theme.value = e.theme || (bestNode && bestNode.parent) || "Emergent codes";
      tb.appendChild(el("tr", null, [el("td", { text: c.id }), el("td", null, [label]), el("td", { text: c.size + " utt., " + c.participants + " participants" }),
        el("td", { text: c.terms }), el("td", null, c.quotes.map(function (x, k) { return el("div", { cls: "tk-quote" }, [el("q", { text: x }), el("span", { cls: "tk-who", text: " " + (c.where[k] || "") })]); })),
        el("td", { text: c.best + (c.status ? " (" + c.status + ")" : "") }), el("td", null, [merge]),
        el("td", null, [el("label", null, [acc, " accept"]), theme, def])]));
    });
    candBox.appendChild(el("table", { cls: "tbl tk-ctable" }, [el("thead", null, [el("tr", null,
      ["id", "name", "size", "key terms", "quotes", "best codebook code", "merge into", "accept into codebook"].map(function (h) { return el("th", { text: h }); }))]), tb]));
  }

  /* ---- actions ------------------------------------------------------------------------ */
  function act(kind) { if (!Q.length) return; decide(Q[cur], kind); cur = nextTodo(cur); render(); }
  function recodeTo(code) { if (!Q.length || !code) return; decide(Q[cur], "recode", code); cur = nextTodo(cur); render(); }
  function move(step) { if (!Q.length) return; cur = Math.min(Q.length - 1, Math.max(0, cur + step)); render(); }
  function toggle() { view.mode = view.mode === "card" ? "list" : "card"; render(); }
  function exportDecisions() {
    if (!S.order.length) { note("No decisions to export yet."); return; }
    download("decisions.csv", decisionsCsv(), "text/csv;charset=utf-8");
    note("Exported " + S.order.length + " decisions as decisions.csv: themekit run STUDY -o OUT --review decisions.csv");
  }
  function exportCodebook() {
    var y = codebookYaml();
    if (y.problems.length) { note("Not exported: " + y.problems.join("; ")); return; }
    download("codebook_reviewed.yaml", y.text, "application/x-yaml;charset=utf-8");
    note("Exported codebook_reviewed.yaml: pass it with --codebook");
  }
  function inView() { var r = root.getBoundingClientRect(); return r.bottom > 0 && r.top < window.innerHeight; }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var t = e.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (!inView()) return;
    var k = e.key, handled = true;
    if (/^([aArR0-9jklL]|ArrowRight|ArrowLeft)$/.test(k)) keyAt = e.timeStamp || performance.now();
    if (k === "a" || k === "A") act("accept");
    else if (k === "r" || k === "R") act("reject");
    else if (/^[0-9]$/.test(k)) { var n = k === "0" ? 9 : +k - 1; if (n < C.length) recodeTo(C[n]); }
    else if (k === "c" || k === "C") { if (view.mode !== "card") toggle(); recodeSel.focus(); }
    else if (k === "j" || k === "ArrowRight") move(1);
    else if (k === "k" || k === "ArrowLeft") move(-1);
    else if (k === "u" || k === "U") { if (Q.length) { undo(Q[cur]); render(); } }
    else if (k === "l" || k === "L") toggle();
    else handled = false;
    if (handled) e.preventDefault(); else keyAt = null;
  });

  build();
  refilter();
  api.firstRenderMs = performance.now();
  api.initMs = api.firstRenderMs - T0;
  api.ready = true;
  api.csv = decisionsCsv;
  api.codebookYaml = function () { return codebookYaml().text; };
})();
