"""The page's CSS and script, inline so the report opens anywhere without a network."""

from __future__ import annotations

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232b;margin:0 auto;
max-width:1000px;padding:12px 20px 40px;background:#fafbfc}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dde3}
h3{font-size:15px;margin:18px 0 6px}h4{font-size:14px;margin:0 0 4px;font-weight:600}
p{margin:3px 0}.note{color:#57606a;font-size:13px}code{font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
table{border-collapse:collapse;font-size:13px}caption{text-align:left;font-weight:600;padding:2px 0;white-space:nowrap}
.facts th{text-align:left;font-weight:normal;color:#57606a;padding:1px 10px 1px 0}
.facts td{text-align:right;padding:1px 0 1px 6px;font-variant-numeric:tabular-nums}
.bar{width:90px}.bar span{display:block;height:9px;background:#c9353a;min-width:1px}
.scores th,.scores td{border:1px solid #d8dde3;padding:2px 8px}.scores td{text-align:right}
.scores th{text-align:left;font-weight:normal}.met{background:#e3f4e5}.missed{background:#fbe1e1;font-weight:600}
.verdict{font-weight:600;margin-top:6px}.headline{font-size:15px;font-weight:600;margin:8px 0 4px}.warning{color:#9a6700;font-weight:600}
.incident{background:#fff;border:1px solid #d8dde3;border-left:4px solid #8c959f;border-radius:4px;
padding:8px 10px;margin:10px 0}
.incident.page{border-left-color:#c9353a}.incident.platform{border-left-color:#8250df}
.incident.glitch{border-left-color:#d4a72c}.incident.stall{border-left-color:#1f8aa8}
.incident:target{outline:2px solid #0969da}
.tag{font-size:11px;text-transform:uppercase;letter-spacing:.03em;padding:1px 5px;border-radius:3px;
color:#fff;background:#8c959f}.tag.page{background:#c9353a}.tag.platform{background:#8250df}
.tag.glitch{background:#b08800}.tag.stall{background:#1f8aa8}
.drop{color:#57606a;font-weight:normal}.runbook{color:#24292f}.meta{color:#57606a;font-size:12px}
svg.plot{display:block;max-width:100%;height:auto;margin-top:4px}
.frame{fill:#fff;stroke:#d8dde3}.grid{stroke:#eef1f4}.tick{font-size:10px;fill:#57606a}
.line{fill:none;stroke-width:1.6}.line.count{stroke:#0969da}.line.dropping{stroke:#8250df}
.line.expected{stroke:#1a7f37;stroke-dasharray:5 4;stroke-width:1.3}
.band.glitch{fill:#f5d76e;opacity:.45}.band.hold{fill:#f7b267;opacity:.4}.band.down{fill:#f4a6a6;opacity:.35}
.mark{stroke-width:1.2;stroke-dasharray:3 2}.mark-label{font-size:10px}
.mark.onset{stroke:#57606a}.mark-label.onset{fill:#57606a}.mark.page{stroke:#c9353a}
.mark-label.page{fill:#c9353a}.mark.recovery,.mark.back{stroke:#1a7f37}
.mark-label.recovery,.mark-label.back{fill:#1a7f37}
.legend{font-size:12px;color:#57606a}.key{display:inline-block;width:18px;height:10px;margin:0 4px 0 10px;
vertical-align:middle}.key.count{border-top:2px solid #0969da;height:0}.key.dropping{border-top:2px solid #8250df;height:0}
.key.expected{border-top:2px dashed #1a7f37;height:0}.key.hold{background:#f7b267;opacity:.6}
.key.down{background:#f4a6a6;opacity:.6}.key.glitch{background:#f5d76e;opacity:.7}
.filters input{width:260px;padding:3px 6px}#events{width:100%;background:#fff}
#events th,#events td{border-bottom:1px solid #eef1f4;padding:2px 6px;text-align:left}
#events td:nth-child(4){text-align:right}
"""

SCRIPT = """
(function () {
  var filter = document.getElementById('filter'), kind = document.getElementById('kind');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#events tbody tr'));
  var shown = document.getElementById('shown');
  function apply() {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean), wanted = kind.value, count = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var ok = (!wanted || row.dataset.kind === wanted) && words.every(function (w) { return text.indexOf(w) >= 0; });
      row.hidden = !ok;
      count += ok ? 1 : 0;
    });
    shown.textContent = count.toLocaleString('en');
  }
  filter.addEventListener('input', apply);
  kind.addEventListener('change', apply);
})();
"""
