"""Shared HTML pieces: escaping, relative URLs to a run's files, numbers for display, config and metrics."""

from __future__ import annotations

from lit_actmax.html.markup import (
    RunFiles,
    config_details,
    escape,
    file_url,
    format_value,
    metrics_table,
    referenced_files,
    settings_spans,
)


def test_run_files_exist_once_looked_up_and_have_urls_from_any_page(tmp_path):
    (tmp_path / "images" / "a b").mkdir(parents=True)
    (tmp_path / "images" / "a b" / "unit #1.png").write_bytes(b"x")
    files = RunFiles(tmp_path)
    assert files.exists("images/a b/unit #1.png") and not files.exists("images/none.png")
    assert not files.exists(None) and not files.exists("") and not files.exists(3)
    assert files.url("images/a b/unit #1.png", tmp_path) == "images/a%20b/unit%20%231.png"
    assert files.url("images/a b/unit #1.png", tmp_path / "site" / "units" / "x") == "../../../images/a%20b/unit%20%231.png"
    (tmp_path / "images" / "a b" / "unit #1.png").unlink()
    assert files.exists("images/a b/unit #1.png")  # asked once per build: a page build sees one state of the run


def test_values_text_and_links():
    assert format_value(0.123456) == "0.1235" and format_value(float("nan")) == "–" and format_value(True) == "yes"
    assert escape('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;" and file_url("a b/c#.png") == "a%20b/c%23.png"
    assert settings_spans([("seed", 0)]) == "<span>seed: <b>0</b></span>"
    document = '<a href="#top"></a><img src="a%20b.png"><a href="https://x.org"></a><link href="../site.css">'
    assert referenced_files(document) == ["a b.png", "../site.css"]


def test_config_and_metrics_tables():
    details = config_details({"config": {"lr": float("nan"), "name": "<x>"}})
    assert details.startswith("<details><summary>config</summary><pre>") and "&quot;lr&quot;: null" in details
    assert "&lt;x&gt;" in details and config_details({}) == ""
    table = metrics_table({"metrics": {"judge": {"top1": 0.5, "per_unit": [1]}, "tv": 0.25}})
    assert table == ('<table class="metrics"><tr><th>judge</th><td>top1 <b>0.5</b></td></tr>'
                     "<tr><th>tv</th><td><b>0.25</b></td></tr></table>")
    assert metrics_table({}) == ""
