// The pair viewer of `harness inspect` (harness/pairview/): filters and pages over the JSON embedded in
// the page. Every model-written text goes into the page through textContent, never as markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pairs-data").textContent);
  var state = { page: 0, size: 25, facets: {}, text: "" };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function table(rows, cls) {
    var t = el("table", cls);
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("th", null, r[0]));
      tr.appendChild(el("td", null, r[1]));
      t.appendChild(tr);
    });
    return t;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (Array.isArray(v)) return "[" + v.join(", ") + "]";
    return String(v);
  }

  function header() {
    var h = data.header, box = document.getElementById("header");
    box.appendChild(el("h1", null, data.title));
    var grid = el("div", "header-grid");
    var run = el("section");
    run.appendChild(el("h2", null, "Run"));
    run.appendChild(table(h.run, "kv"));
    grid.appendChild(run);
    var audit = el("section");
    audit.appendChild(el("h2", null, "Truth audit (audit.json)"));
    var a = h.audit, rows = [["auditor", fmt(a.auditor)], ["pairs", fmt(a.pairs)], ["audited", fmt(a.audited)]];
    if (a.audited) {
      rows.push(["chosen truly better %", fmt(a.precision) + "  95% CI " + fmt(a.precision_interval)]);
      rows.push(["inverted %", fmt(a.inverted)], ["tied %", fmt(a.tied)]);
      rows.push(["hallucinated per chosen", fmt(a.hallucinated_per_chosen)]);
      rows.push(["hallucinated per rejected", fmt(a.hallucinated_per_rejected)]);
      rows.push(["hallucinations from the prior %", fmt(a.from_prior)]);
    } else {
      rows.push(["", a.pairs ? "no known truth for these images: nothing audited" + (a.note ? " (" + a.note + ")" : "") : "no pair survived the method's filters"]);
    }
    if (a.own_questions) rows.push(["pairs on the method's own questions: well-formed", fmt(a.own_questions.well_formed) + " of " + fmt(a.own_questions.pairs)]);
    audit.appendChild(table(rows, "kv"));
    grid.appendChild(audit);
    var method = el("section");
    method.appendChild(el("h2", null, "What the method kept (stats.json)"));
    method.appendChild(el("p", "note", "pairs.jsonl holds the pairs that passed every filter; the counts are what remained after each step and filter."));
    method.appendChild(table(h.counts.map(function (c) { return [c[0], fmt(c[1])]; }), "kv counts"));
    if (h.by_kind) method.appendChild(table(Object.keys(h.by_kind).map(function (k) { return ["pairs of kind " + k, fmt(h.by_kind[k])]; }), "kv"));
    if (h.training.length) {
      method.appendChild(el("h2", null, "Training on them (train.json)"));
      method.appendChild(table(h.training, "kv"));
    }
    grid.appendChild(method);
    box.appendChild(grid);
  }

  function controls() {
    var bar = document.getElementById("filters");
    data.facets.forEach(function (f) {
      var label = el("label", null, f.label + " ");
      var sel = el("select");
      sel.setAttribute("data-facet", f.key);
      var all = el("option", null, "all (" + data.pairs.length + ")");
      all.value = "";
      sel.appendChild(all);
      f.values.forEach(function (v) {
        var o = el("option", null, v[0] + " (" + v[1] + ")");
        o.value = v[0];
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () { state.facets[f.key] = sel.value; state.page = 0; render(); });
      label.appendChild(sel);
      bar.appendChild(label);
    });
    var search = el("input");
    search.type = "search";
    search.id = "search";
    search.placeholder = "text in question or answers";
    search.addEventListener("input", function () { state.text = search.value.toLowerCase(); state.page = 0; render(); });
    bar.appendChild(search);
    var size = el("select");
    size.id = "page-size";
    [25, 50, 100, 500].forEach(function (n) { var o = el("option", null, n + " a page"); o.value = String(n); size.appendChild(o); });
    size.addEventListener("change", function () { state.size = Number(size.value); state.page = 0; render(); });
    bar.appendChild(size);
    document.getElementById("prev").addEventListener("click", function () { state.page -= 1; render(); });
    document.getElementById("next").addEventListener("click", function () { state.page += 1; render(); });
  }

  function matches(p) {
    for (var k in state.facets) {
      if (state.facets[k] && p.facets[k] !== state.facets[k]) return false;
    }
    if (!state.text) return true;
    return [p.prompt, p.chosen, p.rejected, p.image].some(function (t) { return t.toLowerCase().indexOf(state.text) >= 0; });
  }

  function figure(src, caption, note) {
    var fig = el("figure");
    if (src) {
      var img = el("img");
      img.src = src;
      img.alt = caption;
      fig.appendChild(img);
    } else {
      fig.appendChild(el("div", "missing", note));
    }
    fig.appendChild(el("figcaption", null, caption));
    return fig;
  }

  function answer(which, text, mark) {
    var box = el("div", "answer " + which);
    box.appendChild(el("h4", null, which));
    box.appendChild(el("div", "text", text === "" ? "(empty)" : text));
    if (mark) {
      var objects = mark.hallucinated_objects && mark.hallucinated_objects.length ? " " + fmt(mark.hallucinated_objects) : "";
      var covered = mark.covered === null || mark.covered === undefined ? "" : " · covered " + fmt(mark.covered);
      box.appendChild(el("div", "marks", "truth score " + fmt(mark.score) + " · hallucinated " + fmt(mark.hallucinated) +
        objects + " (from the prior " + fmt(mark.from_prior) + ") · mentions " + fmt(mark.mentions) + covered));
    }
    return box;
  }

  function card(p) {
    var verdict = p.facets.verdict;
    var art = el("article", "pair v-" + verdict.replace(/\W+/g, "-"));
    art.setAttribute("data-pair", String(p.n));
    art.setAttribute("data-verdict", verdict);
    var pics = el("div", "pics");
    pics.appendChild(figure(p.img, "image", p.img_note));
    if (p.noise_label) pics.appendChild(figure(p.noised, p.noise_label, p.noise_note));
    art.appendChild(pics);
    var body = el("div", "body");
    var meta = el("div", "meta");
    meta.appendChild(el("span", "badge verdict", verdict));
    meta.appendChild(el("span", "badge", "pair " + p.n));
    meta.appendChild(el("span", "badge", "kind " + p.kind));
    meta.appendChild(el("span", "image-id", p.image));
    body.appendChild(meta);
    body.appendChild(el("h4", null, "question"));
    body.appendChild(el("div", "text prompt", p.prompt));
    var answers = el("div", "answers");
    answers.appendChild(answer("chosen", p.chosen, p.audit && p.audit.chosen));
    answers.appendChild(answer("rejected", p.rejected, p.audit && p.audit.rejected));
    body.appendChild(answers);
    if (p.details.length) body.appendChild(table(p.details, "kv details"));
    art.appendChild(body);
    return art;
  }

  function render() {
    var shown = data.pairs.filter(matches);
    var pages = Math.max(1, Math.ceil(shown.length / state.size));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    var count = document.getElementById("match-count");
    count.textContent = shown.length + " of " + data.pairs.length + " pairs";
    count.setAttribute("data-count", String(shown.length));
    document.getElementById("page-of").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    var list = document.getElementById("pairs");
    while (list.firstChild) list.removeChild(list.firstChild);
    shown.slice(state.page * state.size, (state.page + 1) * state.size).forEach(function (p) { list.appendChild(card(p)); });
  }

  header();
  controls();
  render();
  document.body.setAttribute("data-ready", "1");
})();
