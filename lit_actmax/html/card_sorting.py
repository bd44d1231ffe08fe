"""Sorting and filtering unit cards (and the model page's layer rows) in the browser: the inline script and the bars
of buttons that drive it. Plain Python (the script is a string; no server, no network)."""

from __future__ import annotations

from .markup import escape
from .records import Unit

__all__ = ["CARD_SCRIPT", "card_data", "sort_bar", "score_buttons"]

#: Sorting and filtering of ``.card`` elements (``data-unit``, ``data-activation``, ``data-score``: the explanation
#: score, ``data-label`` lowercased) in every ``.grid``, and of the rows of every ``tbody.sortable`` (a layer row's
#: ``data-unit`` is its position in model order): ``sortCards('activation', -1)``, ``filterCards(text)`` (unit id or
#: part of a label; the count of shown cards goes into ``#shown`` when there is one); ``#sort=-activation`` in the
#: address sorts on load. A missing number counts as -infinity. Keys are read once and the cards moved in one fragment, so
#: 5,000 cards sort in milliseconds.
CARD_SCRIPT = """
function cardNumber(v){var a=parseFloat(v);return isNaN(a)?-Infinity:a;}
function cardKeys(g){if(!g.cardKeys)g.cardKeys=Array.prototype.map.call(g.children,function(c){
 return {el:c,unit:+c.dataset.unit,activation:c.dataset.activation,score:c.dataset.score,
 label:c.dataset.label||''};});return g.cardKeys;}
function sortCards(key,dir){document.querySelectorAll('.grid,tbody.sortable').forEach(function(g){
 var cards=cardKeys(g).slice();function v(c){return key==='unit'?c.unit:cardNumber(c[key]);}
 cards.sort(function(a,b){return dir*(v(a)-v(b))||(a.unit-b.unit);});
 var f=document.createDocumentFragment();cards.forEach(function(c){f.appendChild(c.el);});g.appendChild(f);});
 if(history.replaceState)history.replaceState(null,'','#sort='+(dir<0?'-':'')+key);}
function filterCards(text){text=text.trim().toLowerCase();var shown=0;document.querySelectorAll('.grid').forEach(
 function(g){cardKeys(g).forEach(function(c){var ok=!text||String(c.unit)===text||c.label.indexOf(text)>=0;
 c.el.style.display=ok?'':'none';shown+=ok;});});var n=document.getElementById('shown');if(n)n.textContent=shown;}
document.addEventListener('DOMContentLoaded',function(){var m=location.hash.match(/sort=(-?)(activation|unit|score)/);
 if(m)sortCards(m[2],m[1]?-1:1);});
"""


def score_buttons() -> str:
    """The buttons that sort by the explanation score (``data-score``), best first or last."""
    return ('<button onclick="sortCards(\'score\',-1)">explanation score ↓</button>'
            '<button onclick="sortCards(\'score\',1)">explanation score ↑</button>')


def sort_bar(cards: int, extra: str = "", scores: bool = False) -> str:
    """The sticky bar over a page's cards: sort buttons (with ``scores``, also by explanation score), the filter box,
    how many of the ``cards`` are shown, then ``extra`` HTML (e.g. links to the page's layers). The page must include
    :data:`CARD_SCRIPT`."""
    return ('<div class="bar">sort: <button onclick="sortCards(\'activation\',-1)">activation ↓</button>'
            '<button onclick="sortCards(\'activation\',1)">activation ↑</button>'
            '<button onclick="sortCards(\'unit\',1)">unit id</button>' + (score_buttons() if scores else "") +
            '<input type="search" placeholder="filter: unit id or label" oninput="filterCards(this.value)">'
            f'<span class="note"><span id="shown">{cards}</span> of {cards} shown</span>{extra}</div>')


def card_data(unit: Unit, score: float | None = None) -> str:
    """The attributes :data:`CARD_SCRIPT` sorts and filters a unit's card by: ``data-unit``, ``data-activation`` (its
    best variant's; empty without one), ``data-score`` (its picture's explanation score, when there is one) and
    ``data-label`` (lowercased)."""
    activation = "" if unit.activation is None else f"{unit.activation:.8g}"
    scored = "" if score is None else f' data-score="{score:.6g}"'
    return (f'data-unit="{unit.unit}" data-activation="{activation}"{scored} '
            f'data-label="{escape(unit.label.lower())}"')
