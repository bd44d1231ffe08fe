"""Static HTML over a run folder's records: the gallery of one run and the site of an atlas. Plain Python.

- :mod:`.gallery` (``gallery.html``, one page) and :mod:`.site` (``site/``: model, layer and unit pages) build pages;
- what both draw them with: :mod:`.records` (reading the run), :mod:`.unit_card` (one unit's HTML),
  :mod:`.curves` (activation curves), :mod:`.card_sorting` (sorting and filtering cards), :mod:`.markup` (escaping,
  URLs, settings and metrics) and :mod:`.style` (the one stylesheet).
"""
