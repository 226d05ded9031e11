"""Render the postmortems into one searchable, self-contained page: output/postmortems/index.html.

The page works from a file:// URL with the network closed: CSS and JavaScript are inline, no
font or script is fetched. Each postmortem is a <details> element (open it, or link to #<id>),
carrying its service, departments, metrics and middleware as data attributes that the filters
read; the search box matches every word against the whole text. The Markdown is rendered here
with markdown-it-py with raw HTML turned off, so a postmortem cannot inject markup or script;
everything else is escaped. Sorted and without build timestamps: the same input, the same bytes.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt

from vigil.layout import POSTMORTEMS_PAGE
from vigil.model import Model, Postmortem, Service
from vigil.render.serialise import Artefacts
from vigil.units import format_duration

# CommonMark, raw HTML escaped, plus tables (the template's before/after table). markdown-it's
# link validation refuses javascript:, vbscript: and file: URLs.
_MD = MarkdownIt("commonmark", {"html": False}).enable("table")

FILTERS = (("service", "Service"), ("department", "Department"), ("metric", "Metric"),
           ("dependency", "Middleware"))

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#b8c0cc;font-size:13px}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
.controls{display:flex;flex-wrap:wrap;gap:10px;align-items:end;background:#fff;padding:12px;
  border:1px solid #d8dce3;border-radius:6px}
.controls label{display:flex;flex-direction:column;font-size:12px;color:#566072}
.controls input,.controls select{font:inherit;padding:5px 8px;border:1px solid #b9c0cc;border-radius:4px;
  min-width:150px}
.controls input[type=search]{min-width:280px}
#count{margin-left:auto;color:#566072;font-size:13px}
details.pm{background:#fff;border:1px solid #d8dce3;border-radius:6px;margin:10px 0}
details.pm>summary{cursor:pointer;padding:10px 14px;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
details.pm[open]>summary{border-bottom:1px solid #d8dce3}
.title{font-weight:600}
.meta{color:#566072;font-size:13px}
.sev{font-size:12px;font-weight:600;padding:1px 7px;border-radius:10px;color:#fff}
.sev-critical{background:#c4162a}.sev-warning{background:#e07b00}.sev-info{background:#3274d9}
.draft{font-size:12px;border:1px dashed #566072;padding:0 6px;border-radius:10px;color:#566072}
.body{padding:4px 18px 14px}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #d8dce3;padding:3px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#f0f2f5}
table.facts th{width:160px}
pre{background:#f0f2f5;padding:8px;overflow-x:auto;font-size:13px}
code{font-size:13px}
.body img{max-width:100%;border:1px solid #d8dce3}
.tag{display:inline-block;background:#e8ecf2;border-radius:10px;padding:0 8px;margin:0 4px 2px 0;font-size:12px}
#empty{color:#566072;padding:24px;text-align:center}
"""

# Plain DOM, no library: every word of the query must occur in the postmortem's text, and each
# filter that is set must be one of the postmortem's values (data-* attributes, space-separated).
_JS = """
(function(){
  var items=Array.prototype.slice.call(document.querySelectorAll('details.pm'));
  var q=document.getElementById('q');
  var filters=Array.prototype.slice.call(document.querySelectorAll('select[data-filter]'));
  var count=document.getElementById('count'), empty=document.getElementById('empty');
  var text=items.map(function(el){return el.textContent.toLowerCase();});
  function apply(){
    var words=q.value.toLowerCase().split(/\\s+/).filter(Boolean), shown=0;
    items.forEach(function(el,i){
      var ok=words.every(function(w){return text[i].indexOf(w)>=0;});
      filters.forEach(function(s){
        if(ok&&s.value){ok=(' '+el.getAttribute('data-'+s.dataset.filter)+' ').indexOf(' '+s.value+' ')>=0;}
      });
      el.hidden=!ok; if(ok){shown++;}
    });
    count.textContent=shown+' of '+items.length+' postmortems';
    empty.hidden=shown>0;
  }
  q.addEventListener('input',apply);
  filters.forEach(function(s){s.addEventListener('change',apply);});
  function openHash(){
    var el=location.hash&&document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if(el&&el.tagName==='DETAILS'){el.open=true;el.scrollIntoView();}
  }
  window.addEventListener('hashchange',openHash);
  apply(); openHash();
})();
"""


def _duration(seconds: float) -> str:
    return format_duration(round(seconds))   # 12m30s, 1h5m, 2h: as Prometheus writes them


def _attrs(pm: Postmortem) -> dict[str, list[str]]:
    """The values each filter matches, per postmortem."""
    return {"service": [pm["service"]], "department": pm["departments"],
            "metric": sorted({m["key_metric"] for m in pm["anomalous_metrics"]}),
            "dependency": pm["dependencies_involved"]}


def _metric_link(m: dict[str, str], services: dict[str, Service]) -> str:
    label = escape(f"{m['service']} {m['key_metric']}")
    metric = next((x for x in services[m["service"]]["metrics"] if x["id"] == m["key_metric"]), None) \
        if m["service"] in services else None
    return f'<a href="{escape(metric["dashboard_url"])}">{label}</a>' if metric else label


def _told(t: dict[str, str]) -> str:
    return f'{t["at"]} {t["department"]}' + (f' by {t["channel"]}' if t["channel"] else "")


def _peak(m: dict[str, str]) -> str:
    return (f' peak {m["peak"]}' if m["peak"] else "") + (f' at {m["at"]}' if m["at"] else "")


def _facts(pm: Postmortem, services: dict[str, Service]) -> str:
    rows = [("Service", escape(pm["service"]) + f' <span class="meta">(owner {escape(pm["owner"])})</span>'),
            ("Occurred", escape(pm["occurred"])),
            ("Detected", f'{escape(pm["detected"])} by {escape(pm["detected_by"])}'
                         + (f' (<code>{escape(pm["alert"])}</code>)' if pm["alert"] else "")
                         + f' after {_duration(pm["time_to_detect_seconds"])}'),
            ("Resolved", f'{escape(pm["resolved"])}, {_duration(pm["time_to_recover_seconds"])} after it began')]
    if pm["told"]:
        rows.append(("Told", "<br>".join(escape(_told(t)) for t in pm["told"])))
    if pm["anomalous_metrics"]:
        rows.append(("Anomalous metrics", "<br>".join(
            _metric_link(m, services) + escape(_peak(m))
            for m in pm["anomalous_metrics"])))
    if pm["dependencies_involved"]:
        rows.append(("Middleware", escape(", ".join(pm["dependencies_involved"]))))
    if pm["tags"]:
        rows.append(("Tags", "".join(f'<span class="tag">{escape(t)}</span>' for t in pm["tags"])))
    if pm["authors"]:
        rows.append(("Authors", escape(", ".join(pm["authors"]))))
    rows.append(("Source", f'<code>{escape(pm["file"])}</code>'))
    return '<table class="facts">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _markdown(pm: Postmortem) -> str:
    """The body as HTML, its local charts (img/...) embedded as the data: URLs the model holds."""
    tokens = _MD.parse(pm["body"])
    for token in tokens:
        for child in token.children or []:
            if child.type == "image" and child.attrGet("src") in pm["images"]:
                child.attrSet("src", pm["images"][str(child.attrGet("src"))])
    return str(_MD.renderer.render(tokens, _MD.options, {}))


def _item(pm: Postmortem, services: dict[str, Service]) -> str:
    data = "".join(f' data-{k}="{escape(" ".join(v))}"' for k, v in _attrs(pm).items())
    draft = ' <span class="draft">draft</span>' if pm["status"] == "draft" else ""
    return (f'<details class="pm" id="{escape(pm["id"])}"{data}>\n<summary>'
            f'<span class="sev sev-{escape(pm["severity"])}">{escape(pm["severity"])}</span>'
            f'<span class="meta">{escape(pm["occurred"][:10])} · {escape(pm["service"])}</span>'
            f'<span class="title">{escape(pm["title"])}</span>{draft}</summary>\n'
            f'<div class="body">\n{_facts(pm, services)}\n{_markdown(pm)}</div>\n</details>\n')


def _select(key: str, label: str, values: list[str]) -> str:
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    return (f'<label>{label}<select id="f-{key}" data-filter="{key}"><option value="">all</option>'
            f'{options}</select></label>')


def page(model: Model) -> str:
    postmortems = model.get("postmortems") or []
    services = {s["name"]: s for s in model["services"]}
    choices = {key: sorted({v for pm in postmortems for v in _attrs(pm)[key]}) for key, _ in FILTERS}
    controls = ('<label>Search<input type="search" id="q" placeholder="words from any part of a postmortem"></label>'
                + "".join(_select(key, label, choices[key]) for key, label in FILTERS)
                + '<span id="count"></span>')
    items = "".join(_item(pm, services) for pm in postmortems)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>Postmortems</title>\n<style>" + _CSS + "</style>\n</head>\n<body>\n"
            "<header><h1>Postmortems</h1><p>Generated by vigil from the postmortems beside the catalog. "
            "Do not edit: change the .md files and run <code>vigil build</code>.</p></header>\n<main>\n"
            f'<div class="controls">{controls}</div>\n{items}<p id="empty" hidden>No postmortem matches.</p>\n'
            "</main>\n<script>" + _JS + "</script>\n</body>\n</html>\n")


def render(model: Model) -> Artefacts:
    """The page, or nothing when the catalog has no postmortems."""
    return {POSTMORTEMS_PAGE: page(model)} if model.get("postmortems") else {}
