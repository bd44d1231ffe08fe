"""Sorting and filtering unit cards in the browser: the inline script and the bar of buttons that drives it. Plain
Python (the script is a string; no server, no network)."""

from __future__ import annotations

from .markup import escape
from .records import Unit

__all__ = ["CARD_SCRIPT", "card_data", "sort_bar"]

#: Sorting and filtering of ``.card`` elements (``data-unit``, ``data-activation``, ``data-label`` lowercased) in
#: every ``.grid``: ``sortCards('activation', -1)``, ``filterCards(text)`` (unit id or part of a label; the count of
#: shown cards goes into ``#shown`` when there is one); ``#sort=-activation`` in the address sorts on load. Keys are
#: read once and the cards moved in one fragment, so 5,000 cards sort in milliseconds.
CARD_SCRIPT = """
function cardKeys(g){if(!g.cardKeys)g.cardKeys=Array.prototype.map.call(g.children,function(c){
 var a=parseFloat(c.dataset.activation);return {el:c,unit:+c.dataset.unit,activation:isNaN(a)?-Infinity:a,
 label:c.dataset.label||''};});return g.cardKeys;}
function sortCards(key,dir){document.querySelectorAll('.grid').forEach(function(g){var cards=cardKeys(g).slice();
 cards.sort(function(a,b){return dir*(a[key]-b[key])||(a.unit-b.unit);});
 var f=document.createDocumentFragment();cards.forEach(function(c){f.appendChild(c.el);});g.appendChild(f);});
 if(history.replaceState)history.replaceState(null,'','#sort='+(dir<0?'-':'')+key);}
function filterCards(text){text=text.trim().toLowerCase();var shown=0;document.querySelectorAll('.grid').forEach(
 function(g){cardKeys(g).forEach(function(c){var ok=!text||String(c.unit)===text||c.label.indexOf(text)>=0;
 c.el.style.display=ok?'':'none';shown+=ok;});});var n=document.getElementById('shown');if(n)n.textContent=shown;}
document.addEventListener('DOMContentLoaded',function(){var m=location.hash.match(/sort=(-?)(activation|unit)/);
 if(m)sortCards(m[2],m[1]?-1:1);});
"""


def sort_bar(cards: int, extra: str = "") -> str:
    """The sticky bar over a page's cards: sort buttons, the filter box, how many of the ``cards`` are shown, then
    ``extra`` HTML (e.g. links to the page's layers). The page must include :data:`CARD_SCRIPT`."""
    return ('<div class="bar">sort: <button onclick="sortCards(\'activation\',-1)">activation ↓</button>'
            '<button onclick="sortCards(\'activation\',1)">activation ↑</button>'
            '<button onclick="sortCards(\'unit\',1)">unit id</button>'
            '<input type="search" placeholder="filter: unit id or label" oninput="filterCards(this.value)">'
            f'<span class="note"><span id="shown">{cards}</span> of {cards} shown</span>{extra}</div>')


def card_data(unit: Unit) -> str:
    """The attributes :data:`CARD_SCRIPT` sorts and filters a unit's card by: ``data-unit``, ``data-activation`` (its
    best variant's; empty without one) and ``data-label`` (lowercased)."""
    activation = "" if unit.activation is None else f"{unit.activation:.8g}"
    return f'data-unit="{unit.unit}" data-activation="{activation}" data-label="{escape(unit.label.lower())}"'
