"""Finding a layout: the team's folder first, then the layouts shipped in the package."""

from __future__ import annotations

import shutil

import pytest

from newsletter.compose.layout import BUILTIN_LAYOUTS, HTML_TEMPLATE, find_layout
from newsletter.errors import InputError


def test_builtin_layouts_are_package_data():
    assert BUILTIN_LAYOUTS.parent.name == "newsletter" and (BUILTIN_LAYOUTS / "default" / HTML_TEMPLATE).is_file()


def test_builtin_default_is_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./layouts here
    assert find_layout("default", "layouts") == BUILTIN_LAYOUTS / "default"


def test_a_teams_layout_overrides_the_builtin_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(BUILTIN_LAYOUTS / "default", tmp_path / "layouts" / "default")
    assert find_layout("default", "layouts").resolve() == (tmp_path / "layouts" / "default").resolve()


def test_unknown_layout_names_where_it_looked(tmp_path):
    with pytest.raises(InputError, match=r"layout 'fancy' not found \(looked in .*/team-layouts/ and the built-in"):
        find_layout("fancy", tmp_path / "team-layouts")
