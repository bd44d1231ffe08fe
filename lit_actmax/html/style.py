"""The one stylesheet of lit_actmax's pages: the gallery inlines it, the site writes it to ``site/site.css``.

Shared by both: the header, the sticky sort bar, the metrics table, and a unit drawn by
:func:`lit_actmax.html.unit_card.unit_view` (``section.variant``, ``img.unit``, ``.curvebox``, ``.examples``,
``table.numbers``). The gallery's cards are ``div.card`` in a wrapping ``.grid``; the site's layer pages have
fixed-size thumbnail cards, ``a.card`` in a ``.grid.thumbs``; its model page a ``table.layers`` with a ``.strip``
of thumbnails per layer.
"""

from __future__ import annotations

__all__ = ["STYLE"]

STYLE = """
body{font:13px/1.35 system-ui,sans-serif;margin:0;background:#f4f4f2;color:#222}
a{color:#1c5fa8;text-decoration:none}a:hover{text-decoration:underline}
header{background:#1f2933;color:#eee;padding:10px 16px}header h1{font-size:17px;margin:2px 0 4px}
header a{color:#9cd}header .crumbs{font-size:12px;color:#bbb}header details{font-size:12px}
header pre{max-height:300px;overflow:auto;color:#ddd}
.meta{display:flex;flex-wrap:wrap;gap:2px 14px;word-break:break-all;font-size:12px}
.nav{float:right;font-size:12px}.nav a{margin-left:10px}
main{padding:8px 16px}h2{font-size:15px;margin:12px 0 6px}h3{font-size:13px;margin:10px 0 4px}
.note{color:#777;font-size:12px}
.incomplete{color:#fff;background:#c92a2a;padding:0 4px;border-radius:3px}
.bar{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:6px 16px;z-index:2}
.bar button{margin-right:4px}.bar input{margin:0 10px;width:180px}.bar a{margin-left:10px}
table.metrics th{text-align:left;font-weight:normal;color:#555;padding:1px 14px 1px 0}
table.metrics td{padding:1px 14px 1px 0}
table.layers{border-collapse:collapse;background:#fff}
table.layers th,table.layers td{border-bottom:1px solid #e3e3e3;padding:4px 10px;text-align:left;vertical-align:middle}
table.layers th{font-weight:600;background:#fafafa}td.num{text-align:right;white-space:nowrap}
.strip{display:flex;gap:3px}.strip img{display:block;width:64px;height:64px;object-fit:contain;background:#eee}
.grid{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
div.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;max-width:760px}
div.card .head{margin-bottom:4px}div.card .act{float:right;color:#d9480f;margin-left:10px}
.grid.thumbs{display:grid;grid-template-columns:repeat(auto-fill,108px);gap:8px}
a.card{display:block;background:#fff;border:1px solid #ddd;border-radius:5px;padding:5px;width:96px;height:132px;
 color:#222;content-visibility:auto;contain-intrinsic-size:108px 144px}
a.card img,a.card .none{display:block;width:96px;height:96px;object-fit:contain;background:#eee}
a.card span{display:block;font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
a.card .act{color:#d9480f}
section.variant{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;margin-bottom:10px;display:flex;
 flex-wrap:wrap;gap:10px 24px;align-items:flex-end}
div.card section.variant{border:0;border-radius:0;padding:0;margin-bottom:4px;gap:4px 10px}
div.card h3{font-size:11px;font-weight:normal;color:#666;margin:4px 0 2px}
.figures{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}div.card .figures{gap:4px}
figure{margin:0;text-align:center;font-size:11px;color:#666}
img.unit{display:block;object-fit:contain;image-rendering:pixelated;background:#eee}
img.alpha{background:repeating-conic-gradient(#ccc 0% 25%,#fff 0% 50%) 0 0/16px 16px}
.curvebox{display:flex;flex-direction:column;gap:2px;font-size:11px;color:#666}
.examples img{object-fit:cover;margin:1px}
details.numbers summary{cursor:pointer;color:#555}
table.numbers{border-collapse:collapse;background:#fff;font-size:12px}div.card table.numbers{font-size:11px}
table.numbers td,table.numbers th{border-bottom:1px solid #eee;padding:2px 10px 2px 0;text-align:left}
.files a{margin-right:10px}div.card .files a{font-size:11px}
"""
